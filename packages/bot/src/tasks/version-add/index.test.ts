import { runOnRemote } from '../../../testing/run-on-remote.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBareRemote, type BareRemote } from '@dbos-gitops/testkit';
import { createDbosSystemDatabase, startPostgres, startRegistry, type DbosSystemDatabase, type PostgresServer, type TestRegistry } from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import { defaultDrainSourceFor, type DrainSourceFor } from '../../sources/drain/for-environment.ts';
import { parseConfig } from '../../config/load.ts';
import { planAll } from '../../runner.ts';
import { OciRegistryClient } from '../../sources/registry/oci-client.ts';
import { memoryTree, pullRequestsOf, versionFixtureFiles, versionsDirOf, type FixtureApp } from '../../../testing/version-fixture.ts';
import { ConfigError } from '../../errors.ts';
import { inspectMarker } from '../../plan.ts';
import { versionAddTask } from './index.ts';
import { readPins } from '../shared/pins.ts';
import type { PreviousProposal } from '../types.ts';

/*
 * version-add against a real OCI registry (docker-registry on loopback) and the real runner with a real bare git
 * remote: newest allowed and old-enough tag into dev, then the exact merged digest into staging, then prod.
 * Promotion needs the previous environment's DBOS evidence to pass (gate.test.ts tests the gate itself); here every
 * environment's drain reader reads one real DBOS system database, where `passing` records a version's successes.
 */
const DAY = 86_400_000;
const IDENTITY = { name: 'bot', email: 'bot@example.invalid' };
const DIR = (env: string, app = 'dbos-app') => versionsDirOf(env, app);
const LIST = (env: string) => `${DIR(env)}/kustomization.yaml`;
const SERVICE = (env: string) => `${DIR(env)}/service.yaml`;

let registry: TestRegistry;
let counter = 0;
const remotes: BareRemote[] = [];
let pg: PostgresServer;
let sys: DbosSystemDatabase;
let drain: DrainSourceFor;

beforeAll(async () => {
  registry = await startRegistry();
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  const reader = await createDrainReader(pg, sys.database);
  drain = defaultDrainSourceFor({ DBOS_DRAIN_DATABASE_URL_DEV: reader.url, DBOS_DRAIN_DATABASE_URL_STAGING: reader.url });
});
afterAll(async () => {
  for (const remote of remotes) await remote.cleanup();
  await registry?.stop();
  await pg?.stop();
});
beforeEach(async () => {
  await pg.query('TRUNCATE dbos.workflow_status CASCADE', [], sys.database);
  await pg.query('DELETE FROM dbos.application_versions', [], sys.database);
});

/** The version ran a day in every environment with 10 successful workflows: its gate passes (defaults, soak 0). */
async function passing(app: string, version: string): Promise<void> {
  await pg.query(
    `INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name)
     VALUES ($1, $2, (EXTRACT(EPOCH FROM now()) * 1000)::bigint - 86400000, $3)`,
    [`${app}-${version}`, version, app],
    sys.database,
  );
  await pg.query(
    `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, created_at, updated_at, completed_at)
     SELECT $1 || '-' || i, 'SUCCESS', 'wf', $2, $3, t - 1000, t, t
       FROM generate_series(1, 10) AS i, (SELECT (EXTRACT(EPOCH FROM now()) * 1000)::bigint - 60000 AS t) AS clock`,
    [`${app}-${version}`, version, app],
    sys.database,
  );
}

interface Setup {
  repository: string;
  digests: Record<string, string>;
  files: Record<string, string>;
}

