import { describe, expect, test } from 'vitest';
import {
  appliedHashAnnotation,
  containsDesired,
  hashOf,
  parseQuantity,
  sameQuantity,
  withAppliedHash,
} from './apply.ts';

describe('containsDesired', () => {
  const desired = {
    spec: {
      replicas: 2,
      template: { spec: { terminationGracePeriodSeconds: 15, containers: [{ name: 'c', image: 'x:1' }] } },
    },
  };

  test('ignores fields only the live object has (defaults, status, other managers)', () => {
    const live = {
      metadata: { resourceVersion: '7' },
      spec: {
        replicas: 2,
        revisionHistoryLimit: 10,
        template: {
          spec: {
            terminationGracePeriodSeconds: 15,
            dnsPolicy: 'ClusterFirst',
            containers: [{ name: 'c', image: 'x:1', terminationMessagePolicy: 'File' }],
          },
        },
      },
      status: { replicas: 2 },
    };
    expect(containsDesired(live, desired)).toBe(true);
  });

  test('sees a hand-edited field', () => {
    const live = structuredClone(desired);
    live.spec.template.spec.terminationGracePeriodSeconds = 30;
    expect(containsDesired(live, desired)).toBe(false);
  });

  test('lists must match element by element', () => {
    const live = structuredClone(desired) as typeof desired;
    live.spec.template.spec.containers.push({ name: 'sidecar', image: 'y:1' });
    expect(containsDesired(live, desired)).toBe(false);
  });

  test('a zero value matches an absent field (omitempty)', () => {
    expect(
      containsDesired({ spec: {} }, { spec: { minReadySeconds: 0, paused: false, resources: {} } }),
    ).toBe(true);
    expect(containsDesired({ spec: { minReadySeconds: 5 } }, { spec: { minReadySeconds: 0 } })).toBe(false);
  });

  test('resource quantities compare by value', () => {
    expect(
      containsDesired(
        { resources: { requests: { cpu: '100m' } } },
        { resources: { requests: { cpu: '0.1' } } },
      ),
    ).toBe(true);
    expect(
      containsDesired(
        { resources: { limits: { memory: '1Gi' } } },
        { resources: { limits: { memory: '1024Mi' } } },
      ),
    ).toBe(true);
    expect(
      containsDesired(
        { resources: { limits: { memory: '1G' } } },
        { resources: { limits: { memory: '1Gi' } } },
      ),
    ).toBe(false);
    // Only inside requests/limits: elsewhere "1" and "1.0" are different strings.
    expect(containsDesired({ image: 'x:1.0' }, { image: 'x:1' })).toBe(false);
  });
});

describe('quantities', () => {
  test.each([
    ['100m', 0.1],
    ['1', 1],
    ['1.5', 1.5],
    ['2Ki', 2048],
    ['1e3', 1000],
    ['64Mi', 64 * 2 ** 20],
  ])('%s = %d', (text, value) => {
    expect(parseQuantity(text)).toBeCloseTo(value);
  });

  test('garbage is not a quantity', () => {
    expect(parseQuantity('lots')).toBeUndefined();
    expect(sameQuantity('lots', 'lots')).toBe(false);
  });
});

describe('applied hash', () => {
  test('does not depend on key order and changes with content', () => {
    expect(hashOf({ a: 1, b: [1, { c: 2, d: 3 }] })).toBe(hashOf({ b: [1, { d: 3, c: 2 }], a: 1 }));
    expect(hashOf({ a: 1 })).not.toBe(hashOf({ a: 2 }));
  });

  test('is recorded as an annotation, and re-hashing gives the same value', () => {
    const obj = {
      metadata: { name: 'x', annotations: { keep: 'me' } as Record<string, string> },
      spec: { a: 1 },
    };
    const once = withAppliedHash(obj);
    expect(once.metadata.annotations?.keep).toBe('me');
    expect(once.metadata.annotations?.[appliedHashAnnotation]).toMatch(/^[0-9a-f]{16}$/);
    expect(withAppliedHash(once).metadata.annotations?.[appliedHashAnnotation]).toBe(
      once.metadata.annotations?.[appliedHashAnnotation],
    );
    expect(obj.metadata.annotations).toEqual({ keep: 'me' });
  });
});
