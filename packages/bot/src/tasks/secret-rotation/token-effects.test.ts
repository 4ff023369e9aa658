import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { unsealSealedSecret } from '@dbos-gitops/sealing/testing';
import { makeTestCertificate } from '@dbos-gitops/sealing/testing';
import { startConductorFake, type ConductorFake } from '@dbos-gitops/testkit';
import { PushRejectedError } from '../../errors.ts';
import { GitWorkspace } from '../../git/workspace.ts';
import type { Plan } from '../../plan.ts';
import { fsTree, type TreeReader } from '../../repo/tree.ts';
import { ConductorClient } from '@dbos-gitops/conductor';
import { createSecretRotationTask, PREVIOUS_TOKEN_ANNOTATION, TOKEN_ANNOTATION } from './index.ts';
import { actionsOf, ActionError, applyActions, ConductorKeyEffect, describeActions, type ActionDeps } from './token-effects.ts';
import { contextFor, createBareRemote, createFixture, testConfig, type Fixture } from '../../../testing/rotation-fixture.ts';

// A minute after the test certificate's notBefore (made at test time), on a whole minute as key names use minutes.
const NOW = new Date(Math.ceil((Date.now() + 120_000) / 60_000) * 60_000);
const NEW_NAME = `gitops-dev-dbos-app-${NOW.toISOString().replace(/[-:T]/g, '').slice(0, 12)}`;
const HUNDRED_DAYS_AGO = new Date(NOW.getTime() - 100 * 86_400_000).toISOString();
const ORG = 'acme_org';
let fake: ConductorFake;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  fake = await startConductorFake({ org: ORG });
});
afterAll(async () => {
  await fake.stop();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const token of fake.tokens()) if (token.tokenName !== 'keep') await client().deleteToken(ORG, token.tokenName);
  expect(fake.violations).toEqual([]);
});

function client(): ConductorClient {
  return new ConductorClient({ baseUrl: fake.url, apiKey: fake.adminKey, sleep: async () => {} });
}

const task = createSecretRotationTask({
  conductor: { org: ORG, permissions: ['websocket.connect'], tokenPrefix: 'gitops' },
});

async function fixtureWithRunningKey(annotations: Record<string, string> = {}): Promise<{ fixture: Fixture; oldName: string; oldSecret: string }> {
  const old = fake.addToken({ tokenName: 'gitops-dev-202608010000', appNames: ['shop-app'], permissions: ['websocket.connect'] });
  const fixture = await createFixture({
    oldApiKey: old.secret,
    apiKeyAnnotations: { 'dbos.dev/rotated-at': HUNDRED_DAYS_AGO, [TOKEN_ANNOTATION]: old.tokenName, ...annotations },
  });
  cleanups.push(() => fixture.dispose());
  return { fixture, oldName: old.tokenName, oldSecret: old.secret };
}

async function rotationPlan(tree: TreeReader): Promise<Plan> {
  const { plans } = await task.plan(contextFor(tree, testConfig(), NOW));
  const plan = plans.find((candidate) => candidate.subject === 'dbos-app');
  expect(plan).toBeDefined();
  return plan!;
}

function deps(tree: TreeReader, log: string[] = [], overrides: Partial<ActionDeps> = {}): ActionDeps {
  return { conductor: () => client(), readFile: (path) => tree.read(path), now: NOW, log: (line) => log.push(line), ...overrides };
}

/** Every file under a directory, for the "plaintext appears nowhere" check. */
function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...allFiles(path));
    else out.push(path);
  }
  return out;
}

