import { createPublicKey, randomUUID } from 'node:crypto';
import { encryptSecretItem } from '@linode/kubeseal-encrypt';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseCertificate, type SealingCertificate } from './certificate.ts';
import { hybridEncrypt, sealValue } from './crypto.ts';
import { sealSecret, toJson, toYaml } from './document.ts';
import { UsageError } from './errors.ts';
import { encryptionLabel, type SealingScope } from './scope.ts';
import { makeTestCertificate, type TestCertificate } from '../testing/certificates.ts';
import { unsealSealedSecret, unsealValue, UnsealError } from '../testing/controller-unseal.ts';

let key: TestCertificate;
let otherKey: TestCertificate;
let certificate: SealingCertificate;

beforeAll(() => {
  key = makeTestCertificate();
  otherKey = makeTestCertificate();
  certificate = parseCertificate(key.certificatePem);
});

const values = { password: randomUUID(), 'database-url': 'postgresql://postgres.dev.example.internal:5432/dbos_app?sslmode=require' };

describe('sealing round trip, as the controller unseals', () => {
  for (const scope of ['strict', 'namespace-wide', 'cluster-wide'] as SealingScope[]) {
    it(`unseals every value in ${scope} scope`, async () => {
      const document = sealSecret({ certificate, name: 'app-db', namespace: 'dbos', scope, data: values });
      await expect(unsealSealedSecret(toYaml(document), [key.privateKeyPem])).resolves.toEqual(values);
      await expect(unsealSealedSecret(JSON.parse(toJson(document)), [key.privateKeyPem])).resolves.toEqual(values);
    });
  }

  it('fails for another controller key, as the controller would', async () => {
    const document = sealSecret({ certificate, name: 'app-db', namespace: 'dbos', data: values });
    await expect(unsealSealedSecret(document, [otherKey.privateKeyPem])).rejects.toThrow(UnsealError);
    // The controller keeps old keys and tries each; the right one among several still works.
    await expect(unsealSealedSecret(document, [otherKey.privateKeyPem, key.privateKeyPem])).resolves.toEqual(values);
  });

  it('binds strict values to name and namespace', async () => {
    const document = sealSecret({ certificate, name: 'app-db', namespace: 'dbos', data: values });
    const renamed = { ...document, metadata: { ...document.metadata, name: 'other' } };
    const moved = { ...document, metadata: { ...document.metadata, namespace: 'elsewhere' } };
    await expect(unsealSealedSecret(renamed, [key.privateKeyPem])).rejects.toThrow(UnsealError);
    await expect(unsealSealedSecret(moved, [key.privateKeyPem])).rejects.toThrow(UnsealError);
  });

  it('binds namespace-wide values to the namespace only', async () => {
    const document = sealSecret({ certificate, name: 'app-db', namespace: 'dbos', scope: 'namespace-wide', data: values });
    const renamed = { ...document, metadata: { ...document.metadata, name: 'other' } };
    const moved = { ...document, metadata: { ...document.metadata, namespace: 'elsewhere' } };
    await expect(unsealSealedSecret(renamed, [key.privateKeyPem])).resolves.toEqual(values);
    await expect(unsealSealedSecret(moved, [key.privateKeyPem])).rejects.toThrow(UnsealError);
  });

  it('lets cluster-wide values move anywhere', async () => {
    const document = sealSecret({ certificate, name: 'app-db', namespace: 'dbos', scope: 'cluster-wide', data: values });
    const moved = { ...document, metadata: { ...document.metadata, name: 'x', namespace: 'elsewhere' } };
    await expect(unsealSealedSecret(moved, [key.privateKeyPem])).resolves.toEqual(values);
  });

  it('fails when the scope annotation is changed after sealing', async () => {
    const strict = sealSecret({ certificate, name: 'app-db', namespace: 'dbos', data: values });
    const widened = {
      ...strict,
      metadata: { ...strict.metadata, annotations: { 'sealedsecrets.bitnami.com/namespace-wide': 'true' } },
    };
    await expect(unsealSealedSecret(widened, [key.privateKeyPem])).rejects.toThrow(UnsealError);
    const clusterWide = sealSecret({ certificate, name: 'app-db', namespace: 'dbos', scope: 'cluster-wide', data: values });
    const narrowed = { ...clusterWide, metadata: { name: 'app-db', namespace: 'dbos' } };
    await expect(unsealSealedSecret(narrowed, [key.privateKeyPem])).rejects.toThrow(UnsealError);
  });

  it('rejects tampered ciphertext in either part and truncation', async () => {
    const sealed = Buffer.from(sealValue(certificate.publicKey, 'secret', 'dbos/x'), 'base64');
    const label = 'dbos/x';
    await expect(unsealValue([key.privateKeyPem], sealed.toString('base64'), label)).resolves.toEqual(Buffer.from('secret'));
    for (const position of [10, sealed.length - 20, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[position] = tampered[position]! ^ 0x01;
      await expect(unsealValue([key.privateKeyPem], tampered.toString('base64'), label)).rejects.toThrow(UnsealError);
    }
    await expect(unsealValue([key.privateKeyPem], sealed.subarray(0, 100).toString('base64'), label)).rejects.toThrow(UnsealError);
  });
});

describe('wire format', () => {
  it('is length-prefixed RSA block, then AES-GCM ciphertext and 16-byte tag, with a fresh session key per value', () => {
    const plaintext = Buffer.from('twelve bytes');
    const first = hybridEncrypt(certificate.publicKey, plaintext, 'dbos/x');
    const second = hybridEncrypt(certificate.publicKey, plaintext, 'dbos/x');
    expect(first.readUInt16BE(0)).toBe(certificate.keyBits / 8);
    expect(first.length).toBe(2 + certificate.keyBits / 8 + plaintext.length + 16);
    expect(first.equals(second)).toBe(false);
    // With a zero nonce, equal ciphertext bodies would mean a reused session key.
    expect(first.subarray(2 + 256).equals(second.subarray(2 + 256))).toBe(false);
  });

  it('seals the raw bytes, not their base64', async () => {
    const binary = Buffer.from([0, 255, 1, 254, 10, 13]);
    const sealed = sealValue(certificate.publicKey, binary, '');
    await expect(unsealValue([key.privateKeyPem], sealed, '')).resolves.toEqual(binary);
  });

  it('uses the labels the controller computes', () => {
    expect(encryptionLabel('dbos', 'x', 'strict')).toBe('dbos/x');
    expect(encryptionLabel('dbos', 'x', 'namespace-wide')).toBe('dbos');
    expect(encryptionLabel('dbos', 'x', 'cluster-wide')).toBe('');
  });
});

describe('cross-check with @linode/kubeseal-encrypt (an independent implementation)', () => {
  it('its namespace-wide output unseals with the test unsealer and sits in a document of ours', async () => {
    // It takes the bare SPKI public key and always seals namespace-wide.
    const spki = createPublicKey(key.certificatePem).export({ format: 'pem', type: 'spki' }).toString();
    const theirs = await encryptSecretItem(spki, 'dbos', 'from-the-other-implementation');
    await expect(unsealValue([key.privateKeyPem], theirs, 'dbos')).resolves.toEqual(Buffer.from('from-the-other-implementation'));
    const ours = sealValue(certificate.publicKey, 'from-the-other-implementation', 'dbos');
    // Same layout, byte for byte in length: same scheme.
    expect(Buffer.from(ours, 'base64').length).toBe(Buffer.from(theirs, 'base64').length);
    const document = sealSecret({ certificate, name: 'mixed', namespace: 'dbos', scope: 'namespace-wide', data: { ours: 'x' } });
    document.spec.encryptedData.theirs = theirs;
    await expect(unsealSealedSecret(document, [key.privateKeyPem])).resolves.toEqual({
      ours: 'x',
      theirs: 'from-the-other-implementation',
    });
  });
});

describe('document shape, as kubeseal writes it', () => {
  it('writes YAML in alphabetical key order with the scope annotation on the object and its template', () => {
    const document = sealSecret({
      certificate,
      name: 'tls-thing',
      namespace: 'dbos',
      scope: 'namespace-wide',
      data: { b: '2', a: '1' },
      type: 'kubernetes.io/tls',
      templateLabels: { app: 'x' },
    });
    const text = toYaml(document);
    const lines = text
      .split('\n')
      .filter((line) => /^\s*[a-zA-Z]/.test(line))
      .map((line) => line.replace(/:.*/, ''));
    expect(lines).toEqual([
      'apiVersion',
      'kind',
      'metadata',
      '  annotations',
      '    sealedsecrets.bitnami.com/namespace-wide',
      '  name',
      '  namespace',
      'spec',
      '  encryptedData',
      '    a',
      '    b',
      '  template',
      '    metadata',
      '      annotations',
      '        sealedsecrets.bitnami.com/namespace-wide',
      '      labels',
      '        app',
      '      name',
      '      namespace',
      '    type',
    ]);
    expect(text).toContain('sealedsecrets.bitnami.com/namespace-wide: "true"');
    const parsed = parse(text);
    expect(parsed.apiVersion).toBe('bitnami.com/v1alpha1');
    expect(parsed.kind).toBe('SealedSecret');
    expect(parsed.spec.template.type).toBe('kubernetes.io/tls');
    // base64 values stay on one line: no folding.
    for (const line of text.split('\n')) if (line.trim().startsWith('a:')) expect(line.length).toBeGreaterThan(300);
  });

  it('writes JSON in Go struct order (kind first, template before encryptedData)', () => {
    const document = sealSecret({ certificate, name: 'x', namespace: 'dbos', scope: 'cluster-wide', data: { k: 'v' } });
    const text = toJson(document);
    expect(text.endsWith('}\n')).toBe(true);
    const parsed = JSON.parse(text);
    expect(Object.keys(parsed)).toEqual(['kind', 'apiVersion', 'metadata', 'spec']);
    expect(Object.keys(parsed.metadata)).toEqual(['name', 'namespace', 'annotations']);
    expect(Object.keys(parsed.spec)).toEqual(['template', 'encryptedData']);
    expect(parsed.metadata.annotations).toEqual({ 'sealedsecrets.bitnami.com/cluster-wide': 'true' });
  });

  it('leaves strict scope unannotated and Opaque untyped', () => {
    const parsed = parse(toYaml(sealSecret({ certificate, name: 'x', namespace: 'dbos', data: { k: 'v' }, type: 'Opaque' })));
    expect(parsed.metadata).toEqual({ name: 'x', namespace: 'dbos' });
    expect(parsed.spec.template).toEqual({ metadata: { name: 'x', namespace: 'dbos' } });
  });

  it('keeps extra annotations on the SealedSecret only and quotes timestamps', () => {
    const text = toYaml(
      sealSecret({
        certificate,
        name: 'x',
        namespace: 'dbos',
        data: { k: 'v' },
        annotations: { 'dbos.dev/rotated-at': '2026-01-02T03:04:05.000Z', 'dbos.dev/placeholder': 'true' },
      }),
    );
    expect(text).toContain('dbos.dev/rotated-at: "2026-01-02T03:04:05.000Z"');
    expect(parse(text).spec.template.metadata.annotations).toBeUndefined();
  });

  it('refuses bad names, namespaces and keys, and a missing namespace outside cluster-wide', () => {
    expect(() => sealSecret({ certificate, name: 'Bad_Name', namespace: 'dbos', data: { k: 'v' } })).toThrow(UsageError);
    expect(() => sealSecret({ certificate, name: 'x', namespace: 'dbos.x', data: { k: 'v' } })).toThrow(UsageError);
    expect(() => sealSecret({ certificate, name: 'x', namespace: 'dbos', data: { 'k/v': 'v' } })).toThrow(UsageError);
    expect(() => sealSecret({ certificate, name: 'x', namespace: '', data: { k: 'v' } })).toThrow(/namespace is required/);
    expect(() => sealSecret({ certificate, name: 'x', namespace: 'dbos', data: {} })).toThrow(/nothing to seal/);
    const clusterWide = sealSecret({ certificate, name: 'x', namespace: '', scope: 'cluster-wide', data: { k: 'v' } });
    expect(clusterWide.metadata.namespace).toBeUndefined();
  });
});
