import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, createDrainReader, startDbosWorker, type DbosSystemDatabase, type DbosWorker } from '../../../testkit/src/dbos.ts';
import { createBareRemote, type BareRemote } from '../../../testkit/src/git-remote.ts';
import { startPostgres, type PostgresServer } from '../../../testkit/src/postgres.ts';
import { startRegistry, type TestRegistry } from '../../../testkit/src/registry.ts';
import { parseConfig } from '../config/load.ts';
import { GitWorkspace } from '../git/workspace.ts';
import { runPlans, type RunResult } from '../runner.ts';
import { LocalForge } from '../sources/forge/local.ts';
import { OciRegistryClient } from '../sources/registry/oci-client.ts';
import type { Task } from '../tasks/types.ts';
import { versionAddTask } from '../tasks/version-add.ts';
import { createVersionRetireTask, defaultDrainSourceFor } from '../tasks/version-retire.ts';
import { versionFixtureFiles } from './fixture.ts';

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

async function run(task: Task): Promise<RunResult> {
  const config = parseConfig((await remote.readFile('main', '.github/gitops-bot.yaml'))!);
  const workspace = await GitWorkspace.clone(remote.url, 'main', IDENTITY);
  try {
    const forge = new LocalForge(async () => [...(await workspace.botBranches()).keys()], () => undefined);
    return await runPlans({ config, tasks: [task], workspace, forge, registry: new OciRegistryClient({ plainHttpHosts: [registry.host] }), kube: null, envFilter: 'dev', dryRun: false, now: new Date(), log: () => undefined, print: () => undefined, identity: IDENTITY });
  } finally {
    await workspace.dispose();
  }
}

describe('version lifecycle with real DBOS executors', () => {
  it('adds v2, refuses to retire v1 while it drains and during the quiet period, then proposes retiring it', async () => {
    const v1Image = await registry.pushImage('acme/shop', '1.0.0', { created: new Date(Date.now() - 30 * DAY), salt: 'v1' });
    const v2Image = await registry.pushImage('acme/shop', '2.0.0', { created: new Date(Date.now() - 2 * DAY), salt: 'v2' });
    const repository = `${registry.host}/acme/shop`;
    remote = await createBareRemote(
      await versionFixtureFiles({ environments: ['dev'], versions: { dev: [{ version: '1.0.0', digest: v1Image.digest, latest: true }] }, repository, appName: APP, quietPeriod: `${QUIET_MS / 1000}s`, registryHosts: [registry.host] }),
    );
    const retire = createVersionRetireTask({ drainSourceFor: defaultDrainSourceFor({ DBOS_DRAIN_DATABASE_URL: readerUrl }) });

    // v1 runs alone and enqueues long workflows (one executor, two at a time: the third waits ENQUEUED).
    const v1 = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, version: '1.0.0', executorId: 'exec-v1', enqueueMs: [4000, 6000, 6000], concurrency: 2 });
    workers.push(v1);
    await v1.waitFor('enqueued', 40_000);

    // version-add proposes 2.0.0; a human merges the PR.
    const added = await run(versionAddTask);
    expect(added.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([['bot/version-add/dev/2-0-0', 'created']]);
    await remote.mergeInto('main', 'bot/version-add/dev/2-0-0');
    expect(await remote.readFile('main', 'overlays/dev/app-versions/service.yaml')).toContain('dbos.dev/app-version: 2-0-0');
    expect(await remote.readFile('main', 'overlays/dev/app-versions/2-0-0/kustomization.yaml')).toContain(`digest: ${v2Image.digest}`);

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
      refusals.push({ reason: result.skips.find((skip) => skip.subject === '1-0-0')!.reason, v1Done });
      await sleep(500);
    }

    // While v1 had work in flight: refused with its counts; after it drained: refused for the quiet period.
    expect(refusals.some((refusal) => refusal.v1Done < 3 && /1\.0\.0 has [1-3] workflow\(s\) in flight/.test(refusal.reason))).toBe(true);
    expect(refusals.some((refusal) => /has read zero for \d+s .*the quiet period is 5s/.test(refusal.reason))).toBe(true);
    expect(refusals.every((refusal) => !refusal.reason.includes('2.0.0 has'))).toBe(true);

    // Then exactly one proposal: remove v1's directory and list line.
    expect(proposal).not.toBeNull();
    expect(proposal!.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([['bot/version-retire/dev/1-0-0', 'created']]);
    const branch = 'bot/version-retire/dev/1-0-0';
    expect(await remote.readFile(branch, 'overlays/dev/app-versions/1-0-0/kustomization.yaml')).toBeNull();
    expect(await remote.readFile(branch, 'overlays/dev/app-versions/kustomization.yaml')).not.toContain('1-0-0');
    expect(await remote.readFile(branch, 'overlays/dev/app-versions/2-0-0/kustomization.yaml')).not.toBeNull();

    // Every v1 workflow ran to completion on v1's executor; v2 never took one of them.
    expect([...v1.finished].sort()).toEqual([...v1.enqueued].sort());
    expect([...v2.finished].sort()).toEqual([...v2.enqueued].sort());
    const rows = await pg.query<{ executor_id: string; status: string; updated_at: string }>(`SELECT executor_id, status, updated_at FROM dbos.workflow_status WHERE application_version = '1.0.0'`, [], sys.database);
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
    console.log(`version lifecycle e2e: ${refusals.length} refused runs, v1 zero since ${new Date(zeroSince).toISOString()}, proposed at ${new Date(readAt).toISOString()} (${readAt - zeroSince} ms later, quiet period ${QUIET_MS} ms)`);
  }, 100_000);
});
