import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unsealSealedSecret } from '@dbos-gitops/sealing/testing';
import { startConductorFake, type ConductorFake } from '@dbos-gitops/testkit';
import { startGitHubFake, type GitHubFake } from '@dbos-gitops/testkit';
import { createBareRemote, createFixture, runRotation, type Fixture } from '../../testing/rotation-fixture.ts';
import type { RunResult } from '../runner.ts';
import { GitHubForge } from '../sources/forge/github.ts';
import { TOKEN_ANNOTATION } from '../tasks/secret-rotation/index.ts';

/**
 * API-key rotation through the real runner against the OpenAPI-checked GitHub fake (the sibling test uses the local
 * forge): PR creation, a rejected PR after the key exists, and revocation after a human merged the rotation.
 */
const CONDUCTOR = { org: 'acme_org', permissions: ['websocket.connect'], tokenPrefix: 'gitops' };
const ROTATION_BRANCH = 'bot/secret-rotation/dev/dbos-app';
const SEALED_PATH = 'overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml';

let conductor: ConductorFake;
let github: GitHubFake;
let remote: string;
const cleanups: Array<() => unknown> = [];

const git = (...args: string[]): string => execFileSync('git', ['--git-dir', remote, ...args], { encoding: 'utf8' });
const heads = (): string => git('for-each-ref', '--format=%(refname) %(objectname)');

