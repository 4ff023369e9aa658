/**
 * `pnpm apps:remove`: takes one application out of one environment, only once every one of its versions there has
 * drained. Like version retirement it fails closed: the counts come from the DBOS system database through the drain
 * reader, and anything it cannot read means "not drained" (exit 10), never zero.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import {
  appDir,
  appVersionsDir,
  envVarSuffix,
  fsTree,
  readAppIdentity,
  readPatchVersion,
  removeListEntry,
  CONFIG_PATH,
  type AppIdentity,
} from '@dbos-gitops/bot';
import type { CommandSpec, FlagValues } from '@dbos-gitops/cli-kit';
import { readDrainStatus, type DatabaseVersionDrain } from '@dbos-gitops/drain';
import { applyChangeset, emptyChangeset } from '../changeset.ts';
import { planClusterRemoval } from '../cluster-files.ts';
import { removeAppEnvironment, removeImageEntry, removeImageEnvironment } from '../config-edit.ts';
import { appExists, readConfig, readEnvironment, readEnvironmentIfAny, readOptional, type EnvironmentLayout } from '../environment.ts';
import { notDrainedError, treeError, usageError } from '../errors.ts';
import { itemName, removeItem, topLevelList } from '../yaml-lists.ts';
import type { AppsIo } from '../cli/index.ts';

const DRAIN_URL_ENV = 'DBOS_DRAIN_DATABASE_URL';

export const spec = {
  usage: 'pnpm apps:remove --name APP --env ENV [--root DIR] [--json]',
  summary:
    'Removes a DBOS application from one environment, all or nothing: overlays/ENV/apps/APP/, its line in ' +
    'overlays/ENV/apps/kustomization.yaml, its migration image pin when no other application of ENV runs it, its files ' +
    'and lines under clusters/ENV/, and, when no environment keeps it, its apps: and images: entries in ' +
    '.github/gitops-bot.yaml (otherwise ENV leaves its environments: list). Refuses while any version of APP has ' +
    'in-flight (PENDING, ENQUEUED, DELAYED) or dead-lettered workflows, read from the DBOS system database with the ' +
    `drain reader: the URL comes from ${DRAIN_URL_ENV}_<ENV> (e.g. ${DRAIN_URL_ENV}_DEV), else ${DRAIN_URL_ENV}, the ` +
    "variables of pnpm bot drain-status (the application's drain.databaseUrlEnv replaces the name when its config sets one). " +
    'Merge the change as one pull request.',
  flags: {
    name: { type: 'string', valueName: 'APP', description: 'the application (its directory under overlays/ENV/apps/; required)' },
    env: { type: 'string', valueName: 'ENV', description: 'the environment to remove it from (required)' },
    root: { type: 'string', valueName: 'DIR', description: 'the repository (default: the git work tree around the current directory)' },
    json: { type: 'boolean', description: 'print what was removed and the drain counts as one JSON object instead of lines' },
  },
  notes: [
    'exit codes: 0 removed, 2 the application is not in that environment, 7 a YAML file it must edit has an unexpected shape, 10 not drained or the drain signal is unknown (database unreachable, no URL, missing schema): nothing removed, 64 usage, 130/143 interrupted.',
  ],
} satisfies CommandSpec;

type Values = FlagValues<typeof spec.flags>;

/** The DBOS__APPVERSION of every version directory of the application in the environment. */
function liveVersions(root: string, layout: EnvironmentLayout, app: string): string[] {
  const dir = appVersionsDir(layout.overlay, app);
  if (!existsSync(join(root, dir))) return [];
  const versions: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const patchFile = posix.join(dir, entry.name, 'version.patch.yaml');
    const patch = readOptional(root, patchFile);
    if (patch !== null) versions.push(readPatchVersion(patch, patchFile));
  }
  return versions.sort();
}

function filesUnder(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = posix.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(root, path));
    else out.push(path);
  }
  return out.sort();
}

async function identitiesOf(root: string, layout: EnvironmentLayout, except: string): Promise<AppIdentity[]> {
  const out: AppIdentity[] = [];
  for (const app of layout.apps.filter((candidate) => candidate !== except)) {
    const identity = await readAppIdentity(fsTree(root), layout.overlay, app);
    if (identity) out.push(identity);
  }
  return out;
}

export interface RemoveResult {
  app: string;
  environment: string;
  drain: Array<Pick<DatabaseVersionDrain, 'version' | 'inFlight' | 'deadLettered'>>;
  removed: string[];
  changed: string[];
  configEntries: 'removed' | 'kept';
}

