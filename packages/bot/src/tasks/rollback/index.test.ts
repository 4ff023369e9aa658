import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runOnRemote } from '../../../testing/run-on-remote.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createBareRemote,
  createDbosSystemDatabase,
  startPostgres,
  startRegistry,
  type BareRemote,
  type DbosSystemDatabase,
  type PostgresServer,
  type TestRegistry,
} from '@dbos-gitops/testkit';
import { createDrainReader, seedFinishedWorkflows } from '@dbos-gitops/drain/testing';
import { parseConfig } from '../../config/load.ts';
import { isBotError } from '../../errors.ts';
import type { FileEdit } from '../../plan.ts';
import { planAll } from '../../runner.ts';
import { defaultDrainSourceFor, type DrainSourceFor } from '../../sources/drain/for-environment.ts';
import { DatabaseDrainSource } from '../../sources/drain/source.ts';
import { OciRegistryClient } from '../../sources/registry/oci-client.ts';
import type { RegistrySource } from '../../sources/registry/types.ts';
import { kustomize, memoryTree, NO_REGISTRY, versionFixtureFiles, versionsDirOf } from '../../../testing/version-fixture.ts';
import { addLatestComponent, removeLatestComponent, renderVersionKustomization } from '../shared/app-version-files.ts';
import { versionAddTask } from '../version-add/index.ts';
import { createVersionRetireTask } from '../version-retire/index.ts';
import type { Task } from '../types.ts';
import { createRollbackTask, type RollbackRequest } from './index.ts';

/*
 * rollback on a version fixture (1.0.0 and 2.0.0 live, 2.0.0 latest) read by the real template: the plan's edits,
 * rendered with real kustomize; then what version-add (real OCI registry) and version-retire (real PostgreSQL with the
 * DBOS schema) do with the result; and once through the real runner against a bare git remote.
 */
const HOUR = 3_600_000;
const DIR = versionsDirOf('dev');
const IDENTITY = { name: 'bot', email: 'bot@example.invalid' };
const REASON = 'error ratio 31% in dev after the switch (incident 7)';
/** The hold line the rollback of 2.0.0 writes: it names the version, so it keeps its meaning once 2.0.0's line is gone. */
const HOLD_LINE = `  # gitops-bot: hold version 2.0.0: ${REASON}`;

function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const a = before.split('\n');
  const b = after.split('\n');
  return { removed: a.filter((line) => !b.includes(line)), added: b.filter((line) => !a.includes(line)) };
}

function applied(files: Record<string, string>, edits: FileEdit[]): Record<string, string> {
  const out = { ...files };
  for (const edit of edits) {
    if (edit.after === null) delete out[edit.path];
    else out[edit.path] = edit.after;
  }
  return out;
}

async function fixture(options: { repository?: string; registryHosts?: string[]; appName?: string } = {}) {
  return versionFixtureFiles({
    environments: ['dev', 'staging'],
    versions: {
      dev: [
        { version: '1.0.0', digest: `sha256:${'1'.repeat(64)}` },
        { version: '2.0.0', digest: `sha256:${'2'.repeat(64)}`, latest: true },
      ],
      staging: [{ version: '1.0.0', digest: `sha256:${'1'.repeat(64)}`, latest: true }],
    },
    repository: options.repository ?? 'ghcr.io/example-org/dbos-app',
    ...(options.appName ? { appName: options.appName } : {}),
    ...(options.registryHosts ? { registryHosts: options.registryHosts } : {}),
  });
}

