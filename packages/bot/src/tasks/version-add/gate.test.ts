import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createDbosSystemDatabase,
  freePort,
  startDbosWorker,
  startPostgres,
  startRegistry,
  type DbosSystemDatabase,
  type DbosWorker,
  type PostgresServer,
  type TestRegistry,
} from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import { parseConfig } from '../../config/load.ts';
import type { BotConfig } from '../../config/schema.ts';
import { planAll } from '../../runner.ts';
import { defaultDrainSourceFor } from '../../sources/drain/for-environment.ts';
import { ConductorCheckedDrainSource, DatabaseDrainSource } from '../../sources/drain/source.ts';
import { OciRegistryClient } from '../../sources/registry/oci-client.ts';
import type { KubeHealth } from '../../sources/kube/health.ts';
import { memoryTree, versionFixtureFiles } from '../../../testing/version-fixture.ts';
import { readPins } from '../shared/pins.ts';
import { createVersionAddTask, versionAddTask } from './index.ts';

/*
 * Promotion gated on DBOS evidence, wired end to end: real PostgreSQL with the real DBOS schema (`dbos schema`), the
 * drain reader role with the product's grants, a real OCI registry and the real planner. dev has merged 1.1.0; staging
 * runs 1.0.0; whether staging gets 1.1.0 depends on what 1.1.0's workflows did in dev. The verdict's boundaries are
 * tested in packages/drain; here: that the task reads the right version in the right environment and acts on it.
 */
const DAY = 86_400_000;
const APP = 'dbos-app';
const STAGING_BRANCH = 'bot/version-add/staging/dbos-app/1-1-0';

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let reader: { url: string; password: string; role: string };
let registry: TestRegistry;
let files: Record<string, string>;
let digests: Record<string, string>;
const workers: DbosWorker[] = [];
const admin = { query: (sql: string, params?: unknown[]) => pg.query(sql, params, sys.database) };

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  reader = await createDrainReader(pg, sys.database);
  registry = await startRegistry();
  digests = {};
  for (const tag of ['1.0.0', '1.1.0'])
    digests[tag] = (await registry.pushImage(`gate/${APP}`, tag, { created: new Date(Date.now() - 30 * DAY), salt: tag })).digest;
  const v = (version: string, latest: boolean) => ({ version, digest: digests[version]!, latest });
  files = await versionFixtureFiles({
    environments: ['dev', 'staging'],
    versions: { dev: [v('1.0.0', false), v('1.1.0', true)], staging: [v('1.0.0', true)] },
    repository: `${registry.host}/gate/${APP}`,
    registryHosts: [registry.host],
  });
}, 120_000);

afterAll(async () => {
  for (const worker of workers) await worker.stop();
  await registry?.stop();
  await pg?.stop();
});

beforeEach(async () => {
  await admin.query('TRUNCATE dbos.workflow_status CASCADE');
  await admin.query('DELETE FROM dbos.application_versions');
});

/** `n` workflows of the version that finished `agoMs` before the database clock, as DBOS 5.x writes them. */
async function finished(version: string, status: string, n: number, agoMs = 10 * 60_000, app: string = APP): Promise<void> {
  await admin.query(
    `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, created_at, updated_at, completed_at)
     SELECT $1 || '-' || i, $2, 'wf', $3, $4, t - 1000, t, t
       FROM generate_series(1, $5::int) AS i, (SELECT (EXTRACT(EPOCH FROM now()) * 1000)::bigint - $6::bigint AS t) AS clock`,
    [`${app}-${version}-${status}-${agoMs}`, status, version, app, n, agoMs],
  );
}

/** The version's first executor started `agoMs` ago (what the soak is measured from). */
async function registered(version: string, agoMs: number): Promise<void> {
  await admin.query(
    `INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name)
     VALUES ($1, $1, (EXTRACT(EPOCH FROM now()) * 1000)::bigint - $2::bigint, $3)`,
    [version, agoMs, APP],
  );
}

