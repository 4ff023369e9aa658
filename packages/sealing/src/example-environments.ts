/**
 * The example environments (dev, staging, prod): for each, a fresh RSA-4096 sealing key pair whose certificate
 * is committed to clusters/<env>/sealed-secrets-cert.pem and whose private key is dropped, then every Secret the
 * manifests need, sealed (strict scope, namespace dbos; KEDA's copy of the drain reader's URL in namespace keda):
 * the platform's into overlays/<env>/platform/secrets/, each example application's (its database URL for its own
 * restricted role, its Conductor API key) into overlays/<env>/apps/<app>/secrets/ under the names its identity.yaml
 * gives them. dev runs dbos-app and orders; staging and prod run dbos-app.
 *
 * Values are random and thrown away after sealing: no one holds these controllers' keys, so an operator re-seals
 * real values with the environment's real certificate. Values that cannot be invented (license key, API key,
 * GitHub token) follow the DBOS guides' convention, the literal "placeholder", and their SealedSecrets say so with
 * `dbos.dev/placeholder: "true"`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import bcrypt from 'bcryptjs';
import { parseCertificate, type SealingCertificate } from './certificate.ts';
import { sealSecret, toYaml } from './document.ts';
import { drainReaderSecrets } from './drain-reader-secrets.ts';
import { generateSealingKeyPair, type GenerateSealingKeyPairOptions, type SealingKeyPair } from './key-pair.ts';

export const EXAMPLE_ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;
export type ExampleEnvironment = (typeof EXAMPLE_ENVIRONMENTS)[number];

export const EXAMPLE_NAMESPACE = 'dbos';
const NAMESPACE = EXAMPLE_NAMESPACE;
import { PLACEHOLDER_ANNOTATION, ROTATED_AT_ANNOTATION } from './names.ts';

export { PLACEHOLDER_ANNOTATION, ROTATED_AT_ANNOTATION };
// Above bcrypt's default cost of 10: the hash is slow to brute-force even if it leaks from the Secret.
const DEX_BCRYPT_COST = 12;

/** 32 URL-safe characters (192 bits): strong, and needs no escaping inside a database URL. */
function randomPassword(): string {
  return randomBytes(24).toString('base64url');
}

function databaseUrl(environment: ExampleEnvironment, role: string, password: string, database: string): string {
  return `postgresql://${role}:${password}@postgres.${environment}.example.internal:5432/${database}?sslmode=require`;
}

/** The example applications per environment, with the names of their two Secrets (as in their identity.yaml). */
export const EXAMPLE_APPS: Record<ExampleEnvironment, ReadonlyArray<{ name: string; role: string; databaseSecret: string; conductorApiKeySecret: string }>> = {
  dev: [
    { name: 'dbos-app', role: 'dbos_app_role', databaseSecret: 'dbos-app-db', conductorApiKeySecret: 'conductor-api-key' },
    { name: 'orders', role: 'orders_role', databaseSecret: 'orders-db', conductorApiKeySecret: 'orders-conductor-api-key' },
  ],
  staging: [{ name: 'dbos-app', role: 'dbos_app_role', databaseSecret: 'dbos-app-db', conductorApiKeySecret: 'conductor-api-key' }],
  prod: [{ name: 'dbos-app', role: 'dbos_app_role', databaseSecret: 'dbos-app-db', conductorApiKeySecret: 'conductor-api-key' }],
};

export interface SecretPlan {
  name: string;
  /** The application it belongs to (sealed into overlays/<env>/apps/<app>/secrets); absent: a platform secret. */
  app?: string;
  /** Default: the example namespace, dbos. */
  namespace?: string;
  data: Record<string, string>;
  annotations?: Record<string, string>;
}

