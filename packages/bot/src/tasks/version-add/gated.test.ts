import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, startPostgres, startRegistry, type DbosSystemDatabase, type PostgresServer, type TestRegistry } from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import { parseConfig } from '../../config/load.ts';
import type { Plan } from '../../plan.ts';
import { planAll } from '../../runner.ts';
import { defaultDrainSourceFor, type DrainSourceFor } from '../../sources/drain/for-environment.ts';
import { OciRegistryClient } from '../../sources/registry/oci-client.ts';
import { kustomize, memoryTree, versionFixtureFiles, versionsDirOf } from '../../../testing/version-fixture.ts';
import { readAppVersionsTree, switchLatestEdits } from '../shared/app-version-files.ts';
import type { Task } from '../types.ts';
import { createVersionRetireTask } from '../version-retire/index.ts';
import { versionAddTask } from './index.ts';

/*
 * version-add with `switch: gated` on dev: the new version's directory and list line only, the Service and app-latest
 * stay (real OCI registry, real kustomize); version-retire never retires that incoming version (real PostgreSQL with
 * the DBOS schema, where it looks drained); promotion out of dev copies dev's latest, never the incoming version.
 */
const DAY = 86_400_000;
const DIR = versionsDirOf('dev');

let registry: TestRegistry;
let pg: PostgresServer;
let sys: DbosSystemDatabase;
let drain: DrainSourceFor;
const temps: string[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  const reader = await createDrainReader(pg, sys.database);
  drain = defaultDrainSourceFor({ DBOS_DRAIN_DATABASE_URL_DEV: reader.url, DBOS_DRAIN_DATABASE_URL_STAGING: reader.url });
});
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
  await registry?.stop();
  await pg?.stop();
});

/** A version registered a day ago with 10 SUCCESS workflows that finished a minute ago (a passing gate, drained). */
async function ranWell(version: string): Promise<void> {
  await pg.query(
    `INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name)
     VALUES ($1, $2, (EXTRACT(EPOCH FROM now()) * 1000)::bigint - 86400000, 'dbos-app')`,
    [`dbos-app-${version}`, version],
    sys.database,
  );
  await pg.query(
    `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, created_at, updated_at, completed_at)
     SELECT $1 || '-' || i, 'SUCCESS', 'wf', $2, 'dbos-app', t - 1000, t, t
       FROM generate_series(1, 10) AS i, (SELECT (EXTRACT(EPOCH FROM now()) * 1000)::bigint - 7200000 AS t) AS clock`,
    [`dbos-app-${version}`, version],
    sys.database,
  );
}

async function fixture(tags: string[]) {
  const path = `gated${Date.now()}/dbos-app`;
  const repository = `${registry.host}/${path}`;
  const digests: Record<string, string> = {};
  for (const tag of ['1.0.0', ...tags]) digests[tag] = (await registry.pushImage(path, tag, { created: new Date(Date.now() - 30 * DAY), salt: tag })).digest;
  const v1 = [{ version: '1.0.0', digest: digests['1.0.0']!, latest: true }];
  const files = await versionFixtureFiles({
    environments: ['dev', 'staging'],
    versions: { dev: v1, staging: v1 },
    repository,
    registryHosts: [registry.host],
    quietPeriod: '1m',
  });
  const configFile = '.github/gitops-bot.yaml';
  files[configFile] = files[configFile]!.replace('  - name: dev\n    overlay: overlays/dev\n', '  - name: dev\n    overlay: overlays/dev\n    switch: gated\n');
  expect(files[configFile]).toContain('switch: gated');
  return { files, digests, path, config: parseConfig(files[configFile]!) };
}

function plan(config: ReturnType<typeof parseConfig>, files: Record<string, string>, tasks: Task[], envFilter: string | null) {
  return planAll({
    config,
    tasks,
    tree: memoryTree(files),
    registry: new OciRegistryClient({ plainHttpHosts: [registry.host] }),
    kube: null,
    drain,
    pullRequests: [],
    envFilter,
    now: new Date(),
    log: () => undefined,
  });
}

function applied(files: Record<string, string>, edits: Plan['edits']): Record<string, string> {
  const out = { ...files };
  for (const edit of edits) {
    if (edit.after === null) delete out[edit.path];
    else out[edit.path] = edit.after;
  }
  return out;
}

async function render(files: Record<string, string>, dir: string) {
  const root = await mkdtemp(join(tmpdir(), 'gated-'));
  temps.push(root);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return kustomize(join(root, dir));
}

