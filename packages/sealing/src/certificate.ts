import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { CertificateExpiredError, CertificateNotYetValidError, CertificateParseError } from './errors.ts';

export interface SealingCertificate {
  /** The RSA public key values are sealed with. */
  readonly publicKey: KeyObject;
  /** PEM of the certificate actually used (the first one in the input). */
  readonly pem: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Modulus size, e.g. 4096. */
  readonly keyBits: number;
  /**
   * `SHA256:<base64>` of the key in SSH wire format: the fingerprint the controller logs and uses to pick the
   * decryption key, so people can match a committed certificate to a controller key.
   */
  readonly keyFingerprint: string;
  /** SHA-256 over the certificate's DER, colon-separated hex, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly certificateSha256: string;
}

export interface ParseCertificateOptions {
  /** The instant validity is checked against; defaults to now. */
  readonly now?: Date;
  /** Skip the validity check (only for inspecting a certificate, never for sealing). */
  readonly allowInvalidDates?: boolean;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/**
 * Reads a sealing certificate the way kubeseal does: the first CERTIFICATE block of the PEM (other blocks are
 * skipped), which must carry an RSA key and be inside its validity window.
 */
export function parseCertificate(pem: string | Uint8Array, options: ParseCertificateOptions = {}): SealingCertificate {
  const text = typeof pem === 'string' ? pem : Buffer.from(pem).toString('utf8');
  let der: Buffer | undefined;
  let blockPem = '';
  for (const match of text.matchAll(PEM_BLOCK)) {
    if (match[1] === 'CERTIFICATE') {
      der = Buffer.from((match[2] ?? '').replace(/\s+/g, ''), 'base64');
      blockPem = match[0];
      break;
    }
  }
  if (der === undefined || der.length === 0) {
    throw new CertificateParseError(
      'no PEM certificate found; pass the controller certificate (the output of kubeseal --fetch-cert, ' +
        'e.g. clusters/<env>/sealed-secrets-cert.pem), not a bare public key',
    );
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch (error) {
    throw new CertificateParseError('the PEM certificate could not be parsed as X.509; fetch the certificate again', {
      cause: error,
    });
  }
  const publicKey = certificate.publicKey;
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw new CertificateParseError(
      `expected an RSA public key in the certificate but found ${publicKey.asymmetricKeyType ?? 'an unknown key type'}; ` +
        'the sealed-secrets controller only issues RSA certificates',
    );
  }
  const notBefore = new Date(certificate.validFrom);
  const notAfter = new Date(certificate.validTo);
  if (!options.allowInvalidDates) {
    const now = options.now ?? new Date();
    if (now.getTime() > notAfter.getTime()) throw new CertificateExpiredError(notAfter);
    if (now.getTime() < notBefore.getTime()) throw new CertificateNotYetValidError(notBefore);
  }
  const jwk = publicKey.export({ format: 'jwk' });
  const modulus = Buffer.from(jwk.n ?? '', 'base64url');
  return {
    publicKey,
    pem: `${blockPem}\n`,
    subject: certificate.subject,
    notBefore,
    notAfter,
    keyBits: publicKey.asymmetricKeyDetails?.modulusLength ?? modulus.length * 8,
    keyFingerprint: sshKeyFingerprint(publicKey),
    certificateSha256: certificate.fingerprint256,
  };
}

/** The OpenSSH SHA256 fingerprint of an RSA public key (RFC 4253 `ssh-rsa` blob, unpadded base64). */
export function sshKeyFingerprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  const blob = Buffer.concat([
    sshString(Buffer.from('ssh-rsa')),
    sshString(mpint(Buffer.from(jwk.e ?? '', 'base64url'))),
    sshString(mpint(Buffer.from(jwk.n ?? '', 'base64url'))),
  ]);
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function sshString(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length, 0);
  return Buffer.concat([length, bytes]);
}

/** SSH mpint: minimal big-endian, with a zero byte in front when the top bit would read as a sign. */
function mpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start += 1;
  const trimmed = unsigned.subarray(start);
  return (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
}
