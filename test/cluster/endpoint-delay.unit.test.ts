import { describe, expect, test } from 'vitest';
import { type Clock, DelayedView, parseEndpointDelay } from '../../cluster/proxy/endpoint-delay.ts';

/** A clock the test moves by hand: timers fire when `advance` passes their time. */
function manualClock() {
  let now = 1_000_000;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 0;
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = next++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (handle) => {
      timers = timers.filter((t) => t.id !== handle);
    },
  };
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      const due = timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      timers = timers.filter((t) => t !== due);
      now = due.at;
      due.fn();
    }
    now = until;
  };
  return { clock, advance };
}

describe('the proxy endpoint delay', () => {
  test('no delay: a change is routed at once', () => {
    const { clock } = manualClock();
    const view = new DelayedView<string>(0, clock);
    view.update('ns/a', 'A1');
    expect(view.values()).toEqual(['A1']);
    view.update('ns/a', undefined);
    expect(view.values()).toEqual([]);
  });

  test('3 s: updates and deletes take effect 3 s after the watch delivered them, in order', () => {
    const { clock, advance } = manualClock();
    const view = new DelayedView<string>(0, clock);
    view.update('ns/a', 'A1');
    view.setDelay(3);
    view.update('ns/a', 'A2 (old pod terminating)');
    advance(1000);
    view.update('ns/b', 'B1');
    advance(1999);
    expect(view.values()).toEqual(['A1']);
    expect(view.pending).toBe(2);
    advance(1);
    expect(view.values()).toEqual(['A2 (old pod terminating)']);
    advance(1000);
    expect(view.values()).toEqual(['A2 (old pod terminating)', 'B1']);
    view.update('ns/a', undefined);
    advance(2999);
    expect(view.values()).toHaveLength(2);
    advance(1);
    expect(view.values()).toEqual(['B1']);
    expect(view.pending).toBe(0);
  });

  test('a shorter delay applies to pending changes too, without reordering them', () => {
    const { clock, advance } = manualClock();
    const view = new DelayedView<string>(10, clock);
    view.update('ns/a', 'A1');
    advance(2000);
    view.update('ns/a', 'A2');
    view.setDelay(1);
    advance(0);
    // A1 was due at 1 s after its delivery (2 s ago), A2 at 1 s from now
    expect(view.values()).toEqual(['A1']);
    advance(1000);
    expect(view.values()).toEqual(['A2']);
  });

  test('the delay is validated with a message naming what is allowed', () => {
    expect(parseEndpointDelay('3')).toBe(3);
    expect(parseEndpointDelay('0.5')).toBe(0.5);
    expect(() => parseEndpointDelay('-1', '--endpoint-delay')).toThrow(
      '--endpoint-delay: "-1" is not allowed; use seconds from 0 to 600',
    );
    expect(() => parseEndpointDelay('3s')).toThrow('is not allowed');
    expect(() => parseEndpointDelay('601')).toThrow('is not allowed');
  });
});
