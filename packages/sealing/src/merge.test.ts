import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, type SealingCertificate } from './certificate.ts';
import { encryptData, sealSecret, toJson, toYaml } from './document.ts';
import { MergeTargetMismatchError, SealedSecretFormatError } from './errors.ts';
import { mergeIntoSealedSecret, readSealedSecret } from './merge.ts';
import { makeTestCertificate, type TestCertificate } from '../testing/certificates.ts';
import { unsealSealedSecret } from '../testing/controller-unseal.ts';

let key: TestCertificate;
let certificate: SealingCertificate;
beforeAll(() => {
  key = makeTestCertificate();
  certificate = parseCertificate(key.certificatePem);
});

const strictTarget = { name: 'postgres-admin', namespace: 'dbos', scope: 'strict' as const };

/** A hand-edited file: comments, odd key order, mixed quoting, a blank line, extra fields. */
function handEdited(password: string, url: string): string {
  return `# Sealed for dev; do not edit values by hand.
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: postgres-admin   # strict scope
  namespace: dbos
  labels: {dbos.dev/stage: foundation}
spec:
  template:
    metadata:
      name: postgres-admin
      namespace: dbos
  encryptedData:
    # the admin password
    password: '${password}'

    database-url: ${url}   # trailing comment
  # end of data
`;
}

