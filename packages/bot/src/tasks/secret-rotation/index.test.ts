import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate, sealSecret, toYaml } from '@dbos-gitops/sealing';
import { parse } from 'yaml';
import { unsealSealedSecret } from '@dbos-gitops/sealing/testing';
import { startConductorFake, type ConductorFake } from '@dbos-gitops/testkit';
import {
  API_KEY_PATH,
  contextFor,
  createFixture,
  ORDERS_API_KEY_PATH,
  ORDERS_ROLLOUT_PATCH_PATH,
  ROLLOUT_PATCH_PATH,
  testConfig,
  type Fixture,
} from '../../../testing/rotation-fixture.ts';
import { conductorRotationSchema, configSchema } from '../../config/schema.ts';
import { configuredTasks } from '../index.ts';
import { actionsOf, applyActions } from './token-effects.ts';
import { inspectMarker, parseBranch, readMarker, type Plan } from '../../plan.ts';
import { fsTree } from '../../repo/tree.ts';
import { ConductorClient, type TokenInfo } from '@dbos-gitops/conductor';
import {
  createSecretRotationTask,
  PREVIOUS_TOKEN_ANNOTATION,
  readRolloutStamp,
  ROLLOUT_ANNOTATION,
  TOKEN_ANNOTATION,
  type RolloutCheck,
  type SecretRotationOptions,
} from './index.ts';
import type { PreviousProposal } from '../types.ts';

const DAY_MS = 86_400_000;
const NOW = new Date(Math.ceil((Date.now() + 120_000) / 60_000) * 60_000);
const ago = (days: number): string => new Date(NOW.getTime() - days * DAY_MS).toISOString();
const CONDUCTOR = { org: 'acme_org', permissions: ['websocket.connect'], tokenPrefix: 'gitops' };
const fixtures: Fixture[] = [];

afterEach(async () => {
  for (const fixture of fixtures.splice(0)) await fixture.dispose();
});

async function fixture(options: Parameters<typeof createFixture>[0] = {}): Promise<Fixture> {
  const created = await createFixture(options);
  fixtures.push(created);
  return created;
}

/** What Conductor lists by default: the keys the fixtures' annotations name (none of them is a bot-named orphan). */
const LISTED: TokenInfo[] = ['gitops-dev-old', 'gitops-dev-new', 'gitops-dev-current'].map((tokenName) => ({
  tokenName,
  appIds: null,
  permissions: ['websocket.connect'],
  createdAt: ago(300),
}));

async function run(root: string, options: Partial<SecretRotationOptions> = {}, previous: PreviousProposal[] = [], kube = false) {
  return createSecretRotationTask({ conductor: CONDUCTOR, keyList: async () => LISTED, ...options }).plan(
    contextFor(fsTree(root), testConfig({ kube }), NOW, previous),
  );
}

function proposal(branch: string, state: 'open' | 'closed', merged: boolean, tokenName: string, number = 7): PreviousProposal {
  // Built as a variable, not returned as a literal, so it type-checks whether or not PreviousProposal carries `body`.
  const record = {
    branch,
    number,
    state,
    merged,
    held: false,
    body: '',
    proposal: { task: 'secret-rotation', env: 'dev', subject: branch.split('/').pop()!, memory: { key: tokenName, replaced: null } },
  };
  return record;
}

function annotationsOf(text: string): Record<string, string> {
  return (parse(text).metadata as { annotations?: Record<string, string> }).annotations ?? {};
}