function configWith(edit: (config: BotConfig) => void = () => undefined): BotConfig {
  const config = parseConfig(files['.github/gitops-bot.yaml']!);
  edit(config);
  return config;
}

/** Plans version-add only for staging, as `pnpm bot plan --env staging` does, with the CLI environment `env`. */
interface OpenPr {
  branch: string;
  body: string;
}

function plan(
  env: NodeJS.ProcessEnv,
  config = configWith(),
  envFilter: string | null = 'staging',
  open: OpenPr[] = [],
  task = versionAddTask,
  kube: KubeHealth | null = null,
) {
  const logs: string[] = [];
  return planAll({
    config,
    tasks: [task],
    tree: memoryTree(files),
    registry: new OciRegistryClient({ plainHttpHosts: [registry.host] }),
    kube,
    drain: defaultDrainSourceFor(env),
    pullRequests: open.map((pr, i) => ({
      number: i + 1,
      branch: pr.branch,
      title: '',
      body: pr.body,
      state: 'open' as const,
      merged: false,
      labels: [],
      createdAt: new Date().toISOString(),
      url: '',
    })),
    envFilter,
    now: new Date(),
    log: (line) => logs.push(line),
  }).then((result) => ({ ...result, logs }));
}

const devReader = (): NodeJS.ProcessEnv => ({ DBOS_DRAIN_DATABASE_URL_DEV: reader.url });
const stagingSkip = (skips: Array<{ env: string; subject: string; reason: string }>) => skips.find((skip) => skip.env === 'staging')!;

