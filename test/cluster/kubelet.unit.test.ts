import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loopbackTwin, parseCidr } from '../../cluster/addresses.ts';
import { imageRepository, loadImageMap, parseImageMap, resolveCommand } from '../../cluster/images.ts';
import { CrashBackoff, shouldRestart } from '../../cluster/kubelet/backoff.ts';
import { Deadline } from '../../cluster/kubelet/deadline.ts';
import { buildEnv, ContainerConfigError, expand, type PodFacts } from '../../cluster/kubelet/env.ts';
import { sleepAtLeast } from '../../cluster/kubelet/handlers.ts';
import { renderHosts, writeInPlace } from '../../cluster/kubelet/hosts.ts';
import { IpAllocator } from '../../cluster/kubelet/ip-allocator.ts';
import { PodDir } from '../../cluster/kubelet/pod-files.ts';
import {
  ConditionClock,
  type ContainerSummary,
  kubeletConditions,
  type PodSummary,
  podPhase,
} from '../../cluster/kubelet/pod-status.ts';
import { ProbeThresholds, probeTiming } from '../../cluster/kubelet/probe-state.ts';
import { mountScript } from '../../cluster/kubelet/runner.ts';
import { parseImageUser, processIdentity, setprivArgv } from '../../cluster/kubelet/security.ts';
import {
  exitStatus,
  gracePeriodSeconds,
  runsPreStop,
  stopSignal,
  stopWindowSeconds,
} from '../../cluster/kubelet/termination.ts';
import { listeningAddresses } from '../../cluster/kubelet/twin-listeners.ts';
import { tempDirsOfFile } from '../support/temp-dirs.ts';

/** Temporary directories of this file, removed after its tests. */
const tempDir = tempDirsOfFile();

describe('addresses', () => {
  test('10.x maps to its 127.x twin, loopback to itself, anything else is refused', () => {
    expect(loopbackTwin('10.244.0.7')).toBe('127.244.0.7');
    expect(loopbackTwin('10.96.0.10')).toBe('127.96.0.10');
    expect(loopbackTwin('127.0.0.1')).toBe('127.0.0.1');
    expect(() => loopbackTwin('192.168.1.1')).toThrow(/no loopback twin/);
    expect(() => loopbackTwin('10.0.0.300')).toThrow(/invalid octet "300"/);
  });
  test('CIDR parsing names the bad value', () => {
    expect(parseCidr('10.244.0.0/24')).toEqual({ network: 0x0af40000, prefix: 24 });
    expect(() => parseCidr('10.244.0.0')).toThrow(/CIDR "10.244.0.0"/);
  });
});

describe('ip allocator', () => {
  test('hands out .2 upwards, round-robin, and does not reuse a freed address at once', () => {
    const a = new IpAllocator('10.244.0.0/24');
    expect(a.capacity).toBe(253);
    expect(a.allocate('p1')).toBe('10.244.0.2');
    expect(a.allocate('p2')).toBe('10.244.0.3');
    expect(a.allocate('p1')).toBe('10.244.0.2');
    a.release('p1');
    expect(a.allocate('p3')).toBe('10.244.0.4');
  });
  test('wraps around and skips addresses in use; reports exhaustion', () => {
    const a = new IpAllocator('10.244.0.0/29'); // .2 .. .6
    for (let i = 0; i < 5; i++) a.allocate(`p${i}`);
    expect(() => a.allocate('x')).toThrow(/exhausted/);
    a.release('p2');
    expect(a.allocate('x')).toBe('10.244.0.4');
  });
  test('skips addresses another local cluster already listens on', () => {
    const a = new IpAllocator('10.244.0.0/24', (ip) => ip === '10.244.0.2');
    expect(a.allocate('p1')).toBe('10.244.0.3');
  });
  test('reads listening loopback addresses from /proc/net/tcp', () => {
    const file = join(tempDir('lc-tcp-'), 'tcp');
    writeFileSync(
      file,
      [
        '  sl  local_address rem_address   st',
        '   0: 0200F47F:1F90 00000000:0000 0A 00000000:00000000',
        '   1: 0300F47F:1F90 0100007F:9C40 01 00000000:00000000',
      ].join('\n'),
    );
    expect([...listeningAddresses(file)]).toEqual(['127.244.0.2']);
  });
  test('reserve recovers addresses after a restart and moves the cursor past them', () => {
    const a = new IpAllocator('10.244.0.0/24');
    a.reserve('10.244.0.9', 'old');
    expect(a.allocate('new')).toBe('10.244.0.10');
    expect(() => a.reserve('10.244.1.1', 'x')).toThrow(/outside/);
  });
});

