/**
 * The one poll-until helper of the tests and of the experiment runner: a test waits for a
 * condition with a deadline instead of sleeping a guessed time.
 */

import { setTimeout as sleep } from 'node:timers/promises';

interface PollOptions {
  /** How long to keep polling before failing (default 30 s). */
  timeoutMs?: number;
  /** The pause between two polls (default 100 ms). */
  intervalMs?: number;
  /** Called once on timeout; what it returns goes into the error, to show what was seen instead. */
  describeState?: () => string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_INTERVAL_MS = 100;

/**
 * Polls `probe` until it returns something other than `undefined` or `false`, and returns that.
 * A probe that throws counts as "not yet" (an API server restarting, a port not listening yet).
 * On timeout the error names what was awaited, the timeout, the state `describeState` gives and
 * the last error the probe threw.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = DEFAULT_INTERVAL_MS, describeState }: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let failed = false;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
      failed = true;
    }
    if (Date.now() > deadline) {
      const state = describeState?.();
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}` +
          (state ? `; state: ${state}` : '') +
          (failed
            ? `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
            : ''),
      );
    }
    await sleep(intervalMs);
  }
}
