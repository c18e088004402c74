import { describe, expect, it } from 'vitest';
import { applyPolicyDefaults, type DrainPolicy } from './api/types.ts';
import {
  BUILT_IN_POLICY,
  policyMatchesNamespace,
  redisAddressMatches,
  redisAddressRefusal,
  resolvePolicy,
  selectorMatches,
} from './policy.ts';

const dp = (
  name: string,
  spec: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): DrainPolicy => ({
  apiVersion: 'lastcall.dev/v1alpha1',
  kind: 'DrainPolicy',
  metadata: { name, ...extra },
  spec: applyPolicyDefaults(spec),
});

describe('resolvePolicy', () => {
  it('uses the built-in defaults when no policy exists', () => {
    const p = resolvePolicy([], 'team-a', {});
    expect(p).toMatchObject({ ...BUILT_IN_POLICY, name: 'built-in', policies: [] });
    expect(p.sources.propagationSeconds).toBe('built-in');
  });

  it('applies a policy without a selector to every namespace', () => {
    const p = resolvePolicy([dp('default', { defaults: { propagationSeconds: 8 } })], 'anything', {});
    expect(p.propagationSeconds).toBe(8);
    expect(p.cleanupSeconds).toBe(BUILT_IN_POLICY.cleanupSeconds);
    expect(p.name).toBe('default');
    expect(p.sources).toMatchObject({ propagationSeconds: 'default', cleanupSeconds: 'built-in' });
  });

  it('takes each default from the highest-priority policy that sets it', () => {
    const policies = [
      dp('cluster', { defaults: { propagationSeconds: 5, cleanupSeconds: 3, marginSeconds: 4 } }),
      dp('batch', {
        priority: 10,
        namespaceSelector: { matchLabels: { workload: 'batch' } },
        defaults: { marginSeconds: 20 },
      }),
    ];
    const batch = resolvePolicy(policies, 'jobs', { workload: 'batch' });
    expect(batch).toMatchObject({ propagationSeconds: 5, cleanupSeconds: 3, marginSeconds: 20 });
    expect(batch.name).toBe('batch+cluster');
    expect(batch.policies).toEqual(['batch', 'cluster']);
    const web = resolvePolicy(policies, 'web', { workload: 'web' });
    expect(web).toMatchObject({ marginSeconds: 4, name: 'cluster' });
  });

  it('takes the bounds as a whole from one policy, so min and max never come from different policies', () => {
    const policies = [
      dp('cluster', { bounds: { minGracePeriodSeconds: 10, maxGracePeriodSeconds: 60 } }),
      dp('long', { priority: 5, bounds: { maxGracePeriodSeconds: 600 } }),
    ];
    const p = resolvePolicy(policies, 'x', {});
    // a higher-priority policy may loosen: min falls back to built-in, not to cluster's 10
    expect(p).toMatchObject({ minGracePeriodSeconds: 1, maxGracePeriodSeconds: 600 });
    expect(p.sources.bounds).toBe('long');
  });

  it('breaks priority ties by name, whatever the list order', () => {
    const a = dp('a', { defaults: { marginSeconds: 1 } });
    const b = dp('b', { defaults: { marginSeconds: 2 } });
    expect(resolvePolicy([a, b], 'x', {}).marginSeconds).toBe(1);
    expect(resolvePolicy([b, a], 'x', {}).marginSeconds).toBe(1);
  });

  it('selects a namespace by name through kubernetes.io/metadata.name even if the caller omitted it', () => {
    const p = dp('prod', {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prod' } },
      allowedModes: ['Graceful'],
    });
    expect(resolvePolicy([p], 'prod', {}).allowedModes).toEqual(['Graceful']);
    expect(resolvePolicy([p], 'dev', {}).allowedModes).toEqual(['Graceful', 'Hard']);
  });

  it('ignores a policy being deleted', () => {
    const p = dp('gone', { defaults: { marginSeconds: 9 } }, { deletionTimestamp: '2026-01-01T00:00:00Z' });
    expect(policyMatchesNamespace(p, 'x', {})).toBe(false);
    expect(resolvePolicy([p], 'x', {}).marginSeconds).toBe(BUILT_IN_POLICY.marginSeconds);
  });

  it('does not name a matching policy that contributed nothing', () => {
    const policies = [dp('empty', { priority: 9 }), dp('default', { defaults: { marginSeconds: 4 } })];
    expect(resolvePolicy(policies, 'x', {}).name).toBe('default');
  });
});

