/**
 * The one builder of fixture GitOps repositories for tests: a temporary directory holding the given files and,
 * unless `git: false`, a git work tree with them committed on `main`. Each package decides its tree's contents
 * (overlays, certificates, SealedSecrets); the temporary directory, the git identity and the cleanup are written once.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
// Fixed identity and no signing, so a developer's git config cannot change what a test commits.
const IDENTITY = ['-c', 'user.name=testkit', '-c', 'user.email=testkit@example.invalid', '-c', 'commit.gpgsign=false'];

export interface FixtureRepo {
  root: string;
  /** Absolute path of a repository-relative path. */
  path(relative: string): string;
  write(relative: string, content: string | Uint8Array): Promise<void>;
  read(relative: string): Promise<string>;
  /** Commits every change in the work tree; returns the new commit. Only for a repository made with git. */
  commit(message: string): Promise<string>;
  dispose(): Promise<void>;
}

export interface FixtureRepoOptions {
  /** A git work tree with the files committed on `main` (default true). */
  git?: boolean;
  /** Directory to create the repository in (default the system's temporary directory). */
  parent?: string;
  /**
   * A fixture repository to start from: its whole directory, `.git` included, is copied before `files` are written.
   * Cheaper than building the same tree again for each test that breaks one thing in it.
   */
  copyOf?: string;
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec('git', [...IDENTITY, ...args], { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
  return stdout;
}

/** Absolute path of a repository-relative fixture path; one that climbs out is a bug in the test, not a file to write elsewhere. */
function insideRoot(root: string, relative: string): string {
  if (isAbsolute(relative) || normalize(relative).startsWith('..')) throw new Error(`fixture path ${relative} is not inside the repository`);
  return join(root, relative);
}

/** Writes fixture files (repository-relative paths) into an existing directory, creating folders as needed. */
export async function writeFixtureFiles(root: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [relative, content] of Object.entries(files)) {
    const file = insideRoot(root, relative);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

export async function createFixtureRepo(files: Record<string, string | Uint8Array>, options: FixtureRepoOptions = {}): Promise<FixtureRepo> {
  const root = await mkdtemp(join(options.parent ?? tmpdir(), 'fixture-repo-'));
  if (options.copyOf !== undefined) await cp(options.copyOf, root, { recursive: true });
  const path = (relative: string): string => insideRoot(root, relative);
  const write = (relative: string, content: string | Uint8Array): Promise<void> => writeFixtureFiles(root, { [relative]: content });
  await writeFixtureFiles(root, files);
  const withGit = options.git ?? true;
  const commit = async (message: string): Promise<string> => {
    if (!withGit) throw new Error('this fixture repository was made without git');
    await git(root, 'add', '--all');
    await git(root, 'commit', '--quiet', '--allow-empty', '-m', message);
    return (await git(root, 'rev-parse', 'HEAD')).trim();
  };
  // A copy keeps its own history as it is: only a new repository gets the initial commit.
  if (withGit && !existsSync(join(root, '.git'))) {
    await git(root, 'init', '--quiet', '--initial-branch=main');
    await commit('fixture');
  }
  return {
    root,
    path,
    write,
    read: (relative) => readFile(path(relative), 'utf8'),
    commit,
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

/**
 * Makes `bareDir` a new bare repository whose `main` holds the files of `workTree` as they are now: the work tree is
 * made a git repository if it is not one, every change is committed, and `main` is pushed. Synchronous, because the
 * tests that hand the bare directory to the runner as its remote set it up inline before any await.
 */
export function pushToNewBareRemote(workTree: string, bareDir: string): void {
  const run = (cwd: string, ...args: string[]): void => {
    execFileSync('git', [...IDENTITY, ...args], { cwd, stdio: 'ignore', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
  };
  run(workTree, 'init', '--quiet', '--bare', '--initial-branch=main', bareDir);
  if (!existsSync(join(workTree, '.git'))) run(workTree, 'init', '--quiet', '--initial-branch=main');
  run(workTree, 'add', '--all');
  run(workTree, 'commit', '--quiet', '--allow-empty', '-m', 'fixture');
  run(workTree, 'push', '--quiet', bareDir, 'HEAD:refs/heads/main');
}
