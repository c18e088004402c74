import { describe, expect, test } from 'vitest';
import type { RolloutRecord } from '../../experiment/model.ts';
import { imageTag, mergeTimeline, rolloutTimes } from '../../experiment/run.ts';
import { trackRollouts } from '../../experiment/sampler.ts';

describe('the runner plan', () => {
  test('rollouts are spread evenly over the load, none at its edges', () => {
    expect(rolloutTimes(40, 1)).toEqual([20]);
    expect(rolloutTimes(40, 3)).toEqual([10, 20, 30]);
    expect(rolloutTimes(40, 0)).toEqual([]);
  });

  test('each rollout moves to the next tag', () => {
    expect([1, 2, 3].map(imageTag)).toEqual([
      'lastcall/workload:v1',
      'lastcall/workload:v2',
      'lastcall/workload:v3',
    ]);
  });
});

describe('trackRollouts', () => {
  const pod = (name: string, tag: number, ready: boolean, terminating = false) => ({
    name,
    image: imageTag(tag),
    ready: ready && !terminating,
    terminating,
  });
  const firstRollout = (startedAt: number): RolloutRecord => ({
    index: 1,
    fromImage: imageTag(1),
    toImage: imageTag(2),
    startedAt,
    readyAt: null,
    completedAt: null,
  });

  test('ready when the new pods are Ready, complete when the old ones are gone', () => {
    const records = [firstRollout(20)];
    trackRollouts(records, [pod('a', 1, true), pod('b', 2, false)], 1, 21);
    expect(records[0]).toMatchObject({ readyAt: null, completedAt: null });
    trackRollouts(records, [pod('a', 1, false, true), pod('b', 2, true)], 1, 23);
    expect(records[0]).toMatchObject({ readyAt: 23, completedAt: null });
    trackRollouts(records, [pod('b', 2, true)], 1, 31);
    expect(records[0]).toMatchObject({ readyAt: 23, completedAt: 31 });
    // later samples do not move it
    trackRollouts(records, [pod('b', 2, true)], 1, 40);
    expect(records[0]?.completedAt).toBe(31);
  });

  test('with three replicas it waits for three new ready pods', () => {
    const records = [firstRollout(10)];
    trackRollouts(records, [pod('a', 2, true), pod('b', 2, true), pod('c', 1, true)], 3, 14);
    expect(records[0]?.readyAt).toBeNull();
    trackRollouts(
      records,
      [pod('a', 2, true), pod('b', 2, true), pod('d', 2, true), pod('c', 1, false, true)],
      3,
      17,
    );
    expect(records[0]).toMatchObject({ readyAt: 17, completedAt: null });
  });
});

describe('mergeTimeline', () => {
  test('load per second with the sampled pods and counter; gaps hold the pods, not the counter', () => {
    const timeline = mergeTimeline(
      [
        { sent: 25, ok: 25, failed: 0 },
        { sent: 25, ok: 24, failed: 1 },
      ],
      new Map([
        [0, { podsReady: 1, podsTerminating: 0, counter: 0 }],
        [3, { podsReady: 2, podsTerminating: 1, counter: 30 }],
      ]),
    );
    expect(timeline).toEqual([
      { t: 0, sent: 25, ok: 25, failed: 0, podsReady: 1, podsTerminating: 0, counter: 0 },
      { t: 1, sent: 25, ok: 24, failed: 1, podsReady: 1, podsTerminating: 0, counter: null },
      { t: 2, sent: 0, ok: 0, failed: 0, podsReady: 1, podsTerminating: 0, counter: null },
      { t: 3, sent: 0, ok: 0, failed: 0, podsReady: 2, podsTerminating: 1, counter: 30 },
    ]);
  });
});
