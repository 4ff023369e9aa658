import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseCertificate } from './certificate.ts';
import { DEFAULT_KEDA_NAMESPACE, DRAIN_READER_KEY, KEDA_DRAIN_READER_SECRET } from './drain-reader-secrets.ts';
import { bootstrapExampleEnvironment, EXAMPLE_APPS, EXAMPLE_ENVIRONMENTS, type ExampleEnvironment } from './example-environments.ts';
import { generateSealingKeyPair } from './key-pair.ts';
import { unsealSealedSecret } from '../testing/controller-unseal.ts';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** The platform's Secrets (overlays/<env>/platform/secrets). */
const PLATFORM_KEYS: Record<string, (environment: ExampleEnvironment) => string[]> = {
  'postgres-admin': () => ['database-url', 'password'],
  'conductor-db': () => ['database-url'],
  'conductor-license': () => ['license-key'],
  'dex-credentials': (environment) => (environment === 'dev' ? ['admin-password-hash'] : ['admin-password-hash', 'postgres-password']),
  'dbos-drain-reader': () => ['database-url'],
  'dbos-drain-reader-keda': () => ['database-url'],
  'gitops-bot': () => ['github-token'],
};
/** Each application's two Secrets (overlays/<env>/apps/<app>/secrets), as their identity.yaml names them. */
const APP_SECRETS: Record<ExampleEnvironment, Array<{ app: string; name: string; keys: string[] }>> = {
  dev: [
    { app: 'dbos-app', name: 'dbos-app-db', keys: ['database-url'] },
    { app: 'dbos-app', name: 'conductor-api-key', keys: ['api-key'] },
    { app: 'orders', name: 'orders-db', keys: ['database-url'] },
    { app: 'orders', name: 'orders-conductor-api-key', keys: ['api-key'] },
  ],
  staging: [
    { app: 'dbos-app', name: 'dbos-app-db', keys: ['database-url'] },
    { app: 'dbos-app', name: 'conductor-api-key', keys: ['api-key'] },
  ],
  prod: [
    { app: 'dbos-app', name: 'dbos-app-db', keys: ['database-url'] },
    { app: 'dbos-app', name: 'conductor-api-key', keys: ['api-key'] },
  ],
};
/** Every Secret of an environment: where its file is (relative to the overlay) and its keys. */
function expectedSecrets(environment: ExampleEnvironment): Array<{ name: string; file: string; keys: string[] }> {
  return [
    ...Object.entries(PLATFORM_KEYS).map(([name, keys]) => ({ name, file: `platform/secrets/${name}.sealed.yaml`, keys: keys(environment) })),
    ...APP_SECRETS[environment].map(({ app, name, keys }) => ({ name, file: `apps/${app}/secrets/${name}.sealed.yaml`, keys })),
  ];
}
/** KEDA reads Secrets only in its own namespace (base/keda-auth); everything else lives in dbos. */
const NAMESPACE_OF = (name: string): string => (name === 'dbos-drain-reader-keda' ? 'keda' : 'dbos');
const PLACEHOLDERS = ['conductor-license', 'conductor-api-key', 'orders-conductor-api-key', 'gitops-bot'];
// The committed KEDA copy was added after the example drain reader's value had been thrown away, so it could only be
// sealed as a placeholder; the generator (first test) now writes it from the drain reader's own value.
const COMMITTED_PLACEHOLDERS = [...PLACEHOLDERS, 'dbos-drain-reader-keda'];

