import { describe, expect, it } from 'vitest';
import { INCREMENT_LATENCY_ALLOWANCE_MS } from '../contracts/workload-env.ts';
import { applyDefaults, type CounterServiceSpec } from './api/types.ts';
import {
  computeBudget,
  computeGracePeriodSeconds,
  drainTimeoutSeconds,
  KUBERNETES_DEFAULT_GRACE_PERIOD_SECONDS,
  recommendGracePeriod,
} from './budget.ts';
import { type EffectivePolicy, resolvePolicy } from './policy.ts';

const builtIn = resolvePolicy([], 'default', {});
const policy = (over: Partial<EffectivePolicy>): EffectivePolicy => ({ ...builtIn, name: 'test', ...over });
const spec = (over: Record<string, unknown> = {}): CounterServiceSpec =>
  applyDefaults({ image: 'lastcall/workload:v1', redis: { address: 'redis:6379' }, ...over });

describe('computeBudget: the formula', () => {
  it.each([
    // [work, drain overrides, expected grace, drain timeout, formula]
    [5, {}, 15, 8, '5 + 5 + 2 + 3 = 15s'],
    [0, {}, 10, 3, '5 + 0 + 2 + 3 = 10s'],
    [30, { propagationSeconds: 10 }, 45, 33, '10 + 30 + 2 + 3 = 45s'],
    [5, { cleanupSeconds: 1, marginSeconds: 1 }, 12, 6, '5 + 5 + 1 + 1 = 12s'],
    [5, { propagationSeconds: 0 }, 10, 8, '0 + 5 + 2 + 3 = 10s'],
    [
      600,
      { propagationSeconds: 120, cleanupSeconds: 120, marginSeconds: 300 },
      1140,
      900,
      '120 + 600 + 120 + 300 = 1140s',
    ],
  ])('work %is, drain %j -> grace %is, drain timeout %is', (work, drain, grace, timeout, formula) => {
    const decision = computeBudget(spec({ work: { durationSeconds: work }, drain }), builtIn);
    expect(decision.accepted).toBe(true);
    expect(decision.budget).toMatchObject({
      mode: 'Graceful',
      gracePeriodSeconds: grace,
      drainTimeoutSeconds: timeout,
      preStopSleepSeconds: decision.budget.terms.propagationSeconds,
      source: 'computed',
      policy: 'built-in',
      formula,
      bounds: { minSeconds: 1, maxSeconds: 3600 },
    });
  });

  it('shows each term, taking unset ones from the policy', () => {
    const p = policy({ propagationSeconds: 8, cleanupSeconds: 4, marginSeconds: 6 });
    const { budget } = computeBudget(spec({ drain: { marginSeconds: 1 } }), p);
    expect(budget.terms).toEqual({
      propagationSeconds: 8,
      workSeconds: 5,
      cleanupSeconds: 4,
      marginSeconds: 1,
    });
    expect(budget.gracePeriodSeconds).toBe(18);
    expect(budget.policy).toBe('test');
  });

  it('keeps the drain deadline before SIGKILL: preStop + drain timeout + exit reserve <= grace', () => {
    for (const work of [0, 1, 5, 17, 300]) {
      for (const [cleanup, margin] of [
        [1, 1],
        [1, 3],
        [2, 1],
        [10, 7],
      ] as const) {
        const { budget } = computeBudget(
          spec({
            work: { durationSeconds: work },
            drain: { cleanupSeconds: cleanup, marginSeconds: margin },
          }),
          builtIn,
        );
        const reserve = Math.max(cleanup, 1);
        expect(budget.preStopSleepSeconds + budget.drainTimeoutSeconds + reserve).toBeLessThanOrEqual(
          budget.gracePeriodSeconds,
        );
        // and the drain deadline covers the work in flight plus the workload's own latency
        expect(budget.drainTimeoutSeconds * 1000).toBeGreaterThanOrEqual(
          work * 1000 + INCREMENT_LATENCY_ALLOWANCE_MS,
        );
      }
    }
  });

  it('rounds up: the grace period is whole seconds', () => {
    expect(
      computeGracePeriodSeconds({
        propagationSeconds: 1.2,
        workSeconds: 2,
        cleanupSeconds: 0.5,
        marginSeconds: 0,
      }),
    ).toBe(4);
    expect(
      computeGracePeriodSeconds({
        propagationSeconds: 1,
        workSeconds: 2,
        cleanupSeconds: 0,
        marginSeconds: 0,
      }),
    ).toBe(3);
    // the drain timeout rounds down: never later than the grace period allows
    expect(
      drainTimeoutSeconds(10.5, {
        propagationSeconds: 5,
        workSeconds: 0,
        cleanupSeconds: 2,
        marginSeconds: 0,
      }),
    ).toBe(3);
  });
});