describe('selectorMatches (metav1.LabelSelector semantics)', () => {
  const labels = { team: 'a', tier: 'web' };
  it.each([
    [undefined, true],
    [{}, true],
    [{ matchLabels: { team: 'a' } }, true],
    [{ matchLabels: { team: 'b' } }, false],
    [{ matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }] }, true],
    [{ matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['a'] }] }, false],
    [{ matchExpressions: [{ key: 'missing', operator: 'NotIn', values: ['a'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, false],
    [
      { matchLabels: { team: 'a' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] },
      false,
    ],
  ] as const)('%j -> %s', (selector, expected) => {
    // biome-ignore lint/suspicious/noExplicitAny: table rows are literal selectors
    expect(selectorMatches(selector as any, labels)).toBe(expected);
  });
});

describe('Redis addresses (the Secret may only go where the namespace or an admin allows)', () => {
  const none = resolvePolicy([], 'team-a', {});

  it.each([
    'redis:6379',
    'REDIS:6379',
    'redis.team-a:6380',
    'redis.team-a.svc:6379',
    'redis.team-a.svc.cluster.local:6379',
  ])('allows a Service of the own namespace by default: %s', (address) => {
    expect(redisAddressRefusal(address, 'team-a', none)).toBeUndefined();
  });

  it.each([
    'redis.team-b:6379',
    'redis.team-b.svc.cluster.local:6379',
    'evil.example.com:6379',
    '10.0.0.5:6379',
    '[fd00::1]:6379',
    'redis.team-a.svc.cluster.local.evil.example.com:6379',
    'redis.team-a.example.com:6379',
    '1redis:6379',
  ])('refuses anything else by default, naming the field, the value and what is allowed: %s', (address) => {
    const message = redisAddressRefusal(address, 'team-a', none);
    expect(message).toContain(`spec.redis.address=${address} is not allowed`);
    expect(message).toContain('spec.redis.passwordSecretRef');
    expect(message).toContain('a Service of namespace team-a');
    expect(message).toContain("a DrainPolicy's allowedRedisAddresses can allow more");
  });

  const policies: DrainPolicy[] = [
    {
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'DrainPolicy',
      metadata: { name: 'shared-redis' },
      spec: {
        priority: 5,
        allowedRedisAddresses: ['redis.shared.svc.cluster.local:6379', '*.cache.svc:*', '10.0.0.5:6379'],
      },
    },
    {
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'DrainPolicy',
      metadata: { name: 'anything' },
      spec: { priority: 0, allowedRedisAddresses: ['**:*'] },
    },
  ];
  const shared = resolvePolicy(policies, 'team-a', {});

  it('takes the list as a whole from the highest-priority policy that sets it', () => {
    expect(shared.redisAddresses).toEqual({
      policy: 'shared-redis',
      allowed: ['redis.shared.svc.cluster.local:6379', '*.cache.svc:*', '10.0.0.5:6379'],
    });
    // not a budget term: the budget's policy name is unchanged
    expect(shared.name).toBe('built-in');
    expect(resolvePolicy([policies[1] as DrainPolicy], 'team-a', {}).redisAddresses?.policy).toBe('anything');
  });

  it.each([
    ['redis.shared.svc.cluster.local:6379', true],
    ['redis.shared.svc.cluster.local:6380', false],
    ['a.cache.svc:1', true],
    ['a.b.cache.svc:6379', false], // * is one label
    ['10.0.0.5:6379', true],
    ['10.0.0.50:6379', false],
    ['redis:6379', true], // the own namespace always
  ])('a policy allows more: %s -> %s', (address, allowed) => {
    const message = redisAddressRefusal(address as string, 'team-a', shared);
    expect(message === undefined).toBe(allowed);
    if (!allowed) {
      expect(message).toContain('DrainPolicy shared-redis allows (allowedRedisAddresses: redis.shared');
    }
  });

  it('** matches any run of labels', () => {
    expect(redisAddressMatches('**:*', 'evil.example.com:1')).toBe(true);
    expect(redisAddressMatches('**.example.com:6379', 'a.b.example.com:6379')).toBe(true);
    expect(redisAddressMatches('**.example.com:6379', 'example.org:6379')).toBe(false);
    expect(redisAddressMatches('[fd00::1]:6379', '[FD00::1]:6379')).toBe(true);
  });
});
