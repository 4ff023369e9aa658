import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runOnRemote } from '../../testing/run-on-remote.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, startDbosWorker, type DbosSystemDatabase, type DbosWorker, type DbosWorkerOptions } from '@dbos-gitops/testkit';
import { createBareRemote, type BareRemote } from '@dbos-gitops/testkit';
import { startPostgres, type PostgresServer } from '@dbos-gitops/testkit';
import { startRegistry, type TestRegistry } from '@dbos-gitops/testkit';
import { createDrainReader, insertWorkflowRows } from '@dbos-gitops/drain/testing';
import type { RunResult } from '../runner.ts';
import { OciRegistryClient } from '../sources/registry/oci-client.ts';
import { DatabaseDrainSource } from '../sources/drain/source.ts';
import type { Task } from '../tasks/types.ts';
import { versionAddTask } from '../tasks/version-add/index.ts';
import { createVersionRetireTask, defaultDrainSourceFor } from '../tasks/version-retire/index.ts';
import { versionFixtureFiles, versionsDirOf } from '../../testing/version-fixture.ts';

/*
 * Two applications on ONE DBOS system database, each with REAL executors (TS SDK 5.3 child processes), driven by the
 * real bot (runner + version-add + version-retire with the DatabaseDrainSource) against a real bare git remote and a
 * real OCI registry. DBOS 5.3 gives every version name and queue name one owning application in a shared system
 * database (system_database.js #resolveRowOwner), so the two applications use distinct versions (dbos-app 1.x,
 * orders 2.x) and distinct queues. What must hold: one application's in-flight work neither blocks nor triggers the
 * retirement of the other's versions, in both directions; a workflow row without an application_name is counted for
 * every application asking about its version (fail closed).
 *
 * Held workflows (the worker's `held`) stay PENDING until the test releases them, so "in flight" is an event the
 * test controls, not a duration that a loaded machine could outrun.
 */
const ENV = 'dev';
const QUIET_MS = 3_000;
const IDENTITY = { name: 'bot', email: 'bot@example.invalid' };
const DAY = 86_400_000;
const exec = promisify(execFile);

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let readerUrl: string;
let registry: TestRegistry;
let remote: BareRemote;
const workers: DbosWorker[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  readerUrl = (await createDrainReader(pg, sys.database)).url;
  registry = await startRegistry();
});

afterAll(async () => {
  for (const worker of workers) await worker.stop();
  await remote?.cleanup();
  await registry?.stop();
  await pg?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An executor of `app` at `version`, on the application's own queue. */
function executor(app: 'dbos-app' | 'orders', version: string, executorId: string, work: Pick<DbosWorkerOptions, 'enqueueMs' | 'held'> = {}): DbosWorker {
  const worker = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: app, version, executorId, queue: `${app}-work`, concurrency: 2, ...work });
  workers.push(worker);
  return worker;
}

/**
 * Polls the system database (no fixed sleep) until every workflow the worker enqueued is SUCCESS. The database, not
 * the worker's own "done" events: any executor of the same version and application may dequeue the work.
 */
