import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { runOnRemote } from '../../testing/run-on-remote.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, DBOS_CLI, startDbosWorker, type DbosSystemDatabase, type DbosWorker } from '@dbos-gitops/testkit';
import { createBareRemote, type BareRemote } from '@dbos-gitops/testkit';
import { startPostgres, type PostgresServer } from '@dbos-gitops/testkit';
import { startRegistry, type TestRegistry } from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import type { RunResult } from '../runner.ts';
import { OciRegistryClient } from '../sources/registry/oci-client.ts';
import type { Task } from '../tasks/types.ts';
import { versionAddTask } from '../tasks/version-add/index.ts';
import { createVersionRetireTask, defaultDrainSourceFor } from '../tasks/version-retire/index.ts';
import { DatabaseDrainSource } from '../sources/drain/source.ts';
import { versionFixtureFiles, versionsDirOf } from '../../testing/version-fixture.ts';

/*
 * The whole life of a version with REAL DBOS executors (TS SDK 5.3.0 child processes), a real PostgreSQL with the
 * schema the real `dbos` CLI creates, a real OCI registry and a real bare git remote:
 * v1 executors enqueue long workflows; version-add proposes v2 and a human merges it; v2 executors take new work
 * while v1 keeps draining its own; version-retire refuses while anything of v1 is in flight and during the quiet
 * period, then proposes removing v1 once it has drained.
 */
const APP = 'shop';
const QUIET_MS = 5_000;
const IDENTITY = { name: 'bot', email: 'bot@example.invalid' };
const DAY = 86_400_000;

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let readerUrl: string;
let registry: TestRegistry;
let remote: BareRemote;
const otherRemotes: BareRemote[] = [];
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
  for (const other of otherRemotes) await other.cleanup();
  await registry?.stop();
  await pg?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(task: Task, on: BareRemote = remote): Promise<RunResult> {
  return runOnRemote({ remote: on, tasks: [task], registry: new OciRegistryClient({ plainHttpHosts: [registry.host] }), envFilter: 'dev', identity: IDENTITY });
}

