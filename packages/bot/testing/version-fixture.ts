/**
 * Test-only: a small GitOps repository with the REAL base/app-version template and app-latest component (read from
 * this checkout), version directories written by the bot's own template under overlays/<env>/apps/<app>/versions (each application
 * filled by the real components/app-identity), and a bot config with apps:.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TreeReader } from '../src/repo/tree.ts';
import { emptyStats, type RegistrySource, type RegistryStats } from '../src/sources/registry/types.ts';
import { renderVersionKustomization, renderVersionPatch } from '../src/tasks/shared/app-version-files.ts';
import { defaultAppIdentity, renderAppIdentity } from '../src/repo/apps.ts';
import type { PullRequestRecord } from '../src/sources/forge/types.ts';
import type { PreviousProposal } from '../src/tasks/types.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const exec = promisify(execFile);

export interface FixtureVersion {
  version: string;
  slug?: string;
  digest: string;
  latest?: boolean;
  hold?: boolean;
}

/** One application of the fixture: its directory in each environment it runs in, and its apps: entry. */
export interface FixtureApp {
  name: string;
  repository: string;
  /** Per environment, the live versions (the one marked latest gets app-latest and the Service). */
  versions: Record<string, FixtureVersion[]>;
  /** apps[].environments; absent: every environment (and a directory in each). */
  environments?: string[];
  quietPeriod?: string;
  maxLive?: number;
}

export interface VersionFixtureOptions {
  environments: string[];
  /** The single application's versions per environment (with repository and appName); ignored when `apps` is set. */
  versions?: Record<string, FixtureVersion[]>;
  repository?: string;
  appName?: string;
  /** Several applications; the first option set above describes one application named appName (default dbos-app). */
  apps?: FixtureApp[];
  quietPeriod?: string;
  maxLive?: number;
  minReleaseAge?: string;
  registryHosts?: string[];
}

async function copyTree(dir: string, into: Record<string, string>): Promise<void> {
  for (const entry of await readdir(join(REPO_ROOT, dir), { withFileTypes: true })) {
    const path = posix.join(dir, entry.name);
    if (entry.isDirectory()) await copyTree(path, into);
    else into[path] = await readFile(join(REPO_ROOT, path), 'utf8');
  }
}

export function slugOf(version: FixtureVersion): string {
  return version.slug ?? version.version.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
}

/** `overlays/<env>/apps/<app>/versions`, where the version tasks read and write. */
export function versionsDirOf(env: string, app = 'dbos-app'): string {
  return `overlays/${env}/apps/${app}/versions`;
}

export function serviceYaml(slug: string, app = 'dbos-app'): string {
  return `# New requests go to the latest version only.\napiVersion: v1\nkind: Service\nmetadata:\n  name: ${app}\n  namespace: dbos\n  labels:\n    dbos.dev/stage: routing\nspec:\n  selector:\n    app: ${app}\n    dbos.dev/app-version: ${slug}\n  ports:\n    - name: http\n      port: 8080\n      targetPort: 8080\n`;
}

export function listYaml(slugs: string[]): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n# The live application versions of this environment, one line each.\nresources:\n  - service.yaml\n${slugs.map((slug) => `  - ${slug}\n`).join('')}`;
}

/** An application's identity.yaml (what components/app-identity fills the templates with). */
export function identityYaml(app: string): string {
  return renderAppIdentity(defaultAppIdentity(app));
}

/** The application directory's kustomization: its versions filled with its identity (the rest of a real application
 * directory, base/app, secrets and routes, is not what the version tasks touch). */
function appKustomization(): string {
  return [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    '  - identity.yaml',
    '  - versions',
    'components:',
    '  - ../../../../base/components/app-identity',
    'patches:',
    '  - target:',
    '      kind: ConfigMap',
    '      name: app-identity',
    '    patch: |-',
    '      $patch: delete',
    '      apiVersion: v1',
    '      kind: ConfigMap',
    '      metadata:',
    '        name: app-identity',
    '',
  ].join('\n');
}

function appsOf(options: VersionFixtureOptions): FixtureApp[] {
  if (options.apps) return options.apps;
  return [{ name: options.appName ?? 'dbos-app', repository: options.repository ?? 'ghcr.io/example-org/dbos-app', versions: options.versions ?? {} }];
}