beforeEach(async () => {
  conductor = await startConductorFake({ org: 'acme_org' });
  cleanups.push(() => conductor.stop());
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(): Promise<{ fixture: Fixture; oldName: string; oldSecret: string }> {
  const old = conductor.addToken({ tokenName: 'gitops-dev-old', appNames: ['shop-app'], permissions: ['websocket.connect'] });
  const fixture = await createFixture({
    oldApiKey: old.secret,
    apiKeyAnnotations: { 'dbos.dev/rotated-at': '2025-01-01T00:00:00.000Z', [TOKEN_ANNOTATION]: old.tokenName },
  });
  cleanups.push(() => fixture.dispose());
  const scratch = mkdtempSync(join(tmpdir(), 'rotation-github-'));
  cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
  remote = join(scratch, 'remote.git');
  createBareRemote(fixture.root, remote);
  github = await startGitHubFake({ owner: 'example-org', repo: 'gitops', branchExists: async (branch) => heads().includes(`refs/heads/${branch} `) });
  cleanups.push(() => github.stop());
  return { fixture, oldName: old.tokenName, oldSecret: old.secret };
}

function runOnce(output: string[], now = new Date()): Promise<RunResult> {
  const forgeFor = () =>
    new GitHubForge({
      token: 'fake-token-not-a-secret',
      owner: 'example-org',
      repo: 'gitops',
      baseUrl: github.url,
      minWriteIntervalMs: 0,
      retryAfterBaseValue: 10,
      log: (line) => output.push(line),
    });
  return runRotation({ remote, conductor, settings: CONDUCTOR, forgeFor, output, now });
}

describe('secret-rotation through the runner, GitHub fake', () => {
  it('opens one PR whose sealed key is the key Conductor created; nothing leaks; a second run writes nothing', async () => {
    const { fixture, oldName, oldSecret } = await world();
    const output: string[] = [];
    const result = await runOnce(output);
    expect(result.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[ROTATION_BRANCH, 'created']]);
    expect(github.pulls.map((pull) => pull.head)).toEqual([ROTATION_BRANCH]);
    expect(github.violations).toEqual([]);
    const created = conductor.tokens().filter((token) => token.tokenName !== oldName);
    expect(created).toHaveLength(1);
    expect(conductor.isValidKey(oldSecret)).toBe(true);
    expect(conductor.isValidKey(created[0]!.secret)).toBe(true);

    const sealed = git('show', `${ROTATION_BRANCH}:${SEALED_PATH}`);
    expect(await unsealSealedSecret(sealed, [fixture.certificate.privateKeyPem])).toEqual({ 'api-key': created[0]!.secret });
    expect(git('diff', '--name-only', 'main', ROTATION_BRANCH).trim().split('\n').sort()).toEqual([
      'overlays/dev/apps/dbos-app/rollout.patch.yaml',
      SEALED_PATH,
    ]);
    const changed = git('diff', '-U0', 'main', ROTATION_BRANCH, '--', SEALED_PATH)
      .split('\n')
      .filter((line) => /^[-+] /.test(line));
    // Only the ciphertext and the rotation annotations move; the rest of the SealedSecret is byte-identical.
    expect([...new Set(changed.map((line) => line.slice(1).trim().split(':')[0]))].sort()).toEqual([
      'api-key',
      'dbos.dev/conductor-token',
      'dbos.dev/conductor-token-previous',
      'dbos.dev/rotated-at',
    ]);
    expect(changed.find((line) => line.includes('conductor-token-previous'))).toContain(oldName);
    const pull = github.pulls[0]!;
    // Read in-process rather than `git grep KEY`: a failing command line would print the key.
    const branchPaths = git('ls-tree', '-r', '--name-only', ROTATION_BRANCH).trim().split('\n');
    expect(branchPaths.filter((path) => git('show', `${ROTATION_BRANCH}:${path}`).includes(created[0]!.secret))).toEqual([]);
    for (const text of [output.join('\n'), pull.title, pull.body, git('log', '-1', '--format=%B', ROTATION_BRANCH)]) {
      expect(text).not.toContain(created[0]!.secret);
      expect(text).not.toContain(oldSecret);
    }

    const writes = github.writeCount();
    const refs = heads();
    const second = await runOnce([]);
    expect(second.pushes).toBe(0);
    expect(github.writeCount()).toBe(writes);
    expect(heads()).toBe(refs);
    expect(conductor.tokens()).toHaveLength(2);
  });

  it('GitHub refusing the PR after the key was created: typed error, new key deleted, old key valid, no branch left', async () => {
    const { oldName, oldSecret } = await world();
    const before = heads();
    github.injectFault({
      method: 'POST',
      path: /\/pulls$/,
      status: 403,
      body: { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' },
      times: 5,
    });
    const output: string[] = [];
    await expect(runOnce(output)).rejects.toMatchObject({ name: 'ForgeError' });
    expect(conductor.calls.some((call) => call.operation === 'createToken' && call.status === 201)).toBe(true);
    expect(conductor.tokens().map((token) => token.tokenName)).toEqual([oldName]);
    expect(conductor.isValidKey(oldSecret)).toBe(true);
    expect(github.pulls).toEqual([]);
    expect(heads()).toBe(before);
    expect(output.join('\n')).not.toContain(oldSecret);
  });

  it('a rotation PR closed unmerged (its branch left on the remote): an hour later its key is deleted as unused and the rotation is proposed again (issue 8 item 3)', async () => {
    const { oldName, oldSecret } = await world();
    await runOnce([]);
    const abandoned = conductor.tokens().find((token) => token.tokenName !== oldName)!;
    github.close(github.pulls[0]!.number);
    expect(heads()).toContain(`refs/heads/${ROTATION_BRANCH} `);

    const output: string[] = [];
    const result = await runOnce(output, new Date(Date.now() + 2 * 3600 * 1000));
    expect(result.cleanups).toEqual([expect.stringMatching(new RegExp(`^deleted unused Conductor API key ${abandoned.tokenName} \\(dev\\): created 2h ago`))]);
    expect(result.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[ROTATION_BRANCH, 'created']]);
    const names = conductor.tokens().map((token) => token.tokenName);
    expect(names).not.toContain(abandoned.tokenName);
    expect(names).toContain(oldName);
    expect(names).toHaveLength(2);
    expect(conductor.isValidKey(oldSecret)).toBe(true);
    expect(git('show', `${ROTATION_BRANCH}:${SEALED_PATH}`)).toContain(names.find((name) => name !== oldName)!);
    expect(output.join('\n')).not.toContain(abandoned.secret);
    expect(github.violations).toEqual([]);
  });

  it('after a human merged the rotation and the grace passed, the revocation deletes the previous key only', async () => {
    const { oldName, oldSecret } = await world();
    await runOnce([]);
    const newKey = conductor.tokens().find((token) => token.tokenName !== oldName)!;
    const pull = github.pulls[0]!;
    // A human merges on github.com: the fake records it, the remote's main moves to the branch head.
    github.merge(pull.number);
    git('update-ref', 'refs/heads/main', `refs/heads/${ROTATION_BRANCH}`);
    git('update-ref', '-d', `refs/heads/${ROTATION_BRANCH}`);

    const output: string[] = [];
    const later = new Date(Date.now() + 2 * 24 * 3600 * 1000);
    const result = await runOnce(output, later);
    expect(result.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([['bot/secret-rotation/dev/dbos-app.revoke', 'created']]);
    expect(conductor.isValidKey(oldSecret)).toBe(false);
    expect(conductor.isValidKey(newKey.secret)).toBe(true);
    expect(conductor.tokens().map((token) => token.tokenName)).toEqual([newKey.tokenName]);
    expect(git('show', `main:${SEALED_PATH}`)).toContain(newKey.tokenName);
    expect(output.join('\n')).not.toContain(newKey.secret);
    expect(github.violations).toEqual([]);

    // While the revocation PR is open a re-run changes nothing, on GitHub or in Conductor.
    const writes = github.writeCount();
    const again = await runOnce([], later);
    expect(again.pushes).toBe(0);
    expect(github.writeCount()).toBe(writes);
    expect(conductor.tokens().map((token) => token.tokenName)).toEqual([newKey.tokenName]);
  });
});