describe('version-add with switch: gated', () => {
  it('adds the directory and list line only; kustomize renders the new Deployment while the Service still selects the old version', async () => {
    const { files, digests, config } = await fixture(['2.0.0']);
    const result = await plan(config, files, [versionAddTask], 'dev');
    expect(result.plans.map((p) => p.branch)).toEqual(['bot/version-add/dev/dbos-app/2-0-0']);
    const add = result.plans[0]!;
    expect(add.edits.map((edit) => edit.path).sort()).toEqual([
      `${DIR}/2-0-0/kustomization.yaml`,
      `${DIR}/2-0-0/version.patch.yaml`,
      `${DIR}/kustomization.yaml`,
    ]);
    const dir = add.edits.find((edit) => edit.path === `${DIR}/2-0-0/kustomization.yaml`)!.after!;
    expect(dir).toContain(`digest: ${digests['2.0.0']}`);
    expect(dir).not.toContain('base/components/app-latest');
    expect(add.edits.find((edit) => edit.path === `${DIR}/kustomization.yaml`)!.after).toBe(`${files[`${DIR}/kustomization.yaml`]}  - 2-0-0\n`);
    expect(add.body).toContain('traffic does not move yet (`switch: gated`)');
    expect(add.body).toContain('its Service stays where it is until the switch PR is merged');

    const after = applied(files, add.edits);
    const objects = await render(after, 'overlays/dev/apps/dbos-app');
    const deployments = objects.filter((object) => object.kind === 'Deployment').map((object) => object.metadata.name as string);
    expect(deployments.sort()).toEqual(['dbos-app-1-0-0', 'dbos-app-2-0-0']);
    const service = objects.find((object) => object.kind === 'Service')!;
    expect(service.spec.selector['dbos.dev/app-version']).toBe('1-0-0');
    const scaled = (slug: string) => objects.find((object) => object.kind === 'ScaledObject' && object.metadata.name.endsWith(`-${slug}`))!;
    // The incoming version scales on its own queue only, without the latest's warm minimum and queue trigger.
    expect(scaled('2-0-0').spec.triggers.map((trigger: { type: string }) => trigger.type)).toEqual(['postgresql']);
    expect(scaled('1-0-0').spec.triggers.map((trigger: { type: string }) => trigger.type)).toEqual(['postgresql', 'metrics-api']);
  });

  it('switch: direct (staging) still adds and switches in one PR', async () => {
    const { files, config } = await fixture(['2.0.0']);
    expect(config.environments.find((env) => env.name === 'staging')!.switch).toBe('direct');
    // staging is not the first environment; as the only one planned with dev's version merged it promotes, so plan it
    // as a first environment instead: a config with staging alone.
    const alone = parseConfig(files['.github/gitops-bot.yaml']!.replace('  - name: dev\n    overlay: overlays/dev\n    switch: gated\n', ''));
    const result = await plan(alone, files, [versionAddTask], 'staging');
    const edits = result.plans[0]!.edits.map((edit) => edit.path).sort();
    expect(edits).toEqual(
      [
        'overlays/staging/apps/dbos-app/versions/1-0-0/kustomization.yaml',
        'overlays/staging/apps/dbos-app/versions/2-0-0/kustomization.yaml',
        'overlays/staging/apps/dbos-app/versions/2-0-0/version.patch.yaml',
        'overlays/staging/apps/dbos-app/versions/kustomization.yaml',
        'overlays/staging/apps/dbos-app/versions/service.yaml',
      ].sort(),
    );
  });

  it('a newer tag waits while a version is added but not switched to; version-retire never retires the incoming version', async () => {
    const { files, config, path } = await fixture(['2.0.0', '3.0.0']);
    const first = await plan(config, files, [versionAddTask], 'dev');
    // 3.0.0 is the newest: added first (one at a time behind the gate).
    expect(first.plans.map((p) => p.branch)).toEqual(['bot/version-add/dev/dbos-app/3-0-0']);
    const after = applied(files, first.plans[0]!.edits);
    await registry.pushImage(path, '4.0.0', { created: new Date(Date.now() - 30 * DAY), salt: '4.0.0' });
    const waiting = await plan(config, after, [versionAddTask], 'dev');
    expect(waiting.plans).toEqual([]);
    expect(waiting.skips.map((skip) => skip.reason)).toEqual([
      'dbos-app 3.0.0 is added to dev but not switched to yet (switch: gated); 4.0.0 waits for version-switch',
    ]);

    // The incoming version looks drained in the database (nothing in flight, quiet for hours) and is the one DBOS
    // registered last; it stays all the same: it is the highest version, the one version-switch will move traffic to.
    await ranWell('1.0.0');
    await ranWell('3.0.0');
    const retire = await plan(config, after, [createVersionRetireTask()], 'dev');
    expect(retire.plans).toEqual([]);
    expect(retire.skips.map((skip) => [skip.subject, skip.reason])).toEqual(
      expect.arrayContaining([
        ['dbos-app/3-0-0', '3.0.0 stays: it is the highest version in this environment'],
        ['dbos-app/1-0-0', '1.0.0 stays: it includes the app-latest component (the latest version)'],
      ]),
    );
  });

  it('promotion out of a gated environment copies its latest, never the version not switched to yet', async () => {
    const { files, config } = await fixture(['2.0.0']);
    const added = await plan(config, files, [versionAddTask], 'dev');
    const after = applied(files, added.plans[0]!.edits);
    // 2.0.0's evidence in dev would pass: only the switch stands between it and staging.
    await ranWell('2.0.0');
    const notYet = await plan(config, after, [versionAddTask], 'staging');
    expect(notYet.plans).toEqual([]);
    // Control: once switched (what version-switch's PR does), staging gets 2.0.0.
    const tree = (await readAppVersionsTree(memoryTree(after), 'dev', 'overlays/dev', config.apps[0]!))!;
    const switched = applied(after, switchLatestEdits(tree, '2-0-0'));
    const promoted = await plan(config, switched, [versionAddTask], 'staging');
    expect(promoted.plans.map((p) => p.branch)).toEqual(['bot/version-add/staging/dbos-app/2-0-0']);
  });
});
