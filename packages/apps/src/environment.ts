import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parse } from 'yaml';
import { appDir, appsListPath, CONFIG_PATH, parseConfig, type BotConfig, type EnvironmentConfig } from '@dbos-gitops/bot';
import type { RouteKind } from './app-files.ts';
import { AppsError, treeError } from './errors.ts';
import { itemName, topLevelList } from './yaml-lists.ts';

/** What `apps:add` and `apps:remove` read of one environment before they change anything. */
export interface EnvironmentLayout {
  name: string;
  overlay: string;
  /** `overlays/<env>/apps/kustomization.yaml`. */
  appsList: string;
  /** `overlays/<env>/images/kustomization.yaml`, the environment's image pins. */
  imagePins: string;
  /** `clusters/<env>/sealed-secrets-cert.pem`. */
  certificate: string;
  /** The applications that have a directory under `overlays/<env>/apps/`. */
  apps: string[];
}

export function readConfig(root: string): { text: string; config: BotConfig } {
  const path = join(root, CONFIG_PATH);
  if (!existsSync(path)) throw treeError(`${CONFIG_PATH} does not exist under ${root}`, 'run the command inside the repository, or pass --root DIR');
  const text = readFileSync(path, 'utf8');
  return { text, config: parseConfig(text) };
}

export function readEnvironment(root: string, config: BotConfig, env: string): EnvironmentLayout {
  const entry: EnvironmentConfig | undefined = config.environments.find((candidate) => candidate.name === env);
  if (!entry)
    throw treeError(
      `"${env}" is not an environment of ${CONFIG_PATH} (it has ${config.environments.map((candidate) => candidate.name).join(', ')})`,
      `pass one of those to --env, or add the environment to ${CONFIG_PATH} first`,
    );
  const overlay = entry.overlay.replace(/\/+$/, '');
  const appsList = appsListPath(overlay);
  if (!existsSync(join(root, overlay))) throw treeError(`${overlay} does not exist`, `create the environment's overlay first (see README "Structure")`);
  if (!existsSync(join(root, appsList)))
    throw treeError(`${appsList} does not exist`, `the environment lists its applications there (README "Applications"); create it first`);
  const appsDir = posix.dirname(appsList);
  const apps = readdirSync(join(root, appsDir), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return {
    name: env,
    overlay,
    appsList,
    imagePins: posix.join(overlay, 'images', 'kustomization.yaml'),
    certificate: posix.join('clusters', env, 'sealed-secrets-cert.pem'),
    apps,
  };
}

/** The environment's layout, or null when it has no overlay or application list (it runs no application then). */
export function readEnvironmentIfAny(root: string, config: BotConfig, env: string): EnvironmentLayout | null {
  try {
    return readEnvironment(root, config, env);
  } catch (error) {
    if (error instanceof AppsError) return null;
    throw error;
  }
}

export function appExists(root: string, layout: EnvironmentLayout, app: string): boolean {
  return existsSync(join(root, appDir(layout.overlay, app)));
}

/** Which per-application route the environment's platform uses: the component its platform lists. */
export function routeKind(root: string, layout: EnvironmentLayout): RouteKind {
  const file = posix.join(layout.overlay, 'platform', 'kustomization.yaml');
  const text = readOptional(root, file);
  const components = (text === null ? [] : (topLevelList(text, file, 'components')?.items ?? [])).map((item) => String(item.value));
  const ingress = components.some((component) => component.endsWith('/components/ingress-nginx'));
  const gateway = components.some((component) => component.endsWith('/components/gateway-api'));
  if (ingress === gateway)
    throw treeError(
      `${file} lists ${ingress ? 'both components/ingress-nginx and components/gateway-api' : 'neither components/ingress-nginx nor components/gateway-api'}, so the application's route kind is unknown`,
      'list exactly one of them in the platform kustomization',
    );
  return ingress ? 'ingress-nginx' : 'gateway';
}

/** The environment's single ingress host, from the platform's `hosts.patch.yaml` (`/spec/rules/0/host`); null if it has none. */
export function ingressHost(root: string, layout: EnvironmentLayout): string | null {
  const text = readOptional(root, posix.join(layout.overlay, 'platform', 'hosts.patch.yaml'));
  if (text === null) return null;
  const ops = parse(text) as unknown;
  if (!Array.isArray(ops)) return null;
  const op = ops.find((candidate) => (candidate as { path?: unknown })?.path === '/spec/rules/0/host') as { value?: unknown } | undefined;
  return typeof op?.value === 'string' ? op.value : null;
}

/** The image names the environment pins in `overlays/<env>/images/kustomization.yaml`. */
export function pinnedImages(root: string, layout: EnvironmentLayout): string[] {
  const text = readOptional(root, layout.imagePins);
  if (text === null) throw treeError(`${layout.imagePins} does not exist`, 'the environment\'s image pins live there (README "Structure")');
  return (topLevelList(text, layout.imagePins, 'images')?.items ?? []).map(itemName).filter((name): name is string => name !== undefined);
}

export function readOptional(root: string, path: string): string | null {
  const absolute = join(root, path);
  return existsSync(absolute) ? readFileSync(absolute, 'utf8') : null;
}
