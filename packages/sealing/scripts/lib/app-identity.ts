/**
 * What the sealing scripts need from an application's `overlays/<env>/apps/<app>/identity.yaml` (the ConfigMap
 * components/app-identity fills the templates from): the names of its two Secrets. The bot reads the same file
 * (packages/bot/src/repo/apps.ts); the scripts cannot import the bot, so this reads only the keys they use.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseDocument } from 'yaml';
import { ApplicationError, UsageError } from '../../src/errors.ts';

/** An application name as the bot config accepts it (a DNS label, at most 40 characters). */
const APP_NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;
const SECRET_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface AppSecretNames {
  app: string;
  /** The executors' database URL (the app's restricted role). */
  databaseSecret: string;
  /** The executors' Conductor API key, scoped to this application. */
  conductorApiKeySecret: string;
}

export function validateAppName(app: string): string {
  if (!APP_NAME.test(app)) throw new UsageError('--app is not an application name: lower-case letters, digits and "-", at most 40 characters');
  return app;
}

export function identityPath(root: string, env: string, app: string): string {
  return join(root, 'overlays', env, 'apps', app, 'identity.yaml');
}

/** The application's secret names; an application the environment does not have is refused (exit 2) naming the file. */
export async function readAppSecretNames(root: string, env: string, app: string): Promise<AppSecretNames> {
  const path = identityPath(root, env, validateAppName(app));
  const shown = relative(root, path);
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR')
      throw new ApplicationError(
        `the environment ${env} has no application ${app}: ${shown} does not exist`,
        `check the name against overlays/${env}/apps/, or scaffold the application first (\`pnpm apps:add\`)`,
      );
    throw new ApplicationError(`cannot read ${shown}: ${error.code ?? error.message}`, 'check the file and run again');
  });
  const document = parseDocument(text, { uniqueKeys: true });
  const data = (document.errors.length === 0 ? (document.toJS() as { data?: Record<string, unknown> } | null)?.data : undefined) ?? {};
  const read = (key: string): string => {
    const value = data[key];
    if (typeof value !== 'string' || !SECRET_NAME.test(value))
      throw new ApplicationError(`${shown} has no valid data.${key} (a Secret name)`, 'fix the identity (see overlays/dev/apps/dbos-app/identity.yaml)');
    return value;
  };
  return { app, databaseSecret: read('database-secret'), conductorApiKeySecret: read('conductor-api-key-secret') };
}

/** Every application of the environment that has a readable identity (to tell a platform name from an app's). */
export async function appsOfEnvironment(root: string, env: string): Promise<AppSecretNames[]> {
  const directory = join(root, 'overlays', env, 'apps');
  const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
  const apps: AppSecretNames[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !APP_NAME.test(entry.name)) continue;
    const names = await readAppSecretNames(root, env, entry.name).catch(() => null);
    if (names) apps.push(names);
  }
  return apps;
}
