import { describe, expect, test } from 'vitest';
import { waitFor } from './poll.ts';

describe('waitFor', () => {
  test('returns the first value other than undefined or false', async () => {
    const answers = [undefined, false, 0, 7];
    let polls = 0;
    const value = await waitFor('a value', () => answers[polls++], { intervalMs: 1 });
    // 0 is a value: only undefined and false mean "not yet".
    expect(value).toBe(0);
    expect(polls).toBe(3);
  });

  test('keeps polling past errors the probe throws', async () => {
    let polls = 0;
    const value = await waitFor(
      'the third poll',
      async () => {
        polls++;
        if (polls < 3) throw new Error(`not yet (${polls})`);
        return 'ready';
      },
      { intervalMs: 1 },
    );
    expect(value).toBe('ready');
    expect(polls).toBe(3);
  });

  test('the timeout error names what was awaited, the timeout, the state and the last error', async () => {
    let polls = 0;
    const waiting = waitFor(
      'the pod to be Ready',
      () => {
        polls++;
        throw new Error(`connection refused (${polls})`);
      },
      { timeoutMs: 30, intervalMs: 5, describeState: () => 'phase Pending' },
    );
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain('waiting for the pod to be Ready');
    expect(message).toContain('30 ms');
    expect(message).toContain('state: phase Pending');
    expect(message).toContain(`last error: connection refused (${polls})`);
  });

  test('the timeout error leaves out state and error when there are none', async () => {
    await expect(waitFor('never', () => false, { timeoutMs: 10, intervalMs: 2 })).rejects.toThrow(
      /^timed out after 10 ms waiting for never$/,
    );
  });
});
