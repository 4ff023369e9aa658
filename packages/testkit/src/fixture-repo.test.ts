import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createFixtureRepo, pushToNewBareRemote, writeFixtureFiles } from './fixture-repo.ts';

const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

describe('createFixtureRepo', () => {
  it('writes the files, commits them on main, commits later edits, and removes everything on dispose', async () => {
    const repo = await createFixtureRepo({ 'overlays/dev/kustomization.yaml': 'resources: []\n', 'clusters/dev/cert.pem': Buffer.from('pem\n') });
    try {
      expect(await repo.read('overlays/dev/kustomization.yaml')).toBe('resources: []\n');
      expect(git(repo.root, 'branch', '--show-current')).toBe('main');
      expect(git(repo.root, 'ls-files').split('\n').sort()).toEqual(['clusters/dev/cert.pem', 'overlays/dev/kustomization.yaml']);
      expect(git(repo.root, 'status', '--porcelain')).toBe('');
      await repo.write('overlays/dev/app.yaml', 'kind: Deployment\n');
      const head = await repo.commit('add app');
      expect(git(repo.root, 'rev-parse', 'HEAD')).toBe(head);
      expect(git(repo.root, 'log', '-1', '--format=%s')).toBe('add app');
      expect(git(repo.root, 'status', '--porcelain')).toBe('');
    } finally {
      await repo.dispose();
    }
    expect(existsSync(repo.root)).toBe(false);
  });

  it('without git writes plain files, and refuses a path outside the repository', async () => {
    const repo = await createFixtureRepo({ 'a/b.txt': 'x' }, { git: false });
    try {
      expect(existsSync(repo.path('.git'))).toBe(false);
      expect(await repo.read('a/b.txt')).toBe('x');
      await expect(repo.commit('nope')).rejects.toThrow(/without git/);
      await expect(repo.write('../escape.txt', 'x')).rejects.toThrow(/not inside the repository/);
      await writeFixtureFiles(repo.root, { 'a/b.txt': 'y', 'c/d/e.txt': 'z' });
      expect([await repo.read('a/b.txt'), await repo.read('c/d/e.txt')]).toEqual(['y', 'z']);
      await expect(writeFixtureFiles(repo.root, { '/etc/escape.txt': 'x' })).rejects.toThrow(/not inside the repository/);
    } finally {
      await repo.dispose();
    }
  });

  it('pushes the work tree as it is now (a fixture without git included) to a new bare remote as main', async () => {
    const repo = await createFixtureRepo({ 'overlays/dev/kustomization.yaml': 'resources: []\n' }, { git: false });
    try {
      await repo.write('overlays/dev/late.yaml', 'kind: ConfigMap\n');
      const scratch = mkdtempSync(join(tmpdir(), 'fixture-remote-'));
      const bare = join(scratch, 'remote.git');
      pushToNewBareRemote(repo.root, bare);
      try {
        expect(git(bare, 'rev-parse', '--is-bare-repository')).toBe('true');
        expect(git(bare, 'ls-tree', '-r', '--name-only', 'main').split('\n').sort()).toEqual(['overlays/dev/kustomization.yaml', 'overlays/dev/late.yaml']);
        expect(git(bare, 'show', 'main:overlays/dev/late.yaml')).toBe('kind: ConfigMap');
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    } finally {
      await repo.dispose();
    }
  });

  it('starts from a copy of another fixture repository, its history included, and leaves the original alone', async () => {
    const template = await createFixtureRepo({ 'overlays/dev/kustomization.yaml': 'resources: []\n' });
    try {
      const copy = await createFixtureRepo({ 'overlays/dev/extra.yaml': 'kind: ConfigMap\n' }, { copyOf: template.root });
      try {
        expect(copy.root).not.toBe(template.root);
        expect(git(copy.root, 'rev-parse', 'HEAD')).toBe(git(template.root, 'rev-parse', 'HEAD'));
        expect(await copy.read('overlays/dev/kustomization.yaml')).toBe('resources: []\n');
        expect(git(copy.root, 'status', '--porcelain')).toBe('?? overlays/dev/extra.yaml');
        expect(existsSync(template.path('overlays/dev/extra.yaml'))).toBe(false);
      } finally {
        await copy.dispose();
      }
      expect(existsSync(template.root)).toBe(true);
    } finally {
      await template.dispose();
    }
  });
});
