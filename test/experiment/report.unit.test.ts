import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { renderReport, writeReport } from '../../experiment/report.ts';
import { niceTicks } from '../../experiment/svg.ts';
import { summarizeSweep } from '../../experiment/sweep.ts';
import { synthetic } from './fixtures.ts';

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
      {
        rate: 200,
        sent: 8000,
        ok: 7990,
        failed: 10,
        lost: 4,
        error: null,
        failures: { EOF: 3, 'address in use': 7 },
      },
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
    // terminating pods are a filled area under the ready line
    expect(html).toContain('fill-opacity');
    expect(html).toContain('graceful: PASS');
    expect(html).toContain(`lost ${hard.lost} of ${hard.ok} answered increments`);
    expect(html).toContain(
      'experiment-5d8f-abcde: Killed, exit 143, Error, 65 pending at SIGTERM, 0 completed, 65 abandoned',
    );
    expect(html).toContain('highest lossless rate 150/s');
    expect(html).toContain('<td>7 × address in use, 3 × EOF</td>');
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