describe('version lifecycle with real DBOS executors', () => {
  it('adds v2, refuses to retire v1 while it drains and during the quiet period, then proposes retiring it', async () => {
    const v1Image = await registry.pushImage('acme/shop', '1.0.0', { created: new Date(Date.now() - 30 * DAY), salt: 'v1' });
    const v2Image = await registry.pushImage('acme/shop', '2.0.0', { created: new Date(Date.now() - 2 * DAY), salt: 'v2' });
    const repository = `${registry.host}/acme/shop`;
    remote = await createBareRemote(
      await versionFixtureFiles({
        environments: ['dev'],
        versions: { dev: [{ version: '1.0.0', digest: v1Image.digest, latest: true }] },
        repository,
        appName: APP,
        quietPeriod: `${QUIET_MS / 1000}s`,
        registryHosts: [registry.host],
      }),
    );
    const retire = createVersionRetireTask({ drainSourceFor: defaultDrainSourceFor({ DBOS_DRAIN_DATABASE_URL: readerUrl }) });

    // v1 runs alone and enqueues long workflows (one executor, two at a time: the third waits ENQUEUED).
    const v1 = startDbosWorker({
      systemDatabaseUrl: sys.appUrl,
      appName: APP,
      version: '1.0.0',
      executorId: 'exec-v1',
      enqueueMs: [4000, 6000, 6000],
      concurrency: 2,
    });
    workers.push(v1);
    await v1.waitFor('enqueued', 40_000);

    // version-add proposes 2.0.0; a human merges the PR.
    const added = await run(versionAddTask);
    expect(added.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[`bot/version-add/dev/${APP}/2-0-0`, 'created']]);
    await remote.mergeInto('main', `bot/version-add/dev/${APP}/2-0-0`);
    expect(await remote.readFile('main', `${versionsDirOf('dev', APP)}/service.yaml`)).toContain('dbos.dev/app-version: 2-0-0');
    expect(await remote.readFile('main', `${versionsDirOf('dev', APP)}/2-0-0/kustomization.yaml`)).toContain(`digest: ${v2Image.digest}`);

    // v2 executors start (the new Deployment) and take new work.
    const v2 = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, version: '2.0.0', executorId: 'exec-v2', enqueueMs: [300, 300] });
    workers.push(v2);
    await v2.waitFor('enqueued', 40_000);

    const refusals: Array<{ reason: string; v1Done: number }> = [];
    let proposal: RunResult | null = null;
    const pushesBefore = await remote.pushCount();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const v1Done = v1.finished.length;
      const result = await run(retire);
      if (result.applied.length > 0) {
        proposal = result;
        break;
      }
      expect(await remote.pushCount()).toBe(pushesBefore);
      refusals.push({ reason: result.skips.find((skip) => skip.subject === `${APP}/1-0-0`)!.reason, v1Done });
      await sleep(500);
    }

    // While v1 had work in flight: refused with its counts; after it drained: refused for the quiet period.
    expect(refusals.some((refusal) => refusal.v1Done < 3 && /1\.0\.0 has [1-3] workflow\(s\) in flight/.test(refusal.reason))).toBe(true);
    expect(refusals.some((refusal) => /has read zero for \d+s .*the quiet period is 5s/.test(refusal.reason))).toBe(true);
    expect(refusals.every((refusal) => !refusal.reason.includes('2.0.0 has'))).toBe(true);

    // Then exactly one proposal: remove v1's directory and list line.
    expect(proposal).not.toBeNull();
    expect(proposal!.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[`bot/version-retire/dev/${APP}/1-0-0`, 'created']]);
    const branch = `bot/version-retire/dev/${APP}/1-0-0`;
    expect(await remote.readFile(branch, `${versionsDirOf('dev', APP)}/1-0-0/kustomization.yaml`)).toBeNull();
    expect(await remote.readFile(branch, `${versionsDirOf('dev', APP)}/kustomization.yaml`)).not.toContain('1-0-0');
    expect(await remote.readFile(branch, `${versionsDirOf('dev', APP)}/2-0-0/kustomization.yaml`)).not.toBeNull();

    // Every v1 workflow ran to completion on v1's executor; v2 never took one of them.
    expect([...v1.finished].sort()).toEqual([...v1.enqueued].sort());
    expect([...v2.finished].sort()).toEqual([...v2.enqueued].sort());
    const rows = await pg.query<{ executor_id: string; status: string; updated_at: string }>(
      `SELECT executor_id, status, updated_at FROM dbos.workflow_status WHERE application_version = '1.0.0'`,
      [],
      sys.database,
    );
    expect(rows.rows.map((row) => [row.executor_id, row.status])).toEqual([
      ['exec-v1', 'SUCCESS'],
      ['exec-v1', 'SUCCESS'],
      ['exec-v1', 'SUCCESS'],
    ]);
    // The proposal's "zero since" is v1's last row change, and the read came at least a quiet period later.
    const lastChange = Math.max(...rows.rows.map((row) => Number(row.updated_at)));
    const body = proposal!.applied[0]!.plan.body;
    const zeroSince = Date.parse(/Zero in flight since:\*\* (\S+)/.exec(body)![1]!);
    const readAt = Date.parse(/Read at:\*\* (\S+)/.exec(body)![1]!);
    expect(zeroSince).toBe(lastChange);
    expect(readAt - zeroSince).toBeGreaterThanOrEqual(QUIET_MS);
    console.log(
      `version lifecycle e2e: ${refusals.length} refused runs, v1 zero since ${new Date(zeroSince).toISOString()}, proposed at ${new Date(readAt).toISOString()} (${readAt - zeroSince} ms later, quiet period ${QUIET_MS} ms)`,
    );
  }, 100_000);
  it('reports PENDING work of a dead executor with the resume command; running that command lets the version drain and retire', async () => {
    const image = await registry.pushImage('acme/shop', '3.0.0', { created: new Date(Date.now() - 30 * DAY), salt: 'v3' });
    const orphanRemote = await createBareRemote(
      await versionFixtureFiles({
        environments: ['dev'],
        versions: {
          dev: [
            { version: '3.0.0', digest: image.digest },
            { version: '4.0.0', digest: image.digest, latest: true },
          ],
        },
        repository: `${registry.host}/acme/shop`,
        appName: APP,
        quietPeriod: '1s',
        registryHosts: [registry.host],
      }),
    );
    otherRemotes.push(orphanRemote);
    const old = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, version: '3.0.0', executorId: 'exec-old-a', enqueueMs: [8000], concurrency: 1 });
    workers.push(old);
    await old.waitFor('enqueued', 40_000);
    const [workflowId] = old.enqueued;
    const statusOf = async () =>
      (
        await pg.query<{ status: string; executor_id: string }>(
          'SELECT status, executor_id FROM dbos.workflow_status WHERE workflow_uuid = $1',
          [workflowId],
          sys.database,
        )
      ).rows[0]!;
    for (let i = 0; i < 60 && (await statusOf()).status !== 'PENDING'; i++) await sleep(250);
    // The executor goes away mid-workflow (its pod is deleted); the workflow stays PENDING, owned by the dead executor.
    await old.stop();
    expect(await statusOf()).toEqual({ status: 'PENDING', executor_id: 'exec-old-a' });
    const latest = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, version: '4.0.0', executorId: 'exec-new' });
    workers.push(latest);
    await latest.waitFor('ready', 40_000);

    let live = ['exec-new'];
    const retire = createVersionRetireTask({ drainSourceFor: () => new DatabaseDrainSource({ databaseUrl: readerUrl, liveExecutorIds: async () => live }) });
    const refused = await run(retire, orphanRemote);
    expect(refused.applied).toEqual([]);
    const reason = refused.skips.find((skip) => skip.subject === `${APP}/3-0-0`)!.reason;
    expect(reason).toContain('3.0.0 has 1 workflow(s) in flight');
    expect(reason).toContain('1 PENDING workflow(s) of 3.0.0 belong to executors that are gone');
    const command = `dbos workflow resume ${workflowId} --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"`;
    expect(reason).toContain(command);

    // The operator's fix: a live executor of 3.0.0 (the Deployment's new pod), then exactly the printed command.
    const replacement = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, version: '3.0.0', executorId: 'exec-old-b' });
    workers.push(replacement);
    await replacement.waitFor('ready', 40_000);
    live = ['exec-new', 'exec-old-b'];
    await promisify(execFile)('sh', ['-c', command], {
      env: { ...process.env, PATH: `${dirname(DBOS_CLI)}:${process.env.PATH}`, DBOS_SYSTEM_DATABASE_URL: sys.appUrl },
      timeout: 60_000,
    });
    for (let i = 0; i < 120 && (await statusOf()).status !== 'SUCCESS'; i++) await sleep(250);
    expect(await statusOf()).toEqual({ status: 'SUCCESS', executor_id: 'exec-old-b' });

    let proposed: RunResult | null = null;
    for (let i = 0; i < 20 && !proposed; i++) {
      await sleep(500);
      const result = await run(retire, orphanRemote);
      if (result.applied.length > 0) proposed = result;
    }
    expect(proposed!.applied.map((item) => item.plan.branch)).toEqual([`bot/version-retire/dev/${APP}/3-0-0`]);
  }, 100_000);
});
