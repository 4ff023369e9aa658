/**
 * Real bare git repositories for tests, seeded from a fixture tree. A post-receive hook counts ref updates so tests can
 * assert "zero pushes" without trusting the code under test.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const IDENTITY = ['-c', 'user.name=testkit', '-c', 'user.email=testkit@example.invalid', '-c', 'commit.gpgsign=false'];

export interface BareRemote {
  /** Path of the bare repository, usable as a git URL. */
  url: string;
  /** Ref updates received (one line per updated ref). */
  pushCount(): Promise<number>;
  /** `refs/heads/<name>` → commit. */
  heads(): Promise<Map<string, string>>;
  readFile(ref: string, path: string): Promise<string | null>;
  /** Commit files (null deletes) on a branch, as a human pushing to it would. */
  commit(branch: string, files: Record<string, string | null>, message?: string, from?: string): Promise<string>;
  /** Fast-forward-or-not: point `branch` at the head of `source` (a merge by "rebase and merge" in spirit). */
  mergeInto(base: string, source: string): Promise<void>;
  /** A fresh clone (a user's checkout) in the remote's own temporary directory, so cleanup() removes it too. */
  clone(): Promise<string>;
  cleanup(): Promise<void>;
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec('git', [...IDENTITY, ...args], { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
  return stdout;
}

export async function createBareRemote(files: Record<string, string>, options: { branch?: string } = {}): Promise<BareRemote> {
  const branch = options.branch ?? 'main';
  const root = await mkdtemp(join(tmpdir(), 'testkit-git-'));
  const bare = join(root, 'remote.git');
  const work = join(root, 'work');
  await mkdir(bare);
  await git(bare, 'init', '--quiet', '--bare', '--initial-branch', branch);
  await git(root, 'clone', '--quiet', bare, work);
  await git(work, 'checkout', '--quiet', '-b', branch);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(work, path)), { recursive: true });
    await writeFile(join(work, path), content);
  }
  await git(work, 'add', '--all');
  await git(work, 'commit', '--quiet', '-m', 'fixture');
  await git(work, 'push', '--quiet', 'origin', branch);
  // Installed after seeding so the fixture push is not counted.
  const log = join(root, 'pushes.log');
  await writeFile(log, '');
  const hook = join(bare, 'hooks', 'post-receive');
  await writeFile(hook, `#!/bin/sh\nwhile read old new ref; do echo "$ref $old $new" >> "${log}"; done\n`);
  await chmod(hook, 0o755);

  return {
    url: bare,
    async pushCount() {
      return (await readFile(log, 'utf8')).split('\n').filter(Boolean).length;
    },
    async heads() {
      const out = await git(bare, 'for-each-ref', '--format=%(refname:strip=2) %(objectname)', 'refs/heads/');
      return new Map(
        out
          .split('\n')
          .filter(Boolean)
          .map((line) => line.split(' ') as [string, string]),
      );
    },
    async readFile(ref, path) {
      try {
        return await git(bare, 'show', `${ref}:${path}`);
      } catch {
        return null;
      }
    },
    async commit(target, changes, message = 'human change', from) {
      await git(work, 'fetch', '--quiet', 'origin');
      const exists = (await git(work, 'ls-remote', '--heads', 'origin', target)).trim() !== '';
      await git(work, 'checkout', '--quiet', '-B', target, exists ? `origin/${target}` : `origin/${from ?? branch}`);
      for (const [path, content] of Object.entries(changes)) {
        const full = join(work, path);
        if (content === null) await rm(full, { force: true });
        else {
          await mkdir(dirname(full), { recursive: true });
          await writeFile(full, content);
        }
      }
      await git(work, 'add', '--all');
      await git(work, 'commit', '--quiet', '--allow-empty', '-m', message);
      await git(work, 'push', '--quiet', 'origin', `HEAD:refs/heads/${target}`);
      return (await git(work, 'rev-parse', 'HEAD')).trim();
    },
    async mergeInto(base, source) {
      await git(work, 'fetch', '--quiet', 'origin');
      await git(work, 'checkout', '--quiet', '-B', base, `origin/${base}`);
      await git(work, 'merge', '--quiet', '--no-ff', '-m', `Merge ${source}`, `origin/${source}`);
      await git(work, 'push', '--quiet', 'origin', `HEAD:refs/heads/${base}`);
    },
    async clone() {
      const dir = await mkdtemp(join(root, 'clone-'));
      await git(root, 'clone', '--quiet', bare, dir);
      return dir;
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
}
