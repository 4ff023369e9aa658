import { runOnRemote } from '../../../testing/run-on-remote.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createBareRemote,
  createDbosSystemDatabase,
  startDbosWorker,
  startPostgres,
  type BareRemote,
  type DbosSystemDatabase,
  type DbosWorker,
  type PostgresServer,
} from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import type { RunResult } from '../../runner.ts';
import { NO_REGISTRY, versionFixtureFiles, versionsDirOf } from '../../../testing/version-fixture.ts';
import type { Task } from '../types.ts';
import { createVersionRetireTask, defaultDrainSourceFor } from '../version-retire/index.ts';
import { createRollbackTask } from './index.ts';

/*
 * Rollback with REAL DBOS executors of two versions (TS SDK child processes) on a real PostgreSQL with the schema the
 * real `dbos` CLI creates, and the real runner against a bare git remote: 2.0.0 has work in flight when it is rolled
 * back; the Service moves to 1.0.0 while 2.0.0's own executor finishes that work; version-retire waits for it, then
 * proposes removing 2.0.0.
 */
const APP = 'shop';
const DIR = versionsDirOf('dev', APP);
const IDENTITY = { name: 'bot', email: 'bot@example.invalid' };
const DIGEST = `sha256:${'a'.repeat(64)}`;

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let readerUrl: string;
let remote: BareRemote;
const workers: DbosWorker[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  readerUrl = (await createDrainReader(pg, sys.database)).url;
});
afterAll(async () => {
  for (const worker of workers) await worker.stop();
  await remote?.cleanup();
  await pg?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(task: Task): Promise<RunResult> {
  return runOnRemote({
    remote,
    tasks: [task],
    registry: NO_REGISTRY,
    drain: defaultDrainSourceFor({ DBOS_DRAIN_DATABASE_URL: readerUrl }),
    envFilter: 'dev',
    identity: IDENTITY,
  });
}

describe('rollback with real DBOS executors of two versions', () => {
  it("moves the Service back while 2.0.0's in-flight workflows finish on 2.0.0's executor; retirement waits for them", async () => {
    remote = await createBareRemote(
      await versionFixtureFiles({
        environments: ['dev'],
        versions: {
          dev: [
            { version: '1.0.0', digest: DIGEST },
            { version: '2.0.0', digest: DIGEST, latest: true },
          ],
        },
        repository: 'ghcr.io/example-org/shop',
        appName: APP,
        quietPeriod: '2s',
      }),
    );
    // Both versions' executors run; 1.0.0 registered first, so the database calls 2.0.0 the latest.
    const v1 = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, version: '1.0.0', executorId: 'exec-v1' });
    workers.push(v1);
    await v1.waitFor('ready', 40_000);
    const v2 = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, version: '2.0.0', executorId: 'exec-v2', held: 2 });
    workers.push(v2);
    await v2.waitFor('enqueued', 40_000);
    expect(v2.held).toHaveLength(2);
    const newest = await pg.query<{ version_name: string }>(
      'SELECT version_name FROM dbos.application_versions ORDER BY version_timestamp DESC LIMIT 1',
      [],
      sys.database,
    );
    expect(newest.rows[0]!.version_name).toBe('2.0.0');

    // The rollback PR, merged by a human.
    const rollback = await run(createRollbackTask({ env: 'dev', app: APP, to: null, reason: 'checkout errors after the switch' }));
    expect(rollback.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[`bot/rollback/dev/${APP}/2-0-0`, 'created']]);
    await remote.mergeInto('main', `bot/rollback/dev/${APP}/2-0-0`);
    expect(await remote.readFile('main', `${DIR}/service.yaml`)).toContain('dbos.dev/app-version: 1-0-0');
    expect(await remote.readFile('main', `${DIR}/2-0-0/kustomization.yaml`)).not.toBeNull();

    // 2.0.0's work is in flight: retirement refuses.
    const retire = createVersionRetireTask();
    const blocked = await run(retire);
    expect(blocked.applied).toEqual([]);
    expect(blocked.skips.find((skip) => skip.subject === `${APP}/2-0-0`)!.reason).toContain('2.0.0 has 2 workflow(s) in flight');

    // Its own executor finishes it; then, after the quiet period, exactly one proposal: remove 2.0.0.
    await v2.release();
    let proposal: RunResult | null = null;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !proposal) {
      const result = await run(retire);
      if (result.applied.length > 0) proposal = result;
      else await sleep(500);
    }
    expect(proposal?.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[`bot/version-retire/dev/${APP}/2-0-0`, 'created']]);
    const branch = `bot/version-retire/dev/${APP}/2-0-0`;
    expect(await remote.readFile(branch, `${DIR}/2-0-0/kustomization.yaml`)).toBeNull();
    expect(await remote.readFile(branch, `${DIR}/1-0-0/kustomization.yaml`)).toContain('base/components/app-latest');
    // The hold line stays in the list, so version-add does not bring 2.0.0 back.
    expect(await remote.readFile(branch, `${DIR}/kustomization.yaml`)).toContain('# gitops-bot: hold version 2.0.0: checkout errors after the switch');

    expect([...v2.finished].sort()).toEqual([...v2.held].sort());
    const rows = await pg.query<{ executor_id: string; status: string }>(
      `SELECT executor_id, status FROM dbos.workflow_status WHERE application_version = '2.0.0' ORDER BY workflow_uuid`,
      [],
      sys.database,
    );
    expect(rows.rows.map((row) => [row.executor_id, row.status])).toEqual([
      ['exec-v2', 'SUCCESS'],
      ['exec-v2', 'SUCCESS'],
    ]);
  }, 100_000);
});
