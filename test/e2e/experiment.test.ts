/**
 * The seed experiment and a harder one, run by the experiment runner against
 * the suite's cluster: every increment answered 2xx must be in the counter and
 * no request may fail while the operator rolls the CounterService.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { writeReport } from '../experiment/report.ts';
import { defaultReportPath, runExperiment } from '../experiment/run.ts';
import { formatSummary } from '../experiment/summary.ts';
import { e2eTarget, HARDER, optionsFor, removeInClusterOperator, SEED } from './plans.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);

afterAll(removeInClusterOperator);

describe('the rollout experiment', () => {
  test('seed: 1000 requests at 25/s with one rolling update: counter exactly 1000, nothing failed', async () => {
    const result = await runExperiment(await e2eTarget(), optionsFor(SEED), { log });
    result.reportPath = defaultReportPath('e2e-seed');
    await writeReport(result.reportPath, { title: 'e2e: the seed experiment', runs: [result] });
    log(formatSummary(result).join('\n'));

    expect(result.sent).toBe(1000);
    expect(result.failed).toBe(0);
    expect(result.ok).toBe(1000);
    expect(result.counter).toBe(1000);
    expect(result.lost).toBe(0);
    // the rollout happened while the load ran, and the old pod drained cleanly
    const [rollout] = result.rolloutRecords;
    expect(rollout?.completedAt).not.toBeNull();
    expect(result.drainsMissing).toEqual([]);
    expect(result.drains).toHaveLength(1);
    expect(result.drains[0]).toMatchObject({ outcome: 'Clean', abandoned: 0 });
    expect(Number(result.drains[0]?.pendingAtSignal)).toBeGreaterThan(0);
  });

  test('harder: 3 replicas, 75/s, 3 rolling updates: nothing lost, nothing failed', async () => {
    const result = await runExperiment(await e2eTarget(), optionsFor(HARDER), { log });
    result.reportPath = defaultReportPath('e2e-harder');
    await writeReport(result.reportPath, {
      title: 'e2e: 3 replicas, 75/s, 3 rolling updates',
      runs: [result],
    });
    log(formatSummary(result).join('\n'));

    expect(result.sent).toBe(3000);
    expect(result.failed).toBe(0);
    expect(result.counter).toBe(result.ok);
    expect(result.lost).toBe(0);
    expect(result.rolloutRecords).toHaveLength(3);
    expect(result.rolloutRecords.at(-1)?.completedAt).not.toBeNull();
    for (const drain of result.drains) expect(drain).toMatchObject({ outcome: 'Clean', abandoned: 0 });
  });
});
