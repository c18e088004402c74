import { describe, expect, it } from 'vitest';
import { parsePodGroup } from '../../../cluster/components/state.ts';

describe('parsePodGroup (kubelet/pids/<pid> files)', () => {
  it('reads the kubelet format: JSON with pgid and owner', () => {
    expect(parsePodGroup('4127', '{"pgid":4127,"owner":"default/sleeper/sleeper"}')).toEqual({
      name: 'pod process 4127 (default/sleeper/sleeper)',
      pgid: 4127,
    });
  });

  it('reads JSON with pid and start time', () => {
    expect(parsePodGroup('x', '{"pid":77,"startTime":"12345"}')).toEqual({
      name: 'pod process x',
      pgid: 77,
      startTime: '12345',
    });
  });

  it('reads a plain PID, else takes the file name', () => {
    expect(parsePodGroup('a', '310')).toEqual({ name: 'pod process a', pgid: 310 });
    expect(parsePodGroup('311.pid', '')).toEqual({ name: 'pod process 311.pid', pgid: 311 });
  });

  it('never yields process group 0 or 1 (kill(-1) would signal everything)', () => {
    expect(parsePodGroup('1', '1')).toBeUndefined();
    expect(parsePodGroup('0', '{"pgid":0}')).toBeUndefined();
    expect(parsePodGroup('junk', 'not a pid')).toBeUndefined();
  });
});
