import { execFile } from 'node:child_process';
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { SealingError } from './errors.ts';

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

function runOpenssl(args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) {
        reject(new SealingError('OPENSSL_FAILED', `openssl ${args[0]} failed: ${stderr.trim().split('\n')[0] ?? error.message}`));
      } else {
        resolve(stdout);
      }
    });
    child.stdin?.end(input);
  });
}

/**
 * A key pair shaped like the controller's own (RSA-4096, self-signed, CN "sealed-secret", CA:TRUE,
 * keyUsage encipherOnly). Node cannot issue X.509 certificates, so openssl signs; the private key reaches it
 * on stdin and is never written to disk.
 */
export async function generateSealingKeyPair(options: GenerateSealingKeyPairOptions = {}): Promise<SealingKeyPair> {
  const keyBits = options.keyBits ?? 4096;
  const validDays = options.validDays ?? 3650;
  const commonName = options.commonName ?? 'sealed-secret';
  if (!/^[A-Za-z0-9 ._-]+$/.test(commonName)) {
    throw new SealingError('USAGE', 'the certificate common name may only use letters, digits, space, ".", "_" and "-"');
  }
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: keyBits, publicExponent: 0x10001 });
  const privateKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const certificatePem = await runOpenssl(
    [
      'req', '-x509', '-new', '-key', '/dev/stdin', '-subj', `/CN=${commonName}`, '-days', String(validDays), '-sha256',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=encipherOnly',
    ],
    privateKeyPem,
  );
  return { certificatePem, privateKeyPem };
}