describe('applyActions: create, seal, compensate', () => {
  it('creates the key, seals it into the planned edit (decrypts to the new key), keeps the old key working', async () => {
    const { fixture, oldName, oldSecret } = await fixtureWithRunningKey();
    const tree = fsTree(fixture.root);
    const plan = await rotationPlan(tree);
    const log: string[] = [];
    const prepared = await applyActions(plan, deps(tree, log));

    const newToken = fake.tokens().find((token) => token.tokenName !== oldName)!;
    expect(newToken.tokenName).toBe(NEW_NAME);
    expect(newToken.appNames).toEqual(['shop-app']);
    expect(newToken.permissions).toEqual(['websocket.connect']);
    expect(fake.isValidKey(oldSecret)).toBe(true);

    const sealedEdit = prepared.plan.edits.find((edit) => edit.path.endsWith('conductor-api-key.sealed.yaml'))!;
    expect(await unsealSealedSecret(sealedEdit.after!, [fixture.certificate.privateKeyPem])).toEqual({ 'api-key': newToken.secret });
    const metadata = parse(sealedEdit.after!).metadata as { annotations: Record<string, string> };
    expect(metadata.annotations[TOKEN_ANNOTATION]).toBe(newToken.tokenName);
    expect(metadata.annotations[PREVIOUS_TOKEN_ANNOTATION]).toBe(oldName);
    // Only the api-key line and the annotations changed; every other line is byte-identical.
    const beforeLines = sealedEdit.before!.split('\n');
    const changed = sealedEdit.after!.split('\n').filter((line) => !beforeLines.includes(line));
    expect(changed.every((line) => /^\s+(api-key|dbos\.dev\/)/.test(line))).toBe(true);

    // The secret never shows in the plan text, the log, or the action description.
    const visible = [
      prepared.plan.title,
      prepared.plan.body,
      JSON.stringify(prepared.plan.memory),
      describeActions(prepared.plan),
      ...log,
      JSON.stringify(actionsOf(prepared.plan)),
    ].join('\n');
    expect(visible).not.toContain(newToken.secret);
    expect(prepared.created).toEqual([{ env: 'dev', org: ORG, tokenName: newToken.tokenName }]);
  });

  it('leaves nothing behind when Conductor refuses the create', async () => {
    const { fixture, oldSecret } = await fixtureWithRunningKey();
    const tree = fsTree(fixture.root);
    const plan = await rotationPlan(tree);
    fake.injectFault({ method: 'POST', path: /\/tokens\//, status: 500 });
    await expect(applyActions(plan, deps(tree))).rejects.toMatchObject({ failure: 'unavailable', status: 500 });
    expect(fake.tokens().map((token) => token.tokenName)).toEqual(['gitops-dev-202608010000']);
    expect(fake.isValidKey(oldSecret)).toBe(true);
    expect(readFileSync(join(fixture.root, 'overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml'), 'utf8')).toBe(plan.edits[0]!.before);
  });

  it('deletes the new key again when sealing fails because the committed certificate expired', async () => {
    const expired = makeTestCertificate({ keyBits: 2048, startDate: '20250101000000Z', endDate: '20250201000000Z' });
    const { fixture, oldName, oldSecret } = await fixtureWithRunningKey();
    await fixture.write('clusters/dev/sealed-secrets-cert.pem', expired.certificatePem);
    const tree = fsTree(fixture.root);
    const plan = await rotationPlan(tree);
    const log: string[] = [];
    const error = await applyActions(plan, deps(tree, log)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ActionError);
    expect((error as ActionError).compensated).toBe(true);
    expect((error as ActionError).message).toMatch(/expired/);
    expect(fake.tokens().map((token) => token.tokenName)).toEqual([oldName]);
    expect(fake.isValidKey(oldSecret)).toBe(true);
    expect(log.some((line) => line.includes('deleted the new Conductor API key'))).toBe(true);
  });

  it('says which key is left over when the compensating delete fails too', async () => {
    const expired = makeTestCertificate({ keyBits: 2048, startDate: '20250101000000Z', endDate: '20250201000000Z' });
    const { fixture } = await fixtureWithRunningKey();
    await fixture.write('clusters/dev/sealed-secrets-cert.pem', expired.certificatePem);
    const tree = fsTree(fixture.root);
    const plan = await rotationPlan(tree);
    fake.injectFault({ method: 'DELETE', path: /\/tokens\//, status: 503, times: 3 });
    const error = (await applyActions(plan, deps(tree)).catch((caught: unknown) => caught)) as ActionError;
    expect(error.compensated).toBe(false);
    expect(error.hint).toContain(NEW_NAME);
    expect(fake.tokens().some((token) => token.tokenName === NEW_NAME)).toBe(true);
  });

  it('removes a key whose create lost its connection (outcome unknown), by name', async () => {
    const { fixture, oldName } = await fixtureWithRunningKey();
    const tree = fsTree(fixture.root);
    const plan = await rotationPlan(tree);
    // The create reaches Conductor, but the answer never arrives.
    const lossy = new ConductorClient({
      baseUrl: fake.url,
      apiKey: fake.adminKey,
      sleep: async () => {},
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (init?.method === 'POST') throw new TypeError('fetch failed', { cause: new Error('connection reset') });
        return response;
      },
    });
    const error = (await applyActions(plan, deps(tree, [], { conductor: () => lossy })).catch((caught: unknown) => caught)) as ActionError;
    expect(error).toBeInstanceOf(ActionError);
    expect(error.compensated).toBe(true);
    expect(fake.tokens().map((token) => token.tokenName)).toEqual([oldName]);
  });

  it("compensates after a rejected push through the runner's git workspace: new key gone, remote unchanged", async () => {
    const { fixture, oldName, oldSecret } = await fixtureWithRunningKey();
    const scratch = mkdtempSync(join(tmpdir(), 'rotation-remote-'));
    cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
    const remote = join(scratch, 'remote.git');
    createBareRemote(fixture.root, remote);
    writeFileSync(join(remote, 'hooks', 'pre-receive'), '#!/bin/sh\necho "protected: pushes are closed" >&2\nexit 1\n');
    chmodSync(join(remote, 'hooks', 'pre-receive'), 0o755);
    const workspace = await GitWorkspace.clone(remote, 'main', { name: 'bot', email: 'bot@example.invalid' });
    cleanups.push(() => workspace.dispose());

    const tree = workspace.baseTree();
    const plan = await rotationPlan(tree);
    const prepared = await applyActions(plan, deps(tree));
    expect(fake.tokens()).toHaveLength(2);
    // The runner hook: commit and push the prepared plan; on any failure, compensate before rethrowing.
    const pushError = await workspace.commitAndPush(prepared.plan.branch, prepared.plan.edits, prepared.plan.title, null).catch(async (error: unknown) => {
      await prepared.compensate();
      return error;
    });
    expect(pushError).toBeInstanceOf(PushRejectedError);
    expect(fake.tokens().map((token) => token.tokenName)).toEqual([oldName]);
    expect(fake.isValidKey(oldSecret)).toBe(true);
    expect(await workspace.refreshBranch(prepared.plan.branch)).toBeNull();
    // The plaintext of the created key is nowhere on disk: not in the workspace, the remote, or the fixture.
    const created = fake.calls.find((call) => call.operation === 'createToken' && call.status === 201);
    expect(created).toBeDefined();
    for (const dir of [workspace.dir, remote, fixture.root]) {
      for (const file of allFiles(dir)) expect(readFileSync(file).includes('dbos_')).toBe(false);
    }
  });

  it('runs deletions before creations and treats an already deleted key as done', async () => {
    const { fixture } = await fixtureWithRunningKey();
    const tree = fsTree(fixture.root);
    const plan = await rotationPlan(tree);
    fake.addToken({ tokenName: 'orphan', appNames: null, permissions: null });
    const withDeletes: Plan = {
      ...plan,
      effects: [
        new ConductorKeyEffect(
          [
            ...actionsOf(plan),
            { type: 'conductor.delete-token', env: 'dev', org: ORG, tokenName: 'orphan', reason: 'test' },
            { type: 'conductor.delete-token', env: 'dev', org: ORG, tokenName: 'never-existed', reason: 'test' },
          ],
          null,
        ),
      ],
    };
    const log: string[] = [];
    const firstCall = fake.calls.length;
    await applyActions(withDeletes, deps(tree, log));
    expect(fake.tokens().some((token) => token.tokenName === 'orphan')).toBe(false);
    const order = fake.calls
      .slice(firstCall)
      .filter((call) => call.operation === 'deleteToken' || call.operation === 'createToken')
      .map((call) => call.operation);
    expect(order.indexOf('createToken')).toBeGreaterThan(order.lastIndexOf('deleteToken'));
    expect(log.some((line) => line.startsWith('already gone: Conductor API key never-existed'))).toBe(true);
  });
  it('a guarded delete re-reads git first: the key the base branch runs with is never deleted, whatever the plan says (issue 8 item 2)', async () => {
    const { fixture, oldName, oldSecret } = await fixtureWithRunningKey();
    const tree = fsTree(fixture.root);
    const sealedPath = 'overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml';
    const readRefs = async (path: string) => [{ ref: 'origin/main', text: (await tree.read(path))! }];
    const forged: Plan = {
      ...(await rotationPlan(tree)),
      effects: [
        new ConductorKeyEffect(
          [
            {
              type: 'conductor.delete-token',
              env: 'dev',
              org: ORG,
              tokenName: oldName,
              reason: 'a marker said so',
              guard: { path: sealedPath, annotations: [TOKEN_ANNOTATION], refs: 'base' },
            },
          ],
          null,
        ),
      ],
    };
    const error = (await applyActions(forged, deps(tree, [], { readRefs })).catch((caught: unknown) => caught)) as ActionError;
    expect(error).toBeInstanceOf(ActionError);
    expect(error.message).toBe(`refusing to delete Conductor API key ${oldName}: ${sealedPath} on origin/main records ${oldName} as ${TOKEN_ANNOTATION}`);
    expect(fake.isValidKey(oldSecret)).toBe(true);
    // Without a way to read git, a guarded delete is refused too (fails closed).
    await expect(applyActions(forged, deps(tree))).rejects.toThrow(/no way to read/);
    expect(fake.isValidKey(oldSecret)).toBe(true);
  });
});
