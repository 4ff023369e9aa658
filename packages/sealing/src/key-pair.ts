import { execFile } from 'node:child_process';
import { generateKeyPair } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SealingError, UsageError } from './errors.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface SealingKeyPair {
  certificatePem: string;
  /** PKCS#8 PEM. Only for bootstrapping a controller; callers must never write it into the repository. */
  privateKeyPem: string;
}

export interface GenerateSealingKeyPairOptions {
  keyBits?: number;
  validDays?: number;
  commonName?: string;
}

function runOpenssl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) {
        reject(new SealingError('OPENSSL_FAILED', `openssl ${args[0]} failed: ${stderr.trim().split('\n')[0] ?? error.message}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

/**
 * A key pair shaped like the controller's own (RSA-4096, self-signed, CN "sealed-secret", CA:TRUE,
 * keyUsage encipherOnly). Node cannot issue X.509 certificates, so openssl signs. It cannot read a key from a
 * socket-backed stdin, so the key sits for that one call in a private (0700) temporary directory outside any
 * work tree, which is removed before returning.
 */
export async function generateSealingKeyPair(options: GenerateSealingKeyPairOptions = {}): Promise<SealingKeyPair> {
  const keyBits = options.keyBits ?? 4096;
  const validDays = options.validDays ?? 3650;
  const commonName = options.commonName ?? 'sealed-secret';
  if (!/^[A-Za-z0-9 ._-]+$/.test(commonName)) {
    throw new UsageError('the certificate common name may only use letters, digits, space, ".", "_" and "-"');
  }
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: keyBits, publicExponent: 0x10001 });
  const privateKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const directory = await mkdtemp(join(tmpdir(), 'sealing-key-'));
  try {
    const keyPath = join(directory, 'key.pem');
    await writeFile(keyPath, privateKeyPem, { mode: 0o600 });
    const certificatePem = await runOpenssl([
      'req',
      '-x509',
      '-new',
      '-key',
      keyPath,
      '-subj',
      `/CN=${commonName}`,
      '-days',
      String(validDays),
      '-sha256',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=encipherOnly',
    ]);
    return { certificatePem, privateKeyPem };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
