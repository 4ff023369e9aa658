/**
 * A small GitOps tree for the rotation tests (test-only; imported by *.test.ts): one environment with its sealing
 * certificate, the Conductor API key and two other SealedSecrets, and the overlay's rollout patch. The certificate and
 * private key are made at test time and never written anywhere but the temporary directory.
 */
import { parseCertificate, sealSecret, toYaml } from '@dbos-gitops/sealing';
import { makeTestCertificate, type TestCertificate } from '@dbos-gitops/sealing/testing';
import { createFixtureRepo, pushToNewBareRemote } from '@dbos-gitops/testkit';
import { configSchema, type BotConfig } from '../src/config/schema.ts';
import type { TreeReader } from '../src/repo/tree.ts';
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
  name: dbos-app
spec:
  template:
    metadata:
      annotations:
        dbos.dev/conductor-api-key-rotated-at: "2026-01-01T00:00:00.000Z"
`;

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
    'overlays/dev/secrets/conductor-api-key.sealed.yaml': seal(
      'conductor-api-key',
      { 'api-key': oldApiKey },
      options.apiKeyAnnotations ?? { 'dbos.dev/placeholder': 'true', 'dbos.dev/rotated-at': '2026-01-01T00:00:00.000Z' },
    ),
    'overlays/dev/secrets/conductor-license.sealed.yaml': seal('conductor-license', { 'license-key': 'placeholder' }, { 'dbos.dev/placeholder': 'true' }),
    'overlays/dev/secrets/dex-credentials.sealed.yaml': seal(
      'dex-credentials',
      { 'admin-password-hash': 'not-a-real-hash' },
      { 'dbos.dev/rotated-at': '2026-01-01T00:00:00.000Z' },
    ),
    'overlays/dev/secrets/conductor-db.sealed.yaml': seal('conductor-db', { 'database-url': 'x' }, {}),
  };
  if (options.rolloutPatch !== false) files['overlays/dev/app-rollout.patch.yaml'] = ROLLOUT_PATCH;
  // Plain files, no git: the task reads the tree from disk, and createBareRemote makes the git history when a test needs it.
  const repo = await createFixtureRepo(files, { git: false });
  return { root: repo.root, certificate, oldApiKey, write: repo.write, dispose: repo.dispose };
}

export function testConfig(extra: { kube?: boolean } = {}): BotConfig {
  return configSchema.parse({
    version: 1,
    environments: [{ name: 'dev', overlay: 'overlays/dev', ...(extra.kube ? { kube: { context: 'dev', namespace: 'dbos' } } : {}) }],
    forge: { type: 'local' },
    secretRotation: { secrets: [{ name: 'dex-credentials', file: 'secrets/dex-credentials.sealed.yaml', maxAge: '30d' }] },
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
}): Promise<RunResult> {
  const identity = { name: 'dbos-gitops-bot', email: 'bot@example.invalid' };
  const workspace = await GitWorkspace.clone(options.remote, 'main', identity);
  const log = (line: string): void => {
    options.output.push(line);
  };
  try {
    const client = new ConductorClient({ baseUrl: options.conductor.url, apiKey: options.conductor.adminKey, sleep: async () => {} });
    return await runPlans({
      config: testConfig(),
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
