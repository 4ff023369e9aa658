import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from './certificate.ts';
import { CertificateExpiredError, CertificateNotYetValidError, CertificateParseError, SealingError } from './errors.ts';
import { generateSealingKeyPair } from './key-pair.ts';
import { makeTestCertificate, type TestCertificate } from '../testing/certificates.ts';

let valid: TestCertificate;
beforeAll(() => {
  valid = makeTestCertificate({ days: 30 });
});

function opensslFingerprint(pem: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem }).toString().trim().split('=')[1]!;
}

function sshKeygenFingerprint(publicKeyPem: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealing-ssh-'));
  try {
    const path = join(dir, 'key.pub.pem');
    writeFileSync(path, publicKeyPem);
    const openssh = execFileSync('ssh-keygen', ['-i', '-m', 'PKCS8', '-f', path]).toString();
    writeFileSync(join(dir, 'key.pub'), openssh);
    return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'key.pub')])
      .toString()
      .split(' ')[1]!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('parseCertificate', () => {
  it('exposes key, validity and fingerprints that match openssl and ssh-keygen', () => {
    const certificate = parseCertificate(valid.certificatePem);
    expect(certificate.keyBits).toBe(2048);
    expect(certificate.subject).toContain('CN=sealed-secret');
    expect(certificate.notAfter.getTime() - certificate.notBefore.getTime()).toBe(30 * 24 * 3600 * 1000);
    expect(certificate.certificateSha256).toBe(opensslFingerprint(valid.certificatePem));
    // The controller names its keys by this SSH-style fingerprint.
    expect(certificate.keyFingerprint).toBe(sshKeygenFingerprint(valid.publicKeyPem));
  });

  it('takes the first certificate of a bundle and skips other PEM blocks', () => {
    const second = makeTestCertificate();
    const bundle = `# comment\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n${valid.certificatePem}${second.certificatePem}`;
    expect(parseCertificate(bundle).certificateSha256).toBe(opensslFingerprint(valid.certificatePem));
  });

  it('refuses an expired certificate with a typed error that says to fetch the current one', () => {
    const expired = makeTestCertificate({ startDate: '20200101000000Z', endDate: '20210101000000Z' });
    let caught: unknown;
    try {
      parseCertificate(expired.certificatePem);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CertificateExpiredError);
    expect((caught as CertificateExpiredError).code).toBe('CERTIFICATE_EXPIRED');
    expect((caught as Error).message).toMatch(/expired on 2021-01-01.*fetch the current certificate/);
    expect((caught as CertificateExpiredError).notAfter.toISOString()).toBe('2021-01-01T00:00:00.000Z');
    // Inspection without sealing is still possible.
    expect(parseCertificate(expired.certificatePem, { allowInvalidDates: true }).notAfter.getUTCFullYear()).toBe(2021);
  });

  it('refuses a certificate that is not valid yet', () => {
    const future = makeTestCertificate({ startDate: '20980101000000Z', endDate: '20990101000000Z' });
    expect(() => parseCertificate(future.certificatePem)).toThrow(CertificateNotYetValidError);
    expect(() => parseCertificate(future.certificatePem, { now: new Date('2098-06-01T00:00:00Z') })).not.toThrow();
  });

  it('refuses a non-RSA certificate, a bare public key and garbage', () => {
    const ec = makeTestCertificate({ keyType: 'ec' });
    expect(() => parseCertificate(ec.certificatePem)).toThrow(/expected an RSA public key/);
    expect(() => parseCertificate(valid.publicKeyPem)).toThrow(CertificateParseError);
    expect(() => parseCertificate('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n')).toThrow(CertificateParseError);
    expect(() => parseCertificate('')).toThrow(SealingError);
  });
});

describe('generateSealingKeyPair', () => {
  it('makes a controller-shaped certificate whose key matches the private key', async () => {
    const pair = await generateSealingKeyPair({ keyBits: 2048, validDays: 3650 });
    const certificate = parseCertificate(pair.certificatePem);
    expect(certificate.keyBits).toBe(2048);
    expect(certificate.subject).toBe('CN=sealed-secret');
    const days = (certificate.notAfter.getTime() - certificate.notBefore.getTime()) / (24 * 3600 * 1000);
    expect(days).toBe(3650);
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: pair.certificatePem }).toString();
    expect(text).toMatch(/CA:TRUE/);
    expect(text).toMatch(/Encipher Only/);
    const modulusFromKey = execFileSync('openssl', ['rsa', '-noout', '-modulus'], { input: pair.privateKeyPem }).toString();
    const modulusFromCert = execFileSync('openssl', ['x509', '-noout', '-modulus'], { input: pair.certificatePem }).toString();
    expect(modulusFromCert).toBe(modulusFromKey);
  });
});