describe('secret-rotation planner', () => {
  it('replaces a placeholder key: annotations, rollout stamp and a create action; the old ciphertext is untouched until apply', async () => {
    const root = (await fixture()).root;
    const { plans, skips } = await run(root);
    expect(plans.map((plan) => plan.branch)).toEqual(['bot/secret-rotation/dev/dbos-app']);
    const plan = plans[0]!;
    const sealed = plan.edits.find((edit) => edit.path === 'overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml')!;
    const annotations = annotationsOf(sealed.after!);
    expect(annotations['dbos.dev/placeholder']).toBeUndefined();
    expect(annotations['dbos.dev/rotated-at']).toBe(NOW.toISOString());
    expect(annotations[TOKEN_ANNOTATION]).toMatch(/^gitops-dev-dbos-app-\d{12}$/);
    expect(annotations[PREVIOUS_TOKEN_ANNOTATION]).toBeUndefined();
    expect(parse(sealed.after!).spec.encryptedData).toEqual(parse(sealed.before!).spec.encryptedData);

    const patch = plan.edits.find((edit) => edit.path === 'overlays/dev/apps/dbos-app/rollout.patch.yaml')!;
    expect(readRolloutStamp(patch.after!)).toBe(NOW.toISOString());
    expect(patch.after!.startsWith('# Rolls every app Deployment')).toBe(true);

    expect(actionsOf(plan)).toEqual([
      expect.objectContaining({
        type: 'conductor.create-token',
        org: 'acme_org',
        tokenName: annotations[TOKEN_ANNOTATION],
        appNames: ['shop-app'],
        permissions: ['websocket.connect'],
        sealInto: expect.objectContaining({
          key: 'api-key',
          certPath: 'clusters/dev/sealed-secrets-cert.pem',
          secretName: 'conductor-api-key',
          namespace: 'dbos',
          scope: 'strict',
        }),
      }),
    ]);
    expect(readMarker(plan.body)?.memory.key).toBe(annotations[TOKEN_ANNOTATION]);

    // Secrets it cannot make are reported, never proposed.
    const reasons = Object.fromEntries(skips.map((skip) => [skip.subject, skip.reason]));
    expect(reasons['conductor-license']).toMatch(/placeholder.*cannot create it/);
    expect(reasons['dex-credentials']).toMatch(/due for rotation/);
    expect(reasons['conductor-db']).toBeUndefined();
  });

  it('reports only the keys a SealedSecret still marks as placeholders, with a command for its own namespace', async () => {
    const created = await fixture();
    const certificate = parseCertificate(created.certificate.certificatePem, { allowInvalidDates: true });
    // KEDA's copy of the drain reader lives in KEDA's namespace; one of its two keys is already sealed for real.
    await created.write(
      'overlays/dev/platform/secrets/dbos-drain-reader-keda.sealed.yaml',
      toYaml(
        sealSecret({
          certificate,
          name: 'dbos-drain-reader-keda',
          namespace: 'keda',
          data: { 'database-url': 'x', 'ca.crt': 'y' },
          annotations: { 'dbos.dev/placeholder': 'true', 'dbos.dev/placeholder-keys': 'database-url' },
        }),
      ),
    );
    const { skips } = await run(created.root);
    const reason = skips.find((skip) => skip.subject === 'dbos-drain-reader-keda')?.reason;
    expect(reason).toContain('holds a placeholder (database-url)');
    expect(reason).toContain('`pnpm secrets:seal --env dev --name dbos-drain-reader-keda --namespace keda --key database-url`');
    expect(reason).not.toContain('ca.crt');
    // A file in dbos keeps the default namespace out of the command.
    expect(skips.find((skip) => skip.subject === 'conductor-license')?.reason).toContain(
      '`pnpm secrets:seal --env dev --name conductor-license --key license-key`',
    );
  });

  it("a dashboard's rotate-now tick forces exactly that environment's key, and the PR says who ticked it", async () => {
    const root = (await fixture({ apiKeyAnnotations: { 'dbos.dev/rotated-at': ago(10), [TOKEN_ANNOTATION]: 'gitops-dev-old' } })).root;
    const config = testConfig();
    config.secretRotation!.conductor = conductorRotationSchema.parse({ ...CONDUCTOR, url: 'http://127.0.0.1:9' });
    const plan = (envs: string[]) =>
      configuredTasks(config, {
        rotateNow: false,
        envFilter: null,
        rotateNowFromDashboard: envs.map((env) => ({ env, by: ['maintainer'] })),
        conductorKeys: async () => LISTED,
      })
        .find((task) => task.name === 'secret-rotation')!
        .plan(contextFor(fsTree(root), config, NOW, []));
    expect((await plan([])).plans).toEqual([]);
    expect((await plan(['prod'])).plans).toEqual([]);
    const forced = await plan(['dev']);
    expect(forced.plans).toHaveLength(1);
    expect(annotationsOf(forced.plans[0]!.edits[0]!.after!)[PREVIOUS_TOKEN_ANNOTATION]).toBe('gitops-dev-old');
    expect(forced.plans[0]!.body).toContain('(rotation was asked for on the dashboard: @maintainer ticked it)');
  });

  it('leaves a young key alone, and rotates it when forced for that environment', async () => {
    const root = (await fixture({ apiKeyAnnotations: { 'dbos.dev/rotated-at': ago(10), [TOKEN_ANNOTATION]: 'gitops-dev-old' } })).root;
    const quiet = await run(root);
    expect(quiet.plans).toEqual([]);
    expect(quiet.skips.find((skip) => skip.subject === 'dbos-app')?.reason).toMatch(/10d old, below the maximum of 90d/);
    expect((await run(root, { force: ['prod'] })).plans).toEqual([]);
    const forced = await run(root, { force: ['dev'] });
    expect(forced.plans).toHaveLength(1);
    expect(annotationsOf(forced.plans[0]!.edits[0]!.after!)[PREVIOUS_TOKEN_ANNOTATION]).toBe('gitops-dev-old');
    expect((await run(root, { maxAgeSeconds: 5 * 86_400 })).plans).toHaveLength(1);
    // The bot config's secretRotation entry for the file wins over the task option.
    const config = testConfig();
    config.secretRotation!.secrets.push({ name: 'conductor-api-key', file: 'apps/dbos-app/secrets/conductor-api-key.sealed.yaml', maxAge: 7 * 86_400 });
    const fromConfig = await createSecretRotationTask({ conductor: CONDUCTOR }).plan(contextFor(fsTree(root), config, NOW));
    expect(fromConfig.plans).toHaveLength(1);
    expect(fromConfig.plans[0]!.body).toContain('the key is 10d old (maximum 7d)');
  });

  it('holds an open rotation PR instead of creating another key', async () => {
    const root = (await fixture()).root;
    const { plans, skips } = await run(root, {}, [proposal('bot/secret-rotation/dev/dbos-app', 'open', false, 'gitops-dev-x', 12)]);
    expect(plans).toEqual([]);
    expect(skips.find((skip) => skip.subject === 'dbos-app')).toMatchObject({ held: true, reason: expect.stringMatching(/#12 is open/) });
  });

  it('never deletes a key because a PR marker says so: closed PRs naming the live key or an abandoned one add no delete (issue 8 item 2)', async () => {
    const root = (await fixture({ apiKeyAnnotations: { 'dbos.dev/rotated-at': ago(120), [TOKEN_ANNOTATION]: 'gitops-dev-current' } })).root;
    const result = await run(root, {}, [
      proposal('bot/secret-rotation/dev/dbos-app', 'closed', false, 'gitops-dev-abandoned', 3),
      proposal('bot/secret-rotation/dev/dbos-app', 'closed', false, 'gitops-dev-current', 2),
      proposal('bot/secret-rotation/dev/dbos-app', 'closed', false, 'gitops-staging-202601010000', 4),
    ]);
    expect(result.plans.map((plan) => plan.subject)).toEqual(['dbos-app']);
    expect(result.plans.flatMap((plan) => actionsOf(plan)).map((action) => action.type)).toEqual(['conductor.create-token']);
    expect(actionsOf(result)).toEqual([]);
  });

  it("finds unused bot-created keys in Conductor's list: deletes those past the grace period, keeps young, live, open-PR and foreign keys (issue 8 items 2, 3)", async () => {
    const root = (
      await fixture({
        apiKeyAnnotations: {
          'dbos.dev/rotated-at': ago(1),
          [TOKEN_ANNOTATION]: 'gitops-dev-dbos-app-202601010000',
          [PREVIOUS_TOKEN_ANNOTATION]: 'gitops-dev-dbos-app-202510010000',
        },
      })
    ).root;
    const key = (tokenName: string, createdAt: string, appIds: string[] | null = ['shop-app']): TokenInfo => ({
      tokenName,
      appIds,
      permissions: ['websocket.connect'],
      createdAt,
    });
    const fiveMinutesAgo = new Date(NOW.getTime() - 5 * 60_000).toISOString();
    const listed = [
      key('gitops-dev-dbos-app-202601010000', ago(30)), // live on the base branch
      key('gitops-dev-dbos-app-202510010000', ago(60)), // previous on the base branch: revocation's business, not an orphan
      key('gitops-dev-dbos-app-202511010000', ago(20)), // orphan of an interrupted run
      key('gitops-dev-dbos-app-202511010000-2', ''), // orphan without createdAt: aged by its name
      key('gitops-dev-dbos-app-202512010000', ago(3)), // named by an open PR
      key(`gitops-dev-dbos-app-${fiveMinutesAgo.replace(/[-:T]/g, '').slice(0, 12)}`, fiveMinutesAgo), // too young: a concurrent run's key
      key('gitops-staging-202511010000', ago(20)), // another environment
      key('gitops-dev-eu-202511010000', ago(20)), // another environment whose name starts with dev
      key('gitops-dev-orders-202511010000', ago(20), ['orders']), // another application's key: orders' files judge it
      key('gitops-dev-dbos-app-202511020000', ago(20), null), // named like dbos-app's but serving every app: not the bot's doing
      key('gitops-dev-dbos-app-202511030000', ago(20), ['orders']), // named like dbos-app's but scoped to orders
      key('ci-deploy', ago(20)), // made by a human
    ];
    const result = await run(root, { keyList: async () => listed }, [
      proposal('bot/secret-rotation/dev/dbos-app', 'open', false, 'gitops-dev-dbos-app-202512010000', 5),
    ]);
    const deletes = actionsOf(result);
    expect(deletes.map((action) => action.tokenName)).toEqual(['gitops-dev-dbos-app-202511010000', 'gitops-dev-dbos-app-202511010000-2']);
    for (const action of deletes) {
      expect(action).toMatchObject({
        type: 'conductor.delete-token',
        env: 'dev',
        org: 'acme_org',
        guard: {
          path: 'overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml',
          refs: 'base-and-open-bot-branches',
          annotations: [TOKEN_ANNOTATION, PREVIOUS_TOKEN_ANNOTATION],
        },
      });
    }
    const said = result.skips.filter((skip) => skip.subject === 'dbos-app.orphans').map((skip) => skip.reason);
    expect(said.filter((reason) => reason.includes('deletes it'))).toHaveLength(2);
    expect(said.filter((reason) => /Conductor scopes it to (every application|\[orders\]), not to shop-app alone; kept/.test(reason))).toHaveLength(2);
    expect(said.filter((reason) => reason.includes('in case a concurrent run'))).toHaveLength(1);
    // Conductor unreachable: nothing is deleted and the run says why.
    const blind = await run(root, { keyList: () => Promise.reject(new Error('Conductor list API keys failed (HTTP 503)')) });
    expect(actionsOf(blind)).toEqual([]);
    expect(blind.skips.find((skip) => skip.subject === 'dbos-app.orphans')?.reason).toMatch(/HTTP 503/);
  });

  it('gives a new key a name no existing key has, so a re-run in the same minute does not hit 409 (issue 8 item 3)', async () => {
    const root = (await fixture()).root;
    const minute = `gitops-dev-dbos-app-${NOW.toISOString().replace(/[-:T]/g, '').slice(0, 12)}`;
    const listed = [minute, `${minute}-2`].map((tokenName) => ({ tokenName, appIds: null, permissions: [], createdAt: NOW.toISOString() }));
    const { plans } = await run(root, { keyList: async () => listed });
    expect(actionsOf(plans[0]!).map((action) => action.tokenName)).toEqual([`${minute}-3`]);
  });

  it('revokes the previous key only when Conductor lists the current key the base branch records (issue 8 item 2)', async () => {
    const root = (
      await fixture({
        apiKeyAnnotations: { [TOKEN_ANNOTATION]: 'gitops-dev-new', [PREVIOUS_TOKEN_ANNOTATION]: 'gitops-dev-old', 'dbos.dev/rotated-at': ago(2) },
      })
    ).root;
    const onlyOld = [{ tokenName: 'gitops-dev-old', appIds: null, permissions: [], createdAt: ago(100) }];
    const missing = await run(root, { keyList: async () => onlyOld });
    expect(missing.plans).toEqual([]);
    expect(missing.skips.find((skip) => skip.subject === 'dbos-app.revoke')?.reason).toMatch(/Conductor does not list gitops-dev-new/);
    const unknown = await run(root, { keyList: () => Promise.reject(new Error('HTTP 503')) });
    expect(unknown.plans).toEqual([]);
    expect(unknown.skips.find((skip) => skip.subject === 'dbos-app.revoke')?.reason).toMatch(/fails closed/);
    const proven = await run(root);
    expect(proven.plans.flatMap((plan) => actionsOf(plan))).toEqual([
      expect.objectContaining({
        type: 'conductor.delete-token',
        tokenName: 'gitops-dev-old',
        guard: expect.objectContaining({ refs: 'base', annotations: [TOKEN_ANNOTATION] }),
      }),
    ]);
  });

  it('reports instead of rotating when Conductor access or the rollout patch is missing', async () => {
    const noPatch = (await fixture({ rolloutPatch: false })).root;
    const missing = await run(noPatch);
    expect(missing.plans).toEqual([]);
    expect(missing.skips.find((skip) => skip.subject === 'dbos-app')?.reason).toMatch(/apps\/dbos-app\/rollout\.patch\.yaml is missing/);
    const root = (await fixture()).root;
    const offline = await createSecretRotationTask({ conductor: null }).plan(contextFor(fsTree(root), testConfig(), NOW));
    expect(offline.plans).toEqual([]);
    expect(offline.skips.find((skip) => skip.subject === 'dbos-app')?.reason).toMatch(
      /no Conductor access.*create a key for shop-app .*pnpm secrets:seal --env dev --app dbos-app --name conductor-api-key --key api-key/,
    );
  });

  describe('per application', () => {
    const twoApps = (): Promise<Fixture> => fixture({ orders: { apiKeyAnnotations: { 'dbos.dev/placeholder': 'true' } } });
    const planTwoApps = (root: string, options: Partial<SecretRotationOptions> = {}, previous: PreviousProposal[] = []) =>
      createSecretRotationTask({ conductor: CONDUCTOR, keyList: async () => LISTED, ...options }).plan(
        contextFor(fsTree(root), testConfig({ orders: true }), NOW, previous),
      );

    it('two applications in one environment get two independent PRs, each touching only its own key file and rollout patch, each key scoped to its own Conductor app', async () => {
      const { plans } = await planTwoApps((await twoApps()).root);
      expect(plans.map((plan) => plan.branch)).toEqual(['bot/secret-rotation/dev/dbos-app', 'bot/secret-rotation/dev/orders']);
      const [dbosApp, orders] = plans as [Plan, Plan];
      expect(dbosApp.edits.map((edit) => edit.path)).toEqual([API_KEY_PATH, ROLLOUT_PATCH_PATH]);
      expect(orders.edits.map((edit) => edit.path)).toEqual([ORDERS_API_KEY_PATH, ORDERS_ROLLOUT_PATCH_PATH]);
      expect(actionsOf(dbosApp)).toEqual([
        expect.objectContaining({ tokenName: expect.stringMatching(/^gitops-dev-dbos-app-\d{12}$/), appNames: ['shop-app'] }),
      ]);
      expect(actionsOf(orders)).toEqual([
        expect.objectContaining({
          tokenName: expect.stringMatching(/^gitops-dev-orders-\d{12}$/),
          appNames: ['orders'],
          sealInto: expect.objectContaining({ path: ORDERS_API_KEY_PATH, secretName: 'orders-conductor-api-key' }),
        }),
      ]);
      expect(orders.title).toBe('dev/orders: rotate the Conductor API key');
      expect(orders.body).toContain('application **orders**');
      expect(readMarker(orders.body)).toMatchObject({ task: 'secret-rotation', env: 'dev', subject: 'orders' });
      // Markers are read back strictly against their branch: orders' marker never stands for dbos-app's PR, and the
      // revocation subject (with a "." no application name has) round-trips through its own branch only.
      expect(inspectMarker(orders.body, 'bot/secret-rotation/dev/orders')).toHaveProperty('marker');
      expect(inspectMarker(orders.body, 'bot/secret-rotation/dev/dbos-app')).toEqual({ problem: expect.stringMatching(/not its branch/) });
      expect(parseBranch('bot/secret-rotation/dev/orders.revoke')).toEqual({ task: 'secret-rotation', env: 'dev', subject: 'orders.revoke' });
      // An open PR of one application holds only that application.
      const held = await planTwoApps((await twoApps()).root, {}, [proposal('bot/secret-rotation/dev/orders', 'open', false, 'gitops-dev-x', 4)]);
      expect(held.plans.map((plan) => plan.branch)).toEqual(['bot/secret-rotation/dev/dbos-app']);
      expect(held.skips.find((skip) => skip.subject === 'orders')).toMatchObject({ held: true });
    });

    it("an application's orphan sweep never judges another application's keys: each is judged by its own files only", async () => {
      const root = (
        await fixture({
          apiKeyAnnotations: { 'dbos.dev/rotated-at': ago(1), [TOKEN_ANNOTATION]: 'gitops-dev-dbos-app-202601010000' },
          orders: { apiKeyAnnotations: { 'dbos.dev/rotated-at': ago(1), [TOKEN_ANNOTATION]: 'gitops-dev-orders-202601010000' } },
        })
      ).root;
      const key = (tokenName: string, app: string): TokenInfo => ({ tokenName, appIds: [app], permissions: [], createdAt: ago(20) });
      const listed = [
        key('gitops-dev-dbos-app-202601010000', 'shop-app'), // dbos-app's live key
        key('gitops-dev-orders-202601010000', 'orders'), // orders' live key: dbos-app's file does not name it, and must not matter
        key('gitops-dev-orders-202511010000', 'orders'), // orders' orphan
      ];
      const result = await planTwoApps(root, { keyList: async () => listed });
      expect(result.plans).toEqual([]);
      expect(actionsOf(result)).toEqual([
        expect.objectContaining({ tokenName: 'gitops-dev-orders-202511010000', guard: expect.objectContaining({ path: ORDERS_API_KEY_PATH }) }),
      ]);
      expect(result.skips.filter((skip) => skip.subject === 'dbos-app.orphans')).toEqual([]);
      // Without orders in the config, nothing judges orders' keys at all (dbos-app never takes them for its own).
      const alone = await createSecretRotationTask({ conductor: CONDUCTOR, keyList: async () => listed }).plan(contextFor(fsTree(root), testConfig(), NOW));
      expect(actionsOf(alone)).toEqual([]);
    });

    it("reports the platform secrets and each application's other secrets, with the sealing command for their place", async () => {
      const created = await twoApps();
      const certificate = parseCertificate(created.certificate.certificatePem, { allowInvalidDates: true });
      await created.write(
        'overlays/dev/apps/orders/secrets/orders-db.sealed.yaml',
        toYaml(
          sealSecret({ certificate, name: 'orders-db', namespace: 'dbos', data: { 'database-url': 'x' }, annotations: { 'dbos.dev/placeholder': 'true' } }),
        ),
      );
      const { skips } = await planTwoApps(created.root);
      const reasons = Object.fromEntries(skips.map((skip) => [skip.subject, skip.reason]));
      expect(reasons['orders-db']).toContain('`pnpm secrets:seal --env dev --app orders --name orders-db --key database-url`');
      expect(reasons['conductor-license']).toContain('`pnpm secrets:seal --env dev --name conductor-license --key license-key`');
      // The application's API key is rotated, never reported as a placeholder to seal by hand.
      expect(reasons['orders-conductor-api-key']).toBeUndefined();
      // A configured app secret is looked for only where the app runs (here: dbos-app alone, so orders' is not "missing").
      const config = testConfig();
      config.secretRotation!.secrets.push({ name: 'orders-db', file: 'apps/orders/secrets/orders-db.sealed.yaml', maxAge: 86_400 });
      const alone = await createSecretRotationTask({ conductor: CONDUCTOR, keyList: async () => LISTED }).plan(contextFor(fsTree(created.root), config, NOW));
      expect(alone.skips.find((skip) => skip.subject === 'orders-db')).toBeUndefined();
      config.apps.push(testConfig({ orders: true }).apps[1]!);
      const both = await createSecretRotationTask({ conductor: CONDUCTOR, keyList: async () => LISTED }).plan(contextFor(fsTree(created.root), config, NOW));
      expect(both.skips.find((skip) => skip.subject === 'orders-db')?.reason).toMatch(/holds a placeholder/);
    });

    it('skips an application whose identity.yaml is missing, and still rotates the others', async () => {
      const created = await twoApps();
      await rm(join(created.root, 'overlays/dev/apps/orders/identity.yaml'));
      const { plans, skips } = await planTwoApps(created.root);
      expect(plans.map((plan) => plan.subject)).toEqual(['dbos-app']);
      expect(skips.find((skip) => skip.subject === 'orders')?.reason).toMatch(/overlays\/dev\/apps\/orders\/identity\.yaml does not exist/);
    });
  });

  it('refuses secretRotation.conductor.appNames, saying keys are now scoped per application', () => {
    const parsed = configSchema.safeParse({
      version: 1,
      environments: [{ name: 'dev', overlay: 'overlays/dev' }],
      secretRotation: { conductor: { org: 'acme_org', url: 'http://conductor.example:8090', appNames: ['dbos-app'] } },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues).toEqual([
      expect.objectContaining({ path: ['secretRotation', 'conductor', 'appNames'], message: expect.stringMatching(/scoped per application/) }),
    ]);
  });

  describe('revocation of the previous key', () => {
    const merged = { [TOKEN_ANNOTATION]: 'gitops-dev-new', [PREVIOUS_TOKEN_ANNOTATION]: 'gitops-dev-old' };

    it('waits for the grace period without cluster access, then proposes clearing the annotation with a delete action', async () => {
      const early = (await fixture({ apiKeyAnnotations: { ...merged, 'dbos.dev/rotated-at': ago(0.5) } })).root;
      const waiting = await run(early);
      expect(waiting.plans).toEqual([]);
      expect(waiting.skips.find((skip) => skip.subject === 'dbos-app.revoke')?.reason).toMatch(/waits 1d/);

      const later = (await fixture({ apiKeyAnnotations: { ...merged, 'dbos.dev/rotated-at': ago(2) } })).root;
      const { plans } = await run(later);
      expect(plans.map((plan) => plan.subject)).toEqual(['dbos-app.revoke']);
      const plan = plans[0]!;
      expect(actionsOf(plan)).toEqual([expect.objectContaining({ type: 'conductor.delete-token', tokenName: 'gitops-dev-old', org: 'acme_org' })]);
      expect(plan.edits).toHaveLength(1);
      const after = annotationsOf(plan.edits[0]!.after!);
      expect(after[PREVIOUS_TOKEN_ANNOTATION]).toBeUndefined();
      expect(after[TOKEN_ANNOTATION]).toBe('gitops-dev-new');
      // Only the one annotation line goes; everything else is byte-identical.
      const removed = plan.edits[0]!.before!.split('\n').filter((line) => !plan.edits[0]!.after!.split('\n').includes(line));
      expect(removed).toHaveLength(1);
      expect(removed[0]).toMatch(/^ {4}dbos\.dev\/conductor-token-previous: "?gitops-dev-old"?$/);
      expect(plan.edits[0]!.after!.split('\n')).toHaveLength(plan.edits[0]!.before!.split('\n').length - 1);
    });

    it('with cluster access, revokes only when every app pod rolled out with the merged stamp, and fails closed on unknown', async () => {
      const root = (await fixture({ apiKeyAnnotations: { ...merged, 'dbos.dev/rotated-at': ago(5) } })).root;
      const asked: string[] = [];
      const check = (answer: boolean | null): RolloutCheck => ({
        async rolledOut(env, namespace, app, annotation, value) {
          asked.push(`${env} ${namespace} ${app} ${annotation}=${value}`);
          return answer;
        },
      });
      expect((await run(root, { rollout: check(false) }, [], true)).plans).toEqual([]);
      expect((await run(root, { rollout: check(null) }, [], true)).skips.find((skip) => skip.subject === 'dbos-app.revoke')?.reason).toMatch(/fails closed/);
      expect((await run(root, { rollout: check(true) }, [], true)).plans.map((plan) => plan.subject)).toEqual(['dbos-app.revoke']);
      expect(asked[0]).toBe(`dev dbos dbos-app ${ROLLOUT_ANNOTATION}=2026-01-01T00:00:00.000Z`);
    });

    it('holds an open revocation PR and never rotates again before the previous key is revoked', async () => {
      const root = (await fixture({ apiKeyAnnotations: { ...merged, 'dbos.dev/rotated-at': ago(200) } })).root;
      const { plans, skips } = await run(root, {}, [proposal('bot/secret-rotation/dev/dbos-app.revoke', 'open', false, 'gitops-dev-new', 9)]);
      expect(plans).toEqual([]);
      expect(skips.find((skip) => skip.subject === 'dbos-app.revoke')).toMatchObject({ held: true });
      expect(skips.find((skip) => skip.subject === 'dbos-app')?.reason).toMatch(/previous key gitops-dev-old must be revoked first/);
    });

    it('never revokes a key that the base branch still names as current', async () => {
      const root = (await fixture({ apiKeyAnnotations: { [TOKEN_ANNOTATION]: 'same', [PREVIOUS_TOKEN_ANNOTATION]: 'same', 'dbos.dev/rotated-at': ago(30) } }))
        .root;
      const { plans } = await run(root);
      expect(plans.flatMap((plan) => actionsOf(plan))).toEqual([]);
    });
  });
});

describe('secret-rotation end to end against the Conductor fake', () => {
  let fake: ConductorFake;
  beforeAll(async () => {
    fake = await startConductorFake({ org: 'acme_org' });
  });
  afterAll(async () => {
    await fake.stop();
  });

  it('rotates, "merges", rolls, then revokes: the old key stops working only after the new one is live, and no secret is ever visible', async () => {
    const old = fake.addToken({ tokenName: 'gitops-dev-old', appNames: ['shop-app'], permissions: ['websocket.connect'] });
    const env = await fixture({ oldApiKey: old.secret, apiKeyAnnotations: { 'dbos.dev/rotated-at': ago(100), [TOKEN_ANNOTATION]: 'gitops-dev-old' } });
    const client = new ConductorClient({ baseUrl: fake.url, apiKey: fake.adminKey, sleep: async () => {} });
    const tree = fsTree(env.root);
    const logs: string[] = [];
    const readRefs = async (path: string) => {
      const text = await tree.read(path);
      return text === null ? [] : [{ ref: 'the fixture', text }];
    };
    const deps = { conductor: () => client, readFile: (path: string) => tree.read(path), readRefs, now: NOW, log: (line: string) => logs.push(line) };
    const merge = async (plan: Plan): Promise<void> => {
      for (const edit of plan.edits) await env.write(edit.path, edit.after!);
    };

    const keyList = () => client.listTokens('acme_org');
    const first = await run(env.root, { keyList });
    const rotation = await applyActions(first.plans[0]!, deps);
    const created = fake.tokens().find((token) => token.tokenName !== 'gitops-dev-old')!;
    expect(fake.isValidKey(old.secret)).toBe(true);
    await merge(rotation.plan);
    const sealedPath = join(env.root, 'overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml');
    expect(await unsealSealedSecret(readFileSync(sealedPath, 'utf8'), [env.certificate.privateKeyPem])).toEqual({ 'api-key': created.secret });

    // The same day: merged but not yet past the grace period, so the old key is kept.
    const sameDay = await run(env.root, { keyList });
    expect(sameDay.plans).toEqual([]);
    expect(fake.isValidKey(old.secret)).toBe(true);

    const twoDaysLater = await createSecretRotationTask({ conductor: CONDUCTOR, keyList }).plan(
      contextFor(tree, testConfig(), new Date(NOW.getTime() + 2 * DAY_MS)),
    );
    expect(twoDaysLater.plans.map((plan) => plan.subject)).toEqual(['dbos-app.revoke']);
    const revocation = await applyActions(twoDaysLater.plans[0]!, deps);
    expect(fake.isValidKey(old.secret)).toBe(false);
    expect(fake.isValidKey(created.secret)).toBe(true);
    await merge(revocation.plan);
    expect(annotationsOf(readFileSync(sealedPath, 'utf8'))[PREVIOUS_TOKEN_ANNOTATION]).toBeUndefined();

    const visible = [first, sameDay, twoDaysLater]
      .flatMap((result) => [...result.plans.map((plan) => `${plan.title}\n${plan.body}`), ...result.skips.map((skip) => skip.reason)])
      .concat(logs, rotation.plan.body, revocation.plan.body);
    for (const secret of [old.secret, created.secret]) expect(visible.join('\n')).not.toContain(secret);
    for (const text of [readFileSync(sealedPath, 'utf8'), readFileSync(join(env.root, 'overlays/dev/apps/dbos-app/rollout.patch.yaml'), 'utf8')]) {
      for (const secret of [old.secret, created.secret]) expect(text).not.toContain(secret);
    }
    expect(fake.violations).toEqual([]);
  });
});
