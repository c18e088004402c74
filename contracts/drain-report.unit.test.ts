import { describe, expect, test } from 'vitest';
import {
  CRASH_REASON_MAX_CHARS,
  crashReport,
  EXIT_CODES,
  formatTerminationReport,
  gracefulDrainReport,
  hardExitReport,
  parseTerminationReport,
  TERMINATION_MESSAGE_MAX_BYTES,
} from './drain-report.ts';

const drained = gracefulDrainReport({
  finished: true,
  pendingAtSignal: 3,
  completed: 3,
  abandoned: 0,
  drainMs: 4210,
  acceptedDuringDrain: 1,
});

describe('the report constructors', () => {
  test('a graceful drain exits drained when it finished, deadlinePassed when it gave up', () => {
    expect(drained.exitCode).toBe(EXIT_CODES.drained);
    const gaveUp = gracefulDrainReport({
      finished: false,
      pendingAtSignal: 5,
      completed: 3,
      abandoned: 2,
      drainMs: 8000,
      acceptedDuringDrain: 0,
    });
    expect(gaveUp).toMatchObject({ mode: 'graceful', exitCode: EXIT_CODES.deadlinePassed, abandoned: 2 });
  });

  test('refuses a finished drain that abandoned work (the workload never writes it)', () => {
    expect(() =>
      gracefulDrainReport({
        finished: true,
        pendingAtSignal: 2,
        completed: 0,
        abandoned: 2,
        drainMs: 1,
        acceptedDuringDrain: 0,
      }),
    ).toThrow(/abandoned=2/);
  });

  test('hard mode abandons everything pending, with the code of a death by the signal', () => {
    expect(hardExitReport(125, 'SIGTERM')).toEqual({
      mode: 'hard',
      pendingAtSignal: 125,
      completed: 0,
      abandoned: 125,
      drainMs: 0,
      exitCode: 143,
      acceptedDuringDrain: 0,
    });
    expect(hardExitReport(0, 'SIGINT').exitCode).toBe(130);
  });

  test('a crash report stays within the kubelet limit whatever the error says', () => {
    const report = crashReport({
      mode: 'graceful',
      kind: 'uncaughtException',
      reason: 'x'.repeat(100_000),
      pending: 9,
      draining: false,
    });
    expect(report).toMatchObject({ exitCode: EXIT_CODES.crashed, pending: 9, abandoned: 9 });
    expect(report.reason).toHaveLength(CRASH_REASON_MAX_CHARS);
    expect(Buffer.byteLength(formatTerminationReport(report))).toBeLessThan(TERMINATION_MESSAGE_MAX_BYTES);
  });
});

describe('parseTerminationReport', () => {
  test('reads back what the constructors write', () => {
    expect(parseTerminationReport(formatTerminationReport(drained))).toEqual(drained);
    const crash = crashReport({
      mode: 'hard',
      kind: 'unhandledRejection',
      reason: 'Error: boom',
      pending: 1,
      draining: true,
    });
    expect(parseTerminationReport(formatTerminationReport(crash))).toEqual(crash);
  });

  test.each([undefined, '', 'not json', '[1,2]', '"text"', '{}', '{"drainMs":-1}', '{"mode":"soft"}'])(
    'ignores %j',
    (text) => {
      expect(parseTerminationReport(text)).toBeUndefined();
    },
  );

  test('keeps valid fields and drops wrong types', () => {
    expect(
      parseTerminationReport(
        '{"abandoned":"2","completed":1,"crash":"segfault","draining":"yes","extra":true}',
      ),
    ).toEqual({ completed: 1 });
  });
});
