/** Synthetic results for the unit tests of the summary and the report. */
import type { ExperimentResult, TimelineSecond } from '../../experiment/model.ts';

/**
 * A run shaped like the seed experiment: 25/s for 40 s, a rollout at 20 s,
 * 5 s of work per increment. In hard mode the old pod dies at SIGTERM with
 * its pending increments.
 */
export function synthetic(mode: 'graceful' | 'hard'): ExperimentResult {
  const rate = 25;
  const duration = 40;
  const timeline: TimelineSecond[] = [];
  let counted = 0;
  const lostAt = 25; // the old pod's SIGTERM
  for (let t = 0; t < 52; t++) {
    const sent = t < duration ? rate : 0;
    // work lands 5 s after the request; hard mode drops what the old pod held
    const landing = t >= 5 && t - 5 < duration ? rate : 0;
    const dropped = mode === 'hard' && t - 5 >= lostAt - 5 && t - 5 < lostAt ? 13 : 0;
    counted += landing - dropped;
    timeline.push({
      t,
      sent,
      ok: mode === 'hard' && t === lostAt ? sent - 2 : sent,
      failed: mode === 'hard' && t === lostAt ? 2 : 0,
      podsReady: t >= 22 && t < 25 ? 2 : 1,
      podsTerminating: t >= 25 && t < (mode === 'hard' ? 26 : 36) ? 1 : 0,
      counter: t === 30 ? null : counted,
    });
  }
  const ok = timeline.reduce((n, s) => n + s.ok, 0);
  return {
    mode,
    rate,
    duration,
    replicas: 1,
    rollouts: 1,
    namespace: 'lastcall-experiment',
    name: 'experiment',
    nodePort: 30080,
    sent: 1000,
    ok,
    failed: 1000 - ok,
    counter: counted,
    lost: ok - counted,
    failures: mode === 'hard' ? { 'connection reset by peer': 1000 - ok } : {},
    maxLatencyMs: 12.3,
    rolloutSeconds: mode === 'hard' ? 6.2 : 16.4,
    rolloutRecords: [
      {
        index: 1,
        fromImage: 'lastcall/workload:v1',
        toImage: 'lastcall/workload:v2',
        startedAt: 20,
        readyAt: 22.1,
        completedAt: mode === 'hard' ? 26.2 : 36.4,
      },
    ],
    drains:
      mode === 'hard'
        ? [
            {
              pod: 'experiment-5d8f-abcde',
              outcome: 'Killed',
              exitCode: 143,
              reason: 'Error',
              pendingAtSignal: 65,
              completed: 0,
              abandoned: 65,
              drainSeconds: 0,
            },
          ]
        : [
            {
              pod: 'experiment-5d8f-abcde',
              outcome: 'Clean',
              exitCode: 0,
              reason: 'Completed',
              pendingAtSignal: 125,
              completed: 125,
              abandoned: 0,
              drainSeconds: 4.96,
            },
          ],
    drainsMissing: [],
    gracePeriodSeconds: 17,
    timeline,
    startedAt: '2026-11-27T14:00:00.000Z',
    wallSeconds: 71,
    reportPath: null,
  };
}
