/** The soak run's summary lines and JSON line: pure. */
import { formatSlope, formatValue, loadShareOf } from './lines.ts';
import { type SoakResult, soakPassed } from './run.ts';

export function formatSoakSummary(r: SoakResult): string[] {
  const out = [
    `soak: ${r.minutes} min at ${r.rate}/s, ${r.replicas} replicas, ${r.rollouts.length} rollouts (every ${r.rolloutEverySeconds}s), ${r.faults.length} faults, cluster ${r.cluster}`,
    `result: sent ${r.sent}, 2xx ${r.ok}, failed ${r.failed}, counter ${r.counter}, lost ${r.lost}`,
  ];
  if (r.failed > 0)
    out.push(
      `failures: ${Object.entries(r.failures)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  const rollouts = r.rollouts
    .filter((x) => x.completedAt !== null)
    .map((x) => (x.completedAt as number) - x.startedAt);
  if (rollouts.length > 0) {
    out.push(
      `rollouts: ${rollouts.length}/${r.rollouts.length} completed, ${Math.min(...rollouts).toFixed(1)}-${Math.max(...rollouts).toFixed(1)} s each`,
    );
  }
  out.push(
    `drains: ${r.drains.observed} observed, ${r.drains.clean} clean, ${r.drains.killed} killed, ${r.drains.abandoned} abandoned work, ${r.drains.crashed} crashed`,
  );
  for (const f of r.faults) {
    out.push(
      `fault: ${f.name} at ${f.at.toFixed(1)}s, back ${f.recoveredAt === null ? 'not seen' : `at ${f.recoveredAt.toFixed(1)}s`}: ${f.detail}`,
    );
  }
  out.push(
    `lines after ${r.warmupSeconds}s of warm-up (last, max, least-squares slope per hour of memory and keys):`,
  );
  for (const s of r.slopes) {
    out.push(
      `  ${s.name.padEnd(44)} ${formatValue(s.last, s.unit).padStart(10)} ${formatValue(s.max, s.unit).padStart(10)}  ${formatSlope(s)}`,
    );
  }
  const share = loadShareOf(r.probes);
  if (share !== null && share.r !== null)
    out.push(
      `workload pods: peak RSS against increments completed, ${share.pods} replaced pods (${share.fewest}-${share.most} each): r = ${share.r.toFixed(2)}`,
    );
  const errors = Object.entries(r.probeErrors);
  if (errors.length > 0)
    out.push(
      `probes that failed: ${errors
        .map(([k, v]) => `${k} ×${v}`)
        .join('; ')
        .slice(0, 600)}`,
    );
  out.push(
    soakPassed(r)
      ? `PASS: every answered increment was counted (${r.counter}/${r.ok}) and no request failed`
      : `FAIL: lost ${r.lost}, failed ${r.failed}`,
  );
  if (r.reportPath !== null) out.push(`report: ${r.reportPath}`);
  out.push(`took: ${Math.round(r.wallSeconds)}s`);
  return out;
}

export function soakJson(r: SoakResult): Record<string, unknown> {
  return {
    soak: true,
    minutes: r.minutes,
    rate: r.rate,
    replicas: r.replicas,
    rolloutEverySeconds: r.rolloutEverySeconds,
    faultEverySeconds: r.faultEverySeconds,
    sent: r.sent,
    ok: r.ok,
    failed: r.failed,
    counter: r.counter,
    lost: r.lost,
    passed: soakPassed(r),
    rollouts: r.rollouts.length,
    faults: r.faults.map((f) => ({ name: f.name, at: f.at, recoveredAt: f.recoveredAt })),
    drains: r.drains,
    warmupSeconds: r.warmupSeconds,
    slopesPerHour: Object.fromEntries(
      r.slopes.map((s) => [s.name, s.slope === null ? null : Math.round(s.slope.perHour)]),
    ),
    wallSeconds: r.wallSeconds,
    reportPath: r.reportPath,
  };
}