async function plan(
  files: Record<string, string>,
  tasks: Task[],
  options: {
    registry?: RegistrySource;
    drain?: DatabaseDrainSource;
    /** The composition root's reader from these variables (rollback: propose); overrides `drain`. */
    drainEnv?: NodeJS.ProcessEnv;
    envFilter?: string;
    pullRequests?: Parameters<typeof planAll>[0]['pullRequests'];
  } = {},
) {
  return planAll({
    config: parseConfig(files['.github/gitops-bot.yaml']!),
    tasks,
    tree: memoryTree(files),
    registry: options.registry ?? NO_REGISTRY,
    kube: null,
    ...(options.drain ? { drain: () => options.drain! } : {}),
    ...(options.drainEnv ? { drain: defaultDrainSourceFor(options.drainEnv) satisfies DrainSourceFor } : {}),
    pullRequests: options.pullRequests ?? [],
    envFilter: options.envFilter ?? null,
    now: new Date(),
    log: () => undefined,
  });
}

const request = (change: Partial<RollbackRequest> = {}): RollbackRequest => ({ env: 'dev', app: null, to: null, reason: REASON, ...change });

async function rolledBack(files: Record<string, string>, change: Partial<RollbackRequest> = {}) {
  const { plans } = await plan(files, [createRollbackTask(request(change))]);
  expect(plans).toHaveLength(1);
  return { plan: plans[0]!, files: applied(files, plans[0]!.edits) };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rollback-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('the app-latest component moves both ways', () => {
  it('adding it to a version rendered without it gives exactly the template of a latest version, and removing it undoes that', () => {
    const input = { version: '1.0.0', slug: '1-0-0', image: { name: 'app', newName: 'r/app', tag: '1.0.0', digest: `sha256:${'1'.repeat(64)}` } };
    const plain = renderVersionKustomization({ ...input, latest: false });
    const latest = renderVersionKustomization({ ...input, latest: true });
    expect(addLatestComponent(plain, 'k.yaml')).toBe(latest);
    expect(removeLatestComponent(addLatestComponent(plain, 'k.yaml'), 'k.yaml')).toBe(plain);
    expect(() => addLatestComponent(latest, 'k.yaml')).toThrow(/already includes/);
  });
});

describe('rollback plan', () => {
  it('edits exactly the Service selector, the two app-latest moves and the hold line; kustomize renders the older version as latest', async () => {
    const files = await fixture();
    const { plan: rollback, files: after } = await rolledBack(files);
    expect(rollback.branch).toBe('bot/rollback/dev/dbos-app/2-0-0');
    expect(rollback.title).toBe('dev: roll back dbos-app from 2.0.0 to 1.0.0');
    const byPath = Object.fromEntries(rollback.edits.map((edit) => [edit.path, changedLines(edit.before!, edit.after!)]));
    expect(byPath).toEqual({
      [`${DIR}/service.yaml`]: { removed: ['    dbos.dev/app-version: 2-0-0'], added: ['    dbos.dev/app-version: 1-0-0'] },
      [`${DIR}/2-0-0/kustomization.yaml`]: {
        removed: ['# Only the latest version: warm minimum and the queue-length trigger.', 'components:', '  - ../../../../../../base/components/app-latest'],
        added: [],
      },
      [`${DIR}/1-0-0/kustomization.yaml`]: {
        removed: [],
        added: ['# Only the latest version: warm minimum and the queue-length trigger.', 'components:', '  - ../../../../../../base/components/app-latest'],
      },
      [`${DIR}/kustomization.yaml`]: { removed: [], added: [HOLD_LINE] },
    });
    // The hold line sits directly above the bad version's line; nothing of 2.0.0 is deleted.
    expect(after[`${DIR}/kustomization.yaml`]).toContain(`${HOLD_LINE}\n  - 2-0-0\n`);
    expect(rollback.edits.every((edit) => edit.after !== null && edit.before !== null)).toBe(true);
    expect(rollback.body).toContain('from `2-0-0` to `1-0-0`');
    expect(rollback.body).toContain(`Reason: ${REASON}`);
    expect(rollback.body).toContain('only executors of 2.0.0 can recover or dequeue');

    const root = join(dir, 'render');
    for (const [path, content] of Object.entries(after)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
    const objects = await kustomize(join(root, 'overlays/dev/apps/dbos-app'));
    const service = objects.find((object) => object.kind === 'Service')!;
    expect(service.spec.selector['dbos.dev/app-version']).toBe('1-0-0');
    const scaled = (slug: string) => objects.find((object) => object.kind === 'ScaledObject' && object.metadata.name.endsWith(`-${slug}`))!;
    expect(scaled('1-0-0').spec.triggers.map((trigger: { type: string }) => trigger.type)).toEqual(['postgresql', 'metrics-api']);
    expect(scaled('1-0-0').spec.minReplicaCount).toBe(1);
    expect(scaled('2-0-0').spec.triggers.map((trigger: { type: string }) => trigger.type)).toEqual(['postgresql']);
    const deployments = objects.filter((object) => object.kind === 'Deployment').map((object) => object.metadata.name);
    expect(deployments.some((name: string) => name.endsWith('-2-0-0'))).toBe(true);
    expect(deployments.some((name: string) => name.endsWith('-1-0-0'))).toBe(true);
  });

  it('re-planned on the rolled-back tree it writes nothing (no further step back without --to)', async () => {
    const { files: after } = await rolledBack(await fixture());
    const { plans, skips } = await plan(after, [createRollbackTask(request())]);
    expect(plans).toEqual([]);
    expect(skips.map((skip) => skip.reason).join()).toContain('2.0.0 is already rolled back to 1.0.0');
  });

  it('refuses, with exit 2 and the live versions, a --to that is not live, an unknown application or environment, and a latest with nothing older', async () => {
    const files = await fixture();
    const refusal = async (change: Partial<RollbackRequest>, files2 = files) => {
      const error = await plan(files2, [createRollbackTask(request(change))]).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(isBotError(error)).toBe(true);
      expect((error as { exitCode: number }).exitCode).toBe(2);
      return error as Error & { hint: string };
    };
    const retired = await refusal({ to: '0.9.0' });
    expect(retired.message).toContain('0.9.0 is not live in dev');
    expect(retired.hint).toContain('2.0.0 (2-0-0), 1.0.0 (1-0-0)');
    expect((await refusal({ app: 'orders' })).message).toContain('"orders" does not run in dev');
    expect((await refusal({ env: 'qa' })).message).toContain('unknown environment "qa"');
    expect((await refusal({ env: 'staging' })).message).toContain('1.0.0 is the only live version in staging');
  });

  it('--to names the live version to go back to; run with no request the task plans nothing', async () => {
    const files = await fixture();
    expect((await rolledBack(files, { to: '1-0-0' })).plan.branch).toBe('bot/rollback/dev/dbos-app/2-0-0');
    expect((await plan(files, [createRollbackTask(null)])).plans).toEqual([]);
  });
});

describe('after the rollback, version-add does not propose the held version', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => registry?.stop());

  it('not in dev once 2.0.0 is retired (where it would be newer than the latest again), and not by promotion to staging', async () => {
    const path = 'rollback/dbos-app';
    const repository = `${registry.host}/${path}`;
    for (const tag of ['1.0.0', '2.0.0']) await registry.pushImage(path, tag, { created: new Date(Date.now() - 30 * 24 * HOUR), salt: tag });
    const files = await fixture({ repository, registryHosts: [registry.host] });
    const client = () => new OciRegistryClient({ plainHttpHosts: [registry.host] });
    const { files: after } = await rolledBack(files);
    // version-retire deletes 2.0.0's directory and list line once drained; the hold line stays in the list.
    const retired = Object.fromEntries(Object.entries(after).filter(([path]) => !path.startsWith(`${DIR}/2-0-0/`)));
    retired[`${DIR}/kustomization.yaml`] = retired[`${DIR}/kustomization.yaml`]!.replace('  - 2-0-0\n', '');
    // Control: without the hold line the same tree gets 2.0.0 proposed again.
    const unheld = { ...retired, [`${DIR}/kustomization.yaml`]: retired[`${DIR}/kustomization.yaml`]!.replace(`${HOLD_LINE}\n`, '') };
    expect((await plan(unheld, [versionAddTask], { registry: client() })).plans.map((p) => p.branch)).toEqual(['bot/version-add/dev/dbos-app/2-0-0']);

    // Control: before the rollback, dev's merged 2.0.0 is staging's promotion candidate (held back here only by its
    // gate, which has no evidence reader in this test).
    const before = await plan(files, [versionAddTask], { registry: client() });
    expect(before.plans).toEqual([]);
    expect(before.skips.find((skip) => skip.env === 'staging')!.reason).toContain('2.0.0 is not promoted from dev');
    // After it, neither dev nor staging gets 2.0.0: staging promotes dev's latest, which is 1.0.0 again.
    for (const tree of [after, retired]) {
      const result = await plan(tree, [versionAddTask], { registry: client() });
      expect(result.plans).toEqual([]);
      expect(result.skips.filter((skip) => skip.env === 'staging' && skip.reason.includes('2.0.0'))).toEqual([]);
    }
    const { skips } = await plan(retired, [versionAddTask], { registry: client() });
    expect(skips.find((skip) => skip.env === 'dev')!.reason).toContain(
      `held by a "# gitops-bot: hold" line in ${DIR}/kustomization.yaml (holds 2.0.0 and older)`,
    );
  });

  it('holds 2.0.0 and older only: a fixed 2.0.1 is proposed in dev, before and after 2.0.0 is retired; a hold line elsewhere holds the app', async () => {
    const path = 'rollback/fixed';
    const repository = `${registry.host}/${path}`;
    for (const tag of ['1.0.0', '2.0.0', '2.0.1']) await registry.pushImage(path, tag, { created: new Date(Date.now() - 30 * 24 * HOUR), salt: tag });
    const files = await fixture({ repository, registryHosts: [registry.host] });
    const client = () => new OciRegistryClient({ plainHttpHosts: [registry.host] });
    const { files: after } = await rolledBack(files);
    const retired = Object.fromEntries(Object.entries(after).filter(([path]) => !path.startsWith(`${DIR}/2-0-0/`)));
    retired[`${DIR}/kustomization.yaml`] = retired[`${DIR}/kustomization.yaml`]!.replace('  - 2-0-0\n', '');
    // Retired, the hold line no longer sits above any version's line: it still names 2.0.0.
    expect(retired[`${DIR}/kustomization.yaml`]).toMatch(new RegExp(`  - 1-0-0\\n${HOLD_LINE.replace(/[()%]/g, '\\$&')}\\n$`));
    for (const tree of [after, retired]) {
      const dev = (await plan(tree, [versionAddTask], { registry: client() })).plans.filter((p) => p.env === 'dev');
      expect(dev.map((p) => p.branch)).toEqual(['bot/version-add/dev/dbos-app/2-0-1']);
    }
    // A plain hold line directly above 2.0.0's line (as a human writes it) holds 2.0.0 by its place, not 2.0.1.
    const byPlace = { ...after, [`${DIR}/kustomization.yaml`]: after[`${DIR}/kustomization.yaml`]!.replace(HOLD_LINE, '  # gitops-bot: hold bad release') };
    expect((await plan(byPlace, [versionAddTask], { registry: client() })).plans.map((p) => p.branch)).toEqual(['bot/version-add/dev/dbos-app/2-0-1']);
    // The same plain line anywhere else in the list (here: above service.yaml, or left at the end once 2.0.0 is
    // retired) holds the application: nothing new for dbos-app in dev.
    for (const list of [
      after[`${DIR}/kustomization.yaml`]!.replace(`${HOLD_LINE}\n`, '').replace('  - service.yaml\n', '  # gitops-bot: hold freeze\n  - service.yaml\n'),
      retired[`${DIR}/kustomization.yaml`]!.replace(HOLD_LINE, '  # gitops-bot: hold bad release'),
    ]) {
      const held = await plan({ ...after, [`${DIR}/kustomization.yaml`]: list }, [versionAddTask], { registry: client() });
      expect(held.plans).toEqual([]);
      const reason = held.skips.find((skip) => skip.env === 'dev' && skip.subject === 'dbos-app/2-0-1')!.reason;
      expect(reason).toBe(`held by a "# gitops-bot: hold" line in ${DIR}/kustomization.yaml`);
    }
  });
});