describe('computeBudget: override', () => {
  it('uses gracePeriodSecondsOverride and says so', () => {
    const { accepted, budget } = computeBudget(spec({ drain: { gracePeriodSecondsOverride: 40 } }), builtIn);
    expect(accepted).toBe(true);
    expect(budget.gracePeriodSeconds).toBe(40);
    expect(budget.source).toBe('override');
    expect(budget.drainTimeoutSeconds).toBe(40 - 5 - 2);
    expect(budget.formula).toBe('override 40s (computed would be 5 + 5 + 2 + 3 = 15s)');
  });

  it('refuses an override that leaves no time to drain after the preStop sleep', () => {
    // propagation 5 comes from the policy, which the CRD's CEL rule cannot see
    const decision = computeBudget(spec({ drain: { gracePeriodSecondsOverride: 7 } }), builtIn);
    expect(decision.accepted).toBe(false);
    if (decision.accepted) return;
    expect(decision.reason).toBe('DrainTimeoutTooShort');
    expect(decision.message).toContain('spec.drain.gracePeriodSecondsOverride=7');
    expect(decision.message).toContain('at least 13');
  });
});

describe('computeBudget: honest budgets (the drain deadline covers the work and the workload latency)', () => {
  it('refuses an override whose deadline cannot cover the work, naming every term', () => {
    // The example: 20 - 5 - 2 = 13 s of drain for 30 s of work.
    const decision = computeBudget(
      spec({ work: { durationSeconds: 30 }, drain: { gracePeriodSecondsOverride: 20 } }),
      builtIn,
    );
    expect(decision).toMatchObject({ accepted: false, reason: 'DrainTimeoutTooShort' });
    if (decision.accepted) return;
    expect(decision.budget.drainTimeoutSeconds).toBe(13);
    for (const part of [
      'drain deadline is 13s after SIGTERM',
      'spec.drain.gracePeriodSecondsOverride=20',
      'propagationSeconds=5 (default of the built-in policy)',
      'cleanupSeconds=2 (default of the built-in policy)',
      'spec.work.durationSeconds=30',
      `latency allowance ${INCREMENT_LATENCY_ALLOWANCE_MS / 1000}s (INCREMENT_LATENCY_ALLOWANCE_MS) = 30.5s`,
      'last 17.5s before SIGTERM',
      'at least 38',
    ]) {
      expect(decision.message).toContain(part);
    }
    // 38 is honest: 38 - 5 - 2 = 31 >= 30.5
    expect(
      computeBudget(
        spec({ work: { durationSeconds: 30 }, drain: { gracePeriodSecondsOverride: 38 } }),
        builtIn,
      ).accepted,
    ).toBe(true);
    expect(
      computeBudget(
        spec({ work: { durationSeconds: 30 }, drain: { gracePeriodSecondsOverride: 37 } }),
        builtIn,
      ).accepted,
    ).toBe(false);
  });

  it('refuses marginSeconds 0: the deadline would be exactly the work time', () => {
    const decision = computeBudget(spec({ drain: { marginSeconds: 0 } }), builtIn);
    expect(decision).toMatchObject({ accepted: false, reason: 'DrainTimeoutTooShort' });
    if (decision.accepted) return;
    expect(decision.budget.drainTimeoutSeconds).toBe(5);
    expect(decision.message).toContain('5 + 5 + 2 + 0 = 12s (with spec.drain.marginSeconds=0)');
    expect(decision.message).toContain('set spec.drain.marginSeconds to at least 1');
    expect(computeBudget(spec({ drain: { marginSeconds: 1 } }), builtIn).accepted).toBe(true);
  });

  it('names the DrainPolicy a defaulted term came from', () => {
    const p = resolvePolicy(
      [
        {
          apiVersion: 'lastcall.dev/v1alpha1',
          kind: 'DrainPolicy',
          metadata: { name: 'tight' },
          spec: { priority: 0, defaults: { marginSeconds: 0, propagationSeconds: 2 } },
        },
      ],
      'default',
      {},
    );
    const decision = computeBudget(spec({ work: { durationSeconds: 0 } }), p);
    expect(decision).toMatchObject({ accepted: false, reason: 'DrainTimeoutTooShort' });
    if (decision.accepted) return;
    expect(decision.message).toContain('marginSeconds=0 (default of DrainPolicy tight)');
    expect(decision.message).toContain('propagationSeconds=2 (default of DrainPolicy tight)');
  });

  it('Hard mode makes no promise and is not judged by it', () => {
    expect(computeBudget(spec({ drain: { mode: 'Hard', marginSeconds: 0 } }), builtIn).accepted).toBe(true);
  });
});

