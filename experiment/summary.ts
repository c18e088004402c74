/** The end of a run in words, and the JSON object that is stdout's last line. Pure formatting. */
import type { FaultRecord } from './faults.ts';
import { type ExperimentResult, passed, type RunConditions, type SweepResult } from './model.ts';

/** The machine-readable result: stdout's last line. */
export function resultJson(r: ExperimentResult): Record<string, unknown> {
  return {
    mode: r.mode,
    rate: r.rate,
    duration: r.duration,
    replicas: r.replicas,
    rollouts: r.rollouts,
    sent: r.sent,
    ok: r.ok,
    failed: r.failed,
    counter: r.counter,
    lost: r.lost,
    passed: passed(r),
    ...(r.conditions === undefined ? {} : r.conditions),
    ...(r.faults === undefined || r.faults.length === 0
      ? {}
      : { faults: r.faults.map((f) => ({ name: f.name, at: f.at, recoveredAt: f.recoveredAt })) }),
    ...(r.slow ? { slow: r.slow } : {}),
    rolloutSeconds: r.rolloutSeconds,
    drains: r.drains.length,
    drainsMissing: r.drainsMissing.length,
    gracePeriodSeconds: r.gracePeriodSeconds,
    wallSeconds: r.wallSeconds,
    reportPath: r.reportPath,
  };
}

export function formatSummary(r: ExperimentResult): string[] {
  const lines = [
    `${r.mode} run: ${r.rate}/s for ${r.duration}s, ${r.replicas} replica${r.replicas === 1 ? '' : 's'}, ` +
      `${r.rollouts} rolling update${r.rollouts === 1 ? '' : 's'}`,
    ...(r.conditions === undefined ? [] : [`  conditions: ${formatConditions(r.conditions)}`]),
    ...(r.faults ?? []).map((f) => `  fault ${formatFault(f)}`),
    `  sent     ${r.sent}${r.slow ? ` (slow clients: ${r.slow.sent} sent, ${r.slow.ok} 2xx, ${r.slow.failed} failed)` : ''}`,
    `  2xx      ${r.ok}`,
    `  failed   ${r.failed}${formatFailures(r.failures)}`,
    `  counter  ${r.counter}`,
    `  lost     ${r.lost}${r.lost < 0 ? ' (counted more than answered)' : ''}`,
  ];
  for (const ro of r.rolloutRecords) {
    const next = r.rolloutRecords.find((later) => later.index === ro.index + 1);
    const took =
      ro.completedAt !== null
        ? `${seconds(ro.completedAt - ro.startedAt)} to complete`
        : next !== undefined
          ? `overlapped by rollout ${next.index} after ${seconds(next.startedAt - ro.startedAt)}`
          : 'did not complete';
    const ready = ro.readyAt === null ? '' : `, new pods ready after ${seconds(ro.readyAt - ro.startedAt)}`;
    lines.push(
      `  rollout ${ro.index}: ${ro.fromImage} -> ${ro.toImage} at ${seconds(ro.startedAt)}: ${took}${ready}`,
    );
  }
  if (r.rolloutSeconds !== null && r.rolloutRecords.length > 1) {
    lines.push(`  rollouts took ${seconds(r.rolloutSeconds)} from the first patch to the last old pod gone`);
  }
  if (r.gracePeriodSeconds !== null) lines.push(`  grace period (operator budget) ${r.gracePeriodSeconds}s`);
  lines.push(`  drains (operator status.drains.recent): ${r.drains.length}`);
  for (const d of r.drains) lines.push(`    ${formatDrain(d)}`);
  for (const pod of r.drainsMissing) lines.push(`    ${pod}: no drain record`);
  lines.push(`  max latency ${Math.round(r.maxLatencyMs)} ms, whole run ${seconds(r.wallSeconds)}`);
  if (r.reportPath !== null) lines.push(`  report ${r.reportPath}`);
  lines.push(verdict(r));
  return lines;
}