describe('after the rollback, version-retire treats the bad version as non-latest (real PostgreSQL, DBOS schema)', () => {
  let pg: PostgresServer;
  let sys: DbosSystemDatabase;
  let reader: { url: string };
  beforeAll(async () => {
    pg = await startPostgres();
    sys = await createDbosSystemDatabase(pg);
    reader = await createDrainReader(pg, sys.database);
  });
  afterAll(async () => pg?.stop());
  const sql = (text: string, params: unknown[] = []) => pg.query(text, params, sys.database);

  it('blocked while 2.0.0 has workflows in flight, proposed once they finished and the quiet period passed', async () => {
    const { rows } = await sql('SELECT (EXTRACT(EPOCH FROM now()) * 1000)::bigint AS ms');
    const now = Number(rows[0]!.ms);
    // 2.0.0 registered last: the database calls it the latest, as it does after any rollback.
    for (const [version, ago] of [
      ['1.0.0', 30 * 24 * HOUR],
      ['2.0.0', 7 * 24 * HOUR],
    ] as const)
      await sql('INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name) VALUES ($1, $1, $2, $3)', [
        version,
        now - ago,
        'dbos-app',
      ]);
    for (const [i, status] of ['PENDING', 'ENQUEUED', 'SUCCESS'].entries())
      await sql(
        `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, executor_id, created_at, updated_at)
         VALUES ($1, $2, 'checkout', '2.0.0', 'dbos-app', 'executor-2', $3, $3)`,
        [`wf-${i}`, status, now - 3 * HOUR],
      );
    const { files: after } = await rolledBack(await fixture());
    const drain = new DatabaseDrainSource({ databaseUrl: reader.url, timeoutMs: 5_000 });
    const retire = createVersionRetireTask();
    const blocked = await plan(after, [retire], { drain });
    expect(blocked.plans).toEqual([]);
    expect(blocked.skips.find((skip) => skip.subject === 'dbos-app/2-0-0')!.reason).toContain('2.0.0 has 2 workflow(s) in flight');
    expect(blocked.skips.find((skip) => skip.subject === 'dbos-app/1-0-0')!.reason).toContain('app-latest component');

    // Its own executors finish the work (2 hours ago: longer than the 1h quiet period).
    await sql(`UPDATE dbos.workflow_status SET status = 'SUCCESS', updated_at = $1 WHERE application_version = '2.0.0'`, [now - 2 * HOUR]);
    const drained = await plan(after, [retire], { drain });
    expect(drained.plans.map((p) => p.branch)).toEqual(['bot/version-retire/dev/dbos-app/2-0-0']);
    expect(drained.plans[0]!.edits.map((edit) => edit.path).sort()).toEqual([
      `${DIR}/2-0-0/kustomization.yaml`,
      `${DIR}/2-0-0/version.patch.yaml`,
      `${DIR}/kustomization.yaml`,
    ]);

    // Without the rollback, the same database keeps 2.0.0 (the latest there and in git) and retires the idle 1.0.0.
    expect((await plan(await fixture(), [retire], { drain })).plans.map((p) => p.branch)).toEqual(['bot/version-retire/dev/dbos-app/1-0-0']);
  });
});