describe('images', () => {
  const map = loadImageMap(new URL('../../cluster/images.json', import.meta.url).pathname);
  const p = { NODE: '/n/node', REPO: '/repo', POD_IP: '127.244.0.5' };
  test('repository of an image reference ignores registry, tag and digest', () => {
    expect(imageRepository('redis:7')).toBe('redis');
    expect(imageRepository('docker.io/library/redis:7.2@sha256:abc')).toBe('redis');
    expect(imageRepository('lastcall/workload:v2')).toBe('lastcall/workload');
    expect(imageRepository('localhost:5000/lastcall/operator')).toBe('lastcall/operator');
  });
  test('redis binds to the pod twin with /usr/bin/redis-server, durable by default, in /data', () => {
    const r = resolveCommand(map, 'redis:7', undefined, undefined, p);
    expect(r.argv.slice(0, 3)).toEqual(['/usr/bin/redis-server', '--bind', '127.244.0.5']);
    const option = (name: string): string | undefined => r.argv[r.argv.indexOf(name) + 1];
    expect(option('--appendonly')).toBe('yes');
    expect(option('--appendfsync')).toBe('everysec');
    expect(option('--maxmemory-policy')).toBe('noeviction');
    expect(option('--dir')).toBe('/data');
    expect(r.imageWorkingDir).toBe('/data');
    expect(r.imageVolumes).toEqual(['/data']);
  });
  test('a pod giving redis options keeps the twin binding (it sits in the entrypoint)', () => {
    expect(resolveCommand(map, 'redis', undefined, ['--appendonly', 'no'], p).argv).toEqual([
      '/usr/bin/redis-server',
      '--bind',
      '127.244.0.5',
      '--port',
      '6379',
      '--appendonly',
      'no',
    ]);
  });
  test('image volumes and working dirs must be absolute', () => {
    const entry = { entrypoint: ['x'] };
    expect(() => parseImageMap({ images: { a: { ...entry, volumes: ['data'] } } })).toThrow(
      /images\["a"\]\.volumes must hold absolute paths without "\.\.", got "data"/,
    );
    expect(() => parseImageMap({ images: { a: { ...entry, workingDir: 'data' } } })).toThrow(
      /images\["a"\]\.workingDir must be an absolute path, got "data"/,
    );
  });
  test('workload gets HOST = the pod twin; command replaces entrypoint and args, args alone replace args', () => {
    const w = resolveCommand(map, 'lastcall/workload:v1', undefined, undefined, p);
    expect(w.argv).toEqual(['/n/node', '/repo/workload/main.ts']);
    expect(w.imageEnv).toEqual({ HOST: '127.244.0.5' });
    expect(resolveCommand(map, 'redis', ['sh'], undefined, p).argv).toEqual(['sh']);
    expect(resolveCommand(map, 'lastcall/workload', undefined, ['--x'], p).argv).toEqual([
      '/n/node',
      '/repo/workload/main.ts',
      '--x',
    ]);
  });
  test('busybox needs a command; unknown images are named', () => {
    expect(() => resolveCommand(map, 'busybox:1.36', undefined, undefined, p)).toThrow(/must set command/);
    expect(resolveCommand(map, 'busybox', ['sh', '-c', 'x'], undefined, p).argv).toEqual(['sh', '-c', 'x']);
    expect(() => resolveCommand(map, 'nginx:1', undefined, undefined, p)).toThrow(
      /"nginx".*not in images.json/,
    );
  });
});