export function verdict(r: ExperimentResult): string {
  if (r.mode === 'hard') {
    return r.lost > 0
      ? `hard (negative control): lost ${r.lost} of ${r.ok} answered increments, as expected without a drain`
      : 'hard (negative control): lost nothing; this run could not tell a graceful drain from none';
  }
  return passed(r)
    ? `graceful: PASS, every answered increment was counted (${r.counter}/${r.ok}) and no request failed`
    : `graceful: FAIL, lost ${r.lost} and ${r.failed} request${r.failed === 1 ? '' : 's'} failed`;
}

/** "endpoint delay 3s, propagation 0s (preStop sleep), POST, 4 slow clients, fault redis-kill" */
export function formatConditions(c: RunConditions): string {
  return [
    c.endpointDelaySeconds === null
      ? "endpoint delay: the cluster's"
      : `endpoint delay ${c.endpointDelaySeconds}s`,
    c.propagationSeconds === null
      ? 'propagation: policy default'
      : `propagation ${c.propagationSeconds}s (preStop sleep)`,
    ...(c.marginSeconds === undefined ? [] : [`margin ${c.marginSeconds}s`]),
    c.method,
    ...(c.slowClients > 0 ? [`${c.slowClients} slow client${c.slowClients === 1 ? '' : 's'}`] : []),
    ...(c.fault === null ? [] : [`fault ${c.fault}`]),
  ].join(', ');
}

/** "redis-kill at 22.3s: lastcall-experiment/redis-x/redis (pgid 42); back at 23.1s: container restarted ..." */
export function formatFault(f: FaultRecord): string {
  const back = f.recoveredAt === null ? 'NOT back' : `back at ${seconds(f.recoveredAt)}`;
  return `${f.name} at ${seconds(f.at)}: ${f.target}; ${back}: ${f.detail}`;
}

/** "counter-6d9f-abc: Clean, exit 0, 125 pending at SIGTERM, 125 completed, 0 abandoned, drained in 4.8s" */
export function formatDrain(d: Record<string, unknown>): string {
  const parts: string[] = [];
  const has = (key: string) => d[key] !== undefined && d[key] !== null;
  if (has('outcome')) parts.push(String(d.outcome));
  if (has('exitCode')) parts.push(`exit ${d.exitCode}`);
  if (has('reason')) parts.push(String(d.reason));
  if (has('pendingAtSignal')) parts.push(`${d.pendingAtSignal} pending at SIGTERM`);
  if (has('completed')) parts.push(`${d.completed} completed`);
  if (has('abandoned')) parts.push(`${d.abandoned} abandoned`);
  if (has('drainSeconds')) parts.push(`drained in ${Math.round(Number(d.drainSeconds) * 10) / 10}s`);
  return `${String(d.pod ?? 'pod')}: ${parts.join(', ')}`;
}

/** "graceful: 1000 sent, 1000 counted; hard: 1000 sent, 874 counted" */
export function formatSideBySide(results: readonly ExperimentResult[]): string {
  return results
    .map(
      (r) => `${r.mode}: ${r.sent} sent, ${r.counter} counted${r.failed > 0 ? `, ${r.failed} failed` : ''}`,
    )
    .join('; ');
}

export function formatSweep(s: SweepResult): string[] {
  const lines = ['sweep: rate/s   sent     ok  failed   lost'];
  for (const p of s.points) {
    const tail = p.error === null ? '' : `  (${p.error})`;
    lines.push(
      `       ${String(p.rate).padStart(6)} ${String(p.sent).padStart(6)} ${String(p.ok).padStart(6)} ` +
        `${String(p.failed).padStart(7)} ${String(p.lost).padStart(6)}${tail}`,
    );
  }
  lines.push(
    s.highestLosslessRate === null
      ? 'sweep: no rate was lossless'
      : `sweep: highest lossless rate ${s.highestLosslessRate}/s` +
          (s.lowestLossyRate === null ? ' (the ceiling)' : `; first loss at ${s.lowestLossyRate}/s`),
  );
  return lines;
}

function formatFailures(failures: Record<string, number>): string {
  const entries = Object.entries(failures).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? '' : ` (${entries.map(([cause, n]) => `${n} ${cause}`).join(', ')})`;
}

/** Seconds to one decimal, for summaries and progress lines: 3.1s. */
export function seconds(s: number): string {
  return `${Math.round(s * 10) / 10}s`;
}
