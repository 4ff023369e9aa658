import { posix } from 'node:path';
import { parseDocument } from 'yaml';
import type { AppConfig, BotConfig, EnvironmentConfig } from '../config/schema.ts';
import { YamlEditError } from '../errors.ts';
import type { TreeReader } from './tree.ts';

/**
 * Where an environment's applications live (README "Applications"): `<overlay>/platform/` is the shared control plane,
 * `<overlay>/apps/<app>/` one application, filled from the templates by its `identity.yaml`. Every reader and writer of
 * an application's files locates them here.
 */

function trimmed(overlay: string): string {
  return overlay.replace(/\/+$/, '');
}

export function platformDir(overlay: string): string {
  return posix.join(trimmed(overlay), 'platform');
}

/** A platform Secret's sealed file, e.g. `overlays/dev/platform/secrets/dbos-drain-reader.sealed.yaml`. */
export function platformSecretPath(overlay: string, secretName: string): string {
  return posix.join(platformDir(overlay), 'secrets', `${secretName}.sealed.yaml`);
}

/** `overlays/<env>/apps/kustomization.yaml`, the list of the environment's applications. */
export function appsListPath(overlay: string): string {
  return posix.join(trimmed(overlay), 'apps', 'kustomization.yaml');
}

export function appDir(overlay: string, app: string): string {
  return posix.join(trimmed(overlay), 'apps', app);
}

/** `overlays/<env>/apps/<app>/versions`: the list of live versions, the app's Service and one directory per version. */
export function appVersionsDir(overlay: string, app: string): string {
  return posix.join(appDir(overlay, app), 'versions');
}

export function appIdentityPath(overlay: string, app: string): string {
  return posix.join(appDir(overlay, app), 'identity.yaml');
}

/** An application's sealed Secret, e.g. `overlays/dev/apps/orders/secrets/orders-conductor-api-key.sealed.yaml`. */
export function appSecretPath(overlay: string, app: string, secretName: string): string {
  return posix.join(appDir(overlay, app), 'secrets', `${secretName}.sealed.yaml`);
}

/** The patch whose `dbos.dev/conductor-api-key-rotated-at` annotation rolls the application's executors. */
export function appRolloutPatchPath(overlay: string, app: string): string {
  return posix.join(appDir(overlay, app), 'rollout.patch.yaml');
}

/** The applications of `config` that run in `env` (an app without `environments:` runs in every environment). */
export function appsInEnvironment(config: Pick<BotConfig, 'apps'>, env: Pick<EnvironmentConfig, 'name'>): AppConfig[] {
  return config.apps.filter((app) => !app.environments || app.environments.includes(env.name));
}

/** The application name Conductor knows, for its API keys' appNames. */
export function conductorAppName(app: AppConfig): string {
  return app.conductorAppName ?? app.name;
}

/** What `identity.yaml` says an application is called in the cluster (components/app-identity fills the templates from it). */
export interface AppIdentity {
  file: string;
  /** DBOS application name, executors' Service and label `app`. */
  name: string;
  /** Migration Job's service account and label; the Job is `<migrate>-schema`. */
  migrate: string;
  migrateImage: string;
  role: string;
  databaseSecret: string;
  conductorApiKeySecret: string;
  metricsUrl: string;
}

const IDENTITY_KEYS = {
  name: 'name',
  migrate: 'migrate',
  migrateImage: 'migrate-image',
  role: 'role',
  databaseSecret: 'database-secret',
  conductorApiKeySecret: 'conductor-api-key-secret',
  metricsUrl: 'metrics-url',
} as const;

/** What an application is called when only its name is chosen (`pnpm apps:add`; dev's orders). */
export function defaultAppIdentity(app: string, migrateImage = `${app}-migrate`): Omit<AppIdentity, 'file'> {
  return {
    name: app,
    migrate: `${app}-migrate`,
    migrateImage,
    role: `${app.replaceAll('-', '_')}_role`,
    databaseSecret: `${app}-db`,
    conductorApiKeySecret: `${app}-conductor-api-key`,
    metricsUrl: `http://${app}.dbos.svc.cluster.local:8080/metrics/taskQueue`,
  };
}