describe('env', () => {
  test('$(VAR) expansion: defined vars expand, undefined stay, $$ escapes', () => {
    const vars: Record<string, string> = { A: 'x', B: 'y' };
    const lookup = (n: string) => vars[n];
    expect(expand('$(A)-$(B)', lookup)).toBe('x-y');
    expect(expand('$(C)', lookup)).toBe('$(C)');
    expect(expand('$$(A)', lookup)).toBe('$(A)');
    expect(expand('$A $(A', lookup)).toBe('$A $(A');
  });
  const pod: PodFacts = {
    name: 'p',
    namespace: 'ns',
    uid: 'u-1',
    nodeName: 'lastcall-node',
    serviceAccountName: 'default',
    podIP: '10.244.0.3',
    hostIP: '127.0.0.1',
    labels: { app: 'a' },
    annotations: {},
  };
  const sources = {
    configMap: async (n: string) => (n === 'cm' ? { K: 'cv', 'bad key': 'z' } : undefined),
    secret: async (n: string) => (n === 's' ? { PW: 'pw' } : undefined),
  };
  test('envFrom first, then env in order with fieldRefs and key refs', async () => {
    const env = await buildEnv(
      pod,
      {
        name: 'c',
        envFrom: [{ configMapRef: { name: 'cm' } }, { prefix: 'S_', secretRef: { name: 's' } }],
        env: [
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'URL', value: 'http://$(IP):80/$(K)/$(NOPE)' },
          { name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'PW' } } },
          { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'missing', key: 'x', optional: true } } },
        ],
      },
      sources,
    );
    expect(env).toEqual({
      K: 'cv',
      S_PW: 'pw',
      IP: '10.244.0.3',
      NAME: 'p',
      APP: 'a',
      URL: 'http://10.244.0.3:80/cv/$(NOPE)',
      PW: 'pw',
    });
  });
  test('a missing non-optional source is a ContainerConfigError naming it', async () => {
    await expect(
      buildEnv(
        pod,
        { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'nope' } } }] },
        sources,
      ),
    ).rejects.toThrow(ContainerConfigError);
    await expect(
      buildEnv(pod, { name: 'c', envFrom: [{ configMapRef: { name: 'gone' } }] }, sources),
    ).rejects.toThrow(/configmap "gone" not found/);
  });
});

describe('hosts', () => {
  test('same-namespace services get short and qualified names, others qualified only, all on twins', () => {
    const text = renderHosts({ name: 'p', namespace: 'ns', podIP: '10.244.0.3' }, [
      { name: 'redis', namespace: 'ns', clusterIP: '10.96.0.10' },
      { name: 'api', namespace: 'other', clusterIP: '10.96.0.11' },
      { name: 'headless', namespace: 'ns', clusterIP: 'None' },
    ]);
    expect(text).toContain('127.244.0.3\tp\n');
    expect(text).toContain('127.96.0.10\tredis redis.ns redis.ns.svc redis.ns.svc.cluster.local\n');
    expect(text).toContain('127.96.0.11\tapi.other api.other.svc api.other.svc.cluster.local\n');
    expect(text).not.toContain('headless');
    const aliased = renderHosts(
      {
        name: 'p',
        namespace: 'ns',
        podIP: '10.244.0.3',
        hostAliases: [
          { ip: '10.96.5.5', hostnames: ['db.example'] },
          { ip: '8.8.8.8', hostnames: ['outside'] },
        ],
      },
      [],
    );
    expect(aliased).toContain('127.96.5.5\tdb.example\n');
    expect(aliased).toContain('# hostAlias 8.8.8.8 (outside) left out');
    expect(text).not.toMatch(/(^|\s)10\.\d/);
  });
});

describe('termination arithmetic', () => {
  test('grace comes from the deletion, the probe or the spec', () => {
    expect(
      gracePeriodSeconds('deletion', { deletionGracePeriodSeconds: 7, terminationGracePeriodSeconds: 30 }),
    ).toBe(7);
    expect(
      gracePeriodSeconds('probe', {
        probeTerminationGracePeriodSeconds: 3,
        terminationGracePeriodSeconds: 30,
      }),
    ).toBe(3);
    expect(gracePeriodSeconds('restart', {})).toBe(30);
  });
  test('hook time is subtracted in whole seconds and at least 2 s remain', () => {
    expect(stopWindowSeconds(30, undefined)).toBe(30);
    expect(stopWindowSeconds(30, 5_900)).toBe(25);
    expect(stopWindowSeconds(6, 5_000)).toBe(2);
    expect(stopWindowSeconds(3, 10_000)).toBe(2);
    expect(runsPreStop(true, 0)).toBe(false);
  });
  test("a sleep hook never returns before its time by the monotonic clock (Go's time.After does not)", async () => {
    // A timer counts from the event loop's cached time: started after 5 ms of work in the same
    // turn, a plain setTimeout(7) came back early in about 3 of 20 such tries here.
    for (let i = 0; i < 40; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      const busyUntil = performance.now() + 5;
      while (performance.now() < busyUntil) {
        // the work a kubelet does in the turn that starts the hook
      }
      const start = performance.now();
      expect(await sleepAtLeast(7)).toBe(true);
      expect(performance.now() - start).toBeGreaterThanOrEqual(7);
    }
  });
  test('a sleep hook ends false when its signal aborts, before or during the sleep', async () => {
    const during = new AbortController();
    const slept = sleepAtLeast(60_000, during.signal);
    during.abort();
    expect(await slept).toBe(false);
    expect(await sleepAtLeast(60_000, AbortSignal.abort())).toBe(false);
  });
  test('exit status: SIGKILL is 137 Error, 0 is Completed', () => {
    expect(exitStatus(null, 'SIGKILL')).toEqual({ exitCode: 137, signal: 'SIGKILL', reason: 'Error' });
    expect(exitStatus(null, 'SIGTERM').exitCode).toBe(143);
    expect(exitStatus(0, null).reason).toBe('Completed');
    expect(exitStatus(3, null)).toEqual({ exitCode: 3, signal: null, reason: 'Error' });
  });
  test('stop signal defaults to SIGTERM and names bad values', () => {
    expect(stopSignal(undefined)).toBe('SIGTERM');
    expect(stopSignal('SIGUSR1')).toBe('SIGUSR1');
    expect(() => stopSignal('SIGNOPE')).toThrow(/stopSignal "SIGNOPE"/);
  });
});