describe('rollback: propose, on the gate verdict read from real PostgreSQL with the DBOS schema', () => {
  let pg: PostgresServer;
  let sys: DbosSystemDatabase;
  let reader: { url: string };
  beforeAll(async () => {
    pg = await startPostgres();
    sys = await createDbosSystemDatabase(pg);
    reader = await createDrainReader(pg, sys.database);
  });
  afterAll(async () => pg?.stop());
  const sql = (text: string, params: unknown[] = []) => pg.query(text, params, sys.database);

  /** 2.0.0's workflows, finished an hour ago, and both versions registered (1.0.0 long ago, 2.0.0 three hours ago). */
  const rows = (statuses: Record<string, number>) =>
    seedFinishedWorkflows(
      { query: sql },
      { app: 'dbos-app', registered: { '1.0.0': 30 * 24 * HOUR, '2.0.0': 3 * HOUR }, version: '2.0.0', statuses, finishedAgoMs: HOUR, startedAgoMs: 2 * HOUR },
    );

  async function autoPlan(url: string | null, pullRequests: Parameters<typeof planAll>[0]['pullRequests'] = []) {
    const files = await fixture();
    files['.github/gitops-bot.yaml'] = files['.github/gitops-bot.yaml']!.replace(
      '    overlay: overlays/dev\n',
      '    overlay: overlays/dev\n    rollback: propose\n',
    );
    return plan(files, [createRollbackTask()], { pullRequests, drainEnv: url ? { DBOS_DRAIN_DATABASE_URL_DEV: url } : {} });
  }

  it('an open proposed rollback that the gate still confirms is left as it was: no new counts, no write', async () => {
    await rows({ SUCCESS: 5, ERROR: 4, MAX_RECOVERY_ATTEMPTS_EXCEEDED: 1 });
    const first = (await autoPlan(reader.url)).plans[0]!;
    // More failures since: the counts would change, but the open PR stays as it was proposed.
    await rows({ SUCCESS: 5, ERROR: 7, MAX_RECOVERY_ATTEMPTS_EXCEEDED: 1 });
    const open = {
      number: 12,
      branch: first.branch,
      title: first.title,
      body: first.body,
      state: 'open' as const,
      merged: false,
      labels: [],
      createdAt: new Date().toISOString(),
      url: '',
    };
    const again = await autoPlan(reader.url, [open]);
    expect(again.plans).toEqual([]);
    expect(again.skips.find((skip) => skip.subject === 'dbos-app/2-0-0')!.reason).toBe(
      'rollback PR #12 already proposes this and the gate still reads fail; left as it is',
    );
    // Without the open PR the same read proposes the rollback with the new counts.
    expect((await autoPlan(reader.url)).plans[0]!.body).toContain('(error ratio 61.5% of 13 finished)');
  });

  it('fail proposes the rollback with the evidence in the body; pass and unknown propose nothing and say why', async () => {
    await rows({ SUCCESS: 5, ERROR: 4, MAX_RECOVERY_ATTEMPTS_EXCEEDED: 1 });
    const failed = await autoPlan(reader.url);
    expect(failed.plans.map((p) => p.branch)).toEqual(['bot/rollback/dev/dbos-app/2-0-0']);
    const body = failed.plans[0]!.body;
    expect(body).toContain('| verdict | **fail** |');
    // The promotion PR's table (sources/drain/evidence.ts), rows in order.
    expect(body).toContain(
      '| SUCCESS | 5 |\n| ERROR | 4 |\n| MAX_RECOVERY_ATTEMPTS_EXCEEDED | 1 |\n| CANCELLED | 0 |\n| finished | 10 |\n| error ratio | 0.5000 (gate: at most 0.05) |\n',
    );
    expect(body).toContain('| oldest in flight | none in flight |\n| pods Ready | not read (not configured) |\n');
    expect(body).toContain('# gitops-bot: hold version 2.0.0: gate failed 2.0.0 in dev (error ratio 50.0% of 10 finished)');
    expect(failed.plans[0]!.edits.map((edit) => edit.path).sort()).toEqual([
      `${DIR}/1-0-0/kustomization.yaml`,
      `${DIR}/2-0-0/kustomization.yaml`,
      `${DIR}/kustomization.yaml`,
      `${DIR}/service.yaml`,
    ]);

    await rows({ SUCCESS: 20 });
    const passed = await autoPlan(reader.url);
    expect(passed.plans).toEqual([]);
    expect(passed.skips.find((skip) => skip.subject === 'dbos-app/2-0-0')!.reason).toMatch(/^2\.0\.0: gate verdict pass, no rollback/);

    // Failures in a database the bot cannot read are unknown: no rollback either.
    await rows({ ERROR: 10 });
    const unknown = await autoPlan(reader.url.replace(/:[^:@/]+@/, ':wrong-password@'));
    expect(unknown.plans).toEqual([]);
    expect(unknown.skips.find((skip) => skip.subject === 'dbos-app/2-0-0')!.reason).toMatch(/^2\.0\.0: gate verdict unknown, no rollback/);
    expect((await autoPlan(null)).plans).toEqual([]);
    // In a run over dev and staging the plain variable may be another environment's database: it is not read.
    const files = await fixture();
    files['.github/gitops-bot.yaml'] = files['.github/gitops-bot.yaml']!.replace(
      '    overlay: overlays/dev\n',
      '    overlay: overlays/dev\n    rollback: propose\n',
    );
    const plain = await plan(files, [createRollbackTask()], { drainEnv: { DBOS_DRAIN_DATABASE_URL: reader.url } });
    expect(plain.plans).toEqual([]);
    expect(plain.skips.find((skip) => skip.subject === 'dbos-app/2-0-0')!.reason).toContain('DBOS_DRAIN_DATABASE_URL_DEV is not set');
    // A run over dev alone (--env dev) reads the plain variable when dev's own is not set.
    const onlyDev = await plan(files, [createRollbackTask()], { drainEnv: { DBOS_DRAIN_DATABASE_URL: reader.url }, envFilter: 'dev' });
    expect(onlyDev.plans.map((p) => p.branch)).toEqual(['bot/rollback/dev/dbos-app/2-0-0']);
    expect(onlyDev.plans[0]!.body).toContain('(from DBOS_DRAIN_DATABASE_URL)');
    // ... and dev's own variable first when both are set (the plain one here names a database that is not there).
    const ownFirst = await plan(files, [createRollbackTask()], {
      drainEnv: { DBOS_DRAIN_DATABASE_URL_DEV: reader.url, DBOS_DRAIN_DATABASE_URL: reader.url.replace(/\/[^/?]+(\?|$)/, '/missing$1') },
      envFilter: 'dev',
    });
    expect(ownFirst.plans[0]!.body).toContain('(from DBOS_DRAIN_DATABASE_URL_DEV)');
    // Without rollback: propose the same failing evidence proposes nothing.
    expect((await plan(await fixture(), [createRollbackTask()], { drainEnv: { DBOS_DRAIN_DATABASE_URL_DEV: reader.url } })).plans).toEqual([]);
  });
});