export async function versionFixtureFiles(options: VersionFixtureOptions): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  await copyTree('base/app-version', files);
  await copyTree('base/components/app-latest', files);
  await copyTree('base/components/app-identity', files);
  const envs = options.environments;
  const apps = appsOf(options);
  files['.github/gitops-bot.yaml'] = [
    'version: 1',
    'environments:',
    ...envs.flatMap((env) => [`  - name: ${env}`, `    overlay: overlays/${env}`]),
    `minReleaseAge: ${options.minReleaseAge ?? '0s'}`,
    'forge:',
    '  type: local',
    '  baseBranch: main',
    ...(options.registryHosts?.length ? ['registries:', ...options.registryHosts.map((host) => `  "${host}":\n    plainHttp: true`)] : []),
    'apps:',
    ...apps.flatMap((app) => [
      `  - name: ${app.name}`,
      `    repository: ${app.repository}`,
      ...(app.environments ? [`    environments: [${app.environments.join(', ')}]`] : []),
      `    maxLive: ${app.maxLive ?? options.maxLive ?? 3}`,
      '    drain:',
      `      quietPeriod: ${app.quietPeriod ?? options.quietPeriod ?? '1h'}`,
      '      source: database',
    ]),
    '',
  ].join('\n');
  for (const env of envs) {
    const here = apps.filter((app) => !app.environments || app.environments.includes(env));
    files[`overlays/${env}/kustomization.yaml`] = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - apps\n';
    files[`overlays/${env}/apps/kustomization.yaml`] =
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${here.map((app) => `  - ${app.name}\n`).join('')}`;
    for (const app of here) {
      const appBase = `overlays/${env}/apps/${app.name}`;
      files[`${appBase}/kustomization.yaml`] = appKustomization();
      files[`${appBase}/identity.yaml`] = identityYaml(app.name);
      const base = versionsDirOf(env, app.name);
      const versions = app.versions[env] ?? [];
      const latest = versions.find((version) => version.latest) ?? versions.at(-1);
      files[`${base}/kustomization.yaml`] = listYaml(versions.map(slugOf));
      files[`${base}/service.yaml`] = serviceYaml(latest ? slugOf(latest) : 'none', app.name);
      for (const version of versions) {
        const slug = slugOf(version);
        let kustomization = renderVersionKustomization({
          version: version.version,
          slug,
          latest: version === latest,
          image: { name: 'app', newName: app.repository, tag: version.version, digest: version.digest },
        });
        if (version.hold)
          kustomization = kustomization.replace('resources:\n', '# gitops-bot: hold (incident 42: keep until the audit export ran)\nresources:\n');
        files[`${base}/${slug}/kustomization.yaml`] = kustomization;
        files[`${base}/${slug}/version.patch.yaml`] = renderVersionPatch(version.version);
      }
    }
  }
  return files;
}

/** `kubectl kustomize DIR` (real kustomize v5), parsed into objects. */
export async function kustomize(dir: string): Promise<Array<Record<string, any>>> {
  const { parseAllDocuments } = await import('yaml');
  const { stdout } = await exec('kubectl', ['kustomize', dir], { maxBuffer: 32 * 1024 * 1024 });
  return parseAllDocuments(stdout)
    .map((document) => document.toJS() as Record<string, any>)
    .filter(Boolean);
}

export function relativeToRepo(path: string): string {
  return relative(REPO_ROOT, path);
}

/** An in-memory TreeReader over a file map (plan-level tests that need no git). */
export function memoryTree(files: Record<string, string>): TreeReader {
  return {
    describe: 'in-memory fixture',
    async read(path) {
      return files[path] ?? null;
    },
    async list(dir) {
      const prefix = `${dir.replace(/\/+$/, '')}/`;
      const names = new Set<string>();
      for (const path of Object.keys(files)) {
        if (!path.startsWith(prefix)) continue;
        const rest = path.slice(prefix.length);
        const slash = rest.indexOf('/');
        names.add(slash < 0 ? rest : `${rest.slice(0, slash + 1)}`);
      }
      return [...names].sort();
    },
  };
}

/** For plans that must not touch a registry (version-retire): any call is a test failure. */
export const NO_REGISTRY: RegistrySource = {
  describe: 'no registry (version-retire never reads one)',
  stats: emptyStats() satisfies RegistryStats,
  listTags: () => Promise.reject(new Error('version-retire must not read the registry')),
  resolveDigest: () => Promise.reject(new Error('version-retire must not read the registry')),
  createdAt: () => Promise.reject(new Error('version-retire must not read the registry')),
};

/** The forge's PR records for proposals a planner test says were made before (the marker in the body, as the bot writes it). */
export function pullRequestsOf(previous: PreviousProposal[]): PullRequestRecord[] {
  return previous.map((p) => ({
    number: p.number,
    branch: p.branch,
    title: '',
    body: `<!-- gitops-bot: ${JSON.stringify(p.proposal)} -->`,
    state: p.state,
    merged: p.merged,
    labels: [],
    createdAt: new Date().toISOString(),
    url: '',
  }));
}