describe('restarts and probes', () => {
  test('back-off: first restart at once, then 10 s, 20 s, ... from the finish time, capped at 300 s', () => {
    const b = new CrashBackoff();
    let now = 0;
    const crash = (ranMs: number) => {
      now += ranMs;
      const d = b.restartDelay(now, now);
      now += d;
      return d;
    };
    expect([crash(1_000), crash(1_000), crash(1_000), crash(1_000)]).toEqual([0, 10_000, 20_000, 40_000]);
    expect(crash(30_000)).toBe(80_000); // counted from the finish, not the start
    for (let i = 0; i < 10; i++) crash(0);
    expect(crash(0)).toBe(300_000);
    expect(crash(700_000)).toBe(0);
    expect(shouldRestart('OnFailure', 0)).toBe(false);
    expect(shouldRestart(undefined, 0)).toBe(true);
    expect(() => shouldRestart('Sometimes', 1)).toThrow(/restartPolicy "Sometimes"/);
  });
  test('thresholds: flips only after N in a row', () => {
    const t = new ProbeThresholds(probeTiming({ failureThreshold: 2, successThreshold: 2 }), false);
    expect(t.record(true)).toBe(false);
    expect(t.record(true)).toBe(true);
    expect(t.result).toBe(true);
    expect(t.record(false)).toBe(false);
    expect(t.record(true)).toBe(false);
    expect(t.record(false)).toBe(false);
    expect(t.record(false)).toBe(true);
    expect(t.result).toBe(false);
  });
});

describe('pod status', () => {
  const c = (over: Partial<ContainerSummary>): ContainerSummary => ({
    running: false,
    ready: false,
    exitCode: undefined,
    everRan: false,
    final: false,
    ...over,
  });
  const pod = (over: Partial<PodSummary>): PodSummary => ({
    sandboxReady: true,
    initialized: true,
    initFailed: false,
    containers: [],
    readinessGates: [],
    existingConditions: [],
    ...over,
  });
  test('phase: Pending before any container ran, Running while one runs or restarts, terminal at the end', () => {
    expect(podPhase(pod({ initialized: false, containers: [c({ running: true })] }))).toBe('Pending');
    expect(podPhase(pod({ containers: [c({})] }))).toBe('Pending');
    expect(podPhase(pod({ containers: [c({ running: true, everRan: true })] }))).toBe('Running');
    expect(podPhase(pod({ containers: [c({ exitCode: 1, everRan: true })] }))).toBe('Running');
    expect(
      podPhase(pod({ containers: [c({ exitCode: 0, final: true }), c({ exitCode: 0, final: true })] })),
    ).toBe('Succeeded');
    expect(
      podPhase(pod({ containers: [c({ exitCode: 0, final: true }), c({ exitCode: 137, final: true })] })),
    ).toBe('Failed');
    expect(podPhase(pod({ terminated: true, containers: [c({})] }))).toBe('Failed');
    expect(podPhase(pod({ initFailed: true }))).toBe('Failed');
  });
  test('Ready needs every container ready and the readiness gates', () => {
    const ready = (s: PodSummary) => kubeletConditions(s).find((x) => x.type === 'Ready');
    expect(ready(pod({ containers: [c({ ready: true }), c({ ready: false })] }))).toEqual({
      type: 'Ready',
      status: false,
      reason: 'ContainersNotReady',
    });
    expect(ready(pod({ containers: [c({ ready: true })], readinessGates: ['x/gate'] }))?.reason).toBe(
      'ReadinessGatesNotReady',
    );
    expect(
      ready(
        pod({
          containers: [c({ ready: true })],
          readinessGates: ['x/gate'],
          existingConditions: [{ type: 'x/gate', status: 'True' }],
        }),
      )?.status,
    ).toBe(true);
  });
  test('lastTransitionTime moves only when the status changes', () => {
    const clock = new ConditionClock();
    expect(clock.stamp('Ready', 'False', 't1')).toBe('t1');
    expect(clock.stamp('Ready', 'False', 't2')).toBe('t1');
    expect(clock.stamp('Ready', 'True', 't3')).toBe('t3');
  });
});