async function setup(options: { maxLive?: number } = {}): Promise<Setup> {
  const path = `t${++counter}/dbos-app`;
  const repository = `${registry.host}/${path}`;
  const digests: Record<string, string> = {};
  const ages: Record<string, number> = { '1.0.0': 60 * DAY, '1.1.0': 10 * DAY, '1.2.0': DAY / 24, latest: 10 * DAY, '1.1.1-rc.1': 9 * DAY };
  for (const [tag, age] of Object.entries(ages))
    digests[tag] = (await registry.pushImage(path, tag, { created: new Date(Date.now() - age), salt: tag })).digest;
  const v1 = [{ version: '1.0.0', digest: digests['1.0.0']!, latest: true }];
  const files = await versionFixtureFiles({
    environments: ['dev', 'staging', 'prod'],
    versions: { dev: v1, staging: v1, prod: v1 },
    repository,
    minReleaseAge: '3d',
    maxLive: options.maxLive ?? 3,
    registryHosts: [registry.host],
  });
  return { repository, digests, files };
}

async function runOnce(remote: BareRemote) {
  return runOnRemote({ remote, tasks: [versionAddTask], registry: new OciRegistryClient({ plainHttpHosts: [registry.host] }), drain, identity: IDENTITY });
}

describe('version-add', () => {
  it('adds the newest old-enough version to dev only, then promotes the merged DIGEST env by env', async () => {
    const { digests, files } = await setup();
    const remote = await createBareRemote(files);
    remotes.push(remote);

    const first = await runOnce(remote);
    expect(first.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([['bot/version-add/dev/dbos-app/1-1-0', 'created']]);
    // staging and prod already run what the previous environment has merged: nothing to say.
    expect(first.skips.filter((skip) => skip.env !== 'dev')).toEqual([]);
    const branch = 'bot/version-add/dev/dbos-app/1-1-0';
    const added = await remote.readFile(branch, `${DIR('dev')}/1-1-0/kustomization.yaml`);
    // 1.2.0 is younger than minReleaseAge (3d), rc and `latest` are not allowed: 1.1.0 is the target.
    expect(added).toContain(`newTag: "1.1.0"\n    digest: ${digests['1.1.0']}\n`);
    expect(added).toContain('components:\n  - ../../../../../../base/components/app-latest\n');
    expect(await remote.readFile(branch, `${DIR('dev')}/1-1-0/version.patch.yaml`)).toContain('value: "1.1.0"');
    // Surgical: one list line appended, one selector scalar changed, the old latest loses only its component block.
    expect(await remote.readFile(branch, LIST('dev'))).toBe(`${files[LIST('dev')]}  - 1-1-0\n`);
    expect(await remote.readFile(branch, SERVICE('dev'))).toBe(files[SERVICE('dev')]!.replace('dbos.dev/app-version: 1-0-0', 'dbos.dev/app-version: 1-1-0'));
    expect(await remote.readFile(branch, `${DIR('dev')}/1-0-0/kustomization.yaml`)).toBe(
      files[`${DIR('dev')}/1-0-0/kustomization.yaml`]!.replace(
        '# Only the latest version: warm minimum and the queue-length trigger.\ncomponents:\n  - ../../../../../../base/components/app-latest\n',
        '',
      ),
    );
    expect(await remote.readFile(branch, `${DIR('dev')}/1-0-0/version.patch.yaml`)).toBe(files[`${DIR('dev')}/1-0-0/version.patch.yaml`]);
    expect(await remote.readFile(branch, LIST('staging'))).toBe(files[LIST('staging')]);

    // Nothing merged yet: a re-run pushes nothing.
    const pushes = await remote.pushCount();
    const again = await runOnce(remote);
    expect(again.applied.map((item) => item.outcome)).toEqual(['unchanged']);
    expect(await remote.pushCount()).toBe(pushes);

    // A human merges the dev PR: staging gets exactly dev's digest (not a fresh resolve of the tag), prod still waits.
    await remote.mergeInto('main', branch);
    await passing('dbos-app', '1.1.0');
    await registry.pushImage(`t${counter}/dbos-app`, '1.1.0', { created: new Date(Date.now() - 20 * DAY), salt: 'retagged' });
    const second = await runOnce(remote);
    const staging = second.applied.find((item) => item.plan.env === 'staging')!;
    expect(staging.plan.branch).toBe('bot/version-add/staging/dbos-app/1-1-0');
    expect(readPins(staging.plan.memory)[0]).toMatchObject({ tag: '1.1.0', digest: digests['1.1.0'] });
    expect(staging.plan.body).toContain('- Source: promotion from dev');
    expect(await remote.readFile(staging.plan.branch, `${DIR('staging')}/1-1-0/kustomization.yaml`)).toContain(`digest: ${digests['1.1.0']}\n`);
    expect(second.applied.some((item) => item.plan.env === 'prod')).toBe(false);

    await remote.mergeInto('main', staging.plan.branch);
    const third = await runOnce(remote);
    expect(third.applied.filter((item) => item.outcome === 'created').map((item) => item.plan.branch)).toEqual(['bot/version-add/prod/dbos-app/1-1-0']);
  });

  it('an open promotion PR survives an unknown gate, and is closed with the evidence once the gate reads fail', async () => {
    const { files } = await setup();
    const remote = await createBareRemote(files);
    remotes.push(remote);
    await runOnce(remote);
    await remote.mergeInto('main', 'bot/version-add/dev/dbos-app/1-1-0');
    await passing('dbos-app', '1.1.0');
    const opened = await runOnce(remote);
    const branch = 'bot/version-add/staging/dbos-app/1-1-0';
    expect(opened.applied.filter((item) => item.outcome === 'created').map((item) => item.plan.branch)).toEqual([branch]);

    // No evidence any more (e.g. rows garbage-collected, a quiet window): unknown proposes nothing and closes nothing.
    await pg.query('TRUNCATE dbos.workflow_status CASCADE', [], sys.database);
    const unknown = await runOnce(remote);
    expect(unknown.applied.filter((item) => item.plan.env === 'staging')).toEqual([]);
    // (The local forge lists the merged dev branch as a PR too; only staging's is this test's.)
    const staging = (closed: Array<{ branch: string; reason: string }>) => closed.filter((item) => item.branch.includes('/staging/'));
    expect(staging(unknown.closed)).toEqual([]);
    expect(unknown.skips.find((skip) => skip.env === 'staging')!.reason).toMatch(/^1\.1\.0 is not promoted from dev: its gate there reads unknown /);

    // Failures in dev: the open PR is closed with the verdict and counts.
    await pg.query(
      `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, created_at, updated_at, completed_at)
       SELECT 'err-' || i, 'ERROR', 'wf', '1.1.0', 'dbos-app', t - 1000, t, t
         FROM generate_series(1, 3) AS i, (SELECT (EXTRACT(EPOCH FROM now()) * 1000)::bigint - 60000 AS t) AS clock`,
      [],
      sys.database,
    );
    const failed = await runOnce(remote);
    expect(staging(failed.closed).map((item) => item.branch)).toEqual([branch]);
    expect(staging(failed.closed)[0]!.reason).toContain('its gate there reads fail [SUCCESS 0, ERROR 3,');
    // A PR closed unmerged is never re-proposed for that version (tested below with the forge's closed state).
  });

  it('stops at maxLive and does not re-propose a version whose PR was closed unmerged', async () => {
    const limited = await setup({ maxLive: 1 });
    const config = parseConfig(limited.files['.github/gitops-bot.yaml']!);
    const client = new OciRegistryClient({ plainHttpHosts: [registry.host] });
    const plan = (files: Record<string, string>, previous: PreviousProposal[] = [], cfg = config) =>
      planAll({
        config: cfg,
        tasks: [versionAddTask],
        tree: memoryTree(files),
        registry: client,
        kube: null,
        pullRequests: pullRequestsOf(previous),
        envFilter: 'dev',
        now: new Date(),
        log: () => undefined,
      });
    const atLimit = await plan(limited.files);
    expect(atLimit.plans).toEqual([]);
    expect(atLimit.skips[0]!.reason).toContain('1 versions of dbos-app are live in dev (its maxLive: 1)');

    const roomy = parseConfig(limited.files['.github/gitops-bot.yaml']!.replace('maxLive: 1', 'maxLive: 3'));
    const closed: PreviousProposal = {
      branch: 'bot/version-add/dev/dbos-app/1-1-0',
      number: 4,
      state: 'closed',
      merged: false,
      held: false,
      proposal: {
        task: 'version-add',
        env: 'dev',
        subject: 'dbos-app/1-1-0',
        memory: { pins: [{ image: 'app', tag: '1.1.0', digest: limited.digests['1.1.0']! }] },
      },
    };
    const rejected = await plan(limited.files, [closed], roomy);
    expect(rejected.plans).toEqual([]);
    expect(rejected.skips[0]!.reason).toContain('closed without merging; waiting for a newer version');
  });
});

describe('version-add with two applications in one environment', () => {
  /** dbos-app in dev and staging, orders only in dev; each at 1.0.0, and each repository has its own newer tags. */
  async function twoApps(tags: { 'dbos-app': string[]; orders: string[] }) {
    const n = ++counter;
    const repositories: Record<string, string> = {};
    const digests: Record<string, string> = {};
    for (const app of ['dbos-app', 'orders'] as const) {
      const path = `t${n}/${app}`;
      repositories[app] = `${registry.host}/${path}`;
      for (const tag of ['1.0.0', ...tags[app]])
        digests[`${app}:${tag}`] = (await registry.pushImage(path, tag, { created: new Date(Date.now() - 30 * DAY), salt: `${app}-${tag}` })).digest;
    }
    const v1 = (app: string) => [{ version: '1.0.0', digest: digests[`${app}:1.0.0`]!, latest: true }];
    const apps: FixtureApp[] = [
      { name: 'dbos-app', repository: repositories['dbos-app']!, versions: { dev: v1('dbos-app'), staging: v1('dbos-app') } },
      { name: 'orders', repository: repositories.orders!, environments: ['dev'], versions: { dev: v1('orders') } },
    ];
    const files = await versionFixtureFiles({ environments: ['dev', 'staging'], apps, registryHosts: [registry.host] });
    return { files, digests, config: parseConfig(files['.github/gitops-bot.yaml']!) };
  }

  const planFor = (config: ReturnType<typeof parseConfig>, files: Record<string, string>, previous: PreviousProposal[] = []) =>
    planAll({
      config,
      tasks: [versionAddTask],
      tree: memoryTree(files),
      registry: new OciRegistryClient({ plainHttpHosts: [registry.host] }),
      kube: null,
      drain,
      pullRequests: pullRequestsOf(previous),
      envFilter: null,
      now: new Date(),
      log: () => undefined,
    });

  it("a new orders tag proposes only orders' version in dev, touching only overlays/dev/apps/orders; dbos-app is untouched", async () => {
    const { files, digests, config } = await twoApps({ 'dbos-app': [], orders: ['1.1.0'] });
    const { plans, skips } = await planFor(config, files);
    expect(plans.map((plan) => plan.branch)).toEqual(['bot/version-add/dev/orders/1-1-0']);
    const [plan] = plans;
    expect(plan!.edits.every((edit) => edit.path.startsWith('overlays/dev/apps/orders/'))).toBe(true);
    expect(plan!.edits.map((edit) => edit.path).sort()).toEqual([
      'overlays/dev/apps/orders/versions/1-0-0/kustomization.yaml',
      'overlays/dev/apps/orders/versions/1-1-0/kustomization.yaml',
      'overlays/dev/apps/orders/versions/1-1-0/version.patch.yaml',
      'overlays/dev/apps/orders/versions/kustomization.yaml',
      'overlays/dev/apps/orders/versions/service.yaml',
    ]);
    expect(plan!.edits.find((edit) => edit.path.endsWith('1-1-0/kustomization.yaml'))!.after).toContain(
      `newName: ${config.apps[1]!.repository}\n    newTag: "1.1.0"\n    digest: ${digests['orders:1.1.0']}\n`,
    );
    expect(plan!.title).toBe('dev: add orders version 1.1.0');
    expect(plan!.body).toContain('the `orders` Service selector move');
    expect(plan!.body).not.toContain('dbos-app');
    expect(inspectMarker(plan!.body, plan!.branch)).toMatchObject({ marker: { subject: 'orders/1-1-0' } });
    // dbos-app has nothing newer, and orders is promoted nowhere (it runs only in dev).
    expect(skips.map((skip) => [skip.env, skip.subject])).toEqual([['dev', 'dbos-app/*']]);
    expect(skips.some((skip) => skip.subject.startsWith('orders/') && skip.env !== 'dev')).toBe(false);
  });

  it('and the reverse: a new dbos-app tag proposes only dbos-app in dev, and its promotion never reads orders', async () => {
    const { files, digests, config } = await twoApps({ 'dbos-app': ['1.1.0'], orders: [] });
    const first = await planFor(config, files);
    expect(first.plans.map((plan) => plan.branch)).toEqual(['bot/version-add/dev/dbos-app/1-1-0']);
    expect(first.plans[0]!.edits.every((edit) => edit.path.startsWith('overlays/dev/apps/dbos-app/'))).toBe(true);

    // Merged into dev: staging gets dbos-app's digest; orders (absent from staging) is not proposed there.
    await passing('dbos-app', '1.1.0');
    const merged = { ...files };
    for (const edit of first.plans[0]!.edits) merged[edit.path] = edit.after!;
    const second = await planFor(config, merged);
    expect(second.plans.map((plan) => plan.branch)).toEqual(['bot/version-add/staging/dbos-app/1-1-0']);
    expect(readPins(second.plans[0]!.memory)[0]).toMatchObject({ tag: '1.1.0', digest: digests['dbos-app:1.1.0'] });
    expect(second.plans[0]!.edits.every((edit) => edit.path.startsWith('overlays/staging/apps/dbos-app/'))).toBe(true);
  });

  it("a closed, unmerged PR of one application never holds back the other's version of the same number", async () => {
    const { files, digests, config } = await twoApps({ 'dbos-app': ['1.1.0'], orders: ['1.1.0'] });
    const closedOrders: PreviousProposal = {
      branch: 'bot/version-add/dev/orders/1-1-0',
      number: 7,
      state: 'closed',
      merged: false,
      held: false,
      proposal: {
        task: 'version-add',
        env: 'dev',
        subject: 'orders/1-1-0',
        memory: { pins: [{ image: 'app', tag: '1.1.0', digest: digests['orders:1.1.0']! }] },
      },
    };
    const { plans, skips } = await planFor(config, files, [closedOrders]);
    expect(plans.map((plan) => plan.branch)).toEqual(['bot/version-add/dev/dbos-app/1-1-0']);
    expect(skips.find((skip) => skip.subject === 'orders/1-1-0')!.reason).toContain('PR #7, which was closed without merging');
  });

  it('never proposes a version name another application has live in the environment (DBOS refuses it in a shared system database)', async () => {
    const { files, config } = await twoApps({ 'dbos-app': ['1.1.0'], orders: ['1.1.0'] });
    const first = await planFor(config, files);
    expect(first.plans.map((plan) => plan.branch).sort()).toEqual(['bot/version-add/dev/dbos-app/1-1-0', 'bot/version-add/dev/orders/1-1-0']);
    const merged = { ...files };
    for (const edit of first.plans.find((plan) => plan.branch.includes('/dbos-app/'))!.edits) merged[edit.path] = edit.after!;
    await passing('dbos-app', '1.1.0');
    const second = await planFor(config, merged);
    expect(second.plans.map((plan) => plan.branch)).toEqual(['bot/version-add/staging/dbos-app/1-1-0']);
    expect(second.skips.find((skip) => skip.env === 'dev' && skip.subject === 'orders/1-1-0')!.reason).toMatch(
      /orders 1\.1\.0 has the version name of a live version of dbos-app in dev \(overlays\/dev\/apps\/dbos-app\/versions\/1-1-0\)/,
    );
  });

  it('a marker naming another application than its branch is never adopted', () => {
    const body = `<!-- gitops-bot: ${JSON.stringify({ task: 'version-add', env: 'dev', subject: 'dbos-app/1-1-0', memory: {} })} -->`;
    expect(inspectMarker(body, 'bot/version-add/dev/orders/1-1-0')).toEqual({ problem: expect.stringMatching(/not its branch/) });
    expect(inspectMarker(body, 'bot/version-add/dev/dbos-app/1-1-0')).toMatchObject({ marker: { subject: 'dbos-app/1-1-0' } });
    // A third segment, an empty one or a climb out is no subject at all.
    for (const subject of ['dbos-app/1-1-0/x', 'dbos-app//1-1-0', '../1-1-0', 'dbos-app/']) {
      const forged = `<!-- gitops-bot: ${JSON.stringify({ task: 'version-add', env: 'dev', subject, memory: {} })} -->`;
      expect(inspectMarker(forged, `bot/version-add/dev/${subject}`)).toHaveProperty('problem');
    }
  });

  it("the runner closes an application's superseded PR with that application's reason, never another application's", async () => {
    const { files, config } = await twoApps({ 'dbos-app': [], orders: ['1.1.0'] });
    const remote = await createBareRemote(files);
    remotes.push(remote);
    const first = await runOnce(remote);
    expect(first.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([['bot/version-add/dev/orders/1-1-0', 'created']]);
    // orders 1.2.0 ships before 1.1.0 was merged: its PR replaces 1.1.0's. dbos-app's skip (nothing newer, subject
    // dbos-app/*) is not a reason about orders' PR.
    await registry.pushImage(config.apps[1]!.repository.slice(registry.host.length + 1), '1.2.0', {
      created: new Date(Date.now() - 30 * DAY),
      salt: 'orders-1.2.0',
    });
    const second = await runOnce(remote);
    expect(second.skips.map((skip) => [skip.env, skip.subject])).toEqual([['dev', 'dbos-app/*']]);
    expect(second.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([['bot/version-add/dev/orders/1-2-0', 'created']]);
    expect(second.closed).toEqual([
      {
        branch: 'bot/version-add/dev/orders/1-1-0',
        number: expect.any(Number),
        reason: 'the base branch already has these versions (or newer ones), so this change is no longer needed',
      },
    ]);
    // orders' own application-wide skip is the reason given for its PR once 1.2.0 is on main.
    await remote.mergeInto('main', 'bot/version-add/dev/orders/1-2-0');
    const third = await runOnce(remote);
    expect(third.skips.map((skip) => skip.subject).sort()).toEqual(['dbos-app/*', 'orders/*']);
    const closed = third.closed.find((item) => item.branch === 'bot/version-add/dev/orders/1-2-0')!;
    expect(closed.reason).toMatch(/^no tag of \S+\/orders newer than 1\.2\.0 matches the apps: policy of orders$/);
  });

  it('an application configured for an environment without its directory is a config error naming the path', async () => {
    const { files } = await twoApps({ 'dbos-app': [], orders: [] });
    const config = parseConfig(files['.github/gitops-bot.yaml']!.replace('environments: [dev]', 'environments: [dev, staging]'));
    const error = await planFor(config, files).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(2);
    expect((error as ConfigError).message).toContain('overlays/staging/apps/orders/versions/kustomization.yaml does not exist');
  });
});