describe('mergeIntoSealedSecret', () => {
  it('replaces and adds keys without touching any other byte', async () => {
    const [oldPassword, newPassword] = [randomUUID(), randomUUID()];
    const original = encryptData(certificate, strictTarget, { password: oldPassword, 'database-url': 'old-url' });
    const source = handEdited(original.password!, original['database-url']!);
    const update = encryptData(certificate, strictTarget, { password: newPassword, 'zz-extra': 'added' });
    const merged = mergeIntoSealedSecret(source, strictTarget, update);

    // Expected text built by plain string surgery on the source: the quoted value swapped in place (quotes
    // kept), the new key appended after the last item of encryptedData at its indentation.
    const expected = source
      .replace(`password: '${original.password}'`, `password: '${update.password}'`)
      .replace(
        `database-url: ${original['database-url']}   # trailing comment\n`,
        `database-url: ${original['database-url']}   # trailing comment\n    zz-extra: ${update['zz-extra']}\n`,
      );
    expect(Buffer.from(merged).equals(Buffer.from(expected))).toBe(true);

    await expect(unsealSealedSecret(merged, [key.privateKeyPem])).resolves.toEqual({
      password: newPassword,
      'database-url': 'old-url',
      'zz-extra': 'added',
    });
  });

  it('is the identity when merging a key with its own value', () => {
    const document = toYaml(sealSecret({ certificate, ...strictTarget, data: { a: '1' } }));
    const current = readSealedSecret(document);
    expect(current.keys).toEqual(['a']);
    const same = (document.match(/ a: (\S+)/) ?? [])[1]!;
    expect(mergeIntoSealedSecret(document, strictTarget, { a: same })).toBe(document);
  });

  it('adds to a file that does not end in a newline', async () => {
    const document = toYaml(sealSecret({ certificate, ...strictTarget, data: { a: '1' } }));
    // Move encryptedData to the end of the file and drop the final newline.
    const object = document.split('spec:\n')[0]!;
    const data = document.slice(document.indexOf('  encryptedData:'), document.indexOf('  template:'));
    const template = document.slice(document.indexOf('  template:'));
    const source = `${object}spec:\n${template}${data}`.replace(/\n$/, '');
    const merged = mergeIntoSealedSecret(source, strictTarget, encryptData(certificate, strictTarget, { b: '2' }));
    expect(merged.startsWith(`${source}\n    b: `)).toBe(true);
    await expect(unsealSealedSecret(merged, [key.privateKeyPem])).resolves.toEqual({ a: '1', b: '2' });
  });

  it('refuses a different name, namespace or scope with a typed error', () => {
    const document = toYaml(sealSecret({ certificate, ...strictTarget, data: { a: '1' } }));
    const merge = (target: typeof strictTarget | { name: string; namespace: string; scope: 'namespace-wide' | 'cluster-wide' }) =>
      mergeIntoSealedSecret(document, target, { b: 'AAAA' }, 'postgres-admin.sealed.yaml');
    expect(() => merge({ ...strictTarget, name: 'conductor-db' })).toThrow(MergeTargetMismatchError);
    expect(() => merge({ ...strictTarget, name: 'conductor-db' })).toThrow(/name differs/);
    expect(() => merge({ ...strictTarget, namespace: 'other' })).toThrow(/namespace differs/);
    expect(() => merge({ ...strictTarget, scope: 'namespace-wide' })).toThrow(/sealed with strict scope.*--scope strict/);
  });

  it('lets a namespace-wide value into any name of that namespace, as the label allows', async () => {
    const target = { name: 'shared', namespace: 'dbos', scope: 'namespace-wide' as const };
    const document = toYaml(sealSecret({ certificate, ...target, data: { a: '1' } }));
    const other = { ...target, name: 'sealed-under-another-name' };
    const merged = mergeIntoSealedSecret(document, other, encryptData(certificate, other, { b: '2' }));
    await expect(unsealSealedSecret(merged, [key.privateKeyPem])).resolves.toEqual({ a: '1', b: '2' });
    expect(() => mergeIntoSealedSecret(document, { ...target, namespace: 'x' }, { b: 'AAAA' })).toThrow(MergeTargetMismatchError);
  });

  it('merges into kubeseal-style JSON', async () => {
    const document = toJson(sealSecret({ certificate, ...strictTarget, data: { b: '1' } }));
    const merged = mergeIntoSealedSecret(document, strictTarget, encryptData(certificate, strictTarget, { a: '2' }));
    expect(Object.keys(JSON.parse(merged))).toEqual(['kind', 'apiVersion', 'metadata', 'spec']);
    expect(Object.keys(JSON.parse(merged).spec.encryptedData)).toEqual(['a', 'b']);
    await expect(unsealSealedSecret(JSON.parse(merged), [key.privateKeyPem])).resolves.toEqual({ a: '2', b: '1' });
  });

  it('updates an existing annotation in place, as API-key rotation needs', async () => {
    const document = toYaml(
      sealSecret({
        certificate,
        name: 'conductor-api-key',
        namespace: 'dbos',
        data: { 'api-key': 'placeholder' },
        annotations: { 'dbos.dev/placeholder': 'true', 'dbos.dev/rotated-at': '2026-01-01T00:00:00.000Z' },
      }),
    );
    const target = { name: 'conductor-api-key', namespace: 'dbos', scope: 'strict' as const };
    const update = encryptData(certificate, target, { 'api-key': 'rotated-key' });
    const merged = mergeIntoSealedSecret(document, target, update, 'f', {
      annotations: { 'dbos.dev/rotated-at': '2026-02-02T00:00:00.000Z' },
    });
    const oldValue = (document.match(/ api-key: (\S+)/) ?? [])[1]!;
    const expected = document
      .replace('dbos.dev/rotated-at: "2026-01-01T00:00:00.000Z"', 'dbos.dev/rotated-at: "2026-02-02T00:00:00.000Z"')
      .replace(oldValue, update['api-key']!);
    expect(merged).toBe(expected);
    await expect(unsealSealedSecret(merged, [key.privateKeyPem])).resolves.toEqual({ 'api-key': 'rotated-key' });
  });

  it('removes annotations, and the whole map once it is empty, as rotation does for the placeholder mark', () => {
    const document = toYaml(
      sealSecret({
        certificate,
        name: 'conductor-api-key',
        namespace: 'dbos',
        data: { 'api-key': 'placeholder' },
        annotations: { 'dbos.dev/placeholder': 'true', 'dbos.dev/rotated-at': '2026-01-01T00:00:00.000Z' },
      }),
    );
    const target = { name: 'conductor-api-key', namespace: 'dbos', scope: 'strict' as const };
    const rotated = mergeIntoSealedSecret(document, target, {}, 'f', {
      removeAnnotations: ['dbos.dev/placeholder'],
      annotations: { 'dbos.dev/rotated-at': '2026-02-02T00:00:00.000Z' },
    });
    expect(rotated).toBe(document.replace('    dbos.dev/placeholder: "true"\n', '').replace('2026-01-01T00:00:00.000Z', '2026-02-02T00:00:00.000Z'));
    const bare = mergeIntoSealedSecret(document, target, {}, 'f', {
      removeAnnotations: ['dbos.dev/placeholder', 'dbos.dev/rotated-at', 'not-there'],
    });
    expect(bare).toBe(document.replace(/ {2}annotations:\n( {4}.*\n)+/, ''));
    expect(readSealedSecret(bare).annotations).toEqual({});
    const json = toJson(sealSecret({ certificate, ...target, data: { a: '1' }, annotations: { 'dbos.dev/placeholder': 'true' } }));
    const jsonMerged = JSON.parse(mergeIntoSealedSecret(json, target, {}, 'f', { removeAnnotations: ['dbos.dev/placeholder'] }));
    expect(jsonMerged.metadata.annotations).toBeUndefined();
  });

  it('adds a metadata.annotations map when there is none, double-quoting values', () => {
    const document = toYaml(sealSecret({ certificate, ...strictTarget, data: { a: '1' } }));
    const merged = mergeIntoSealedSecret(document, strictTarget, {}, 'f', {
      annotations: { 'dbos.dev/rotated-at': '2026-02-02T00:00:00.000Z', 'dbos.dev/placeholder': 'true' },
    });
    const expected = document.replace(
      '  namespace: dbos\nspec:',
      '  namespace: dbos\n  annotations:\n    dbos.dev/placeholder: "true"\n    dbos.dev/rotated-at: "2026-02-02T00:00:00.000Z"\nspec:',
    );
    expect(merged).toBe(expected);
    expect(readSealedSecret(merged).annotations).toEqual({
      'dbos.dev/placeholder': 'true',
      'dbos.dev/rotated-at': '2026-02-02T00:00:00.000Z',
    });
    expect(() => mergeIntoSealedSecret(document, strictTarget, {}, 'f', { annotations: { 'sealedsecrets.bitnami.com/cluster-wide': 'true' } })).toThrow(
      MergeTargetMismatchError,
    );
  });

  it('refuses what is not a single editable SealedSecret', () => {
    const document = toYaml(sealSecret({ certificate, ...strictTarget, data: { a: '1' } }));
    expect(() => mergeIntoSealedSecret(`${document}---\n${document}`, strictTarget, {})).toThrow(SealedSecretFormatError);
    expect(() => mergeIntoSealedSecret(document.replace('kind: SealedSecret', 'kind: Secret'), strictTarget, {})).toThrow(/is not a SealedSecret/);
    expect(() => mergeIntoSealedSecret(document.replace(/ {2}encryptedData:\n( {4}.*\n)+/, ''), strictTarget, {})).toThrow(/no spec.encryptedData/);
    const flow = document.replace(/ {2}encryptedData:\n( {4}.*\n)+/, '  encryptedData: {a: x}\n');
    expect(() => mergeIntoSealedSecret(flow, strictTarget, { b: 'AAAA' })).toThrow(/block mapping/);
    expect(() => mergeIntoSealedSecret('key: [unclosed\n', strictTarget, {})).toThrow(SealedSecretFormatError);
  });
});