const scratch = mkdtempSync(join(tmpdir(), 'sealing-envs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('bootstrapExampleEnvironment (into a scratch tree, keeping the test key to unseal)', () => {
  it("seals every expected value in the seeds' forms", async () => {
    const privateKeys: string[] = [];
    const lines: string[] = [];
    const now = new Date('2026-03-04T05:06:07.000Z');
    await bootstrapExampleEnvironment('staging', {
      root: scratch,
      now,
      log: (line) => lines.push(line),
      // 2048 bits keeps the test quick; the real run uses 4096.
      generateKeyPair: async (options) => {
        const pair = await generateSealingKeyPair({ ...options, keyBits: 2048 });
        privateKeys.push(pair.privateKeyPem);
        return pair;
      },
    });
    const overlay = join(scratch, 'overlays', 'staging');
    const files = readdirSync(overlay, { recursive: true })
      .map(String)
      .filter((file) => file.endsWith('.sealed.yaml'))
      .sort();
    expect(files).toEqual(
      expectedSecrets('staging')
        .map((secret) => secret.file)
        .sort(),
    );
    const values: Record<string, Record<string, string>> = {};
    for (const file of files) {
      const text = readFileSync(join(overlay, file), 'utf8');
      values[file.split('/').pop()!.replace('.sealed.yaml', '')] = await unsealSealedSecret(text, privateKeys);
    }
    const platform = join(overlay, 'platform', 'secrets');
    const url = /^postgresql:\/\/([a-z_]+):([A-Za-z0-9_-]{32})@postgres\.staging\.example\.internal:5432\/([a-z_]+)\?sslmode=require$/;
    const parts = (value: string | undefined) => url.exec(value ?? '')?.slice(1) ?? [];
    const admin = parts(values['postgres-admin']!['database-url']);
    expect([admin[0], admin[2]]).toEqual(['postgres', 'dbos_app']);
    expect(values['postgres-admin']!.password).toBe(admin[1]);
    expect(parts(values['conductor-db']!['database-url'])).toEqual(['dbos_conductor_role', expect.any(String), 'dbos_conductor']);
    expect(parts(values['dbos-app-db']!['database-url'])).toEqual(['dbos_app_role', expect.any(String), 'dbos_app']);
    expect(parts(values['dbos-drain-reader']!['database-url'])).toEqual(['dbos_drain_reader', expect.any(String), 'dbos_app']);
    // KEDA's copy is the same URL, sealed strictly for keda/dbos-drain-reader-keda (the controller's label check).
    expect(values['dbos-drain-reader-keda']).toEqual(values['dbos-drain-reader']);
    const keda = parse(readFileSync(join(platform, 'dbos-drain-reader-keda.sealed.yaml'), 'utf8'));
    expect(keda.metadata).toEqual({ name: 'dbos-drain-reader-keda', namespace: 'keda' });
    expect(keda.spec.template.metadata).toEqual({ name: 'dbos-drain-reader-keda', namespace: 'keda' });
    const passwords = [
      admin[1],
      ...['conductor-db', 'dbos-app-db', 'dbos-drain-reader'].map((name) => parts(values[name]!['database-url'])[1]),
      values['dex-credentials']!['postgres-password'],
    ];
    expect(new Set(passwords).size).toBe(5);
    expect(values['dex-credentials']!['admin-password-hash']).toMatch(/^\$2[aby]\$12\$[./A-Za-z0-9]{53}$/);
    expect(bcrypt.getRounds(values['dex-credentials']!['admin-password-hash']!)).toBe(12);
    expect(values['conductor-license']).toEqual({ 'license-key': 'placeholder' });
    expect(values['conductor-api-key']).toEqual({ 'api-key': 'placeholder' });
    expect(values['gitops-bot']).toEqual({ 'github-token': 'placeholder' });
    const apiKey = parse(readFileSync(join(overlay, 'apps', 'dbos-app', 'secrets', 'conductor-api-key.sealed.yaml'), 'utf8'));
    expect(apiKey.metadata.annotations).toEqual({ 'dbos.dev/placeholder': 'true', 'dbos.dev/rotated-at': now.toISOString() });
    // Progress output holds paths and public fingerprints only.
    const printed = lines.join('\n');
    for (const secrets of Object.values(values)) for (const value of Object.values(secrets)) expect(printed).not.toContain(value);
    expect(printed).toMatch(/clusters\/staging\/sealed-secrets-cert.pem: key SHA256:/);
  });

  it("gives dev's second application, orders, its own role's URL and its own placeholder API key, beside it", async () => {
    const privateKeys: string[] = [];
    await bootstrapExampleEnvironment('dev', {
      root: scratch,
      generateKeyPair: async (options) => {
        const pair = await generateSealingKeyPair({ ...options, keyBits: 2048 });
        privateKeys.push(pair.privateKeyPem);
        return pair;
      },
    });
    expect(EXAMPLE_APPS.dev.map((app) => app.name)).toEqual(['dbos-app', 'orders']);
    const unseal = async (file: string) => unsealSealedSecret(readFileSync(join(scratch, 'overlays', 'dev', file), 'utf8'), privateKeys);
    const orders = (await unseal('apps/orders/secrets/orders-db.sealed.yaml'))['database-url']!;
    const dbosApp = (await unseal('apps/dbos-app/secrets/dbos-app-db.sealed.yaml'))['database-url']!;
    expect(orders).toMatch(/^postgresql:\/\/orders_role:[A-Za-z0-9_-]{32}@postgres\.dev\.example\.internal:5432\/dbos_app\?sslmode=require$/);
    expect(dbosApp).toMatch(/^postgresql:\/\/dbos_app_role:/);
    // Two roles, two passwords: one application's URL never opens the other's.
    expect(orders.split('@')[0]!.split(':')[2]).not.toBe(dbosApp.split('@')[0]!.split(':')[2]);
    expect(await unseal('apps/orders/secrets/orders-conductor-api-key.sealed.yaml')).toEqual({ 'api-key': 'placeholder' });
    expect(readdirSync(join(scratch, 'overlays', 'dev', 'platform', 'secrets')).some((file) => file.startsWith('orders'))).toBe(false);
  });
});

