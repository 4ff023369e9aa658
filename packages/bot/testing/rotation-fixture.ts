/**
 * A small GitOps tree for the rotation tests (test-only; imported by *.test.ts): one environment with its sealing
 * certificate, three platform SealedSecrets, and the application dbos-app (identity.yaml, its Conductor API key, its
 * rollout patch); optionally a second application, orders, with its own key and patch. The certificate and private
 * key are made at test time and never written anywhere but the temporary directory.
 */
import { parseCertificate, sealSecret, toYaml } from '@dbos-gitops/sealing';
import { makeTestCertificate, type TestCertificate } from '@dbos-gitops/sealing/testing';
import { createFixtureRepo, pushToNewBareRemote } from '@dbos-gitops/testkit';
import { configSchema, type BotConfig } from '../src/config/schema.ts';
import type { TreeReader } from '../src/repo/tree.ts';
import { defaultAppIdentity, renderAppIdentity } from '../src/repo/apps.ts';
import type { RegistrySource } from '../src/sources/registry/types.ts';
import type { TaskContext } from '../src/tasks/types.ts';
import { GitWorkspace } from '../src/git/workspace.ts';
import { runPlans, type RunResult } from '../src/runner.ts';
import { ConductorClient } from '@dbos-gitops/conductor';
import type { Forge } from '../src/sources/forge/types.ts';
import { createSecretRotationTask, type ConductorRotationSettings } from '../src/tasks/secret-rotation/index.ts';

export const ROLLOUT_PATCH = `# Rolls every app Deployment when the Conductor API key changes (the bot edits the stamp).
apiVersion: apps/v1
kind: Deployment
metadata:
  name: APP
spec:
  template:
    metadata:
      annotations:
        dbos.dev/conductor-api-key-rotated-at: "2026-01-01T00:00:00.000Z"
`;

/** Where the fixture's files are (the layout of overlays/<env>/apps/<app>/ and overlays/<env>/platform/). */
export const API_KEY_PATH = 'overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml';
export const ROLLOUT_PATCH_PATH = 'overlays/dev/apps/dbos-app/rollout.patch.yaml';
export const ORDERS_API_KEY_PATH = 'overlays/dev/apps/orders/secrets/orders-conductor-api-key.sealed.yaml';
export const ORDERS_ROLLOUT_PATCH_PATH = 'overlays/dev/apps/orders/rollout.patch.yaml';
export const PLATFORM_SECRETS = 'overlays/dev/platform/secrets';
/** dbos-app's name in Conductor (its `conductorAppName` in {@link testConfig}); orders keeps its own name. */
export const DBOS_APP_CONDUCTOR_NAME = 'shop-app';

/** An application's identity.yaml, as overlays/<env>/apps/<app>/identity.yaml holds it. */
export function identityYaml(app: string, secrets: { database: string; apiKey: string }): string {
  return renderAppIdentity({
    ...defaultAppIdentity(app),
    // Not `dbos_app_role` as in the repository: tests look for the plaintext key prefix `dbos_` on disk.
    role: `role_${app.replaceAll('-', '')}`,
    databaseSecret: secrets.database,
    conductorApiKeySecret: secrets.apiKey,
  });
}

/** Enough of an application directory for the bot's config check (the rotation reads only the files beside it). */
const APP_KUSTOMIZATION = ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'resources:', '  - identity.yaml', ''].join('\n');

export interface Fixture {
  root: string;
  certificate: TestCertificate;
  /** Values sealed into the fixture, for decrypt checks. */
  oldApiKey: string;
  write(path: string, text: string): Promise<void>;
  dispose(): Promise<void>;
}

export interface FixtureOptions {
  apiKeyAnnotations?: Record<string, string>;
  rolloutPatch?: boolean;
  certificate?: TestCertificate;
  /** Used as the API key value (e.g. a key seeded into the Conductor fake). */
  oldApiKey?: string;
  /** Adds the second application, orders, with its key file annotated like this (and its own rollout patch). */
  orders?: { apiKeyAnnotations: Record<string, string> };
}

let sharedCertificate: TestCertificate | null = null;
export function testCertificate(): TestCertificate {
  sharedCertificate ??= makeTestCertificate({ keyBits: 2048, days: 30 });
  return sharedCertificate;
}

