import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startConductorFake, type ConductorFake } from '@dbos-gitops/testkit';
import { contextFor, createFixture, testConfig, type Fixture } from '../testing/rotation-fixture.ts';
import { withEffects } from './effects.ts';
import type { EffectContext, Plan } from './plan.ts';
import { fsTree } from './repo/tree.ts';
import { ConductorClient } from '@dbos-gitops/conductor';
import { ConductorError } from '@dbos-gitops/conductor';
import { conductorClients } from './sources/conductor/factory.ts';
import { createSecretRotationTask } from './tasks/secret-rotation/index.ts';
import { ActionError } from './tasks/secret-rotation/token-effects.ts';

const NOW = new Date(Math.ceil((Date.now() + 120_000) / 60_000) * 60_000);
let fake: ConductorFake;
let fixture: Fixture;
let plan: Plan;
/** The same rotation planned by a bot without Conductor access. */
let planWithoutAccess: Plan;
let context: EffectContext;

beforeAll(async () => {
  fake = await startConductorFake({ org: 'acme_org' });
  fixture = await createFixture();
  const tree = fsTree(fixture.root);
  const task = createSecretRotationTask({ conductor: { org: 'acme_org', permissions: ['websocket.connect'], tokenPrefix: 'gitops' } });
  const client = new ConductorClient({ baseUrl: fake.url, apiKey: fake.adminKey, sleep: async () => {} });
  plan = (await task.plan(contextFor(tree, testConfig(), NOW, [], () => client))).plans[0]!;
  planWithoutAccess = (await task.plan(contextFor(tree, testConfig(), NOW))).plans[0]!;
  context = { readFile: (path) => tree.read(path), openBranches: [], now: NOW, log: () => {} };
});
afterAll(async () => {
  await fake.stop();
  await fixture.dispose();
});
afterEach(() => {
  expect(fake.violations).toEqual([]);
});

const quiet = { print: () => {} };

describe('withEffects (the runner hook)', () => {
  it('passes a plan without effects straight through', async () => {
    const plain: Plan = { ...plan, effects: [] };
    const seen = await withEffects(plain, context, { dryRun: false, ...quiet }, async (completed) => completed);
    expect(seen).toBe(plain);
  });

  it('describes the effects in dry-run and calls Conductor not at all', async () => {
    const printed: string[] = [];
    const before = fake.calls.length;
    await withEffects(plan, context, { dryRun: true, print: (text) => printed.push(text) }, async () => undefined);
    expect(fake.calls.length).toBe(before);
    expect(printed.join('\n')).toMatch(
      /create Conductor API key gitops-dev-dbos-app-\d{12} in organization acme_org \(apps shop-app; permissions websocket\.connect\)/,
    );
  });

  it('hands the completed plan to the step, and undoes the new key when the step fails', async () => {
    const failure = new Error('push rejected');
    let sealed = '';
    const error = await withEffects(plan, context, { dryRun: false, ...quiet }, async (completed) => {
      sealed = completed.edits[0]!.after!;
      expect(fake.tokens()).toHaveLength(1);
      throw failure;
    }).catch((caught: unknown) => caught);
    expect(error).toBe(failure);
    expect(sealed).not.toBe(plan.edits[0]!.after);
    expect(fake.tokens()).toEqual([]);
  });

  it('refuses a plan with effects when no Conductor access is configured', async () => {
    await expect(withEffects(planWithoutAccess, context, { dryRun: false, ...quiet }, async () => undefined)).rejects.toBeInstanceOf(ActionError);
  });
});

describe('conductorClients', () => {
  it('reads the admin key from the named variable only when an environment is used, and names the variable, not a value, when it is missing', async () => {
    const clients = conductorClients(
      { dev: { url: fake.url, adminKeyEnv: 'DEV_CONDUCTOR_KEY' }, prod: { url: fake.url, adminKeyEnv: 'PROD_CONDUCTOR_KEY' } },
      { DEV_CONDUCTOR_KEY: fake.adminKey },
    );
    expect(await clients('dev').listTokens('acme_org')).toEqual([]);
    expect(clients('dev')).toBe(clients('dev'));
    expect(() => clients('prod')).toThrow(ConductorError);
    expect(() => clients('prod')).toThrow(/PROD_CONDUCTOR_KEY/);
    expect(() => clients('qa')).toThrow(/no Conductor access is configured for environment qa/);
  });
});