async function allSucceeded(worker: DbosWorker, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await pg.query<{ status: string }>('SELECT status FROM dbos.workflow_status WHERE workflow_uuid = ANY($1)', [worker.enqueued], sys.database);
    const done = rows.rows.filter((row) => row.status === 'SUCCESS').length;
    if (done === worker.enqueued.length) return;
    if (Date.now() > deadline) throw new Error(`${worker.enqueued.length - done} of ${worker.executorId}'s workflows are not SUCCESS after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** How many of the worker's workflows are PENDING or ENQUEUED now. */
async function inFlightOf(worker: DbosWorker): Promise<number> {
  const rows = await pg.query<{ n: string }>(
    `SELECT count(*) AS n FROM dbos.workflow_status WHERE workflow_uuid = ANY($1) AND status IN ('PENDING', 'ENQUEUED')`,
    [worker.enqueued],
    sys.database,
  );
  return Number(rows.rows[0]!.n);
}

async function run(task: Task): Promise<RunResult> {
  return runOnRemote({ remote, tasks: [task], registry: new OciRegistryClient({ plainHttpHosts: [registry.host] }), envFilter: ENV, identity: IDENTITY });
}

const created = (result: RunResult): string[] =>
  result.applied
    .filter((item) => item.outcome === 'created')
    .map((item) => item.plan.branch)
    .sort();
const skipOf = (result: RunResult, subject: string): string => {
  const skip = result.skips.find((candidate) => candidate.subject === subject);
  if (!skip) throw new Error(`no skip for ${subject} in ${JSON.stringify(result.skips.map((s) => s.subject))}`);
  return skip.reason;
};
const retireBranch = (app: string, slug: string) => `bot/version-retire/${ENV}/${app}/${slug}`;

/** The files a branch changes against main, from a fresh clone of the remote. */
async function changedFiles(branch: string): Promise<string[]> {
  const dir = await remote.clone();
  const { stdout } = await exec('git', ['diff', '--name-only', `origin/main...origin/${branch}`], { cwd: dir });
  return stdout.split('\n').filter(Boolean);
}

/** Runs version-retire until `until` holds for a run's result (each run a full real bot run); returns every run. */
async function retireUntil(retire: Task, until: (result: RunResult) => boolean, timeoutMs = 60_000): Promise<RunResult[]> {
  const runs: RunResult[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await run(retire);
    runs.push(result);
    if (until(result)) return runs;
    if (Date.now() > deadline) throw new Error(`no run met the condition in ${timeoutMs} ms; last skips: ${JSON.stringify(result.skips)}`);
    await sleep(500);
  }
}

const push = (repository: string, tag: string) =>
  registry.pushImage(repository, tag, { created: new Date(Date.now() - 10 * DAY), salt: `${repository} ${tag}` });

// The three tests are one story on one remote and one system database, in order: each starts where the last ended.
let retire: Task;
let dbosApp100: DbosWorker;
let orders200: DbosWorker;
let dbosApp110b: DbosWorker;
const runsPerPhase: number[] = [];

describe('two applications on one system database with real DBOS executors', () => {
  it("orders' work in flight neither blocks nor triggers retirement of dbos-app's drained version", async () => {
    const dbosAppRepository = `${registry.host}/acme/dbos-app`;
    const ordersRepository = `${registry.host}/acme/orders`;
    const [d100, d110, o200, o210] = await Promise.all([
      push('acme/dbos-app', '1.0.0'),
      push('acme/dbos-app', '1.1.0'),
      push('acme/orders', '2.0.0'),
      push('acme/orders', '2.1.0'),
    ]);
    remote = await createBareRemote(
      await versionFixtureFiles({
        environments: [ENV],
        apps: [
          {
            name: 'dbos-app',
            repository: dbosAppRepository,
            versions: {
              [ENV]: [
                { version: '1.0.0', digest: d100!.digest },
                { version: '1.1.0', digest: d110!.digest, latest: true },
              ],
            },
          },
          {
            name: 'orders',
            repository: ordersRepository,
            versions: {
              [ENV]: [
                { version: '2.0.0', digest: o200!.digest },
                { version: '2.1.0', digest: o210!.digest, latest: true },
              ],
            },
          },
        ],
        quietPeriod: `${QUIET_MS / 1000}s`,
        registryHosts: [registry.host],
      }),
    );
    retire = createVersionRetireTask({ drainSourceFor: defaultDrainSourceFor({ DBOS_DRAIN_DATABASE_URL: readerUrl }) });

    // orders 2.0.0 has work in flight; dbos-app 1.0.0 drains.
    // Older versions launch first, so each application's newest registered version is its latest in git.
    dbosApp100 = executor('dbos-app', '1.0.0', 'exec-dbos-app-1.0.0', { enqueueMs: [200, 200] });
    orders200 = executor('orders', '2.0.0', 'exec-orders-2.0.0', { held: 2 });
    await Promise.all([dbosApp100.waitFor('enqueued', 40_000), orders200.waitFor('enqueued', 40_000)]);
    const dbosApp110 = executor('dbos-app', '1.1.0', 'exec-dbos-app-1.1.0-a');
    const orders210 = executor('orders', '2.1.0', 'exec-orders-2.1.0');
    await Promise.all([dbosApp110.waitFor('ready', 40_000), orders210.waitFor('ready', 40_000)]);
    await allSucceeded(dbosApp100);

    const pushesBefore = await remote.pushCount();
    const phase1 = await retireUntil(retire, (result) => result.applied.length > 0);
    const proposal1 = phase1.at(-1)!;
    expect(created(proposal1)).toEqual([retireBranch('dbos-app', '1-0-0')]);
    expect(proposal1.applied).toHaveLength(1);
    // Refused runs pushed nothing.
    expect(await remote.pushCount()).toBe(pushesBefore + 1);
    for (const result of phase1) {
      expect(skipOf(result, 'orders/2-0-0')).toMatch(/2\.0\.0 has 2 workflow\(s\) in flight/);
      expect(skipOf(result, 'orders/2-1-0')).toContain('2.1.0 stays');
      expect(skipOf(result, 'dbos-app/1-1-0')).toContain('1.1.0 stays');
      expect(result.applied.map((item) => item.plan.branch)).not.toContain(retireBranch('orders', '2-0-0'));
    }
    // dbos-app 1.0.0 waited only for its own quiet period; orders' work never appeared in its reasons.
    for (const result of phase1.slice(0, -1)) {
      const reason = skipOf(result, 'dbos-app/1-0-0');
      expect(reason).not.toMatch(/in flight/);
      expect(reason).toMatch(/quiet period is 3s/);
    }
    expect(await inFlightOf(orders200)).toBe(2);
    expect((await changedFiles(retireBranch('dbos-app', '1-0-0'))).sort()).toEqual([
      `${versionsDirOf(ENV, 'dbos-app')}/1-0-0/kustomization.yaml`,
      `${versionsDirOf(ENV, 'dbos-app')}/1-0-0/version.patch.yaml`,
      `${versionsDirOf(ENV, 'dbos-app')}/kustomization.yaml`,
    ]);
    const body1 = proposal1.applied[0]!.plan.body;
    const zeroSince1 = Date.parse(/Zero in flight since:\*\* (\S+)/.exec(body1)![1]!);
    const readAt1 = Date.parse(/Read at:\*\* (\S+)/.exec(body1)![1]!);
    expect(readAt1 - zeroSince1).toBeGreaterThanOrEqual(QUIET_MS);

    runsPerPhase.push(phase1.length);
    console.log(
      `two applications e2e: dbos-app 1.0.0 proposed after ${phase1.length} run(s), ${readAt1 - zeroSince1} ms after it drained (quiet period ${QUIET_MS} ms)`,
    );
  }, 120_000);

  it("the reverse: dbos-app's work in flight neither blocks nor triggers retirement of orders' drained version", async () => {
    // New latest versions ship; dbos-app 1.1.0 gets work in flight while orders 2.1.0 has drained.
    await remote.mergeInto('main', retireBranch('dbos-app', '1-0-0'));
    const [d120, o220] = await Promise.all([push('acme/dbos-app', '1.2.0'), push('acme/orders', '2.2.0')]);
    const added = await run(versionAddTask);
    expect(created(added)).toEqual([`bot/version-add/${ENV}/dbos-app/1-2-0`, `bot/version-add/${ENV}/orders/2-2-0`]);
    await remote.mergeInto('main', `bot/version-add/${ENV}/dbos-app/1-2-0`);
    await remote.mergeInto('main', `bot/version-add/${ENV}/orders/2-2-0`);
    expect(await remote.readFile('main', `${versionsDirOf(ENV, 'dbos-app')}/1-2-0/kustomization.yaml`)).toContain(`digest: ${d120.digest}`);
    expect(await remote.readFile('main', `${versionsDirOf(ENV, 'orders')}/2-2-0/kustomization.yaml`)).toContain(`digest: ${o220.digest}`);
    expect(await remote.readFile('main', `${versionsDirOf(ENV, 'orders')}/service.yaml`)).toContain('dbos.dev/app-version: 2-2-0');

    // A second executor of dbos-app 1.1.0 enqueues work that stays in flight; then the new latest executors start.
    dbosApp110b = executor('dbos-app', '1.1.0', 'exec-dbos-app-1.1.0-b', { held: 2 });
    await dbosApp110b.waitFor('enqueued', 40_000);
    const dbosApp120 = executor('dbos-app', '1.2.0', 'exec-dbos-app-1.2.0');
    const orders220 = executor('orders', '2.2.0', 'exec-orders-2.2.0');
    await Promise.all([dbosApp120.waitFor('ready', 40_000), orders220.waitFor('ready', 40_000)]);

    const phase2 = await retireUntil(retire, (result) => created(result).length > 0);
    const proposal2 = phase2.at(-1)!;
    expect(created(proposal2)).toEqual([retireBranch('orders', '2-1-0')]);
    for (const result of phase2) {
      expect(skipOf(result, 'dbos-app/1-1-0')).toMatch(/1\.1\.0 has 2 workflow\(s\) in flight/);
      expect(skipOf(result, 'orders/2-0-0')).toMatch(/2\.0\.0 has 2 workflow\(s\) in flight/);
      expect(skipOf(result, 'dbos-app/1-2-0')).toContain('1.2.0 stays');
      expect(skipOf(result, 'orders/2-2-0')).toContain('2.2.0 stays');
      expect(result.applied.map((item) => item.plan.branch)).not.toContain(retireBranch('dbos-app', '1-1-0'));
    }
    expect((await changedFiles(retireBranch('orders', '2-1-0'))).sort()).toEqual([
      `${versionsDirOf(ENV, 'orders')}/2-1-0/kustomization.yaml`,
      `${versionsDirOf(ENV, 'orders')}/2-1-0/version.patch.yaml`,
      `${versionsDirOf(ENV, 'orders')}/kustomization.yaml`,
    ]);
    expect(await inFlightOf(dbosApp110b)).toBe(2);

    runsPerPhase.push(phase2.length);
  }, 120_000);

  it("a workflow without application_name keeps its version for every application; another application's row does not", async () => {
    // Every real workflow finishes; then nameless in-flight rows of 1.1.0 and 2.0.0 keep both versions.
    await Promise.all([dbosApp110b.release(), orders200.release()]);
    await Promise.all([allSucceeded(dbosApp110b), allSucceeded(orders200)]);
    const named = await pg.query<{ n: string }>(
      `SELECT count(*) AS n FROM dbos.workflow_status WHERE status IN ('PENDING', 'ENQUEUED', 'DELAYED')`,
      [],
      sys.database,
    );
    expect(Number(named.rows[0]!.n)).toBe(0);
    const admin = { query: (text: string, values?: unknown[]) => pg.query(text, values ?? [], sys.database) };
    await insertWorkflowRows(admin, [
      { id: 'nameless-1.1.0', status: 'ENQUEUED', version: '1.1.0', app: null },
      { id: 'nameless-2.0.0', status: 'ENQUEUED', version: '2.0.0', app: null },
    ]);
    // Both applications count a nameless row of a version, whichever asks: it may be either one's.
    const reader = new DatabaseDrainSource({ databaseUrl: readerUrl });
    for (const appName of ['dbos-app', 'orders']) {
      const reading = await reader.read({ appName, versions: ['1.1.0', '2.0.0'], quietPeriodMs: QUIET_MS });
      expect(reading.versions.map((version) => [version.version, version.inFlight])).toEqual([
        ['1.1.0', 1],
        ['2.0.0', 1],
      ]);
    }
    // The nameless rows are the only work in flight, and they block each version for its own application.
    const blocked = await run(retire);
    expect(created(blocked)).toEqual([]);
    expect(skipOf(blocked, 'dbos-app/1-1-0')).toMatch(/1\.1\.0 has 1 workflow\(s\) in flight/);
    expect(skipOf(blocked, 'orders/2-0-0')).toMatch(/2\.0\.0 has 1 workflow\(s\) in flight/);

    // Cancelled (as `dbos workflow cancel` would), they no longer block. A row NAMED for the other application on the
    // same version string (e.g. its client enqueued with the wrong appVersion) is that application's, not this one's:
    // it must not keep the version. After the quiet period both versions go.
    await pg.query(
      `UPDATE dbos.workflow_status SET status = 'CANCELLED', updated_at = (extract(epoch from now()) * 1000)::bigint WHERE workflow_uuid LIKE 'nameless-%'`,
      [],
      sys.database,
    );
    await insertWorkflowRows(admin, [
      { id: 'orders-on-1.1.0', status: 'ENQUEUED', version: '1.1.0', app: 'orders' },
      { id: 'dbos-app-on-2.0.0', status: 'ENQUEUED', version: '2.0.0', app: 'dbos-app' },
    ]);
    const inFlightFor = async (appName: string) =>
      (await reader.read({ appName, versions: ['1.1.0', '2.0.0'], quietPeriodMs: QUIET_MS })).versions.map((version) => [version.version, version.inFlight]);
    expect(await inFlightFor('dbos-app')).toEqual([
      ['1.1.0', 0],
      ['2.0.0', 1],
    ]);
    expect(await inFlightFor('orders')).toEqual([
      ['1.1.0', 1],
      ['2.0.0', 0],
    ]);
    const proposedBranches = new Set<string>();
    const phase3 = await retireUntil(retire, (result) => {
      for (const branch of created(result)) proposedBranches.add(branch);
      return proposedBranches.size === 2;
    });
    expect([...proposedBranches].sort()).toEqual([retireBranch('dbos-app', '1-1-0'), retireBranch('orders', '2-0-0')]);
    expect((await changedFiles(retireBranch('dbos-app', '1-1-0'))).every((path) => path.startsWith(`overlays/${ENV}/apps/dbos-app/`))).toBe(true);
    expect((await changedFiles(retireBranch('orders', '2-0-0'))).every((path) => path.startsWith(`overlays/${ENV}/apps/orders/`))).toBe(true);

    // Every workflow ran on an executor of its own application and version.
    const ranOn = await pg.query<{ workflow_uuid: string; executor_id: string }>(
      `SELECT workflow_uuid, executor_id FROM dbos.workflow_status WHERE application_name IS NOT NULL`,
      [],
      sys.database,
    );
    const executorOf = new Map(ranOn.rows.map((row) => [row.workflow_uuid, row.executor_id]));
    for (const id of dbosApp100.enqueued) expect(executorOf.get(id)).toBe('exec-dbos-app-1.0.0');
    for (const id of orders200.enqueued) expect(executorOf.get(id)).toBe('exec-orders-2.0.0');
    for (const id of dbosApp110b.enqueued) expect(executorOf.get(id)).toMatch(/^exec-dbos-app-1\.1\.0-[ab]$/);
    const owners = await pg.query<{ application_name: string | null; application_version: string; n: string }>(
      `SELECT application_name, application_version, count(*) AS n FROM dbos.workflow_status GROUP BY 1, 2 ORDER BY 2, 1 NULLS LAST`,
      [],
      sys.database,
    );
    expect(owners.rows.map((row) => [row.application_name, row.application_version, Number(row.n)])).toEqual([
      ['dbos-app', '1.0.0', 2],
      ['dbos-app', '1.1.0', 2],
      ['orders', '1.1.0', 1],
      [null, '1.1.0', 1],
      ['dbos-app', '2.0.0', 1],
      ['orders', '2.0.0', 2],
      [null, '2.0.0', 1],
    ]);
    runsPerPhase.push(phase3.length);
    console.log(`two applications e2e: retire runs per test ${runsPerPhase.join(', ')}`);
  }, 120_000);
});