describe('process identity', () => {
  const who = 'pod: "p_ns(u)", container: c';
  test('container fields win over pod fields, which win over the image user', () => {
    expect(
      processIdentity({ runAsUser: 5, runAsGroup: 6 }, { runAsUser: 7 }, { uid: 1000, gid: 1000 }, who),
    ).toMatchObject({
      uid: 7,
      gid: 6,
    });
    expect(processIdentity(undefined, undefined, parseImageUser('1000:1000'), who)).toMatchObject({
      uid: 1000,
      gid: 1000,
    });
    expect(processIdentity(undefined, undefined, undefined, who)).toMatchObject({ uid: 0, gid: 0 });
  });
  test('runAsNonRoot refuses root like the kubelet', () => {
    expect(() => processIdentity({ runAsNonRoot: true }, undefined, undefined, who)).toThrow(
      /container has runAsNonRoot and image will run as root \(pod: "p_ns\(u\)", container: c\)/,
    );
    expect(() => processIdentity({ runAsNonRoot: true, runAsUser: 0 }, undefined, undefined, who)).toThrow(
      ContainerConfigError,
    );
  });
  test('setpriv prefix: groups from fsGroup and supplementalGroups, no-new-privs when escalation is off', () => {
    const id = processIdentity(
      { runAsUser: 999, runAsGroup: 999, fsGroup: 999, supplementalGroups: [5] },
      { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
      undefined,
      who,
    );
    expect(setprivArgv(id)).toEqual([
      'setpriv',
      '--reuid=999',
      '--regid=999',
      '--groups=999,5',
      '--no-new-privs',
      '--',
    ]);
    expect(id.readOnlyRoot).toBe(true);
    expect(setprivArgv(processIdentity(undefined, undefined, undefined, who))).toEqual([]);
    expect(() => parseImageUser('nobody')).toThrow(/user "nobody"/);
  });
  test('mount script binds, remounts read-only ones and the root, then execs', () => {
    expect(
      mountScript(
        [
          { source: "/s/it's", target: '/etc/hosts' },
          { source: '/s/v', target: '/data', readOnly: true, directory: true },
        ],
        true,
      ).split('\n'),
    ).toEqual([
      'set -e',
      `mount --bind '/s/it'\\''s' '/etc/hosts'`,
      "mount --bind '/s/v' '/data'",
      "mount -o remount,bind,ro '/data'",
      'mount -o remount,bind,ro /',
      'exec "$@"',
    ]);
  });
});

describe('files and deadlines', () => {
  test('hosts files are rewritten in place: same inode, shorter content truncated', async () => {
    const file = join(tempDir('lc-hosts-'), 'hosts');
    await writeInPlace(file, 'a long first version\n');
    const inode = statSync(file).ino;
    await writeInPlace(file, 'short\n');
    expect(readFileSync(file, 'utf8')).toBe('short\n');
    expect(statSync(file).ino).toBe(inode);
  });
  test('logs of a removed pod are archived under terminated/', () => {
    const state = tempDir('lc-state-');
    const dir = new PodDir(state, 'uid-1');
    writeFileSync(dir.logFile('web', 0), 'run 0\n');
    writeFileSync(dir.logFile('web', 1), 'run 1\n');
    dir.archiveLogs(state, 'ns', 'web-1');
    dir.remove();
    const archived = join(state, 'terminated', 'ns_web-1_uid-1');
    expect(readdirSync(archived).sort()).toEqual(['web-0.log', 'web-1.log']);
    expect(readFileSync(join(archived, 'web-1.log'), 'utf8')).toBe('run 1\n');
  });
  test('a deadline only moves earlier', async () => {
    const first = Date.now() + 60_000;
    const d = new Deadline(first);
    d.shortenTo(first + 60_000);
    expect(d.at).toBe(first);
    const soon = Date.now() + 30;
    d.shortenTo(soon);
    expect(d.at).toBe(soon);
    // Reached at all proves the shorter moment was armed: the first one is a minute away, beyond
    // the test's timeout. Not before the moment it names (1 ms timer granularity).
    await d.reached;
    expect(Date.now()).toBeGreaterThanOrEqual(soon - 2);
  });
});
