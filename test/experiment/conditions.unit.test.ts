import { describe, expect, test } from 'vitest';
import { expectationMet, MATRIX_CELLS, matrixTable, selectCells } from '../../experiment/matrix.ts';
import { OptionError, parseOptions } from '../../experiment/options.ts';
import { requestPieces } from '../../experiment/slow-clients.ts';
import { formatConditions } from '../../experiment/summary.ts';

describe('the harder conditions (issue 11)', () => {
  test('parsed: endpoint delay, propagation, method, slow clients, fault', () => {
    const o = parseOptions([
      '--endpoint-delay',
      '0.5',
      '--propagation=0',
      '--method',
      'post',
      '--slow-clients',
      '4',
      '--fault',
      'redis-kill',
    ]);
    expect(o).toMatchObject({
      endpointDelaySeconds: 0.5,
      propagationSeconds: 0,
      method: 'POST',
      slowClients: 4,
      fault: 'redis-kill',
    });
    expect(parseOptions([]).method).toBe('GET');
    expect(parseOptions(['--margin', '30']).marginSeconds).toBe(30);
  });

  test.each([
    [['--endpoint-delay', '-1'], '--endpoint-delay: "-1" is not allowed; use seconds from 0 to 600'],
    [['--endpoint-delay', '3s'], '--endpoint-delay: "3s" is not allowed'],
    [
      ['--propagation', '121'],
      '--propagation: "121" is not allowed; use a whole number of seconds (the preStop sleep) from 0 to 120',
    ],
    [['--method', 'PUT'], '--method: "PUT" is not allowed; use GET or POST'],
    [
      ['--fault', 'disk-full'],
      '--fault: "disk-full" is not allowed; use one of redis-kill, operator-kill, apiserver-restart',
    ],
    [['--fault', 'redis-kill', '--rollouts', '0'], '--fault redis-kill needs a rolling update'],
    [['--mode', 'hard', '--propagation', '2'], '--propagation is not allowed with --mode hard'],
    [['--matrix', '--fault', 'redis-kill'], '--fault is not allowed with --matrix'],
    [['--runs', '2'], '--runs is only allowed together with --matrix'],
    [['--slow-clients', '101'], '--slow-clients: "101" is not allowed'],
    [
      ['--margin', '301'],
      '--margin: "301" is not allowed; use a whole number of seconds (spec.drain.marginSeconds) from 1 to 300',
    ],
    [['--mode', 'hard', '--margin', '30'], '--margin is not allowed with --mode hard'],
    // a deadline of exactly the work abandons what was accepted just before SIGTERM
    [
      ['--margin', '0'],
      '--margin: "0" is not allowed; use a whole number of seconds (spec.drain.marginSeconds) from 1 to 300',
    ],
  ])('%j is refused with a message naming what is allowed', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(OptionError);
    expect(() => parseOptions(argv)).toThrow(message);
  });

  test('the summary names the conditions', () => {
    expect(
      formatConditions({
        endpointDelaySeconds: 3,
        propagationSeconds: 0,
        method: 'POST',
        slowClients: 2,
        fault: 'operator-kill',
      }),
    ).toBe('endpoint delay 3s, propagation 0s (preStop sleep), POST, 2 slow clients, fault operator-kill');
    expect(
      formatConditions({
        endpointDelaySeconds: null,
        propagationSeconds: null,
        marginSeconds: 30,
        method: 'GET',
        slowClients: 0,
        fault: null,
      }),
    ).toBe("endpoint delay: the cluster's, propagation: policy default, margin 30s, GET");
  });

  test('--cells selects cells in the matrix order and refuses an unknown name, listing the cells', () => {
    expect(selectCells(undefined)).toBe(MATRIX_CELLS);
    expect(selectCells(['redis-kill', 'post']).map((c) => c.name)).toEqual(['post', 'redis-kill']);
    expect(() => selectCells(['post', 'oom'])).toThrow(OptionError);
    expect(() => selectCells(['oom'])).toThrow(
      /--cells: "oom" is not a cell of the matrix; use some of delay-3s, /,
    );
  });

  test('matrix expectations: lossless, no-loss, and the negative control that must fail', () => {
    expect(expectationMet('lossless', { lost: 0, failed: 0 })).toBe(true);
    expect(expectationMet('lossless', { lost: 0, failed: 1 })).toBe(false);
    expect(expectationMet('no-loss', { lost: 0, failed: 7 })).toBe(true);
    expect(expectationMet('no-loss', { lost: 1, failed: 0 })).toBe(false);
    expect(expectationMet('fails', { lost: 0, failed: 0 })).toBe(false);
    expect(expectationMet('fails', { lost: 0, failed: 73 })).toBe(true);
    const names = MATRIX_CELLS.map((c) => c.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'delay-3s',
        'delay-3s-propagation-0',
        'post',
        'slow-clients',
        'redis-kill',
        'operator-kill',
        'apiserver-restart',
      ]),
    );
    expect(
      matrixTable([{ cell: 'post', run: 1, expect: 'lossless', met: false, result: null, error: 'boom' }])[2],
    ).toContain('did not complete');
  });

  test('a slow client sends a whole POST /incr, its headers in pieces', () => {
    const pieces = requestPieces(30080);
    expect(pieces[0]).toBe('POST /incr HTTP/1.1\r\n');
    expect(pieces.join('')).toMatch(/\r\n\r\n$/);
    expect(pieces.length).toBeGreaterThan(3);
  });
});
