import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createBareRemote, type BareRemote } from './git-remote.ts';

let remote: BareRemote | null = null;
afterEach(async () => {
  await remote?.cleanup();
  remote = null;
});

describe('bare git remote', () => {
  it('is seeded from a fixture tree and counts pushed ref updates, not the seed', async () => {
    remote = await createBareRemote({ 'a.txt': 'one\n', 'dir/b.yaml': 'x: 1\n' });
    expect(await remote.readFile('main', 'dir/b.yaml')).toBe('x: 1\n');
    expect(await remote.pushCount()).toBe(0);
    const clone = mkdtempSync(join(tmpdir(), 'remote-test-'));
    try {
      const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd: clone });
      git('clone', '--quiet', remote.url, '.');
      writeFileSync(join(clone, 'a.txt'), 'two\n');
      git('commit', '--quiet', '-am', 'change');
      git('push', '--quiet', 'origin', 'HEAD:refs/heads/feature', 'HEAD:refs/heads/main');
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
    expect(await remote.pushCount()).toBe(2);
    expect([...(await remote.heads()).keys()].sort()).toEqual(['feature', 'main']);
    await remote.commit('main', { 'a.txt': null, 'c.txt': 'three\n' });
    expect(await remote.readFile('main', 'a.txt')).toBeNull();
    expect(await remote.readFile('main', 'c.txt')).toBe('three\n');
  });

  it('hands out a clone on main tracking the remote, and removes it on cleanup', async () => {
    remote = await createBareRemote({ 'a.txt': 'one\n' });
    const checkout = await remote.clone();
    const git = (...args: string[]) => execFileSync('git', args, { cwd: checkout, encoding: 'utf8' }).trim();
    expect(readFileSync(join(checkout, 'a.txt'), 'utf8')).toBe('one\n');
    expect(git('branch', '--show-current')).toBe('main');
    expect(git('remote', 'get-url', 'origin')).toBe(remote.url);
    await remote.cleanup();
    remote = null;
    expect(existsSync(checkout)).toBe(false);
  });
});