describe("KEDA's copy of the drain reader", () => {
  it("is the Secret base/keda-auth's ClusterTriggerAuthentication reads, in the namespace the clusters install KEDA into", () => {
    const auth = parse(readFileSync(join(repoRoot, 'base/keda-auth/cluster-trigger-authentication.yaml'), 'utf8'));
    expect(auth.kind).toBe('ClusterTriggerAuthentication');
    expect(auth.spec.secretTargetRef).toEqual([{ parameter: 'connection', name: KEDA_DRAIN_READER_SECRET, key: DRAIN_READER_KEY }]);
    for (const environment of EXAMPLE_ENVIRONMENTS) {
      const rendered = execFileSync('kubectl', ['kustomize', join(repoRoot, 'clusters', environment, 'argocd')], { maxBuffer: 64 << 20 }).toString();
      const keda = parseAllDocuments(rendered)
        .map((document) => document.toJS())
        .filter((object) => object?.kind === 'Application' && object.spec?.source?.chart === 'keda');
      expect(keda.map((object) => object.spec.destination.namespace)).toEqual([DEFAULT_KEDA_NAMESPACE]);
    }
  });
});

describe('the committed example environments', () => {
  for (const environment of EXAMPLE_ENVIRONMENTS) {
    describe(environment, () => {
      const certificatePem = readFileSync(join(repoRoot, 'clusters', environment, 'sealed-secrets-cert.pem'), 'utf8');

      it("has a public RSA-4096 certificate like the controller's, valid for years, and no private key", () => {
        const certificate = parseCertificate(certificatePem);
        expect(certificate.keyBits).toBe(4096);
        expect(certificate.subject).toBe('CN=sealed-secret');
        expect(certificate.notAfter.getTime() - Date.now()).toBeGreaterThan(5 * 365 * 24 * 3600 * 1000);
        expect(certificatePem).not.toMatch(/PRIVATE KEY/);
        const others = readdirSync(join(repoRoot, 'clusters', environment), { recursive: true }).map(String);
        for (const name of others.filter((file) => file.endsWith('.pem') || file.endsWith('.key'))) {
          expect(readFileSync(join(repoRoot, 'clusters', environment, name), 'utf8')).not.toMatch(/PRIVATE KEY/);
        }
      });

      it("has every SealedSecret, strict in namespace dbos, sealed for that certificate's key size", () => {
        const certificate = parseCertificate(certificatePem);
        for (const { name, file, keys } of expectedSecrets(environment)) {
          const text = readFileSync(join(repoRoot, 'overlays', environment, file), 'utf8');
          const document = parse(text);
          expect(document.apiVersion).toBe('bitnami.com/v1alpha1');
          expect(document.kind).toBe('SealedSecret');
          expect(document.metadata.name).toBe(name);
          expect(document.metadata.namespace).toBe(NAMESPACE_OF(name));
          expect(document.spec.template.metadata).toMatchObject({ name, namespace: NAMESPACE_OF(name) });
          const annotations = document.metadata.annotations ?? {};
          expect(annotations['sealedsecrets.bitnami.com/namespace-wide']).toBeUndefined();
          expect(annotations['sealedsecrets.bitnami.com/cluster-wide']).toBeUndefined();
          expect(annotations['dbos.dev/placeholder']).toBe(COMMITTED_PLACEHOLDERS.includes(name) ? 'true' : undefined);
          if (name.endsWith('conductor-api-key')) expect(Number.isNaN(Date.parse(annotations['dbos.dev/rotated-at']))).toBe(false);
          expect(Object.keys(document.spec.encryptedData).sort()).toEqual([...keys].sort());
          for (const value of Object.values(document.spec.encryptedData) as string[]) {
            const bytes = Buffer.from(value, 'base64');
            expect(bytes.toString('base64')).toBe(value);
            expect(bytes.readUInt16BE(0)).toBe(certificate.keyBits / 8);
            expect(bytes.length).toBeGreaterThan(2 + certificate.keyBits / 8 + 16);
          }
          if (COMMITTED_PLACEHOLDERS.includes(name)) {
            const only = Object.values(document.spec.encryptedData)[0] as string;
            expect(Buffer.from(only, 'base64').length).toBe(2 + 512 + 'placeholder'.length + 16);
          }
        }
      });

      it('renders with kustomize without renaming or moving a strict-scope SealedSecret', () => {
        const rendered = execFileSync('kubectl', ['kustomize', join(repoRoot, 'overlays', environment)], { maxBuffer: 64 << 20 }).toString();
        const sealed = parseAllDocuments(rendered)
          .map((document) => document.toJS())
          .filter((object) => object?.kind === 'SealedSecret');
        const expected = expectedSecrets(environment);
        expect(sealed.map((object) => object.metadata.name).sort()).toEqual(expected.map((secret) => secret.name).sort());
        for (const object of sealed) {
          expect(object.metadata.namespace).toBe(NAMESPACE_OF(object.metadata.name));
          const path = expected.find((secret) => secret.name === object.metadata.name)!.file;
          const file = parse(readFileSync(join(repoRoot, 'overlays', environment, path), 'utf8'));
          expect(object.spec.encryptedData).toEqual(file.spec.encryptedData);
        }
      });
    });
  }
});
