import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unsealSealedSecret } from '@dbos-gitops/sealing/testing';
import { startConductorFake, type ConductorFake } from '@dbos-gitops/testkit';
import {
  API_KEY_PATH,
  createBareRemote,
  createFixture,
  ORDERS_API_KEY_PATH,
  ORDERS_ROLLOUT_PATCH_PATH,
  ROLLOUT_PATCH_PATH,
  runRotation,
  type Fixture,
} from '../../testing/rotation-fixture.ts';
import type { GitWorkspace } from '../git/workspace.ts';
import type { RunResult } from '../runner.ts';
import { LocalForge } from '../sources/forge/local.ts';
import { TOKEN_ANNOTATION } from '../tasks/secret-rotation/index.ts';

/**
 * API-key rotation through the real runner (the only code that writes): the plan's create-key action runs inside
 * the runner's write step, against a bare git remote and the Conductor fake.
 */
const CONDUCTOR = { org: 'acme_org', permissions: ['websocket.connect'], tokenPrefix: 'gitops' };

let fake: ConductorFake;
const cleanups: Array<() => unknown> = [];

// A fresh Conductor per test: key names carry the minute, so tests sharing one would collide.
beforeEach(async () => {
  fake = await startConductorFake({ org: 'acme_org' });
  cleanups.push(() => fake.stop());
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(withOrders = false): Promise<{ fixture: Fixture; remote: string; oldName: string; oldSecret: string }> {
  const old = fake.addToken({ tokenName: `gitops-dev-old-${cleanups.length}`, appNames: ['shop-app'], permissions: ['websocket.connect'] });
  const fixture = await createFixture({
    oldApiKey: old.secret,
    apiKeyAnnotations: { 'dbos.dev/rotated-at': '2025-01-01T00:00:00.000Z', [TOKEN_ANNOTATION]: old.tokenName },
    ...(withOrders ? { orders: { apiKeyAnnotations: { 'dbos.dev/placeholder': 'true' } } } : {}),
  });
  cleanups.push(() => fixture.dispose());
  const scratch = mkdtempSync(join(tmpdir(), 'rotation-runner-'));
  cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
  const remote = join(scratch, 'remote.git');
  createBareRemote(fixture.root, remote);
  return { fixture, remote, oldName: old.tokenName, oldSecret: old.secret };
}

function runOnce(remote: string, output: string[], orders = false): Promise<RunResult> {
  const forgeFor = (workspace: GitWorkspace) =>
    new LocalForge(
      async () => [...(await workspace.botBranches()).keys()],
      (text) => output.push(text),
    );
  return runRotation({ remote, conductor: fake, settings: CONDUCTOR, forgeFor, output, orders });
}

const show = (remote: string, ref: string, path: string): string => execFileSync('git', ['--git-dir', remote, 'show', `${ref}:${path}`], { encoding: 'utf8' });

describe('secret-rotation through the runner', () => {
  it('pushes one branch whose sealed key decrypts to the key Conductor created; the old key keeps working; nothing leaks', async () => {
    const { fixture, remote, oldName, oldSecret } = await world();
    const output: string[] = [];
    const result = await runOnce(remote, output);

    expect(result.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([['bot/secret-rotation/dev/dbos-app', 'created']]);
    expect(result.pushes).toBe(1);
    const created = fake.tokens().filter((token) => token.tokenName !== oldName && token.tokenName.startsWith('gitops-dev-'));
    expect(created).toHaveLength(1);
    expect(fake.isValidKey(oldSecret)).toBe(true);

    const branch = 'bot/secret-rotation/dev/dbos-app';
    const sealed = show(remote, branch, 'overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml');
    expect(await unsealSealedSecret(sealed, [fixture.certificate.privateKeyPem])).toEqual({ 'api-key': created[0]!.secret });
    expect(show(remote, branch, 'overlays/dev/apps/dbos-app/rollout.patch.yaml')).not.toEqual(
      show(remote, 'main', 'overlays/dev/apps/dbos-app/rollout.patch.yaml'),
    );
    const message = execFileSync('git', ['--git-dir', remote, 'log', '-1', '--format=%B', branch], { encoding: 'utf8' });
    for (const text of [output.join('\n'), message, sealed]) {
      expect(text).not.toContain(created[0]!.secret);
      expect(text).not.toContain(oldSecret);
    }
  });

  it("two applications in one environment: two branches, each changing only its app's key file and rollout patch, each key created for that app only", async () => {
    const { fixture, remote, oldName } = await world(true);
    const result = await runOnce(remote, [], true);
    expect(result.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([
      ['bot/secret-rotation/dev/dbos-app', 'created'],
      ['bot/secret-rotation/dev/orders', 'created'],
    ]);
    const created = fake.tokens().filter((token) => token.tokenName !== oldName);
    // What Conductor was asked for: each key serves exactly its own application.
    expect(created.map((token) => [token.tokenName.replace(/\d{12}$/, '<minute>'), token.appNames])).toEqual([
      ['gitops-dev-dbos-app-<minute>', ['shop-app']],
      ['gitops-dev-orders-<minute>', ['orders']],
    ]);
    const changed = (branch: string): string[] =>
      execFileSync('git', ['--git-dir', remote, 'diff', '--name-only', 'main', branch], { encoding: 'utf8' }).trim().split('\n').sort();
    expect(changed('bot/secret-rotation/dev/dbos-app')).toEqual([API_KEY_PATH, ROLLOUT_PATCH_PATH].sort());
    expect(changed('bot/secret-rotation/dev/orders')).toEqual([ORDERS_API_KEY_PATH, ORDERS_ROLLOUT_PATCH_PATH].sort());
    const unseal = async (branch: string, path: string) => unsealSealedSecret(show(remote, branch, path), [fixture.certificate.privateKeyPem]);
    expect(await unseal('bot/secret-rotation/dev/dbos-app', API_KEY_PATH)).toEqual({ 'api-key': created[0]!.secret });
    expect(await unseal('bot/secret-rotation/dev/orders', ORDERS_API_KEY_PATH)).toEqual({ 'api-key': created[1]!.secret });
    expect(fake.violations).toEqual([]);
  });

  it('a second run while the rotation branch is open creates no second key and pushes nothing', async () => {
    const { remote, oldName } = await world();
    await runOnce(remote, []);
    const keysAfterFirst = fake.tokens().map((token) => token.tokenName);
    const headsAfterFirst = execFileSync('git', ['--git-dir', remote, 'for-each-ref', '--format=%(refname) %(objectname)'], { encoding: 'utf8' });

    const second = await runOnce(remote, []);
    expect(second.pushes).toBe(0);
    expect(second.applied.map((item) => item.outcome)).toEqual(['unchanged']);
    expect(fake.tokens().map((token) => token.tokenName)).toEqual(keysAfterFirst);
    expect(keysAfterFirst).toContain(oldName);
    expect(execFileSync('git', ['--git-dir', remote, 'for-each-ref', '--format=%(refname) %(objectname)'], { encoding: 'utf8' })).toEqual(headsAfterFirst);
  });

  it('a push rejected after the key was created deletes the new key: the old key keeps working, the remote is unchanged', async () => {
    const { remote, oldName, oldSecret } = await world();
    writeFileSync(join(remote, 'hooks', 'pre-receive'), '#!/bin/sh\necho "protected: pushes are closed" >&2\nexit 1\n');
    chmodSync(join(remote, 'hooks', 'pre-receive'), 0o755);
    const heads = execFileSync('git', ['--git-dir', remote, 'for-each-ref', '--format=%(refname) %(objectname)'], { encoding: 'utf8' });

    await expect(runOnce(remote, [])).rejects.toMatchObject({ name: 'PushRejectedError' });
    expect(fake.tokens().map((token) => token.tokenName)).toEqual([oldName]);
    expect(fake.isValidKey(oldSecret)).toBe(true);
    expect(fake.calls.some((call) => call.operation === 'createToken' && call.status === 201)).toBe(true);
    expect(execFileSync('git', ['--git-dir', remote, 'for-each-ref', '--format=%(refname) %(objectname)'], { encoding: 'utf8' })).toEqual(heads);
  });
});
