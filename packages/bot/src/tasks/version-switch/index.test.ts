import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createBareRemote,
  createDbosSystemDatabase,
  startDbosWorker,
  startPostgres,
  startRegistry,
  type BareRemote,
  type DbosWorker,
  type PostgresServer,
  type TestRegistry,
} from '@dbos-gitops/testkit';
import { parseConfig } from '../../config/load.ts';
import { planAll } from '../../runner.ts';
import { dbosGateRunner, gateWorkflowId, type GateRunner } from '../../sources/dbos-gate/index.ts';
import { versionPodsFromPods, type KubeHealth, type PodLike } from '../../sources/kube/health.ts';
import { OciRegistryClient } from '../../sources/registry/oci-client.ts';
import { memoryTree, pullRequestsOf, NO_REGISTRY, versionFixtureFiles, versionsDirOf } from '../../../testing/version-fixture.ts';
import { runOnRemote } from '../../../testing/run-on-remote.ts';
import type { PreviousProposal } from '../types.ts';
import { versionAddTask } from '../version-add/index.ts';
import { createVersionSwitchTask } from './index.ts';

/*
 * version-switch with REAL DBOS executors of two versions (TS SDK child processes, testkit startDbosWorker) on a real
 * PostgreSQL with the schema the real `dbos` CLI creates, the real DBOS client enqueueing the gate workflow, and the
 * real runner against a bare git remote. Kubernetes is faked at the KubeHealth interface: pod objects with Ready
 * conditions, decided by the same versionPodsFromPods the real client uses.
 */
const APP = 'shop';
const DIR = versionsDirOf('dev', APP);
const DIGEST = `sha256:${'b'.repeat(64)}`;
const GATE_ID = gateWorkflowId('dev', APP, '2.0.0');

let pg: PostgresServer;
let registry: TestRegistry;
const workers: DbosWorker[] = [];
const remotes: BareRemote[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  registry = await startRegistry();
});
afterAll(async () => {
  for (const worker of workers) await worker.stop();
  for (const remote of remotes) await remote.cleanup();
  await registry?.stop();
  await pg?.stop();
});

function gatedConfig(text: string, timeout = '2m'): string {
  const out = text.replace(
    '  - name: dev\n    overlay: overlays/dev\n',
    `  - name: dev\n    overlay: overlays/dev\n    switch: gated\n    kube:\n      namespace: dbos\n    gateWorkflow:\n      name: gateCheck\n      queue: "{app}-gate"\n      timeout: ${timeout}\n`,
  );
  expect(out).toContain('switch: gated');
  return out;
}

/** Pods as the API returns them for a label selector: the fake filters by the two labels the real selector names. */
function fakeKube(pods: PodLike[]): KubeHealth & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    healthySince: async () => null,
    async versionPods(env, namespace, app, slug) {
      asked.push(`${env}/${namespace}/${app}/${slug}`);
      return versionPodsFromPods(pods.filter((pod) => pod.metadata?.labels?.['dbos.dev/app'] === app && pod.metadata.labels['dbos.dev/app-version'] === slug));
    },
  };
}

function pod(slug: string, ready: boolean): PodLike {
  return {
    metadata: { labels: { 'dbos.dev/app': APP, 'dbos.dev/app-version': slug } },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: '2026-01-02T03:04:05Z' }] },
  };
}

async function gateRows(database: string) {
  const rows = await pg.query<{ workflow_uuid: string; name: string; status: string; executor_id: string; application_version: string }>(
    `SELECT workflow_uuid, name, status, executor_id, application_version FROM dbos.workflow_status WHERE name = 'gateCheck'`,
    [],
    database,
  );
  return rows.rows;
}

/** dev with 1.0.0 (latest, selected) and 2.0.0 added by a gated version-add, merged. */
async function mergedIncoming(timeout = '2m') {
  const files = await versionFixtureFiles({
    environments: ['dev'],
    versions: {
      dev: [
        { version: '1.0.0', digest: DIGEST, latest: true },
        { version: '2.0.0', digest: DIGEST },
      ],
    },
    repository: 'ghcr.io/example-org/shop',
    appName: APP,
  });
  files['.github/gitops-bot.yaml'] = gatedConfig(files['.github/gitops-bot.yaml']!, timeout);
  return { files, config: parseConfig(files['.github/gitops-bot.yaml']!) };
}

function planSwitch(fixture: Awaited<ReturnType<typeof mergedIncoming>>, kube: KubeHealth | null, gate: GateRunner | null, previous: PreviousProposal[] = []) {
  return planAll({
    config: fixture.config,
    tasks: [createVersionSwitchTask({ gate })],
    tree: memoryTree(fixture.files),
    registry: NO_REGISTRY,
    kube,
    pullRequests: pullRequestsOf(previous),
    envFilter: 'dev',
    now: new Date(),
    log: () => undefined,
  });
}

