import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseCertificate } from './certificate.ts';
import { encryptData } from './document.ts';
import { mergeIntoSealedSecret, readSealedSecret } from './merge.ts';
import { controllerLabel, unsealSealedSecret, unsealValue, UnsealError } from '../testing/controller-unseal.ts';

/**
 * Compatibility with the real kubeseal rests on its output, not only on the specification: the vector in
 * `../shared/test-vectors/kubeseal/` was written by kubeseal (controller v0.14.1) and comes with the throwaway
 * controller key that opens it. The private key is read from there at test time and never copied into this
 * repository.
 */
const VECTOR = join('test-vectors', 'kubeseal');
const FILES = ['sealed-secret.yaml', 'controller.crt', 'controller.key'] as const;

/**
 * `../shared` beside the repository root. In a linked git worktree the checkout may live elsewhere, so the
 * main clone's root (the parent of git's common directory) is tried too.
 */
function vectorDirectory(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const roots = [resolve(here, '../../..')];
  try {
    const common = execFileSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: here, encoding: 'utf8' }).trim();
    roots.push(dirname(common));
  } catch {
    // Not a git checkout (an exported tree): only the directory layout is left to go by.
  }
  const candidates = [...new Set(roots.map((root) => resolve(root, '..', 'shared', VECTOR)))];
  const found = candidates.find((directory) => FILES.every((file) => existsSync(join(directory, file))));
  if (found === undefined) {
    throw new Error(
      `the real-kubeseal test vector is missing: expected ${FILES.join(', ')} in ${candidates.join(' or ')}; ` +
        'check out the shared test data as ../shared beside this repository (CI does), see its test-vectors/kubeseal/README.md',
    );
  }
  return found;
}

let sealedYaml: string;
let certificatePem: string;
/** The controller key as PKCS#8, the form the independent WebCrypto unsealer imports (the vector ships PKCS#1). */
let privateKeyPem: string;

beforeAll(() => {
  const directory = vectorDirectory();
  sealedYaml = readFileSync(join(directory, 'sealed-secret.yaml'), 'utf8');
  certificatePem = readFileSync(join(directory, 'controller.crt'), 'utf8');
  privateKeyPem = createPrivateKey(readFileSync(join(directory, 'controller.key'), 'utf8'))
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
});

const target = { name: 'credentials', namespace: 'foo', scope: 'strict' as const };

describe('a SealedSecret made by the real kubeseal', () => {
  it('has the layout the specification describes: uint16 0x0200, 512 bytes of RSA-OAEP, AES-GCM body and tag', () => {
    const token = (parse(sealedYaml) as { spec: { encryptedData: { token: string } } }).spec.encryptedData.token;
    const bytes = Buffer.from(token, 'base64');
    expect(bytes.readUInt16BE(0)).toBe(0x0200);
    expect(bytes.length).toBe(2 + 512 + 'sealed-secrets-example'.length + 16);
    // The shipped certificate is the public half of the shipped key, so sealing for it is sealing for this controller.
    expect(createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' })).toEqual(
      parseCertificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' }),
    );
  });

  it('opens with the test suite decryptor under its strict-scope label, and under no other label', async () => {
    await expect(unsealSealedSecret(sealedYaml, [privateKeyPem])).resolves.toEqual({ token: 'sealed-secrets-example' });
    const object = parse(sealedYaml) as { metadata: { name: string; namespace: string }; spec: { encryptedData: { token: string } } };
    expect(controllerLabel(object.metadata)).toBe('foo/credentials');
    for (const label of ['foo', '', 'foo/other', 'bar/credentials']) {
      await expect(unsealValue([privateKeyPem], object.spec.encryptedData.token, label)).rejects.toThrow(UnsealError);
    }
  });

  it('is read by packages/sealing as the strict-scope secret foo/credentials', () => {
    const existing = readSealedSecret(sealedYaml, 'sealed-secret.yaml');
    expect(existing).toMatchObject({ name: 'credentials', namespace: 'foo', scope: 'strict', format: 'yaml', keys: ['token'] });
  });

  it('takes a key merged in by packages/sealing; the controller key opens both the old and the new value', async () => {
    const value = randomUUID();
    const certificate = parseCertificate(certificatePem);
    const update = encryptData(certificate, target, { password: value });
    const merged = mergeIntoSealedSecret(sealedYaml, target, update, 'sealed-secret.yaml');

    // Surgical: kubeseal's bytes are all still there, with exactly one line added after its last encryptedData item.
    const tokenLine = sealedYaml.split('\n').find((line) => line.startsWith('    token: '))!;
    expect(merged).toBe(sealedYaml.replace(`${tokenLine}\n`, `${tokenLine}\n    password: ${update.password}\n`));
    await expect(unsealSealedSecret(merged, [privateKeyPem])).resolves.toEqual({ token: 'sealed-secrets-example', password: value });
  });

  it("replaces kubeseal's own value in place, and the controller key opens the replacement", async () => {
    const value = randomUUID();
    const update = encryptData(parseCertificate(certificatePem), target, { token: value });
    const merged = mergeIntoSealedSecret(sealedYaml, target, update, 'sealed-secret.yaml');
    expect(merged.split('\n').length).toBe(sealedYaml.split('\n').length);
    await expect(unsealSealedSecret(merged, [privateKeyPem])).resolves.toEqual({ token: value });
  });
});
