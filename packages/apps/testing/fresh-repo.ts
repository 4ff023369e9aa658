/**
 * Test-only: a fresh copy of this repository's GitOps tree (base/, overlays/, clusters/, .github/) in a temporary
 * directory, sealed-secrets certificates whose private keys the test keeps, and per-application cluster files in the
 * shape the cluster definitions give them (one Argo CD Application and one Flux file per application, each listed in
 * its apps/kustomization.yaml), so the scaffold has another application's files to copy.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { createFixtureRepo, type FixtureRepo } from '@dbos-gitops/testkit';
import { makeTestCertificate, type TestCertificate } from '@dbos-gitops/sealing/testing';
import { SecretInput } from '@dbos-gitops/sealing';
import { defaultRoot, main, type AppsIo } from '../src/cli/index.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TREE = ['base', 'overlays', 'clusters', '.github'];

function filesOf(root: string, dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) Object.assign(out, filesOf(root, path));
    else if (entry.isFile()) out[path] = readFileSync(join(root, path), 'utf8');
  }
  return out;
}

function argoApp(env: string, app: string): string {
  return `# The application ${app} in ${env}; the rest of its Application comes from clusters/common/argocd/app.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: app-${app}
  namespace: argocd
spec:
  source:
    path: overlays/${env}/apps/${app}
`;
}

function fluxApp(env: string, app: string): string {
  const stages = ['foundation', 'migrations', 'workloads', 'routing'];
  return stages
    .map(
      (stage, index) => `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app-${app}-${stage}
  namespace: flux-system
spec:
  path: ./overlays/${env}/apps/${app}
  components:
    - ../../../../clusters/common/flux/stage-filters/${stage}
  dependsOn:
    - name: ${index === 0 ? 'dbos-foundation' : `app-${app}-${stages[index - 1]}`}
`,
    )
    .join('---\n');
}

function appsList(comment: string, apps: readonly string[]): string {
  return ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', `# ${comment}`, 'resources:', ...apps.map((app) => `  - ${app}.yaml`), ''].join(
    '\n',
  );
}

/** The per-application cluster files of `env` for `apps`. */
export function clusterAppFixtures(env: string, apps: readonly string[]): Record<string, string> {
  const files: Record<string, string> = {
    [`clusters/${env}/argocd/apps/kustomization.yaml`]: appsList('One Argo CD Application per DBOS application.', apps),
    [`clusters/${env}/flux/apps/kustomization.yaml`]: appsList('One Flux chain per DBOS application.', apps),
  };
  for (const app of apps) {
    files[`clusters/${env}/argocd/apps/${app}.yaml`] = argoApp(env, app);
    files[`clusters/${env}/flux/apps/${app}.yaml`] = fluxApp(env, app);
  }
  return files;
}

export interface FreshRepo {
  repo: FixtureRepo;
  root: string;
  certificates: Record<string, TestCertificate>;
}

export async function freshRepo(): Promise<FreshRepo> {
  const files: Record<string, string> = {};
  for (const dir of TREE) Object.assign(files, filesOf(REPO_ROOT, dir));
  const certificates: Record<string, TestCertificate> = {};
  for (const env of ['dev', 'staging']) {
    // Valid long before and after the fixed clock the tests run the commands with.
    certificates[env] = makeTestCertificate({ startDate: '20200101000000Z', endDate: '20990101000000Z' });
    files[`clusters/${env}/sealed-secrets-cert.pem`] = certificates[env].certificatePem;
  }
  Object.assign(files, clusterAppFixtures('dev', ['dbos-app', 'orders']), clusterAppFixtures('staging', ['dbos-app']));
  const repo = await createFixtureRepo(files, { git: false });
  return { repo, root: repo.root, certificates };
}

/** sha256 over every path and content under `root`: equal before and after means not one byte changed. */
export function treeHash(root: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = dir === '.' ? entry.name : `${dir}/${entry.name}`;
      hash.update(`${entry.isDirectory() ? 'd' : 'f'} ${path}\n`);
      if (entry.isDirectory()) walk(path);
      else hash.update(readFileSync(join(root, path)));
    }
  };
  walk('.');
  return hash.digest('hex');
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `apps:<command>` in-process with `stdin` as its (non-terminal) standard input. */
export async function runApps(argv: readonly string[], options: { root: string; stdin?: string; env?: NodeJS.ProcessEnv; now?: Date }): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: AppsIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: options.env ?? {},
    stdinIsTTY: false,
    secretInput: () => new SecretInput(Readable.from([options.stdin ?? '']) as unknown as NodeJS.ReadStream),
    now: () => options.now ?? new Date('2026-11-30T08:00:00.000Z'),
    root: defaultRoot(options.root),
  };
  const code = await main([...argv, '--root', options.root], io);
  return { code, stdout, stderr };
}
