/**
 * The demo's sandbox: one directory under the OS temp dir holding everything the story writes. A bare git remote
 * seeded with a copy of this repository (its committed HEAD) plus one demo commit (the bot config), and a person's
 * checkout of it, where the PRs get merged. Nothing outside the directory is written.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseDocument, isMap, isSeq } from 'yaml';

const exec = promisify(execFile);

/** The repository this demo ships in (its committed HEAD is what the sandbox remote holds). */
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export const DEMO_APP = 'orders';
export const DEMO_ENV = 'dev';
export const CONFIG_PATH = '.github/gitops-bot.yaml';
export const QUIET_PERIOD_SECONDS = 10;

// Who "merges" in the sandbox; commit signing and the user's own git identity are kept out of it.
const PERSON = ['-c', 'user.name=demo person', '-c', 'user.email=person@example.invalid', '-c', 'commit.gpgsign=false', '-c', 'init.defaultBranch=main'];

/** A git command in the sandbox; a failure names the command and the directory (node says only `spawn git ENOENT`
 * for a directory that is gone). */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await exec('git', [...PERSON, ...args], {
      cwd,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const detail = existsSync(cwd) ? (error as { stderr?: string }).stderr?.trim() || (error as Error).message : 'the directory does not exist';
    throw new SandboxError(`git ${args[0]} in ${cwd} failed: ${detail}`, 'the sandbox was changed while the demo ran; run `pnpm demo` again for a fresh one');
  }
}

export class SandboxError extends Error {
  override readonly name = 'SandboxError';
  readonly exitCode = 1;
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export interface Sandbox {
  dir: string;
  /** The bare repository the bot clones and pushes to (`--remote`). */
  remote: string;
  /** A person's clone of it: where the demo merges PRs, and `--repo` for the bot. */
  checkout: string;
  logs: string;
  /** The commit of this repository the sandbox copies. */
  sourceCommit: string;
}

export async function createSandboxDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dbos-gitops-demo-'));
  // Traversable (not listable) by others: as root, PostgreSQL runs as an unprivileged user under this directory.
  await chmod(dir, 0o711);
  return dir;
}

/** Copies this repository's HEAD (tracked files only, as `git archive` gives them) into a new bare remote. */
export async function seedSandbox(dir: string): Promise<Sandbox> {
  const remote = join(dir, 'remote.git');
  const checkout = join(dir, 'checkout');
  const logs = join(dir, 'logs');
  await mkdir(logs);
  const sourceCommit = (await git(REPO_ROOT, 'rev-parse', 'HEAD')).trim();
  await git(dir, 'init', '--quiet', '--bare', '--initial-branch', 'main', remote);
  await git(dir, 'init', '--quiet', '--initial-branch', 'main', checkout);
  await extractArchive(REPO_ROOT, checkout);
  await git(checkout, 'add', '--all');
  await git(checkout, 'commit', '--quiet', '-m', `dbos-gitops at ${sourceCommit.slice(0, 12)} (a copy for the demo sandbox)`);
  const configPath = join(checkout, CONFIG_PATH);
  await writeFile(configPath, demoConfig(await readFile(configPath, 'utf8')));
  await git(checkout, 'commit', '--quiet', '-am', `demo: bot config for the sandbox (${DEMO_APP} only, quiet period ${QUIET_PERIOD_SECONDS}s)`);
  await git(checkout, 'remote', 'add', 'origin', remote);
  await git(checkout, 'push', '--quiet', 'origin', 'main');
  await git(checkout, 'branch', '--quiet', '--set-upstream-to', 'origin/main');
  return { dir, remote, checkout, logs, sourceCommit };
}

function extractArchive(repo: string, into: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const archive = spawn('git', ['archive', '--format=tar', 'HEAD'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    const tar = spawn('tar', ['-x', '-C', into], { stdio: ['pipe', 'ignore', 'pipe'] });
    let errors = '';
    archive.stderr.on('data', (d: Buffer) => (errors += d.toString()));
    tar.stderr.on('data', (d: Buffer) => (errors += d.toString()));
    archive.stdout.pipe(tar.stdin);
    let pending = 2;
    const done = (what: string) => (code: number | null) => {
      if (code !== 0) return reject(new Error(`${what} failed (exit ${code}) copying ${repo} into the sandbox: ${errors.slice(-1000)}`));
      if (--pending === 0) resolve();
    };
    archive.once('error', reject);
    tar.once('error', reject);
    archive.once('close', done('git archive HEAD'));
    tar.once('close', done('tar'));
  });
}

/**
 * The committed bot config, edited for the sandbox: only the application the story follows (the others would get PRs
 * of their own from the same catalog, and the story would be two stories), and a quiet period of seconds instead of
 * an hour. Everything else (environments, promotion, forge) stays as committed.
 */
export function demoConfig(committed: string): string {
  const doc = parseDocument(committed);
  const apps = doc.get('apps');
  if (!isSeq(apps)) throw new Error(`${CONFIG_PATH} has no apps: list`);
  apps.items = apps.items.filter((item) => isMap(item) && item.get('name') === DEMO_APP);
  const app = apps.items[0];
  if (!isMap(app)) throw new Error(`${CONFIG_PATH} does not configure the application ${DEMO_APP}`);
  app.setIn(['drain', 'quietPeriod'], `${QUIET_PERIOD_SECONDS}s`);
  doc.commentBefore = ` DEMO CONFIG (pnpm demo, this sandbox only): the committed ${CONFIG_PATH} with apps: reduced to ${DEMO_APP} and\n a ${QUIET_PERIOD_SECONDS}s quiet period. The registry is the bot's example catalog; nothing here reaches a real remote.\n${doc.commentBefore ?? ''}`;
  return doc.toString({ lineWidth: 0 });
}

/** The live versions an environment's list names on a ref of the remote (the version directories' names). */
export async function liveVersions(remote: string, ref: string): Promise<string[]> {
  const text = await git(remote, 'show', `${ref}:overlays/${DEMO_ENV}/apps/${DEMO_APP}/versions/kustomization.yaml`);
  const doc = parseDocument(text);
  const resources = doc.get('resources');
  if (!isSeq(resources)) return [];
  return resources.items.map((item) => String((item as { value?: unknown }).value ?? item)).filter((name) => name !== 'service.yaml');
}

/** `bot/…` branches on the remote: with the local forge, each one is an open PR. */
export async function botBranches(remote: string): Promise<string[]> {
  const out = await git(remote, 'for-each-ref', '--format=%(refname:strip=2)', 'refs/heads/bot/');
  return out.split('\n').filter(Boolean);
}

/** What a person does on GitHub with "Merge pull request" and "Delete branch": a merge commit on main. */
export async function mergePullRequest(sandbox: Sandbox, branch: string, title: string): Promise<void> {
  await git(sandbox.checkout, 'fetch', '--quiet', 'origin');
  await git(sandbox.checkout, 'merge', '--quiet', '--ff-only', 'origin/main');
  await git(sandbox.checkout, 'merge', '--quiet', '--no-ff', '-m', `Merge ${branch}: ${title}`, `origin/${branch}`);
  await git(sandbox.checkout, 'push', '--quiet', 'origin', 'main', `:refs/heads/${branch}`);
}