describe('rollback through the real runner, bare git remote, local forge', () => {
  let remote: BareRemote;
  afterAll(async () => remote?.cleanup());

  async function runOnce() {
    return runOnRemote({ remote, tasks: [createRollbackTask(request())], registry: NO_REGISTRY, identity: IDENTITY });
  }

  it('pushes one branch carrying the rollback; a second run writes nothing', async () => {
    remote = await createBareRemote(await fixture());
    const first = await runOnce();
    expect(first.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([['bot/rollback/dev/dbos-app/2-0-0', 'created']]);
    expect(first.pushes).toBe(1);
    expect([...(await remote.heads()).keys()].filter((head) => head.startsWith('bot/'))).toEqual(['bot/rollback/dev/dbos-app/2-0-0']);
    expect(await remote.readFile('bot/rollback/dev/dbos-app/2-0-0', `${DIR}/service.yaml`)).toContain('dbos.dev/app-version: 1-0-0');
    expect(await remote.readFile('bot/rollback/dev/dbos-app/2-0-0', `${DIR}/2-0-0/version.patch.yaml`)).toContain('"2.0.0"');
    const pushes = await remote.pushCount();
    const second = await runOnce();
    expect(second.pushes).toBe(0);
    expect(second.forgeWrites).toBe(0);
    expect(second.closed).toEqual([]);
    expect(await remote.pushCount()).toBe(pushes);
  });
});