export function planExampleSecrets(environment: ExampleEnvironment, now: Date): SecretPlan[] {
  const adminPassword = randomPassword();
  const conductorPassword = randomPassword();
  const drainReaderPassword = randomPassword();
  const dex: Record<string, string> = { 'admin-password-hash': bcrypt.hashSync(randomPassword(), DEX_BCRYPT_COST) };
  // Only staging and prod keep Dex state in PostgreSQL (the dex-postgres-storage component).
  if (environment !== 'dev') dex['postgres-password'] = randomPassword();
  const placeholder = { [PLACEHOLDER_ANNOTATION]: 'true' };
  return [
    {
      name: 'postgres-admin',
      data: { password: adminPassword, 'database-url': databaseUrl(environment, 'postgres', adminPassword, 'dbos_app') },
    },
    { name: 'conductor-db', data: { 'database-url': databaseUrl(environment, 'dbos_conductor_role', conductorPassword, 'dbos_conductor') } },
    { name: 'conductor-license', data: { 'license-key': 'placeholder' }, annotations: placeholder },
    // Each application: its own restricted role's URL (every app shares the one DBOS system database) and its own key.
    ...EXAMPLE_APPS[environment].flatMap((app): SecretPlan[] => [
      { name: app.databaseSecret, app: app.name, data: { 'database-url': databaseUrl(environment, app.role, randomPassword(), 'dbos_app') } },
      {
        name: app.conductorApiKeySecret,
        app: app.name,
        data: { 'api-key': 'placeholder' },
        annotations: { ...placeholder, [ROTATED_AT_ANNOTATION]: now.toISOString() },
      },
    ]),
    { name: 'dex-credentials', data: dex },
    // Two files, one URL: the bot's copy and KEDA's (each strict-scoped to its own namespace/name).
    ...drainReaderSecrets(databaseUrl(environment, 'dbos_drain_reader', drainReaderPassword, 'dbos_app'), { namespace: NAMESPACE }),
    { name: 'gitops-bot', data: { 'github-token': 'placeholder' }, annotations: placeholder },
  ];
}

export interface BootstrapOptions {
  /** Repository root the certificate and SealedSecrets are written under. */
  root: string;
  now?: Date;
  /** Where progress lines (paths and public fingerprints only) go. */
  log?: (line: string) => void;
  /** Key pair source; tests pass one that keeps the private key so they can unseal what was written. */
  generateKeyPair?: (options: GenerateSealingKeyPairOptions) => Promise<SealingKeyPair>;
}

/**
 * Writes clusters/<env>/sealed-secrets-cert.pem, overlays/<env>/platform/secrets/<name>.sealed.yaml and
 * overlays/<env>/apps/<app>/secrets/<name>.sealed.yaml for a fresh RSA-4096 key pair. The private key is dropped inside this function: only the certificate leaves it.
 */
export async function bootstrapExampleEnvironment(environment: ExampleEnvironment, options: BootstrapOptions): Promise<void> {
  const log = options.log ?? (() => {});
  const now = options.now ?? new Date();
  const pair = await (options.generateKeyPair ?? generateSealingKeyPair)({ keyBits: 4096, validDays: 3650 });
  const certificate: SealingCertificate = parseCertificate(pair.certificatePem);
  const certificatePath = join(options.root, 'clusters', environment, 'sealed-secrets-cert.pem');
  await mkdir(dirname(certificatePath), { recursive: true });
  await writeFile(certificatePath, certificate.pem);
  log(`${relative(options.root, certificatePath)}: key ${certificate.keyFingerprint}, valid until ${certificate.notAfter.toISOString()}`);
  for (const plan of planExampleSecrets(environment, now)) {
    const secretsDirectory =
      plan.app === undefined
        ? join(options.root, 'overlays', environment, 'platform', 'secrets')
        : join(options.root, 'overlays', environment, 'apps', plan.app, 'secrets');
    await mkdir(secretsDirectory, { recursive: true });
    const document = sealSecret({
      certificate,
      name: plan.name,
      namespace: plan.namespace ?? NAMESPACE,
      scope: 'strict',
      data: plan.data,
      annotations: plan.annotations,
    });
    const path = join(secretsDirectory, `${plan.name}.sealed.yaml`);
    await writeFile(path, toYaml(document));
    log(`  ${relative(options.root, path)}: ${Object.keys(plan.data).join(', ')}`);
  }
}
