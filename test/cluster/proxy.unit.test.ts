import { describe, expect, test } from 'vitest';
import { backendsFor, type EndpointSlice, RoundRobin } from '../../cluster/proxy/endpoints.ts';

function slice(endpoints: EndpointSlice['endpoints'], portName = 'http'): EndpointSlice {
  return {
    metadata: { name: 's', namespace: 'ns' },
    addressType: 'IPv4',
    endpoints,
    ports: [{ name: portName, port: 8080, protocol: 'TCP' }],
  };
}

describe('endpoint selection', () => {
  test('ready endpoints only, dialed on their loopback twins', () => {
    const b = backendsFor(
      [
        slice([
          { addresses: ['10.244.0.2'], conditions: { ready: true, serving: true, terminating: false } },
          { addresses: ['10.244.0.3'], conditions: { ready: false, serving: true, terminating: true } },
          { addresses: ['10.244.0.4'], conditions: { ready: false, serving: false, terminating: false } },
        ]),
      ],
      'http',
    );
    expect(b).toEqual([{ ip: '10.244.0.2', dial: '127.244.0.2', port: 8080 }]);
  });
  test('no ready endpoint: serving and terminating ones, like kube-proxy', () => {
    const b = backendsFor(
      [
        slice([
          { addresses: ['10.244.0.3'], conditions: { ready: false, serving: true, terminating: true } },
          { addresses: ['10.244.0.4'], conditions: { ready: false, serving: false, terminating: true } },
        ]),
      ],
      'http',
    );
    expect(b.map((x) => x.ip)).toEqual(['10.244.0.3']);
  });
  test('port matched by name; duplicates across slices counted once; nil ready means ready', () => {
    const b = backendsFor(
      [
        slice([{ addresses: ['10.244.0.2'] }]),
        slice([{ addresses: ['10.244.0.2'] }]),
        slice([{ addresses: ['10.244.0.9'] }], 'other'),
      ],
      'http',
    );
    expect(b.map((x) => x.ip)).toEqual(['10.244.0.2']);
  });
  test('round robin spreads and survives list changes', () => {
    const rr = new RoundRobin();
    const list = [
      { ip: 'a', dial: 'a', port: 1 },
      { ip: 'b', dial: 'b', port: 1 },
    ];
    expect([rr.pick(list)?.ip, rr.pick(list)?.ip, rr.pick(list)?.ip]).toEqual(['a', 'b', 'a']);
    expect(rr.pick([])).toBeUndefined();
  });
});