describe('version-switch with real DBOS executors', () => {
  it('gated version-add PR, merge, then the gate workflow runs on the NEW version only and the switch PR follows; a second run writes nothing', async () => {
    const sys = await createDbosSystemDatabase(pg, { database: 'gate_ok', appRole: 'gate_ok_app' });
    const path = `switch${Date.now()}/shop`;
    for (const tag of ['1.0.0', '2.0.0']) await registry.pushImage(path, tag, { created: new Date(Date.now() - 30 * 86_400_000), salt: tag });
    const repository = `${registry.host}/${path}`;
    const files = await versionFixtureFiles({
      environments: ['dev'],
      versions: {
        dev: [{ version: '1.0.0', digest: await new OciRegistryClient({ plainHttpHosts: [registry.host] }).resolveDigest(repository, '1.0.0'), latest: true }],
      },
      repository,
      appName: APP,
      registryHosts: [registry.host],
    });
    files['.github/gitops-bot.yaml'] = gatedConfig(files['.github/gitops-bot.yaml']!);
    const remote = await createBareRemote(files);
    remotes.push(remote);
    const kube = fakeKube([pod('1-0-0', true), pod('2-0-0', true)]);
    const gate = dbosGateRunner({ DBOS_GATE_DATABASE_URL_DEV: sys.appUrl }, { write: true, pollMs: 100 });
    const run = () =>
      runOnRemote({
        remote,
        tasks: [versionAddTask, createVersionSwitchTask({ gate })],
        registry: new OciRegistryClient({ plainHttpHosts: [registry.host] }),
        kube,
        envFilter: 'dev',
      });

    // 1. version-add (gated): the directory only.
    const first = await run();
    expect(first.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[`bot/version-add/dev/${APP}/2-0-0`, 'created']]);
    await remote.mergeInto('main', `bot/version-add/dev/${APP}/2-0-0`);
    expect(await remote.readFile('main', `${DIR}/service.yaml`)).toContain('dbos.dev/app-version: 1-0-0');

    // 2. The new version's executor starts (its Deployment synced), then the old one restarts: DBOS now calls 1.0.0 the
    // newest registered version, so a workflow enqueued without appVersion would go to 1.0.0's executor.
    const v2 = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, queue: 'shop-gate', version: '2.0.0', executorId: 'exec-v2' });
    workers.push(v2);
    await v2.waitFor('ready', 60_000);
    const v1 = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, queue: 'shop-gate', version: '1.0.0', executorId: 'exec-v1' });
    workers.push(v1);
    await v1.waitFor('ready', 60_000);
    const newest = await pg.query<{ version_name: string }>(
      'SELECT version_name FROM dbos.application_versions ORDER BY version_timestamp DESC LIMIT 1',
      [],
      sys.database,
    );
    expect(newest.rows[0]!.version_name).toBe('1.0.0');

    // 3. Pods Ready and the gate workflow SUCCESS on exactly 2.0.0: the switch PR.
    const second = await run();
    expect(second.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[`bot/version-switch/dev/${APP}/2-0-0`, 'created']]);
    expect(await gateRows(sys.database)).toEqual([
      { workflow_uuid: GATE_ID, name: 'gateCheck', status: 'SUCCESS', executor_id: 'exec-v2', application_version: '2.0.0' },
    ]);
    expect(v2.gates).toEqual([GATE_ID]);
    expect(v1.gates).toEqual([]);
    const branch = `bot/version-switch/dev/${APP}/2-0-0`;
    expect(await remote.readFile(branch, `${DIR}/service.yaml`)).toContain('dbos.dev/app-version: 2-0-0');
    expect(await remote.readFile(branch, `${DIR}/2-0-0/kustomization.yaml`)).toContain('base/components/app-latest');
    expect(await remote.readFile(branch, `${DIR}/1-0-0/kustomization.yaml`)).not.toContain('base/components/app-latest');
    const body = second.applied[0]!.plan.body;
    expect(body).toContain('1/1 pod(s) Ready (all Ready since 2026-01-02T03:04:05.000Z)');
    expect(body).toContain('Gate workflow `gateCheck` on queue `shop-gate`');
    expect(body).toContain(`id \`${GATE_ID}\`: **SUCCESS** on executor \`exec-v2\`, application version \`2.0.0\``);
    // The write credential is shown as host:port/database only.
    expect(body).not.toContain(sys.appPassword);
    expect(body).toContain(`/gate_ok (from DBOS_GATE_DATABASE_URL_DEV)`);

    // 4. Re-run with nothing new: zero writes; the gate's id is reused, so DBOS returns the first workflow's result and
    // no second gate workflow runs.
    const pushes = await remote.pushCount();
    const third = await run();
    expect(third.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[branch, 'unchanged']]);
    expect(third.forgeWrites).toBe(0);
    expect(await remote.pushCount()).toBe(pushes);
    expect(await gateRows(sys.database)).toHaveLength(1);
    expect(v2.gates).toEqual([GATE_ID]);

    // 5. With the switch PR open on the forge (its marker read back), the task reads nothing and enqueues nothing.
    const asked = kube.asked.length;
    const refuse: GateRunner = () => Promise.reject(new Error('an open switch PR must not run the gate again'));
    const open = await planSwitch(await mergedIncoming(), kube, refuse, [
      {
        branch,
        number: 7,
        state: 'open',
        merged: false,
        held: false,
        proposal: { task: 'version-switch', env: 'dev', subject: `${APP}/2-0-0`, memory: { pins: [{ image: 'app', tag: '2.0.0', digest: DIGEST }] } },
      },
    ]);
    expect(open.plans).toEqual([]);
    expect(open.skips.map((skip) => [skip.reason, skip.held])).toEqual([['switch PR #7 for 2.0.0 is open; left as it is', true]]);
    expect(kube.asked.length).toBe(asked);
  }, 180_000);

  it('a gate workflow that fails (ERROR) on the new version: no switch PR', async () => {
    const sys = await createDbosSystemDatabase(pg, { database: 'gate_error', appRole: 'gate_error_app' });
    const v2 = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, queue: 'shop-gate', version: '2.0.0', executorId: 'exec-v2-bad', gate: 'fail' });
    workers.push(v2);
    await v2.waitFor('ready', 60_000);
    const result = await planSwitch(
      await mergedIncoming(),
      fakeKube([pod('2-0-0', true)]),
      dbosGateRunner({ DBOS_GATE_DATABASE_URL_DEV: sys.appUrl }, { write: true, pollMs: 100 }),
    );
    expect(result.plans).toEqual([]);
    expect(result.skips.map((skip) => skip.reason)).toEqual([
      `the gate failed ${APP} 2.0.0 in dev: gate workflow gateCheck (${GATE_ID}) finished ERROR on exec-v2-bad (version 2.0.0); no switch (roll forward with a fixed version)`,
    ]);
    expect(await gateRows(sys.database)).toEqual([
      { workflow_uuid: GATE_ID, name: 'gateCheck', status: 'ERROR', executor_id: 'exec-v2-bad', application_version: '2.0.0' },
    ]);
  }, 120_000);

  it('unknown never switches and never enqueues without need: no kube, pods not Ready, dry run; a timeout is unknown', async () => {
    const sys = await createDbosSystemDatabase(pg, { database: 'gate_timeout', appRole: 'gate_timeout_app' });
    const write = dbosGateRunner({ DBOS_GATE_DATABASE_URL_DEV: sys.appUrl }, { write: true, pollMs: 100 });
    const fixture = await mergedIncoming('1s');

    const noKube = await planSwitch(fixture, null, write);
    expect(noKube.plans).toEqual([]);
    expect(noKube.skips.map((skip) => skip.reason)).toEqual([
      `unknown: no cluster access is configured for dev (environments[].kube), so the Readiness of ${APP} 2.0.0's pods cannot be read; 2.0.0 is not switched to`,
    ]);

    const none = await planSwitch(fixture, fakeKube([pod('1-0-0', true)]), write);
    expect(none.skips.map((skip) => skip.reason)).toEqual([`${APP} 2.0.0 is not Ready in dev yet: no pod runs yet; waiting before the switch`]);

    const notReady = await planSwitch(fixture, fakeKube([pod('2-0-0', true), pod('2-0-0', false)]), write);
    expect(notReady.plans).toEqual([]);
    expect(notReady.skips.map((skip) => skip.reason)).toEqual([`${APP} 2.0.0 is not Ready in dev yet: 1/2 pod(s) Ready; waiting before the switch`]);

    const dryRun = await planSwitch(fixture, fakeKube([pod('2-0-0', true)]), dbosGateRunner({ DBOS_GATE_DATABASE_URL_DEV: sys.appUrl }, { write: false }));
    expect(dryRun.plans).toEqual([]);
    expect(dryRun.skips.map((skip) => skip.reason)).toEqual([
      `would enqueue gate workflow ${GATE_ID} (gateCheck on queue shop-gate, application version 2.0.0); a run that writes nothing does not enqueue`,
    ]);
    expect(await gateRows(sys.database)).toEqual([]);

    // No executor of 2.0.0 runs here: the gate workflow stays ENQUEUED past gateWorkflow.timeout (1s).
    const timedOut = await planSwitch(fixture, fakeKube([pod('2-0-0', true)]), write);
    expect(timedOut.plans).toEqual([]);
    expect(timedOut.skips.map((skip) => skip.reason)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^unknown: gate workflow gateCheck \\(${GATE_ID}\\) is still ENQUEUED after 1s \\(gateWorkflow.timeout\\); .* \\[postgresql://127\\.0\\.0\\.1:\\d+/gate_timeout \\(from DBOS_GATE_DATABASE_URL_DEV\\)\\]; 2\\.0\\.0 is not switched to$`,
        ),
      ),
    ]);
    expect((await gateRows(sys.database)).map((row) => [row.workflow_uuid, row.status, row.application_version])).toEqual([[GATE_ID, 'ENQUEUED', '2.0.0']]);

    // An executor of 2.0.0 starts and runs that same workflow (the id is reused, not re-enqueued), which hangs: still
    // PENDING on it at the timeout, unknown again.
    const hanging = startDbosWorker({
      systemDatabaseUrl: sys.appUrl,
      appName: APP,
      queue: 'shop-gate',
      version: '2.0.0',
      executorId: 'exec-v2-hang',
      gate: 'hang',
    });
    workers.push(hanging);
    await hanging.waitFor('gate', 60_000);
    expect(hanging.gates).toEqual([GATE_ID]);
    const pending = await planSwitch(fixture, fakeKube([pod('2-0-0', true)]), write);
    expect(pending.plans).toEqual([]);
    expect(pending.skips.map((skip) => skip.reason)[0]).toMatch(
      /^unknown: gate workflow gateCheck \(gitops-bot-gate:dev:shop:2\.0\.0\) is still PENDING after 1s /,
    );
    expect((await gateRows(sys.database)).map((row) => [row.workflow_uuid, row.status, row.executor_id])).toEqual([[GATE_ID, 'PENDING', 'exec-v2-hang']]);

    // No URL for the gate: unknown, and the run names the variable to set.
    const unset = await planSwitch(fixture, fakeKube([pod('2-0-0', true)]), dbosGateRunner({}, { write: true }));
    expect(unset.skips.map((skip) => skip.reason)[0]).toContain('unknown: DBOS_GATE_DATABASE_URL_DEV is not set');
  }, 120_000);

  it('a version held in the list (rolled back) is never switched to', async () => {
    const fixture = await mergedIncoming();
    fixture.files[`${DIR}/kustomization.yaml`] = fixture.files[`${DIR}/kustomization.yaml`]!.replace(
      '  - 2-0-0\n',
      '  # gitops-bot: hold rolled back\n  - 2-0-0\n',
    );
    const gate: GateRunner = () => Promise.reject(new Error('the gate must not run for a held version'));
    const openSwitch: PreviousProposal = {
      branch: `bot/version-switch/dev/${APP}/2-0-0`,
      number: 9,
      state: 'open',
      merged: false,
      held: false,
      proposal: { task: 'version-switch', env: 'dev', subject: `${APP}/2-0-0`, memory: { pins: [{ image: 'app', tag: '2.0.0', digest: DIGEST }] } },
    };
    const result = await planSwitch(fixture, fakeKube([pod('2-0-0', true)]), gate, [openSwitch]);
    expect(result.plans).toEqual([]);
    // Its open switch PR is closed by the runner, with this reason (the skip does not hold it open).
    expect(result.skips.map((skip) => [skip.subject, skip.reason, skip.held ?? false])).toEqual([
      [`${APP}/2-0-0`, `${APP} 2.0.0 no longer waits to be switched to in dev: it is held in ${DIR}/kustomization.yaml (rolled back)`, false],
    ]);
  });

  it('asked for by name with no gated environment, it says so and proposes nothing', async () => {
    const fixture = await mergedIncoming();
    const direct = { ...fixture, config: parseConfig(fixture.files['.github/gitops-bot.yaml']!.replace(/ {4}switch: gated\n[\s\S]*?timeout: 2m\n/, '')) };
    expect(direct.config.environments[0]!.switch).toBe('direct');
    const result = await planSwitch(direct, fakeKube([pod('2-0-0', true)]), null);
    expect(result.plans).toEqual([]);
    expect(result.skips.map((skip) => skip.reason)).toEqual(['not enabled: no environment has switch: gated']);
  });
});