/** `identity.yaml` holding `identity`, as readAppIdentity reads it back. */
export function renderAppIdentity(identity: Omit<AppIdentity, 'file'>): string {
  return [
    "# Who this application is. components/app-identity fills the templates' placeholders from these values; the",
    '# ConfigMap itself is never applied (local-config).',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: app-identity',
    '  annotations:',
    '    config.kubernetes.io/local-config: "true"',
    'data:',
    "  # The DBOS application name (its workflows' application_name), its executors' Service and label app.",
    `  name: ${identity.name}`,
    "  # The migration Job's service account and label (the Job is <migrate>-schema).",
    `  migrate: ${identity.migrate}`,
    '  # kustomize image name of the migration image, pinned in overlays/<env>/images.',
    `  migrate-image: ${identity.migrateImage}`,
    "  # The restricted role `dbos migrate --app-role` grants; the executors' database URL logs in as it.",
    `  role: ${identity.role}`,
    "  # Sealed in secrets/: the executors' database URL (restricted role) and their Conductor API key.",
    `  database-secret: ${identity.databaseSecret}`,
    `  conductor-api-key-secret: ${identity.conductorApiKeySecret}`,
    "  # Where KEDA polls the latest version's queue length (the Service above, from KEDA's namespace).",
    `  metrics-url: ${identity.metricsUrl}`,
    '',
  ].join('\n');
}

/** Kubernetes object names and label values the identity feeds (everything but the role and the URL). */
const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Reads and checks an application's identity. Null when the file does not exist; a malformed one is an error, because
 * every name the bot writes or looks up for the application (its Service, secrets, Conductor app) comes from it.
 */
export async function readAppIdentity(tree: TreeReader, overlay: string, app: string): Promise<AppIdentity | null> {
  const file = appIdentityPath(overlay, app);
  const text = await tree.read(file);
  if (text === null) return null;
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) throw new YamlEditError(file, `is not valid YAML (${document.errors[0]!.message.split('\n')[0]})`);
  const root = document.toJS() as { kind?: unknown; metadata?: { name?: unknown }; data?: Record<string, unknown> } | null;
  if (root?.kind !== 'ConfigMap' || root.metadata?.name !== 'app-identity' || typeof root.data !== 'object' || root.data === null) {
    throw new YamlEditError(file, 'is not the ConfigMap app-identity with a data: map (see overlays/dev/apps/dbos-app/identity.yaml)');
  }
  const data = root.data;
  const read = (key: string): string => {
    const value = data[key];
    if (typeof value !== 'string' || value.length === 0) throw new YamlEditError(file, `data.${key} must be a non-empty string`);
    return value;
  };
  const identity: AppIdentity = {
    file,
    name: read(IDENTITY_KEYS.name),
    migrate: read(IDENTITY_KEYS.migrate),
    migrateImage: read(IDENTITY_KEYS.migrateImage),
    role: read(IDENTITY_KEYS.role),
    databaseSecret: read(IDENTITY_KEYS.databaseSecret),
    conductorApiKeySecret: read(IDENTITY_KEYS.conductorApiKeySecret),
    metricsUrl: read(IDENTITY_KEYS.metricsUrl),
  };
  for (const key of ['name', 'migrate', 'databaseSecret', 'conductorApiKeySecret'] as const) {
    if (!DNS_NAME.test(identity[key]))
      throw new YamlEditError(file, `data.${IDENTITY_KEYS[key]} "${identity[key]}" is not a Kubernetes name (lowercase letters, digits, "-")`);
  }
  if (!ROLE.test(identity.role)) throw new YamlEditError(file, `data.role "${identity.role}" is not a PostgreSQL role name (lowercase letters, digits, "_")`);
  if (identity.name !== app) throw new YamlEditError(file, `data.name is "${identity.name}" but the directory is apps/${app}; they must be the same`);
  return identity;
}
