import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitError, TreeReadError } from '../errors.ts';
import { CatFileBatch } from '../git/cat-file.ts';
import { gitSnapshotTree, gitTree } from '../git/workspace.ts';
import { fsTree } from './tree.ts';

/** Item 12 of issue 8: only a path that is absent reads as missing; every other failure is an error. */

let dir: string;
const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tree-read-'));
  await mkdir(join(dir, 'overlays/dev/app-versions/0-1-0'), { recursive: true });
  await writeFile(join(dir, 'overlays/dev/kustomization.yaml'), 'resources: []\n');
  await writeFile(join(dir, 'overlays/dev/app-versions/0-1-0/kustomization.yaml'), 'nameSuffix: -0-1-0\n');
  await writeFile(join(dir, 'overlays/dev/app-versions/only-in-corrupt.yaml'), 'x: 1\n');
  await writeFile(join(dir, 'overlays/dev/name with space.yaml'), 'y: 2\n');
  git('init', '--quiet', '--initial-branch=main');
  git('add', '--all');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '--quiet', '-m', 'tree');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// The run's base tree is a snapshot (one listing, one cat-file process); it must answer and fail exactly as gitTree.
const batches: CatFileBatch[] = [];
const readers = {
  gitTree: (baseDir: string, ref: string) => gitTree(simpleGit({ baseDir }), ref, ref),
  gitSnapshotTree: (baseDir: string, ref: string) => {
    const batch = new CatFileBatch(baseDir, { PATH: process.env.PATH ?? '' });
    batches.push(batch);
    return gitSnapshotTree(simpleGit({ baseDir }), batch, ref, ref);
  },
};
afterAll(() => {
  for (const batch of batches) batch.close();
});

describe.each(Object.entries(readers))('%s', (_, reader) => {
  it('reads files, lists directories, and reports absent paths as missing', async () => {
    const tree = reader(dir, 'main');
    expect(await tree.read('overlays/dev/kustomization.yaml')).toBe('resources: []\n');
    expect(await tree.read('overlays/dev/absent.yaml')).toBeNull();
    expect(await tree.read('overlays/dev/kustomization.yaml/under-a-file')).toBeNull();
    expect(await tree.list('overlays/dev')).toEqual(['app-versions/', 'kustomization.yaml', 'name with space.yaml']);
    expect(await tree.list('overlays/dev/app-versions/')).toEqual(['0-1-0/', 'only-in-corrupt.yaml']);
    expect(await tree.list('overlays/absent')).toEqual([]);
    expect(await tree.read('overlays/dev/name with space.yaml')).toBe('y: 2\n');
    // Read twice: the second answer is the same (the snapshot keeps the first).
    expect(await tree.read('overlays/dev/kustomization.yaml')).toBe('resources: []\n');
  });

  it('fails on a ref that does not exist instead of reading every file as missing', async () => {
    const tree = reader(dir, 'origin/no-such-branch');
    await expect(tree.read('overlays/dev/kustomization.yaml')).rejects.toThrow(GitError);
    await expect(tree.read('overlays/dev/absent.yaml')).rejects.toThrow(GitError);
    await expect(tree.list('overlays/dev')).rejects.toThrow(GitError);
  });

  it('fails on a directory read as a file and on a file listed as a directory', async () => {
    const tree = reader(dir, 'main');
    await expect(tree.read('overlays/dev/app-versions')).rejects.toThrow(/is a directory/);
    await expect(tree.list('overlays/dev/kustomization.yaml')).rejects.toThrow(/is a file/);
  });

  it('fails when git cannot read an object that the tree names', async () => {
    const clone = await mkdtemp(join(tmpdir(), 'tree-read-corrupt-'));
    try {
      execFileSync('git', ['clone', '--quiet', '--no-local', dir, clone]);
      const blob = execFileSync('git', ['rev-parse', 'HEAD:overlays/dev/app-versions/only-in-corrupt.yaml'], { cwd: clone, encoding: 'utf8' }).trim();
      const subtree = execFileSync('git', ['rev-parse', 'HEAD:overlays/dev/app-versions/0-1-0'], { cwd: clone, encoding: 'utf8' }).trim();
      // A clone keeps its objects in a pack; unpack them so single objects can go missing.
      const pack = execFileSync('sh', ['-c', 'ls .git/objects/pack/*.pack'], { cwd: clone, encoding: 'utf8' }).trim();
      execFileSync('sh', ['-c', `mv ${pack} /tmp/$$.pack && rm -f .git/objects/pack/* && git unpack-objects -q < /tmp/$$.pack && rm /tmp/$$.pack`], {
        cwd: clone,
      });
      await unlink(join(clone, '.git/objects', blob.slice(0, 2), blob.slice(2)));
      await unlink(join(clone, '.git/objects', subtree.slice(0, 2), subtree.slice(2)));
      const tree = reader(clone, 'HEAD');
      expect(await tree.read('overlays/dev/kustomization.yaml')).toBe('resources: []\n');
      await expect(tree.read('overlays/dev/app-versions/only-in-corrupt.yaml')).rejects.toThrow(GitError);
      await expect(tree.list('overlays/dev/app-versions/0-1-0')).rejects.toThrow(GitError);
    } finally {
      await rm(clone, { recursive: true, force: true });
    }
  });
});

