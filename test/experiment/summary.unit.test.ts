import { describe, expect, test } from 'vitest';
import {
  formatDrain,
  formatSideBySide,
  formatSummary,
  resultJson,
  verdict,
} from '../../experiment/summary.ts';
import { synthetic } from './fixtures.ts';

describe('summary', () => {
  test('the JSON line carries the figures a program needs', () => {
    const json = resultJson(synthetic('graceful'));
    expect(json).toMatchObject({
      mode: 'graceful',
      rate: 25,
      duration: 40,
      replicas: 1,
      rollouts: 1,
      sent: 1000,
      ok: 1000,
      failed: 0,
      counter: 1000,
      lost: 0,
      passed: true,
    });
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  test('graceful passes only with nothing lost and nothing failed; hard is judged as a control', () => {
    expect(verdict(synthetic('graceful'))).toMatch(/^graceful: PASS/);
    expect(verdict({ ...synthetic('graceful'), counter: 999, lost: 1 })).toBe(
      'graceful: FAIL, lost 1 and 0 requests failed',
    );
    expect(verdict(synthetic('hard'))).toMatch(/^hard \(negative control\): lost 63 of 998/);
    expect(verdict({ ...synthetic('hard'), lost: 0 })).toMatch(/could not tell/);
  });

  test('side by side, as the demo prints it', () => {
    expect(formatSideBySide([synthetic('graceful'), synthetic('hard')])).toBe(
      'graceful: 1000 sent, 1000 counted; hard: 1000 sent, 935 counted, 2 failed',
    );
  });

  test('a rollout that the next one overlapped says so', () => {
    const r = synthetic('graceful');
    const first = { ...(r.rolloutRecords[0] as (typeof r.rolloutRecords)[0]), completedAt: null };
    const second = { ...first, index: 2, startedAt: 30, completedAt: 45 };
    const text = formatSummary({ ...r, rollouts: 2, rolloutRecords: [first, second] }).join('\n');
    expect(text).toContain(
      'rollout 1: lastcall/workload:v1 -> lastcall/workload:v2 at 20s: overlapped by rollout 2 after 10s',
    );
    expect(text).toContain('rollout 2: lastcall/workload:v1 -> lastcall/workload:v2 at 30s: 15s to complete');
  });

  test('the summary lists the rollout and every drain record', () => {
    const text = formatSummary(synthetic('graceful')).join('\n');
    expect(text).toContain(
      'rollout 1: lastcall/workload:v1 -> lastcall/workload:v2 at 20s: 16.4s to complete',
    );
    expect(text).toContain(
      'experiment-5d8f-abcde: Clean, exit 0, Completed, 125 pending at SIGTERM, 125 completed, 0 abandoned, drained in 5s',
    );
    expect(
      formatDrain({ pod: 'p', outcome: 'Killed', exitCode: 137, finishedAt: '2026-01-01T00:00:00Z' }),
    ).toBe('p: Killed, exit 137');
  });
});
