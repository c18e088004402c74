/**
 * The soak run (issue 14) in 3 minutes, so `npm run soak` cannot rot: 50/s through a NodePort of
 * its own, 2 replicas, a rolling update every 60 s and, on the local cluster, one fault (Redis
 * SIGKILLed half-way between the rollouts). Nothing may be lost or fail, and every probe line
 * the report draws must have readings: Redis memory, keys and latency, the workload pods' and the
 * operator's memory, the operator's reconcile rate (on the local cluster through the loopback
 * twins; on kind inside its network namespace, where cluster/kind/run.sh routes the pod and
 * service ranges to the node). Memory slopes are printed, not asserted: three minutes say
 * nothing about an hour.
 */
import { afterAll, describe, expect, inject, test } from 'vitest';
import { KIND_ROUTED_ENV } from '../../experiment/kind.ts';
import { localStateDirOf } from '../../experiment/local-cluster.ts';
import { defaultReportPath } from '../../experiment/run.ts';
import { linesOf, loadShareOf, WORKLOAD_RSS_PER_POD } from '../../experiment/soak/lines.ts';
import { DEFAULT_SOAK_OPTIONS, type SoakOptions } from '../../experiment/soak/options.ts';
import { writeSoakReport } from '../../experiment/soak/report.ts';
import { runSoak } from '../../experiment/soak/run.ts';
import { formatSoakSummary } from '../../experiment/soak/summary.ts';
import { e2eNodePort, e2eTarget, log, removeInClusterOperator } from './plans.ts';

afterAll(removeInClusterOperator);

const local = localStateDirOf(inject('kubeconfig')) !== undefined;
// where the probes reach the pods and Services: the local cluster, or kind's namespace (run.sh
// says so); elsewhere (kind's docker provider) they report failures and the lines stay empty
const probed = local || process.env[KIND_ROUTED_ENV] === '1';

const SHORT: SoakOptions = {
  ...DEFAULT_SOAK_OPTIONS,
  cluster: local ? 'local' : 'kind',
  minutes: 3,
  rate: 50,
  replicas: 2,
  rolloutEverySeconds: 60,
  faultEverySeconds: local ? 90 : 0,
  faults: ['redis-kill'],
  probeEverySeconds: 5,
  warmupSeconds: 30,
  namespace: 'lastcall-e2e-soak',
};

describe('soak, 3 minutes', () => {
  test('50/s, 2 replicas, a rollout every 60 s: nothing lost, nothing failed, every line sampled', async () => {
    // The NodePort: plans.ts says why a free one on a local cluster.
    const result = await runSoak(await e2eTarget(), { ...SHORT, nodePort: await e2eNodePort() }, { log });
    result.reportPath = defaultReportPath('e2e-soak');
    await writeSoakReport(result.reportPath, result, 'e2e: the 3-minute soak');
    log(formatSoakSummary(result).join('\n'));

    expect(result.failures).toEqual({});
    expect(result.sent).toBe(50 * 180);
    expect(result.ok).toBe(result.sent);
    expect(result.counter).toBe(result.ok);
    expect(result.lost).toBe(0);
    expect(result.rollouts).toHaveLength(2);
    expect(result.rollouts.every((r) => r.completedAt !== null)).toBe(true);
    expect(result.drains.killed).toBe(0);
    expect(result.drains.observed).toBeGreaterThanOrEqual(4);
    if (local) {
      expect(result.faults.map((f) => f.name)).toEqual(['redis-kill']);
      expect(result.faults[0]?.recoveredAt).not.toBeNull();
    }
    if (probed) {
      const lines = new Map(linesOf(result.probes).map((l) => [l.name, l.points.length]));
      for (const name of [
        'redis used_memory',
        'redis keys',
        'redis PING',
        'workload RSS (mean of pods)',
        'operator reconciles',
      ]) {
        expect(lines.get(name), name).toBeGreaterThan(3);
      }
      expect([...lines.keys()].filter((n) => /^operator .* RSS$/.test(n)).length).toBeGreaterThanOrEqual(1);
      // the per-generation view: two rollouts replace every pod twice, and each replaced pod was
      // read with its share of the load
      expect(lines.get(WORKLOAD_RSS_PER_POD), WORKLOAD_RSS_PER_POD).toBeGreaterThanOrEqual(3);
      expect(loadShareOf(result.probes)?.pods, 'replaced pods with their increments').toBeGreaterThanOrEqual(
        3,
      );
      // a slope for every memory line with readings after the warm-up
      expect(result.slopes.find((s) => s.name === 'redis used_memory')?.slope).not.toBeNull();
    }
  });
});