export async function run(values: Values, io: AppsIo): Promise<number> {
  const app = values.name;
  const env = values.env;
  if (!app) throw usageError('--name is required');
  // Checked before it becomes part of a path: the directory under it is deleted.
  if (!/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/.test(app))
    throw usageError('--name must be an application name: a DNS label of lowercase letters, digits and "-"');
  if (!env) throw usageError('--env is required');
  const root = io.root(values.root);
  const { text: configText, config } = readConfig(root);
  const layout = readEnvironment(root, config, env);
  if (!appExists(root, layout, app))
    throw treeError(
      `${appDir(layout.overlay, app)} does not exist, so there is nothing to remove`,
      `check --name and --env (${env} runs ${layout.apps.join(', ') || 'no application'})`,
    );
  const identity = await readAppIdentity(fsTree(root), layout.overlay, app);
  if (!identity) throw treeError(`${appDir(layout.overlay, app)} has no identity.yaml`, 'restore it: it names the application its workflows carry');
  const appConfig = config.apps.find((candidate) => candidate.name === app);

  // The drain signal first: nothing is planned for an application that may still own work.
  const base = appConfig?.drain.databaseUrlEnv ?? DRAIN_URL_ENV;
  const variable = [`${base}_${envVarSuffix(env)}`, base].find((name) => (io.env[name] ?? '') !== '');
  if (!variable)
    throw notDrainedError(
      `cannot tell whether ${app} has drained in ${env}: neither ${base}_${envVarSuffix(env)} nor ${base} is set; nothing was removed`,
      `set ${base}_${envVarSuffix(env)} to the drain reader's URL of ${env}'s DBOS system database (as for pnpm bot drain-status)`,
    );
  const versions = liveVersions(root, layout, app);
  const status = await readDrainStatus({ databaseUrl: io.env[variable]!, appName: identity.name, versions, signal: io.signal });
  const drain = status.versions.map(({ version, inFlight, deadLettered }) => ({ version, inFlight, deadLettered }));
  const busy = drain.filter((version) => version.inFlight > 0 || version.deadLettered > 0);
  if (busy.length > 0)
    throw notDrainedError(
      `${app} has not drained in ${env}: ${busy.map((version) => `version ${version.version} has ${version.inFlight} in-flight and ${version.deadLettered} dead-lettered workflow(s)`).join('; ')}; nothing was removed`,
      `wait until they finish (pnpm bot drain-status --app-name ${identity.name}); resume or fork dead-lettered workflows first, then run this again`,
    );

  const changes = emptyChangeset();
  const dir = appDir(layout.overlay, app);
  for (const path of filesUnder(root, dir)) changes.deletes.add(path);
  changes.writes.set(layout.appsList, removeListEntry(readOptional(root, layout.appsList)!, layout.appsList, app));
  const others = await identitiesOf(root, layout, app);
  if (!others.some((other) => other.migrateImage === identity.migrateImage)) {
    const pins = readOptional(root, layout.imagePins);
    const pin = pins === null ? undefined : topLevelList(pins, layout.imagePins, 'images')?.items.find((item) => itemName(item) === identity.migrateImage);
    if (pins !== null && pin) changes.writes.set(layout.imagePins, removeItem(pins, pin));
  }
  const clusters = planClusterRemoval(root, env, app);
  for (const path of clusters.deletes) changes.deletes.add(path);
  for (const [path, content] of clusters.writes) changes.writes.set(path, content);

  const remaining = config.environments
    .map((candidate) => candidate.name)
    .filter((name) => {
      const other = name === env ? null : readEnvironmentIfAny(root, config, name);
      return other !== null && appExists(root, other, app);
    });
  let nextConfig = removeAppEnvironment(configText, app, remaining);
  if (remaining.length === 0 && !(await migrateImageUsedElsewhere(root, config, app, identity.migrateImage)))
    nextConfig = removeImageEntry(nextConfig, identity.migrateImage);
  else if (remaining.length > 0) nextConfig = removeImageEnvironment(nextConfig, identity.migrateImage, remaining);
  if (nextConfig !== configText) changes.writes.set(CONFIG_PATH, nextConfig);

  await applyChangeset(root, changes, io.signal);
  const result: RemoveResult = {
    app,
    environment: env,
    drain,
    removed: [...changes.deletes].sort(),
    changed: [...changes.writes.keys()].sort(),
    configEntries: remaining.length === 0 ? 'removed' : 'kept',
  };
  if (values.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else {
    io.stdout(
      `${app} has drained in ${env} (${drain.map((version) => `${version.version}: 0 in flight, 0 dead-lettered`).join('; ') || 'no versions'}); removed:\n`,
    );
    for (const path of result.removed) io.stdout(`  deleted  ${path}\n`);
    for (const path of result.changed) io.stdout(`  changed  ${path}\n`);
    io.stdout(
      remaining.length === 0
        ? `no environment keeps ${app}: its apps: entry is gone from ${CONFIG_PATH}\n`
        : `${app} stays in ${remaining.join(', ')}: ${CONFIG_PATH} lists only those\n`,
    );
    io.stdout('next: commit this as one change and merge it as one pull request, so the cluster drops every object of the application at once\n');
  }
  return 0;
}

/** Whether an application other than `app`, in any environment, runs the migration image `image`. */
async function migrateImageUsedElsewhere(root: string, config: Parameters<typeof readEnvironment>[1], app: string, image: string): Promise<boolean> {
  for (const env of config.environments) {
    const layout = readEnvironmentIfAny(root, config, env.name);
    if (layout && (await identitiesOf(root, layout, app)).some((identity) => identity.migrateImage === image)) return true;
  }
  return false;
}
