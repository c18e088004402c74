import { describe, expect, it } from 'vitest';
import { applyPolicyDefaults, type DrainPolicy } from './api/types.ts';
import { BUILT_IN_POLICY, policyMatchesNamespace, resolvePolicy, selectorMatches } from './policy.ts';

const dp = (
  name: string,
  spec: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): DrainPolicy => ({
  apiVersion: 'lastcall.dev/v1alpha1',
  kind: 'DrainPolicy',
  metadata: { name, ...extra },
  spec: applyPolicyDefaults(spec),
});

describe('resolvePolicy', () => {
  it('uses the built-in defaults when no policy exists', () => {
    const p = resolvePolicy([], 'team-a', {});
    expect(p).toMatchObject({ ...BUILT_IN_POLICY, name: 'built-in', policies: [] });
    expect(p.sources.propagationSeconds).toBe('built-in');
  });

  it('applies a policy without a selector to every namespace', () => {
    const p = resolvePolicy([dp('default', { defaults: { propagationSeconds: 8 } })], 'anything', {});
    expect(p.propagationSeconds).toBe(8);
    expect(p.cleanupSeconds).toBe(BUILT_IN_POLICY.cleanupSeconds);
    expect(p.name).toBe('default');
    expect(p.sources).toMatchObject({ propagationSeconds: 'default', cleanupSeconds: 'built-in' });
  });

  it('takes each default from the highest-priority policy that sets it', () => {
    const policies = [
      dp('cluster', { defaults: { propagationSeconds: 5, cleanupSeconds: 3, marginSeconds: 4 } }),
      dp('batch', {
        priority: 10,
        namespaceSelector: { matchLabels: { workload: 'batch' } },
        defaults: { marginSeconds: 20 },
      }),
    ];
    const batch = resolvePolicy(policies, 'jobs', { workload: 'batch' });
    expect(batch).toMatchObject({ propagationSeconds: 5, cleanupSeconds: 3, marginSeconds: 20 });
    expect(batch.name).toBe('batch+cluster');
    expect(batch.policies).toEqual(['batch', 'cluster']);
    const web = resolvePolicy(policies, 'web', { workload: 'web' });
    expect(web).toMatchObject({ marginSeconds: 4, name: 'cluster' });
  });

  it('takes the bounds as a whole from one policy, so min and max never come from different policies', () => {
    const policies = [
      dp('cluster', { bounds: { minGracePeriodSeconds: 10, maxGracePeriodSeconds: 60 } }),
      dp('long', { priority: 5, bounds: { maxGracePeriodSeconds: 600 } }),
    ];
    const p = resolvePolicy(policies, 'x', {});
    // a higher-priority policy may loosen: min falls back to built-in, not to cluster's 10
    expect(p).toMatchObject({ minGracePeriodSeconds: 1, maxGracePeriodSeconds: 600 });
    expect(p.sources.bounds).toBe('long');
  });

  it('breaks priority ties by name, whatever the list order', () => {
    const a = dp('a', { defaults: { marginSeconds: 1 } });
    const b = dp('b', { defaults: { marginSeconds: 2 } });
    expect(resolvePolicy([a, b], 'x', {}).marginSeconds).toBe(1);
    expect(resolvePolicy([b, a], 'x', {}).marginSeconds).toBe(1);
  });

  it('selects a namespace by name through kubernetes.io/metadata.name even if the caller omitted it', () => {
    const p = dp('prod', {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prod' } },
      allowedModes: ['Graceful'],
    });
    expect(resolvePolicy([p], 'prod', {}).allowedModes).toEqual(['Graceful']);
    expect(resolvePolicy([p], 'dev', {}).allowedModes).toEqual(['Graceful', 'Hard']);
  });

  it('ignores a policy being deleted', () => {
    const p = dp('gone', { defaults: { marginSeconds: 9 } }, { deletionTimestamp: '2026-01-01T00:00:00Z' });
    expect(policyMatchesNamespace(p, 'x', {})).toBe(false);
    expect(resolvePolicy([p], 'x', {}).marginSeconds).toBe(BUILT_IN_POLICY.marginSeconds);
  });

  it('does not name a matching policy that contributed nothing', () => {
    const policies = [dp('empty', { priority: 9 }), dp('default', { defaults: { marginSeconds: 4 } })];
    expect(resolvePolicy(policies, 'x', {}).name).toBe('default');
  });
});

describe('selectorMatches (metav1.LabelSelector semantics)', () => {
  const labels = { team: 'a', tier: 'web' };
  it.each([
    [undefined, true],
    [{}, true],
    [{ matchLabels: { team: 'a' } }, true],
    [{ matchLabels: { team: 'b' } }, false],
    [{ matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }] }, true],
    [{ matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['a'] }] }, false],
    [{ matchExpressions: [{ key: 'missing', operator: 'NotIn', values: ['a'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, false],
    [
      { matchLabels: { team: 'a' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] },
      false,
    ],
  ] as const)('%j -> %s', (selector, expected) => {
    // biome-ignore lint/suspicious/noExplicitAny: table rows are literal selectors
    expect(selectorMatches(selector as any, labels)).toBe(expected);
  });
});