describe('version-add promotion gated on DBOS evidence of the previous environment', () => {
  it('pass: promotes the exact digest, and the PR body shows the evidence table it relied on', async () => {
    await registered('1.1.0', DAY);
    await finished('1.1.0', 'SUCCESS', 12);
    await finished('1.1.0', 'CANCELLED', 2);
    // Another application's failures of the same version name, and another version's, are not 1.1.0's evidence.
    await finished('1.1.0', 'ERROR', 30, 10 * 60_000, 'orders');
    await finished('1.0.0', 'ERROR', 30);
    const { plans, skips } = await plan(devReader());
    expect(skips).toEqual([]);
    expect(plans.map((p) => p.branch)).toEqual([STAGING_BRANCH]);
    expect(readPins(plans[0]!.memory)[0]).toMatchObject({ tag: '1.1.0', digest: digests['1.1.0'] });
    const body = plans[0]!.body;
    expect(body).toContain('Evidence of `1.1.0` of dbos-app in **dev**');
    for (const row of [
      '| SUCCESS | 12 |',
      '| ERROR | 0 |',
      '| MAX_RECOVERY_ATTEMPTS_EXCEEDED | 0 |',
      '| CANCELLED | 2 |',
      '| finished | 14 |',
      '| error ratio | 0.0000 (gate: at most 0.05) |',
      '| oldest in flight | none in flight |',
      '| verdict | **pass** |',
    ])
      expect(body).toContain(row);
    expect(body).toMatch(/\| window \| \d{4}-\d\d-\d\dT[^|]+ \.\. \d{4}-\d\d-\d\dT[^|]+ \|/);
    expect(body).toMatch(/\| read at \| \d{4}-\d\d-\d\dT[^|]+ \(database clock\) \|/);
    // Where it was read, without the reader's password.
    expect(body).toContain(`read from database `);
    expect(body).not.toContain(reader.password);
  });

  it('an open promotion PR keeps the evidence it was opened on while the gate still passes (no forge write per run)', async () => {
    await registered('1.1.0', DAY);
    await finished('1.1.0', 'SUCCESS', 12);
    const first = (await plan(devReader())).plans[0]!;
    await finished('1.1.0', 'SUCCESS', 5, 60_000);
    const again = (await plan(devReader(), configWith(), 'staging', [{ branch: STAGING_BRANCH, body: first.body }])).plans[0]!;
    expect(again.body).toBe(first.body);
    // Without that open PR the table is read afresh: the new successes show.
    const fresh = (await plan(devReader())).plans[0]!;
    expect(fresh.body).toContain('| SUCCESS | 17 |');
    // An open PR whose other lines differ (here: it moved the Service from another version) gets the fresh table.
    const stale = first.body.replace('move from `1-0-0`', 'move from `0-9-0`');
    const replaced = (await plan(devReader(), configWith(), 'staging', [{ branch: STAGING_BRANCH, body: stale }])).plans[0]!;
    expect(replaced.body).toContain('| SUCCESS | 17 |');
    expect(replaced.body).toContain('move from `1-0-0`');
    // A hand-edited table (other than its digits) is not kept: the bot's own table replaces it.
    const edited = first.body.replace('| verdict | **pass** |', '| verdict | **pass** (approved by ops) |');
    const rewritten = (await plan(devReader(), configWith(), 'staging', [{ branch: STAGING_BRANCH, body: edited }])).plans[0]!;
    expect(rewritten.body).not.toContain('approved by ops');
    expect(rewritten.body).toContain('| SUCCESS | 17 |');
  });

  it('fail: a version whose workflows fail in dev is not promoted; the skip names the verdict and the counts', async () => {
    await registered('1.1.0', DAY);
    await finished('1.1.0', 'SUCCESS', 20);
    await finished('1.1.0', 'ERROR', 4);
    await finished('1.1.0', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 1);
    const { plans, skips } = await plan(devReader());
    expect(plans).toEqual([]);
    const skip = stagingSkip(skips);
    expect(skip.subject).toBe('dbos-app/1-1-0');
    expect(skip.reason).toMatch(/^1\.1\.0 is not promoted from dev: its gate there reads fail /);
    expect(skip.reason).toContain('SUCCESS 20, ERROR 4, MAX_RECOVERY_ATTEMPTS_EXCEEDED 1, CANCELLED 0 of 25 finished, error ratio 0.2000');
    expect(skip.reason).toContain('5 of 25 finished workflows failed');
  });

  it('unknown, not enough data: below minSucceeded nothing is promoted', async () => {
    await registered('1.1.0', DAY);
    await finished('1.1.0', 'SUCCESS', 9);
    const { plans, skips } = await plan(devReader());
    expect(plans).toEqual([]);
    expect(stagingSkip(skips).reason).toMatch(/gate there reads unknown .*Not enough data: 9 workflows succeeded in the window, the gate needs 10/);
  });

  it("unknown, soak not elapsed: dev's gate.soak must pass since the version registered there", async () => {
    await registered('1.1.0', 10 * 60_000);
    await finished('1.1.0', 'SUCCESS', 50, 60_000);
    const soaking = configWith((config) => {
      config.environments[0]!.gate.soak = 3600;
    });
    const { plans, skips } = await plan(devReader(), soaking);
    expect(plans).toEqual([]);
    expect(stagingSkip(skips).reason).toMatch(/gate there reads unknown .*Version 1\.1\.0 has run for 1\dm( \d+s)? of its 1h soak/);
    // The same evidence with the soak elapsed passes: the soak is what held it back.
    const { plans: later } = await plan(devReader());
    expect(later.map((p) => p.branch)).toEqual([STAGING_BRANCH]);
  });

  it('promote now (a dashboard tick): the soak is skipped once, an open PR that says so keeps it skipped, fail still blocks', async () => {
    await registered('1.1.0', 10 * 60_000);
    await finished('1.1.0', 'SUCCESS', 50, 60_000);
    const soaking = configWith((config) => {
      config.environments[0]!.gate.soak = 3600;
    });
    const ticked = createVersionAddTask({ promoteNow: [{ env: 'staging', app: APP, version: '1.1.0', by: ['maintainer'] }] });
    const { plans, skips } = await plan(devReader(), soaking, 'staging', [], ticked);
    expect(skips).toEqual([]);
    expect(plans.map((p) => p.branch)).toEqual([STAGING_BRANCH]);
    const body = plans[0]!.body;
    expect(body).toContain('- Promoted now from the dashboard: @maintainer ticked it, so the soak was skipped for `1.1.0`');
    expect(body).toContain('| verdict | **pass** |');
    // A tick for another version or environment skips nothing.
    const other = createVersionAddTask({ promoteNow: [{ env: 'staging', app: APP, version: '1.0.9', by: ['maintainer'] }] });
    expect((await plan(devReader(), soaking, 'staging', [], other)).plans).toEqual([]);
    // The next run has no tick; the open PR it opened carries the decision, so the PR is planned again (not closed)...
    const again = await plan(devReader(), soaking, 'staging', [{ branch: STAGING_BRANCH, body }]);
    expect(again.plans.map((p) => p.branch)).toEqual([STAGING_BRANCH]);
    expect(again.plans[0]!.body).toBe(body);
    // ...and without it the soak holds as before.
    expect((await plan(devReader(), soaking, 'staging')).plans).toEqual([]);
    // Evidence of failure is never skipped.
    await finished('1.1.0', 'ERROR', 10, 60_000);
    const failing = await plan(devReader(), soaking, 'staging', [], ticked);
    expect(failing.plans).toEqual([]);
    expect(stagingSkip(failing.skips).reason).toMatch(/gate there reads fail/);
  });

  it("promote now with cluster access: staging's promotionSoak is skipped, the health of dev's pods is not", async () => {
    await registered('1.1.0', DAY);
    await finished('1.1.0', 'SUCCESS', 12);
    const clustered = configWith((config) => {
      config.environments[0]!.kube = { context: 'dev', namespace: 'dbos' };
      config.environments[1]!.kube = { context: 'staging', namespace: 'dbos' };
      config.environments[1]!.promotionSoak = 3600;
    });
    // A stand-in for the Kubernetes API: dev's pods of 1.1.0 have been Ready for a minute (or are not Ready at all).
    let readySince: Date | null = new Date(Date.now() - 60_000);
    const kube: KubeHealth = {
      healthySince: async () => readySince,
      versionPods: async () => (readySince ? { total: 2, ready: 2, readySince } : { total: 2, ready: 1, readySince: null }),
    };
    const ticked = createVersionAddTask({ promoteNow: [{ env: 'staging', app: APP, version: '1.1.0', by: ['maintainer'] }] });
    const waiting = await plan(devReader(), clustered, 'staging', [], versionAddTask, kube);
    expect(waiting.plans).toEqual([]);
    expect(stagingSkip(waiting.skips).reason).toBe('1.1.0 has not run healthy in dev for 3600s yet');
    expect((await plan(devReader(), clustered, 'staging', [], ticked, kube)).plans.map((p) => p.branch)).toEqual([STAGING_BRANCH]);
    readySince = null;
    const unhealthy = await plan(devReader(), clustered, 'staging', [], ticked, kube);
    expect(unhealthy.plans).toEqual([]);
    expect(stagingSkip(unhealthy.skips).reason).toBe('1.1.0 is not running healthy in dev; promote now skips the soak, not the health check');
  });

  it('unknown, database down or wrong password: no promotion, the reason names no secret', async () => {
    await registered('1.1.0', DAY);
    await finished('1.1.0', 'SUCCESS', 12);
    const closedPort = await freePort();
    // Built at run time: no credential-shaped literal in the repository (pnpm validate's secret scan).
    const downSecret = `down-${randomBytes(6).toString('hex')}`;
    const wrongSecret = `wrong-${randomBytes(6).toString('hex')}`;
    const down = `postgresql://dbos_drain_reader:${downSecret}@127.0.0.1:${closedPort}/${sys.database}`;
    const wrong = reader.url.replace(`:${encodeURIComponent(reader.password)}@`, `:${wrongSecret}@`);
    expect(wrong).not.toBe(reader.url);
    for (const [url, secret] of [
      [down, downSecret],
      [wrong, wrongSecret],
    ] as const) {
      const { plans, skips, logs } = await plan({ DBOS_DRAIN_DATABASE_URL_DEV: url });
      expect(plans).toEqual([]);
      const reason = stagingSkip(skips).reason;
      expect(reason).toMatch(/gate there reads unknown: the evidence could not be read from database /);
      expect(reason).not.toContain(secret);
      expect(logs.join('\n')).not.toContain(secret);
    }
  });

  it("no reader for dev: fails closed naming the variable; staging's own plain variable is not dev's database", async () => {
    await registered('1.1.0', DAY);
    await finished('1.1.0', 'SUCCESS', 12);
    // With --env staging the plain DBOS_DRAIN_DATABASE_URL is staging's reader (the in-cluster CronJob): never read for dev.
    for (const env of [{}, { DBOS_DRAIN_DATABASE_URL: reader.url }]) {
      const { plans, skips } = await plan(env);
      expect(plans).toEqual([]);
      expect(stagingSkip(skips).reason).toBe(
        "1.1.0 is not promoted from dev: its gate there reads unknown: no evidence reader for dev: set DBOS_DRAIN_DATABASE_URL_DEV to the drain reader's URL of dev's DBOS system database",
      );
    }
  });

  it('the first environment stays ungated: a new registry tag enters dev with no reader at all', async () => {
    await registry.pushImage(`gate/${APP}`, '1.2.0', { created: new Date(Date.now() - 30 * DAY), salt: '1.2.0' });
    const { plans } = await plan({}, configWith(), 'dev');
    expect(plans.map((p) => p.branch)).toEqual(['bot/version-add/dev/dbos-app/1-2-0']);
    expect(plans[0]!.body).not.toContain('Evidence of');
  });

  it('real DBOS executors of 1.1.0 in dev: their successes promote it; failures added afterwards refuse it', async () => {
    const worker = startDbosWorker({
      systemDatabaseUrl: sys.appUrl,
      appName: APP,
      version: '1.1.0',
      executorId: 'dev-1-1-0',
      enqueueMs: Array.from({ length: 12 }, () => 10),
      concurrency: 4,
    });
    workers.push(worker);
    await worker.waitFor('enqueued', 60_000);
    // Wait for the event the worker reports per finished workflow, bounded; no fixed sleep.
    const deadline = Date.now() + 60_000;
    while (worker.finished.length < 12 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(worker.finished).toHaveLength(12);
    // The worker registered 1.1.0 itself; the default soak here is 0 (staging has no promotionSoak).
    const pass = await plan(devReader());
    expect(pass.plans.map((p) => p.branch)).toEqual([STAGING_BRANCH]);
    expect(pass.plans[0]!.body).toContain('| SUCCESS | 12 |');

    // Finished now: the window (soak 0) starts when the worker registered 1.1.0, moments ago.
    await finished('1.1.0', 'ERROR', 3, 0);
    const fail = await plan(devReader());
    expect(fail.plans).toEqual([]);
    expect(stagingSkip(fail.skips).reason).toContain('reads fail [SUCCESS 12, ERROR 3,');
    await worker.stop();
  }, 120_000);
});

describe("the drain reader's evidence", () => {
  it("with drain.source conductor the evidence is the database's alone: Conductor (unreachable here) is not asked", async () => {
    await registered('1.1.0', DAY);
    await finished('1.1.0', 'SUCCESS', 3);
    const closedPort = await freePort();
    const source = new ConductorCheckedDrainSource(new DatabaseDrainSource({ databaseUrl: reader.url }), {
      baseUrl: `http://127.0.0.1:${closedPort}`,
      org: 'example',
      apiKey: 'unused',
    });
    const evidence = await source.readEvidence({ appName: APP, version: '1.1.0', windowStart: null });
    expect(evidence.counts).toEqual({ success: 3, error: 0, maxRecoveryAttemptsExceeded: 0, cancelled: 0, finished: 3 });
  });
});
