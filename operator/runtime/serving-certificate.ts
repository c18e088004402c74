// A self-signed serving certificate for the metrics endpoint, made in memory at start-up, as
// controller-runtime's metrics server does when no certificate directory is given. Scrapers
// authenticate the operator by other means (or skip verification, as kubebuilder's ServiceMonitor
// does); what TLS buys here is that the bearer tokens scrapers send are never in clear text.
// node:crypto signs but does not build certificates, and the operator image has no openssl, so the
// X.509 structure (RFC 5280) is written here in DER: a P-256 key, ECDSA with SHA-256, one year.
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFileSync, watch } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

interface ServingCertificate {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
}

/** A certificate for `hosts` (DNS names and IP addresses; the first is the subject's CN). */
export function selfSignedCertificate(hosts: string[], now = new Date(), days = 365): ServingCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ecdsaWithSha256 = sequence(oid('1.2.840.10045.4.3.2'));
  const name = sequence(
    set(sequence(oid('2.5.4.3'), tlv(0x0c, Buffer.from(hosts[0] ?? 'lastcall-operator')))),
  );
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive
  const notAfter = new Date(now.getTime() + days * 86_400_000);
  const altNames = hosts.map((host) =>
    isIP(host) ? tlv(0x87, ipBytes(host)) : tlv(0x82, Buffer.from(host, 'ascii')),
  );
  const extensions = [
    // basicConstraints: not a CA (critical).
    extension('2.5.29.19', true, sequence()),
    // keyUsage: digitalSignature (critical).
    extension('2.5.29.15', true, tlv(0x03, Buffer.from([0x07, 0x80]))),
    // extKeyUsage: serverAuth.
    extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))),
    extension('2.5.29.17', false, sequence(...altNames)),
  ];
  const tbs = sequence(
    tlv(0xa0, derInteger(Buffer.from([2]))), // v3
    derInteger(serial),
    ecdsaWithSha256,
    name,
    sequence(time(new Date(now.getTime() - 60_000)), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value
  const der = sequence(tbs, ecdsaWithSha256, bitString(signature));
  const body = der
    .toString('base64')
    .replace(/.{1,64}/g, '$&\n')
    .trimEnd();
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function tlv(tag: number, value: Buffer): Buffer {
  const n = value.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let rest = n; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, value]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const bitString = (bytes: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));

/**
 * A non-negative DER INTEGER from big-endian bytes. DER wants the shortest form: leading zero
 * bytes dropped (a random serial starts with 0x00 one time in 256, and OpenSSL refuses such a
 * certificate: "illegal padding"), then one 0 byte put back when the first bit is set (two's
 * complement: it would read as negative).
 */
export function derInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const minimal = bytes.length === 0 ? Buffer.from([0]) : bytes.subarray(start);
  return tlv(0x02, (minimal[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal);
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const part of rest) {
    const chunk = [part & 0x7f];
    for (let v = part >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${iso}Z`));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand '::' and write eight 16-bit groups.
  const [head = '', tail] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

/**
 * The metrics server's certificate: tls.crt and tls.key from `certDir` (cert-manager, a Secret
 * mount), read at start-up (watchCertificate follows renewals); without one, a self-signed certificate for `hosts`.
 */
export function servingCertificate(certDir: string | undefined, hosts: string[]): ServingCertificate {
  if (!certDir) return selfSignedCertificate(hosts);
  return {
    cert: readFileSync(join(certDir, 'tls.crt'), 'utf8'),
    key: readFileSync(join(certDir, 'tls.key'), 'utf8'),
  };
}

/**
 * Calls `onChange` with the new certificate whenever tls.crt/tls.key in `certDir` change, as
 * controller-runtime's certwatcher does: cert-manager renews a certificate long before it expires,
 * and the kubelet swaps a Secret volume's files in place (an atomic rename of its ..data link).
 * A pair that does not parse (a half-written update) is reported and skipped; the server keeps the
 * certificate it has.
 */
export function watchCertificate(
  certDir: string,
  onChange: (certificate: ServingCertificate) => void,
  onError: (err: Error) => void,
): { close(): void } {
  let last = readFileSync(join(certDir, 'tls.crt'), 'utf8');
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    try {
      const next = servingCertificate(certDir, []);
      if (next.cert === last) return;
      new X509Certificate(next.cert);
      createPrivateKey(next.key);
      last = next.cert;
      onChange(next);
    } catch (err) {
      onError(err as Error);
    }
  };
  // Several events arrive for one update (the link swap, both files): act once they settle.
  const watcher = watch(certDir, () => {
    clearTimeout(timer);
    timer = setTimeout(reload, 200);
  });
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