describe('computeBudget: policy bounds (refused, never clamped)', () => {
  const bounded = policy({ name: 'default', minGracePeriodSeconds: 20, maxGracePeriodSeconds: 60 });

  it.each([
    [
      'computed above the maximum',
      { work: { durationSeconds: 100 } },
      110,
      'computed terminationGracePeriodSeconds=110',
    ],
    [
      'computed below the minimum',
      { work: { durationSeconds: 1 } },
      11,
      'computed terminationGracePeriodSeconds=11',
    ],
    [
      'override above the maximum',
      { drain: { gracePeriodSecondsOverride: 61 } },
      61,
      'spec.drain.gracePeriodSecondsOverride=61',
    ],
    [
      'override below the minimum',
      { drain: { gracePeriodSecondsOverride: 19 } },
      19,
      'spec.drain.gracePeriodSecondsOverride=19',
    ],
  ])('%s', (_name, over, grace, field) => {
    const decision = computeBudget(spec(over), bounded);
    expect(decision.accepted).toBe(false);
    if (decision.accepted) return;
    expect(decision.reason).toBe('GracePeriodOutOfBounds');
    expect(decision.message).toContain(field);
    expect(decision.message).toContain('20-60');
    expect(decision.message).toContain('DrainPolicy default');
    // the budget reported is what was asked for, not a clamped value
    expect(decision.budget.gracePeriodSeconds).toBe(grace);
  });

  it('accepts the bounds themselves', () => {
    expect(computeBudget(spec({ drain: { gracePeriodSecondsOverride: 20 } }), bounded).accepted).toBe(true);
    expect(computeBudget(spec({ drain: { gracePeriodSecondsOverride: 60 } }), bounded).accepted).toBe(true);
  });

  it('refuses a propagation below the policy minimum, naming the field', () => {
    const p = policy({ minPropagationSeconds: 10 });
    const decision = computeBudget(spec({ drain: { propagationSeconds: 3 } }), p);
    expect(decision).toMatchObject({ accepted: false, reason: 'PropagationBelowMinimum' });
    if (decision.accepted) return;
    expect(decision.message).toBe(
      'spec.drain.propagationSeconds=3 is below the minimum 10 of DrainPolicy test',
    );
  });

  it('refuses a drain mode the policy does not allow', () => {
    const p = policy({ allowedModes: ['Graceful'] });
    const decision = computeBudget(spec({ drain: { mode: 'Hard' } }), p);
    expect(decision).toMatchObject({ accepted: false, reason: 'DrainModeNotAllowed' });
    if (decision.accepted) return;
    expect(decision.message).toContain('spec.drain.mode=Hard');
    expect(decision.message).toContain('allowed: Graceful');
  });
});

describe('computeBudget: Hard mode (the negative control)', () => {
  it('uses the Kubernetes default grace period, no preStop, and ignores the bounds', () => {
    const p = policy({ maxGracePeriodSeconds: 10 });
    const decision = computeBudget(spec({ drain: { mode: 'Hard', propagationSeconds: 7 } }), p);
    expect(decision.accepted).toBe(true);
    expect(decision.budget).toMatchObject({
      mode: 'Hard',
      gracePeriodSeconds: KUBERNETES_DEFAULT_GRACE_PERIOD_SECONDS,
      preStopSleepSeconds: 0,
      drainTimeoutSeconds: 0,
      source: 'kubernetes-default',
    });
  });
});

describe('recommendGracePeriod', () => {
  const terms = { propagationSeconds: 5, workSeconds: 5, cleanupSeconds: 2, marginSeconds: 3 };
  it.each([
    [5.2, 14], // 5 + 5.2 + 3 = 13.2 -> 14
    [5, 13],
    [0.3, 9], // 5 + 0.3 + 3 = 8.3 -> 9
    [0, 8], // never below propagation + reserve + 2 = 8
    [27.01, 36],
  ])('longest drain %ss -> %is', (observed, expected) => {
    expect(recommendGracePeriod(terms, observed)).toBe(expected);
  });

  it('refuses a negative or non-finite observation', () => {
    expect(() => recommendGracePeriod(terms, -1)).toThrow(/observedLongestDrainSeconds=-1/);
    expect(() => recommendGracePeriod(terms, Number.NaN)).toThrow(RangeError);
  });
});
