import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway key and certificate made at test time; nothing here is ever committed. */
export interface TestCertificate {
  certificatePem: string;
  privateKey: KeyObject;
  privateKeyPem: string;
  publicKeyPem: string;
}

export interface TestCertificateOptions {
  keyBits?: number;
  /** Validity window as openssl `ca` dates (YYYYMMDDHHMMSSZ); default: from now for `days`. */
  startDate?: string;
  endDate?: string;
  days?: number;
  keyType?: 'rsa' | 'ec';
  /** For a TLS server certificate, e.g. "IP:127.0.0.1". */
  subjectAltName?: string;
}

function withTempDir<T>(work: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'sealing-test-'));
  try {
    return work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CA_CONFIG = `[ ca ]
default_ca = test_ca
[ test_ca ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any_policy
unique_subject = no
[ any_policy ]
commonName = supplied
`;

/**
 * Self-signed certificates through the openssl CLI. \`openssl ca -selfsign\` with explicit start and end dates
 * makes already-expired and not-yet-valid certificates without faking the clock (OpenSSL 3.0 \`x509\` lacks
 * -not_before/-not_after).
 */
export function makeTestCertificate(options: TestCertificateOptions = {}): TestCertificate {
  const pair =
    options.keyType === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: options.keyBits ?? 2048 });
  const privateKeyPem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const publicKeyPem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const certificatePem = withTempDir((dir) => {
    const keyPath = join(dir, 'key.pem');
    writeFileSync(keyPath, privateKeyPem, { mode: 0o600 });
    const run = (args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    };
    if (options.startDate === undefined && options.endDate === undefined) {
      const san = options.subjectAltName === undefined ? [] : ['-addext', `subjectAltName=${options.subjectAltName}`];
      run(['req', '-x509', '-new', '-key', keyPath, '-subj', '/CN=sealed-secret', '-days', String(options.days ?? 30), ...san, '-out', 'cert.pem']);
    } else {
      writeFileSync(join(dir, 'ca.cnf'), CA_CONFIG);
      writeFileSync(join(dir, 'index.txt'), '');
      writeFileSync(join(dir, 'serial'), '01\n');
      run(['req', '-new', '-key', keyPath, '-subj', '/CN=sealed-secret', '-out', 'req.csr']);
      run([
        'ca',
        '-batch',
        '-config',
        'ca.cnf',
        '-selfsign',
        '-keyfile',
        keyPath,
        '-in',
        'req.csr',
        '-notext',
        '-startdate',
        options.startDate ?? '20200101000000Z',
        '-enddate',
        options.endDate ?? '20990101000000Z',
        '-out',
        'cert.pem',
      ]);
    }
    return readFileSync(join(dir, 'cert.pem'), 'utf8');
  });
  return { certificatePem, privateKey: pair.privateKey, privateKeyPem, publicKeyPem };
}