describe('gitSnapshotTree', () => {
  it('fails on a file whose object is missing while the tree that names it is intact', async () => {
    const clone = await mkdtemp(join(tmpdir(), 'tree-read-corrupt-blob-'));
    try {
      execFileSync('git', ['clone', '--quiet', '--no-local', dir, clone]);
      const blob = execFileSync('git', ['rev-parse', 'HEAD:overlays/dev/app-versions/only-in-corrupt.yaml'], { cwd: clone, encoding: 'utf8' }).trim();
      const pack = execFileSync('sh', ['-c', 'ls .git/objects/pack/*.pack'], { cwd: clone, encoding: 'utf8' }).trim();
      execFileSync('sh', ['-c', `mv ${pack} /tmp/$$.pack && rm -f .git/objects/pack/* && git unpack-objects -q < /tmp/$$.pack && rm /tmp/$$.pack`], {
        cwd: clone,
      });
      await unlink(join(clone, '.git/objects', blob.slice(0, 2), blob.slice(2)));
      const tree = readers.gitSnapshotTree(clone, 'HEAD');
      expect(await tree.list('overlays/dev/app-versions')).toEqual(['0-1-0/', 'only-in-corrupt.yaml']);
      expect(await tree.read('overlays/dev/kustomization.yaml')).toBe('resources: []\n');
      await expect(tree.read('overlays/dev/app-versions/only-in-corrupt.yaml')).rejects.toThrow(GitError);
      await expect(tree.read('overlays/dev/app-versions/only-in-corrupt.yaml')).rejects.toThrow(/only-in-corrupt\.yaml/);
    } finally {
      await rm(clone, { recursive: true, force: true });
    }
  });
});

describe('fsTree', () => {
  it('reads ENOENT as missing and every other failure as a TreeReadError naming the path', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tree-read-fs-'));
    try {
      await mkdir(join(root, 'overlays/dev'), { recursive: true });
      await writeFile(join(root, 'overlays/dev/kustomization.yaml'), 'resources: []\n');
      await symlink('loop.yaml', join(root, 'overlays/dev/loop.yaml'));
      const tree = fsTree(root);
      expect(await tree.read('overlays/dev/absent.yaml')).toBeNull();
      expect(await tree.list('overlays/absent')).toEqual([]);
      await expect(tree.read('overlays/dev')).rejects.toThrow(TreeReadError);
      await expect(tree.read('overlays/dev')).rejects.toThrow('could not read overlays/dev: it is a directory');
      // ELOOP stands in for EACCES here: the tests run as root, which no file mode keeps out.
      await expect(tree.read('overlays/dev/loop.yaml')).rejects.toThrow(/overlays\/dev\/loop\.yaml: ELOOP/);
      await expect(tree.list('overlays/dev/kustomization.yaml')).rejects.toThrow(TreeReadError);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
