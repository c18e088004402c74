import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { minimalConnection } from '../../cluster/kubelet/kube/kubeconfig.ts';
import { backendsFor, type EndpointSlice, RoundRobin } from '../../cluster/proxy/endpoints.ts';
import { tempDirsOfFile } from '../support/temp-dirs.ts';

function slice(endpoints: EndpointSlice['endpoints'], portName = 'http'): EndpointSlice {
  return {
    metadata: { name: 's', namespace: 'ns' },
    addressType: 'IPv4',
    endpoints,
    ports: [{ name: portName, port: 8080, protocol: 'TCP' }],
  };
}

/** Temporary directories of this file, removed after its tests. */
const tempDir = tempDirsOfFile();

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

describe('minimal kubeconfig reader', () => {
  test('reads inline data and relative files of the current context', () => {
    const dir = tempDir('lc-kc-');
    writeFileSync(join(dir, 'client.key'), 'KEY');
    const file = join(dir, 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: c',
        'contexts: [{name: c, context: {cluster: k, user: u}}, {name: other, context: {cluster: x, user: x}}]',
        `clusters: [{name: k, cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: ${Buffer.from('CA').toString('base64')}}}]`,
        `users: [{name: u, user: {client-certificate-data: ${Buffer.from('CERT').toString('base64')}, client-key: client.key}}]`,
      ].join('\n'),
    );
    const c = minimalConnection(file);
    expect(c.server.port).toBe('6443');
    expect([c.ca?.toString(), c.cert?.toString(), c.key?.toString()]).toEqual(['CA', 'CERT', 'KEY']);
    expect(c.rejectUnauthorized).toBe(true);
  });
  test('names a missing context', () => {
    const file = join(tempDir('lc-kc-'), 'config');
    writeFileSync(file, 'current-context: nope\ncontexts: []\n');
    expect(() => minimalConnection(file)).toThrow(/context "nope" not found/);
  });
});
