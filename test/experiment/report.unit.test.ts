import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { ExperimentResult, TimelineSecond } from './model.ts';
import { renderReport, writeReport } from './report.ts';
import { niceTicks } from './svg.ts';
import { summarizeSweep } from './sweep.ts';

/**
 * A run shaped like the seed experiment: 25/s for 40 s, a rollout at 20 s,
 * 5 s of work per increment. In hard mode the old pod dies at SIGTERM with
 * its pending increments.
 */
function synthetic(mode: 'graceful' | 'hard'): ExperimentResult {
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
        ? [{ pod: 'experiment-5d8f-abcde', outcome: 'Killed', exitCode: 143, abandoned: 65 }]
        : [
            {
              pod: 'experiment-5d8f-abcde',
              outcome: 'Clean',
              pendingAtSignal: 125,
              completed: 125,
              drainMs: 5012,
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

describe('report', () => {
  test('niceTicks covers the maximum in steps of 1, 2 or 5 times a power of ten', () => {
    expect(niceTicks(25)).toEqual([0, 5, 10, 15, 20, 25]);
    expect(niceTicks(1000)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(0)).toEqual([0, 1]);
  });

  test('one self-contained page: every run with its charts, figures and drains; the sweep with its curve', () => {
    const graceful = synthetic('graceful');
    const hard = synthetic('hard');
    const sweep = summarizeSweep([
      { rate: 25, sent: 1000, ok: 1000, failed: 0, lost: 0, error: null },
      { rate: 50, sent: 2000, ok: 2000, failed: 0, lost: 0, error: null },
      { rate: 100, sent: 4000, ok: 4000, failed: 0, lost: 0, error: null },
      { rate: 200, sent: 8000, ok: 7990, failed: 10, lost: 4, error: null },
      { rate: 150, sent: 6000, ok: 6000, failed: 0, lost: 0, error: null },
    ]);
    const html = renderReport({
      title: 'lastcall: rolling update experiment',
      runs: [graceful, hard],
      sweep,
    });

    expect(html.startsWith('<!doctype html>')).toBe(true);
    // self-contained: no script, no external resource
    expect(html).not.toMatch(/<script|<link |src="http|href="http/);
    // three timeline charts per run and one sweep chart
    expect(html.match(/<svg /g)).toHaveLength(7);
    expect(html).toContain('rollout 1 → v2');
    expect(html).toContain('graceful: PASS');
    expect(html).toContain(`lost ${hard.lost} of ${hard.ok} answered increments`);
    expect(html).toContain('experiment-5d8f-abcde: Killed, exitCode 143, abandoned 65');
    expect(html).toContain('highest lossless rate 150/s');
    expect(html).toContain('2 × connection reset by peer');
  });

  test('writes the page to a file, creating its folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lastcall-report-'));
    const path = process.env.LASTCALL_REPORT_PREVIEW ?? join(dir, 'nested', 'report.html');
    await writeReport(path, {
      title: 'lastcall: rolling update experiment (synthetic data)',
      runs: [synthetic('graceful'), synthetic('hard')],
      sweep: summarizeSweep([
        { rate: 25, sent: 1000, ok: 1000, failed: 0, lost: 0, error: null },
        { rate: 50, sent: 2000, ok: 2000, failed: 0, lost: 0, error: null },
        { rate: 100, sent: 4000, ok: 4000, failed: 0, lost: 0, error: null },
        { rate: 200, sent: 8000, ok: 7990, failed: 10, lost: 4, error: null },
        { rate: 150, sent: 6000, ok: 6000, failed: 0, lost: 0, error: null },
      ]),
    });
    expect(await readFile(path, 'utf8')).toContain('</html>');
  });
});