export async function createFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const certificate = options.certificate ?? testCertificate();
  const sealing = parseCertificate(certificate.certificatePem, { allowInvalidDates: true });
  const oldApiKey = options.oldApiKey ?? `dbos_old-${Math.random().toString(36).slice(2)}`;
  const seal = (name: string, data: Record<string, string>, annotations: Record<string, string>): string =>
    toYaml(sealSecret({ certificate: sealing, name, namespace: 'dbos', data, annotations }));
  const files: Record<string, string> = {
    'clusters/dev/sealed-secrets-cert.pem': certificate.certificatePem,
    'overlays/dev/apps/dbos-app/kustomization.yaml': APP_KUSTOMIZATION,
    'overlays/dev/apps/dbos-app/identity.yaml': identityYaml('dbos-app', { database: 'dbos-app-db', apiKey: 'conductor-api-key' }),
    [API_KEY_PATH]: seal(
      'conductor-api-key',
      { 'api-key': oldApiKey },
      options.apiKeyAnnotations ?? { 'dbos.dev/placeholder': 'true', 'dbos.dev/rotated-at': '2026-01-01T00:00:00.000Z' },
    ),
    'overlays/dev/apps/dbos-app/secrets/dbos-app-db.sealed.yaml': seal('dbos-app-db', { 'database-url': 'x' }, {}),
    [`${PLATFORM_SECRETS}/conductor-license.sealed.yaml`]: seal('conductor-license', { 'license-key': 'placeholder' }, { 'dbos.dev/placeholder': 'true' }),
    [`${PLATFORM_SECRETS}/dex-credentials.sealed.yaml`]: seal(
      'dex-credentials',
      { 'admin-password-hash': 'not-a-real-hash' },
      { 'dbos.dev/rotated-at': '2026-01-01T00:00:00.000Z' },
    ),
    [`${PLATFORM_SECRETS}/conductor-db.sealed.yaml`]: seal('conductor-db', { 'database-url': 'x' }, {}),
  };
  if (options.rolloutPatch !== false) files[ROLLOUT_PATCH_PATH] = ROLLOUT_PATCH;
  if (options.orders) {
    files['overlays/dev/apps/orders/kustomization.yaml'] = APP_KUSTOMIZATION;
    files['overlays/dev/apps/orders/identity.yaml'] = identityYaml('orders', { database: 'orders-db', apiKey: 'orders-conductor-api-key' });
    files[ORDERS_API_KEY_PATH] = seal(
      'orders-conductor-api-key',
      { 'api-key': `dbos_orders-${Math.random().toString(36).slice(2)}` },
      options.orders.apiKeyAnnotations,
    );
    files['overlays/dev/apps/orders/secrets/orders-db.sealed.yaml'] = seal('orders-db', { 'database-url': 'x' }, {});
    files[ORDERS_ROLLOUT_PATCH_PATH] = ROLLOUT_PATCH;
  }
  // Plain files, no git: the task reads the tree from disk, and createBareRemote makes the git history when a test needs it.
  const repo = await createFixtureRepo(files, { git: false });
  return { root: repo.root, certificate, oldApiKey, write: repo.write, dispose: repo.dispose };
}

/** The fixture's config: dbos-app (Conductor name {@link DBOS_APP_CONDUCTOR_NAME}), and orders with `orders: true`. */
export function testConfig(extra: { kube?: boolean; orders?: boolean } = {}): BotConfig {
  return configSchema.parse({
    version: 1,
    environments: [{ name: 'dev', overlay: 'overlays/dev', ...(extra.kube ? { kube: { context: 'dev', namespace: 'dbos' } } : {}) }],
    forge: { type: 'local' },
    apps: [
      { name: 'dbos-app', repository: 'registry.example/dbos-app', conductorAppName: DBOS_APP_CONDUCTOR_NAME },
      ...(extra.orders ? [{ name: 'orders', repository: 'registry.example/orders' }] : []),
    ],
    secretRotation: { secrets: [{ name: 'dex-credentials', file: 'platform/secrets/dex-credentials.sealed.yaml', maxAge: '30d' }] },
  });
}

/** The rotation task never reads images; anything that does fails the test loudly. */
export const NO_REGISTRY: RegistrySource = new Proxy({} as RegistrySource, {
  get: () => () => {
    throw new Error('secret-rotation must not read the registry');
  },
});

export function contextFor(
  tree: TreeReader,
  config: BotConfig,
  now: Date,
  previous: TaskContext['previous'] = [],
  conductor: TaskContext['conductor'] = null,
): TaskContext {
  return { config, tree, registry: NO_REGISTRY, kube: null, conductor, drain: null, previous, now, envFilter: null, log: () => {} };
}

/** A bare git remote holding the fixture as `main`, for tests that go through the runner's git workspace. */
export function createBareRemote(fixtureRoot: string, remoteDir: string): void {
  pushToNewBareRemote(fixtureRoot, remoteDir);
}

/**
 * One run of the secret-rotation task through the real runner, as `pnpm bot run` does it: clone the bare remote,
 * plan against its main, and apply with the plan's effects going to the given Conductor.
 */
export async function runRotation(options: {
  remote: string;
  conductor: { url: string; adminKey: string };
  settings: ConductorRotationSettings;
  forgeFor: (workspace: GitWorkspace) => Forge;
  output: string[];
  now?: Date;
  dryRun?: boolean;
  /** The fixture has orders too (see {@link FixtureOptions.orders}). */
  orders?: boolean;
}): Promise<RunResult> {
  const identity = { name: 'dbos-gitops-bot', email: 'bot@example.invalid' };
  const workspace = await GitWorkspace.clone(options.remote, 'main', identity);
  const log = (line: string): void => {
    options.output.push(line);
  };
  try {
    const client = new ConductorClient({ baseUrl: options.conductor.url, apiKey: options.conductor.adminKey, sleep: async () => {} });
    return await runPlans({
      config: testConfig({ orders: options.orders ?? false }),
      tasks: [createSecretRotationTask({ conductor: options.settings, keyList: () => client.listTokens(options.settings.org) })],
      workspace,
      forge: options.forgeFor(workspace),
      registry: NO_REGISTRY,
      kube: null,
      conductor: () => client,
      envFilter: null,
      dryRun: options.dryRun ?? false,
      now: options.now ?? new Date(),
      log,
      print: log,
      identity,
    });
  } finally {
    await workspace.dispose();
  }
}
