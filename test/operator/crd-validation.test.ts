/**
 * The CRDs against the real API server: they install and become Established, the samples are
 * accepted (and defaulted), a table of bad specs is refused with a message that names the field,
 * unknown fields are refused by kubectl's strict field validation, the status schema accepts what
 * the operator writes, the scale subresource works, and `kubectl explain` reads well.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { ensureTools, repoRoot } from '../../cluster/tools.ts';
import { waitFor } from '../../kube/poll.ts';
import { applyDefaults } from '../../operator/api/types.ts';
import { computeBudget } from '../../operator/budget.ts';
import { resolvePolicy } from '../../operator/policy.ts';

const namespace = `lastcall-crd-${randomBytes(3).toString('hex')}`;
let kubectlPath: string;
let kubeconfig: string;
let createdDefaultPolicy = false;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      kubectlPath,
      ['--kubeconfig', kubeconfig, ...args],
      { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const run = await kubectl(args, input);
  if (run.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
  return run.stdout;
}

const toYaml = (obj: unknown) => JSON.stringify(obj); // JSON is YAML, and kubectl reads both

function counterService(name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'lastcall.dev/v1alpha1', kind: 'CounterService', metadata: { name, namespace }, spec };
}

const valid = { image: 'lastcall/workload:v1', redis: { address: 'redis:6379' } };

beforeAll(async () => {
  kubeconfig = inject('kubeconfig');
  kubectlPath = join(await ensureTools(), 'kubectl');
  // Installed the way config/default is (client-side apply, as the e2e suites do), so either may
  // run first against the shared cluster without a field-manager conflict.
  await ok(['apply', '-k', join(repoRoot, 'config', 'crd')]);
  await ok([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/counterservices.lastcall.dev',
    'crd/drainpolicies.lastcall.dev',
  ]);
  await ok(['create', 'namespace', namespace]);
});

afterAll(async () => {
  if (!kubectlPath) return;
  // The CRDs stay: other suites share this cluster and its CRDs.
  await kubectl(['delete', 'namespace', namespace, '--wait=false', '--ignore-not-found']);
  if (createdDefaultPolicy) await kubectl(['delete', 'drainpolicy', 'default', '--ignore-not-found']);
});

describe('the CRDs install', () => {
  it('are Established with the names, short names and category of the contract', async () => {
    const crd = JSON.parse(await ok(['get', 'crd', 'counterservices.lastcall.dev', '-o', 'json']));
    expect(crd.spec.names).toMatchObject({
      kind: 'CounterService',
      plural: 'counterservices',
      shortNames: expect.arrayContaining(['cs']),
      categories: ['lastcall'],
    });
    expect(crd.status.conditions).toContainEqual(
      expect.objectContaining({ type: 'Established', status: 'True' }),
    );
    expect(crd.status.conditions).toContainEqual(
      expect.objectContaining({ type: 'NamesAccepted', status: 'True' }),
    );
    const dp = JSON.parse(await ok(['get', 'crd', 'drainpolicies.lastcall.dev', '-o', 'json']));
    expect(dp.spec.scope).toBe('Cluster');
  });
});

describe('the samples', () => {
  it('are accepted, and the API server fills in the schema defaults', async () => {
    const existed = (await kubectl(['get', 'drainpolicy', 'default'])).code === 0;
    await ok(['apply', '-n', namespace, '-k', join(repoRoot, 'config', 'samples')]);
    createdDefaultPolicy = !existed;

    const demo = JSON.parse(await ok(['get', '-n', namespace, 'counterservice', 'demo', '-o', 'json']));
    // What the server stored equals what applyDefaults (same schema) computes: one source of truth.
    const sample = parse(await readSample('counterservice.yaml'));
    expect(demo.spec).toEqual(applyDefaults(sample.spec));
    expect(demo.spec).toMatchObject({
      imagePullPolicy: 'IfNotPresent',
      logLevel: 'info',
      redis: { address: 'redis:6379', key: 'counter' },
      rollout: { progressDeadlineSeconds: 600 },
      resources: { requests: { cpu: '50m', memory: '64Mi' } },
    });
    expect(
      await ok(['get', 'drainpolicy', 'default', '-o', 'jsonpath={.spec.bounds.maxGracePeriodSeconds}']),
    ).toBe('120');
    expect(await ok(['get', '-n', namespace, 'deployment/redis', 'service/redis', '-o', 'name'])).toBe(
      'deployment.apps/redis\nservice/redis\n',
    );
  });

  it('show the printer columns, also through the short name and the category', async () => {
    const table = await ok(['get', '-n', namespace, 'csvc']);
    expect(table.split('\n')[0]?.split(/\s+/).filter(Boolean)).toEqual([
      'NAME',
      'READY',
      'GRACE',
      'IMAGE',
      'PHASE',
      'AGE',
    ]);
    expect(table).toContain('lastcall/workload:v1');
    expect(await ok(['get', '-n', namespace, 'lastcall', '-o', 'name'])).toContain(
      'counterservice.lastcall.dev/demo',
    );
    const wide = await ok(['get', '-n', namespace, 'counterservice', 'demo', '-o', 'wide']);
    expect(wide.split('\n')[0]).toMatch(/MODE\s+FORMULA\s+KILLED/);
    const policies = await ok(['get', 'dp', 'default']);
    expect(policies.split('\n')[0]?.split(/\s+/).filter(Boolean)).toEqual([
      'NAME',
      'PRIORITY',
      'PROPAGATION',
      'MIN-GRACE',
      'MAX-GRACE',
      'AGE',
    ]);
  });
});

async function readSample(file: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(join(repoRoot, 'config', 'samples', file), 'utf8');
}

// Each row: a spec (or a whole object) the API server must refuse, the field its message must name,
// and a fragment of the message.
const badCounterServices: Array<[string, Record<string, unknown>, string, RegExp]> = [
  ['no image', { redis: { address: 'redis:6379' } }, 'spec.image', /Required value/],
  ['an image without tag', { ...valid, image: 'lastcall/workload' }, 'spec.image', /with a tag or a digest/],
  [
    'an image in upper case',
    { ...valid, image: 'Lastcall/Workload:v1' },
    'spec.image',
    /with a tag or a digest/,
  ],
  [
    'redis.address without port',
    { ...valid, redis: { address: 'redis' } },
    'spec.redis.address',
    /host:port/,
  ],
  [
    'redis.address port 70000',
    { ...valid, redis: { address: 'redis:70000' } },
    'spec.redis.address',
    /1 to 65535/,
  ],
  ['no redis', { image: 'lastcall/workload:v1' }, 'spec.redis', /Required value/],
  [
    'a password ref with a bad Secret name',
    { ...valid, redis: { address: 'redis:6379', passwordSecretRef: { name: 'Bad_Name', key: 'pw' } } },
    'spec.redis.passwordSecretRef.name',
    /should match/,
  ],
  ['negative replicas', { ...valid, replicas: -1 }, 'spec.replicas', /greater than or equal to 0/],
  ['too many replicas', { ...valid, replicas: 5000 }, 'spec.replicas', /less than or equal to 1000/],
  [
    'work of 601 s',
    { ...valid, work: { durationSeconds: 601 } },
    'spec.work.durationSeconds',
    /less than or equal to 600/,
  ],
  [
    'a fractional work duration',
    { ...valid, work: { durationSeconds: 1.5 } },
    'spec.work.durationSeconds',
    /integer/,
  ],
  [
    'an unknown drain mode',
    { ...valid, drain: { mode: 'Soft' } },
    'spec.drain.mode',
    /supported values: "Graceful", "Hard"/,
  ],
  [
    'negative propagation',
    { ...valid, drain: { propagationSeconds: -1 } },
    'spec.drain.propagationSeconds',
    /greater than or equal to 0/,
  ],
  [
    'cleanup 0 (exiting takes time)',
    { ...valid, drain: { cleanupSeconds: 0 } },
    'spec.drain.cleanupSeconds',
    /greater than or equal to 1/,
  ],
  [
    'an override not above propagation + 2',
    { ...valid, drain: { propagationSeconds: 10, gracePeriodSecondsOverride: 12 } },
    'spec.drain.gracePeriodSecondsOverride',
    /must exceed propagationSeconds \+ 2/,
  ],
  [
    // Honest budgets: the drain deadline (here 20 - 5 - 2 = 13 s) must cover the work plus the
    // workload's latency allowance (issue 10, point 2).
    'an override whose drain deadline cannot cover the work',
    {
      ...valid,
      work: { durationSeconds: 30 },
      drain: { propagationSeconds: 5, cleanupSeconds: 2, gracePeriodSecondsOverride: 20 },
    },
    'spec.drain.gracePeriodSecondsOverride',
    /must be at least propagationSeconds \+ cleanupSeconds \+ work.durationSeconds \+ 1/,
  ],
  [
    'marginSeconds 0 (the drain deadline would be exactly the work)',
    { ...valid, drain: { marginSeconds: 0 } },
    'spec.drain.marginSeconds',
    /must be at least 1/,
  ],
  [
    'maxSurge and maxUnavailable both 0',
    { ...valid, rollout: { maxSurge: 0, maxUnavailable: 0 } },
    'spec.rollout.maxUnavailable',
    /must not both be 0/,
  ],
  [
    'maxSurge 0% and maxUnavailable 0',
    { ...valid, rollout: { maxSurge: '0%', maxUnavailable: 0 } },
    'spec.rollout.maxUnavailable',
    /must not both be 0/,
  ],
  [
    'maxSurge 150%',
    { ...valid, rollout: { maxSurge: '150%' } },
    'spec.rollout.maxSurge',
    /percentage 0%-100%/,
  ],
  [
    'maxSurge "two"',
    { ...valid, rollout: { maxSurge: 'two' } },
    'spec.rollout.maxSurge',
    /percentage 0%-100%/,
  ],
  [
    'progressDeadlineSeconds not above minReadySeconds',
    { ...valid, rollout: { minReadySeconds: 600 } },
    'spec.rollout.progressDeadlineSeconds',
    /greater than minReadySeconds/,
  ],
  [
    'nodePort with type ClusterIP',
    { ...valid, service: { type: 'ClusterIP', nodePort: 30080 } },
    'spec.service.nodePort',
    /only be set when type is NodePort/,
  ],
  [
    'nodePort 80',
    { ...valid, service: { type: 'NodePort', nodePort: 80 } },
    'spec.service.nodePort',
    /greater than or equal to 30000/,
  ],
  [
    'nodePort 40000',
    { ...valid, service: { type: 'NodePort', nodePort: 40000 } },
    'spec.service.nodePort',
    /less than or equal to 32767/,
  ],
  [
    'service type LoadBalancer',
    { ...valid, service: { type: 'LoadBalancer' } },
    'spec.service.type',
    /supported values/,
  ],
  [
    'a CPU request "lots"',
    { ...valid, resources: { requests: { cpu: 'lots' } } },
    'spec.resources.requests.cpu',
    /should match/,
  ],
  ['an unknown log level', { ...valid, logLevel: 'loud' }, 'spec.logLevel', /supported values/],
];

describe('bad CounterServices are refused with a message naming the field', () => {
  it.each(badCounterServices)('%s -> %s', async (_name, spec, field, message) => {
    const run = await kubectl(['apply', '--dry-run=server', '-f', '-'], toYaml(counterService('bad', spec)));
    expect(run.code, `accepted: ${run.stdout}`).not.toBe(0);
    expect(run.stderr).toContain(`${field}:`);
    expect(run.stderr).toMatch(message);
  });

  it('an unknown field is refused by strict field validation (kubectl >= 1.27 default)', async () => {
    const run = await kubectl(
      ['apply', '--dry-run=server', '-f', '-'],
      toYaml(counterService('bad', { ...valid, drain: { propagationSecond: 5 } })),
    );
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('unknown field "spec.drain.propagationSecond"');
  });

  it.each([
    ['1st', 'starts with a digit'],
    ['a.b', 'has a dot'],
  ])('metadata.name %s (%s) is refused: it also names the Service', async (name) => {
    const run = await kubectl(['apply', '--dry-run=server', '-f', '-'], toYaml(counterService(name, valid)));
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('metadata.name must be a DNS-1035 label');
  });

  it('a valid spec with every field set is accepted', async () => {
    const full = {
      replicas: 3,
      image: `registry.example:5000/team/workload:v2@sha256:${'a'.repeat(64)}`,
      imagePullPolicy: 'Always',
      redis: {
        address: '[::1]:6379',
        key: 'hits',
        passwordSecretRef: { name: 'redis-auth', key: 'password' },
      },
      work: { durationSeconds: 0 },
      drain: {
        mode: 'Graceful',
        propagationSeconds: 0,
        cleanupSeconds: 1,
        marginSeconds: 0,
        gracePeriodSecondsOverride: 3,
      },
      rollout: { maxSurge: '25%', maxUnavailable: '10%', minReadySeconds: 5, progressDeadlineSeconds: 6 },
      service: { type: 'NodePort', port: 8080, nodePort: 32767 },
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: 1, memory: '1Gi' } },
      logLevel: 'debug',
    };
    const run = await kubectl(['apply', '--dry-run=server', '-f', '-'], toYaml(counterService('full', full)));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });
});

const badPolicies: Array<[string, Record<string, unknown>, string, RegExp]> = [
  [
    'min above max',
    { bounds: { minGracePeriodSeconds: 60, maxGracePeriodSeconds: 30 } },
    'spec.bounds.minGracePeriodSeconds',
    /must not exceed maxGracePeriodSeconds/,
  ],
  [
    'a max above 3600',
    { bounds: { maxGracePeriodSeconds: 4000 } },
    'spec.bounds.maxGracePeriodSeconds',
    /less than or equal to 3600/,
  ],
  [
    'a negative margin',
    { defaults: { marginSeconds: -1 } },
    'spec.defaults.marginSeconds',
    /greater than or equal to 0/,
  ],
  [
    'a default margin of 0 (every computed drain deadline would be exactly the work)',
    { defaults: { marginSeconds: 0 } },
    'spec.defaults.marginSeconds',
    /must be at least 1/,
  ],
  [
    'an allowed Redis address without a port',
    { allowedRedisAddresses: ['redis.shared.svc'] },
    'spec.allowedRedisAddresses[0]',
    /must be host:port/,
  ],
  [
    'an In requirement without values',
    { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In' }] } },
    'spec.namespaceSelector.matchExpressions[0].values',
    /must be non-empty for In and NotIn/,
  ],
  ['a repeated mode', { allowedModes: ['Graceful', 'Graceful'] }, 'spec.allowedModes[1]', /Duplicate value/],
  ['no modes', { allowedModes: [] }, 'spec.allowedModes', /at least 1 items/],
];

describe('bad DrainPolicies are refused with a message naming the field', () => {
  it.each(badPolicies)('%s -> %s', async (_name, spec, field, message) => {
    const policy = {
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'DrainPolicy',
      metadata: { name: 'bad' },
      spec,
    };
    const run = await kubectl(['apply', '--dry-run=server', '-f', '-'], toYaml(policy));
    expect(run.code, `accepted: ${run.stdout}`).not.toBe(0);
    expect(run.stderr).toContain(`${field}:`);
    expect(run.stderr).toMatch(message);
  });
});

describe('subresources', () => {
  const name = 'subresources';
  beforeAll(async () => {
    await ok(['apply', '-f', '-'], toYaml(counterService(name, valid)));
  });

  it('status accepts what the operator writes (budget from computeBudget, conditions)', async () => {
    const cs = JSON.parse(await ok(['get', '-n', namespace, 'counterservice', name, '-o', 'json']));
    const { budget } = computeBudget(cs.spec, resolvePolicy([], namespace, {}));
    const status = {
      observedGeneration: cs.metadata.generation,
      replicas: 1,
      readyReplicas: 1,
      updatedReplicas: 1,
      availableReplicas: 1,
      ready: '1/1',
      selector: `lastcall.dev/counterservice=${name}`,
      phase: 'Ready',
      conditions: [
        {
          type: 'BudgetAccepted',
          status: 'True',
          observedGeneration: cs.metadata.generation,
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          reason: 'WithinBounds',
          message: budget.formula,
        },
      ],
      budget,
      drains: {
        observed: 1,
        clean: 1,
        killed: 0,
        abandonedIncrements: 0,
        longestDrainSeconds: 4.2,
        recommendedGracePeriodSeconds: 13,
        recent: [
          { pod: `${name}-abc`, outcome: 'Clean', exitCode: 0, drainSeconds: 4.2, pendingAtSignal: 3 },
        ],
      },
      lastRollout: { toImage: 'lastcall/workload:v1', startedAt: '2026-01-01T00:00:00Z' },
    };
    await ok([
      'patch',
      '-n',
      namespace,
      'counterservice',
      name,
      '--subresource=status',
      // Replace the whole status (JSON patch `add` on /status): the operator owns all of it.
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'add', path: '/status', value: status }]),
    ]);
    const back = JSON.parse(await ok(['get', '-n', namespace, 'counterservice', name, '-o', 'json']));
    expect(back.status).toEqual(status);
    const row = await ok(['get', '-n', namespace, 'counterservice', name, '--no-headers']);
    expect(row.split(/\s+/).slice(0, 5)).toEqual([name, '1/1', '15', 'lastcall/workload:v1', 'Ready']);
  });

  it('status refuses a phase outside the enum, naming the field', async () => {
    const run = await kubectl([
      'patch',
      '-n',
      namespace,
      'counterservice',
      name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Happy' } }),
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('status.phase');
  });

  it('scale goes through the scale subresource (kubectl scale, HPAs)', async () => {
    await ok(['scale', '-n', namespace, `counterservice/${name}`, '--replicas=3']);
    expect(
      await ok(['get', '-n', namespace, 'counterservice', name, '-o', 'jsonpath={.spec.replicas}']),
    ).toBe('3');
    const scale = JSON.parse(
      await ok([
        'get',
        '--raw',
        `/apis/lastcall.dev/v1alpha1/namespaces/${namespace}/counterservices/${name}/scale`,
      ]),
    );
    expect(scale).toMatchObject({ kind: 'Scale', spec: { replicas: 3 } });
    // the selector the status published is what an HPA uses to find the pods
    expect(scale.status.selector).toBe(`lastcall.dev/counterservice=${name}`);
  });
});

describe('kubectl explain', () => {
  it('reads well for counterservice.spec.drain', async () => {
    const text = await ok(['explain', 'counterservice.spec.drain']);
    expect(text).toContain('How pods shut down.');
    for (const field of [
      'cleanupSeconds',
      'gracePeriodSecondsOverride',
      'marginSeconds',
      'mode',
      'propagationSeconds',
    ]) {
      expect(text).toMatch(new RegExp(`\\n\\s+${field}\\s+<(integer|string)>`));
    }
    expect(text).toContain('native preStop sleep');
    expect(text).toContain('enum: Graceful, Hard');
  });

  it('reads well for drainpolicy.spec', async () => {
    const text = await ok(['explain', 'drainpolicy.spec']);
    expect(text).toMatch(/namespaceSelector\s+<Object>/);
    expect(text).toContain('higher wins');
  });
});

describe('config/ (kustomize)', () => {
  it('config/default renders: namespace, CRDs, RBAC, the operator and its secured metrics', async () => {
    const rendered = (await ok(['kustomize', join(repoRoot, 'config', 'default')]))
      .split(/^---$/m)
      .map((doc) => parse(doc))
      .map((o) => `${o.kind}/${o.metadata.name}`);
    expect(rendered.sort()).toEqual(
      [
        'Namespace/lastcall-system',
        'CustomResourceDefinition/counterservices.lastcall.dev',
        'CustomResourceDefinition/drainpolicies.lastcall.dev',
        'ServiceAccount/lastcall-operator',
        'ClusterRole/lastcall-operator',
        'ClusterRoleBinding/lastcall-operator',
        'Role/lastcall-leader-election',
        'RoleBinding/lastcall-leader-election',
        'Deployment/lastcall-operator',
        'Service/lastcall-operator-metrics',
        // metrics over HTTPS with TokenReview/SubjectAccessReview, as kubebuilder v4 projects serve them
        'ClusterRole/lastcall-metrics-auth',
        'ClusterRoleBinding/lastcall-metrics-auth',
        'ClusterRole/lastcall-metrics-reader',
        'NetworkPolicy/lastcall-allow-metrics-traffic',
      ].sort(),
    );
  });

  it('the RBAC names no wildcards', async () => {
    const rendered = (await ok(['kustomize', join(repoRoot, 'config', 'rbac')]))
      .split(/^---$/m)
      .map((d) => parse(d));
    const rules = rendered.flatMap((o) => (o.rules ?? []) as Array<Record<string, string[]>>);
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      // a rule names either API resources (apiGroups + resources) or nonResourceURLs (the metrics reader's /metrics)
      const lists = [rule.apiGroups, rule.resources, rule.nonResourceURLs, rule.verbs].filter(
        (l) => l !== undefined,
      );
      expect(rule.verbs).toBeDefined();
      expect(rule.resources ?? rule.nonResourceURLs).toBeDefined();
      for (const list of lists) expect(list).not.toContain('*');
    }
  });

  // What the ServiceAccount may do, asked of the real authorizer. The operator's own in-cluster
  // test proves these are enough; this table proves nothing more is granted.
  const sa = 'system:serviceaccount:lastcall-system:lastcall-operator';
  const canI: Array<[string, string, string | undefined, 'yes' | 'no']> = [
    ['list', 'counterservices.lastcall.dev', undefined, 'yes'],
    ['watch', 'counterservices.lastcall.dev', undefined, 'yes'],
    ['patch', 'counterservices.lastcall.dev/status', 'team-a', 'yes'],
    ['update', 'counterservices.lastcall.dev/finalizers', 'team-a', 'yes'],
    ['list', 'drainpolicies.lastcall.dev', undefined, 'yes'],
    ['patch', 'deployments.apps', 'team-a', 'yes'],
    ['create', 'deployments.apps', 'team-a', 'yes'],
    ['patch', 'services', 'team-a', 'yes'],
    ['patch', 'poddisruptionbudgets.policy', 'team-a', 'yes'],
    ['get', 'services', 'team-a', 'yes'],
    ['get', 'deployments.apps', 'team-a', 'yes'],
    ['get', 'poddisruptionbudgets.policy', 'team-a', 'yes'],
    ['watch', 'pods', undefined, 'yes'],
    ['list', 'namespaces', undefined, 'yes'],
    ['create', 'events', 'team-a', 'yes'],
    ['patch', 'events', 'team-a', 'yes'],
    ['update', 'leases.coordination.k8s.io', 'lastcall-system', 'yes'],
    ['create', 'leases.coordination.k8s.io', 'lastcall-system', 'yes'],
    // and no more
    ['update', 'leases.coordination.k8s.io', 'kube-system', 'no'],
    ['delete', 'deployments.apps', 'team-a', 'no'],
    ['delete', 'pods', 'team-a', 'no'],
    ['create', 'pods', 'team-a', 'no'],
    ['get', 'secrets', 'team-a', 'no'],
    ['list', 'secrets', undefined, 'no'],
    ['patch', 'counterservices.lastcall.dev', 'team-a', 'no'],
    ['create', 'drainpolicies.lastcall.dev', undefined, 'no'],
    ['patch', 'namespaces', undefined, 'no'],
    ['create', 'customresourcedefinitions.apiextensions.k8s.io', undefined, 'no'],
  ];

  describe('the operator ServiceAccount (config/rbac applied)', () => {
    beforeAll(async () => {
      await ok(['apply', '-f', join(repoRoot, 'config', 'default', 'namespace.yaml')]);
      await ok(['apply', '-k', join(repoRoot, 'config', 'rbac')]);
      // The RBAC authorizer reads roles and bindings from the API server's informers, a moment
      // behind the apply: wait until it sees both bindings (one grant of each) before asking.
      for (const args of [
        ['list', 'counterservices.lastcall.dev', '--all-namespaces'],
        ['update', 'leases.coordination.k8s.io', '--namespace=lastcall-system'],
      ]) {
        await waitFor(
          `the authorizer to grant ${args.join(' ')}`,
          async () => (await kubectl(['auth', 'can-i', ...args, `--as=${sa}`])).stdout.trim() === 'yes',
          { timeoutMs: 60_000, intervalMs: 250 },
        );
      }
    });

    it.each(canI)('%s %s (namespace %s): %s', async (verb, resource, ns, expected) => {
      const [plural, subresource] = resource.split('/') as [string, string | undefined];
      const args = ['auth', 'can-i', verb, plural, `--as=${sa}`];
      if (subresource) args.push(`--subresource=${subresource}`);
      args.push(ns ? `--namespace=${ns}` : '--all-namespaces');
      const run = await kubectl(args);
      expect(run.stdout.trim()).toBe(expected);
    });
  });
});

describe('Pod Security: every pod template passes the restricted profile (PodSecurity admission)', () => {
  /** Server dry-run of a Pod made from a pod template, in a namespace enforcing `restricted`. */
  async function admitPod(ns: string, template: { metadata?: unknown; spec: unknown }): Promise<Run> {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'psa-probe', namespace: ns },
      spec: template.spec,
    };
    return kubectl(['create', '--dry-run=server', '-f', '-'], toYaml(pod));
  }

  async function waitForServiceAccount(ns: string, name: string): Promise<void> {
    await waitFor(
      `ServiceAccount ${ns}/${name}`,
      async () => (await kubectl(['get', '-n', ns, 'serviceaccount', name])).code === 0,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  }

  beforeAll(async () => {
    await ok([
      'label',
      'namespace',
      namespace,
      'pod-security.kubernetes.io/enforce=restricted',
      '--overwrite',
    ]);
    // The ServiceAccount admission plugin refuses pods whose ServiceAccount does not exist yet; on a
    // bare API server (no controller-manager) nobody creates `default`, so make sure it is there.
    if ((await kubectl(['get', '-n', namespace, 'serviceaccount', 'default'])).code !== 0) {
      await kubectl(['create', '-n', namespace, 'serviceaccount', 'default']);
    }
    await waitForServiceAccount(namespace, 'default');
    // PodSecurity admission reads the namespace's labels from an informer, a moment behind the
    // label: wait until it enforces, or the pods below would be admitted without being judged.
    await waitFor(
      'PodSecurity to enforce restricted in the namespace',
      async () =>
        (
          await admitPod(namespace, { spec: { containers: [{ name: 'x', image: 'busybox:1' }] } })
        ).stderr.includes('violates PodSecurity'),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  });

  it('is enforced here: a pod without a security context is refused', async () => {
    const run = await admitPod(namespace, { spec: { containers: [{ name: 'x', image: 'busybox:1' }] } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('violates PodSecurity "restricted');
  });

  it.each(['Graceful', 'Hard'])('the workload Deployment (%s)', async (mode) => {
    const cs = {
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'CounterService',
      metadata: { name: 'psa', namespace, uid: '00000000-0000-0000-0000-000000000001' },
      spec: applyDefaults({ ...valid, drain: { mode } }),
    };
    const { desiredDeployment } = await import('../../operator/desired/index.ts');
    const deployment = desiredDeployment(cs, computeBudget(cs.spec, resolvePolicy([], namespace, {})).budget);
    const run = await admitPod(namespace, deployment.spec.template);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('the Redis sample', async () => {
    const docs = (await readSample('redis.yaml')).split(/^---$/m).map((d) => parse(d));
    const redis = docs.find((d) => d.kind === 'Deployment');
    const run = await admitPod(namespace, redis.spec.template);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('the operator (config/manager) in lastcall-system', async () => {
    await ok(['apply', '-f', join(repoRoot, 'config', 'default', 'namespace.yaml')]);
    await ok(['apply', '-k', join(repoRoot, 'config', 'rbac')]);
    await waitForServiceAccount('lastcall-system', 'lastcall-operator');
    const manager = (await ok(['kustomize', join(repoRoot, 'config', 'manager')]))
      .split(/^---$/m)
      .map((d) => parse(d))
      .find((d) => d.kind === 'Deployment');
    const run = await admitPod('lastcall-system', manager.spec.template);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });
});
