import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '@dbos-gitops/bot';
import { createDrainReader, insertWorkflowRows, registerVersion } from '@dbos-gitops/drain/testing';
import { createDbosSystemDatabase, freePort, startPostgres, type DbosSystemDatabase, type PostgresServer } from '@dbos-gitops/testkit';
import { freshRepo, runApps, treeHash, type FreshRepo } from '../../testing/index.ts';

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let readerUrl: string;
let fresh: FreshRepo;
const admin = { query: (sql: string, params?: unknown[]) => pg.query(sql, params, sys.database) };

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  readerUrl = (await createDrainReader(pg, sys.database)).url;
});
afterAll(async () => {
  await pg?.stop();
});
beforeEach(async () => {
  fresh = await freshRepo();
  await admin.query('TRUNCATE dbos.workflow_status CASCADE');
  await admin.query('DELETE FROM dbos.application_versions');
  // version_name is unique across applications in dbos.application_versions: one row per version string.
  await registerVersion(admin, '0.1.0', 'orders', 1000);
  await registerVersion(admin, '0.2.0', 'dbos-app', 2000);
});
afterEach(async () => {
  await fresh.repo.dispose();
});

function read(path: string): string {
  return readFileSync(join(fresh.root, path), 'utf8');
}

const REMOVE_ORDERS = ['remove', '--name', 'orders', '--env', 'dev'];

describe('apps:remove refuses while the application owns work, and then removes nothing', () => {
  for (const status of ['PENDING', 'ENQUEUED', 'DELAYED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED']) {
    it(`a ${status} workflow of its version`, async () => {
      await insertWorkflowRows(admin, [
        { id: 'o1', status, version: '0.1.0', app: 'orders' },
        { id: 'o2', status: 'SUCCESS', version: '0.1.0', app: 'orders' },
      ]);
      const before = treeHash(fresh.root);
      const run = await runApps(REMOVE_ORDERS, { root: fresh.root, env: { DBOS_DRAIN_DATABASE_URL_DEV: readerUrl } });
      expect(run.code).toBe(10);
      const dead = status === 'MAX_RECOVERY_ATTEMPTS_EXCEEDED';
      expect(run.stderr).toContain(`orders has not drained in dev: version 0.1.0 has ${dead ? 0 : 1} in-flight and ${dead ? 1 : 0} dead-lettered workflow(s)`);
      expect(treeHash(fresh.root)).toBe(before);
    });
  }

  it('an unreachable database is "unknown", never zero', async () => {
    const closed = `postgresql://dbos_drain_reader:${randomBytes(9).toString('base64url')}@127.0.0.1:${await freePort()}/${sys.database}`;
    const before = treeHash(fresh.root);
    const run = await runApps(REMOVE_ORDERS, { root: fresh.root, env: { DBOS_DRAIN_DATABASE_URL: closed } });
    expect(run.code).toBe(10);
    expect(run.stderr).toContain('was refused');
    expect(run.stderr).not.toContain('pw-not-shown');
    expect(treeHash(fresh.root)).toBe(before);
  });

  it('no drain URL at all', async () => {
    const before = treeHash(fresh.root);
    const run = await runApps(REMOVE_ORDERS, { root: fresh.root, env: {} });
    expect(run.code).toBe(10);
    expect(run.stderr).toContain('neither DBOS_DRAIN_DATABASE_URL_DEV nor DBOS_DRAIN_DATABASE_URL is set');
    expect(treeHash(fresh.root)).toBe(before);
  });

  it('a name that is not an application name (it would become a path)', async () => {
    const before = treeHash(fresh.root);
    const run = await runApps(['remove', '--name', '../../base', '--env', 'dev'], { root: fresh.root, env: { DBOS_DRAIN_DATABASE_URL: readerUrl } });
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('--name must be an application name');
    expect(treeHash(fresh.root)).toBe(before);
  });

  it('an application the environment does not run', async () => {
    const before = treeHash(fresh.root);
    const run = await runApps(['remove', '--name', 'orders', '--env', 'staging'], { root: fresh.root, env: { DBOS_DRAIN_DATABASE_URL: readerUrl } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('overlays/staging/apps/orders does not exist');
    expect(treeHash(fresh.root)).toBe(before);
  });
});

describe('apps:remove once drained', () => {
  it("removes everything of the application, whatever another application's in-flight work", async () => {
    await insertWorkflowRows(admin, [
      { id: 'd1', status: 'PENDING', version: '0.1.0', app: 'dbos-app' },
      { id: 'd2', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '0.2.0', app: 'dbos-app' },
      { id: 'o1', status: 'SUCCESS', version: '1.0.0', app: 'orders' },
    ]);
    const configBefore = read('.github/gitops-bot.yaml');
    const imagesBefore = read('overlays/dev/images/kustomization.yaml');
    const run = await runApps(REMOVE_ORDERS, { root: fresh.root, env: { DBOS_DRAIN_DATABASE_URL_DEV: readerUrl } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/orders has drained in dev \([^)]*1\.0\.0: 0 in flight, 0 dead-lettered\)/);
    expect(run.stdout).toContain('merge it as one pull request');
    expect(existsSync(join(fresh.root, 'overlays/dev/apps/orders'))).toBe(false);
    expect(parse(read('overlays/dev/apps/kustomization.yaml')).resources).toEqual(['dbos-app']);
    expect(existsSync(join(fresh.root, 'clusters/dev/argocd/apps/orders.yaml'))).toBe(false);
    expect(existsSync(join(fresh.root, 'clusters/dev/flux/apps/orders.yaml'))).toBe(false);
    expect(parse(read('clusters/dev/argocd/apps/kustomization.yaml')).resources).toEqual(['dbos-app.yaml']);
    expect(parse(read('clusters/dev/flux/apps/kustomization.yaml')).resources).toEqual(['dbos-app.yaml']);
    // Its migration pin goes (no other application of dev runs orders-migrate), and only its lines.
    expect(read('overlays/dev/images/kustomization.yaml')).toBe(
      imagesBefore.replace(
        '  - name: orders-migrate\n    newName: ghcr.io/example-org/orders-migrate\n    newTag: "1.0.0"\n    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n',
        '',
      ),
    );
    // No environment keeps it: its apps: and images: entries go, every other byte stays.
    const config = read('.github/gitops-bot.yaml');
    expect(parseConfig(config).apps.map((app) => app.name)).toEqual(['dbos-app']);
    expect(config).toBe(
      configBefore
        .replace(
          '  - name: orders\n    repository: ghcr.io/example-org/orders\n    # orders runs only in dev so far; it is promoted nowhere until staging has overlays/staging/apps/orders.\n    environments: [dev]\n    maxLive: 3\n    drain:\n      quietPeriod: 1h\n',
          '',
        )
        .replace(
          '  - name: orders-migrate\n    id: orders-migrate\n    repository: ghcr.io/example-org/orders-migrate\n    minReleaseAge: 1d\n    # Pinned only where orders runs (apps: below).\n    environments: [dev]\n',
          '',
        ),
    );
    // dev still renders, with dbos-app and without any object of orders.
    const rendered = execFileSync('kubectl', ['kustomize', join(fresh.root, 'overlays/dev')], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(rendered).toContain('name: dbos-app-0-2-0');
    expect(rendered).not.toContain('orders');
  });

  it('from one environment of several: the config keeps it for the others', async () => {
    const run = await runApps(['remove', '--name', 'dbos-app', '--env', 'dev', '--json'], { root: fresh.root, env: { DBOS_DRAIN_DATABASE_URL: readerUrl } });
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.configEntries).toBe('kept');
    expect(result.drain).toEqual([
      { version: '0.2.0', inFlight: 0, deadLettered: 0 },
      { version: '0.1.0', inFlight: 0, deadLettered: 0 },
    ]);
    expect(result.removed).toContain('overlays/dev/apps/dbos-app/versions/0-2-0/kustomization.yaml');
    const config = parseConfig(read('.github/gitops-bot.yaml'));
    expect(config.apps.find((app) => app.name === 'dbos-app')?.environments).toEqual(['staging', 'prod']);
    expect(config.images.some((image) => image.name === 'dbos-migrate')).toBe(true);
    expect(parse(read('overlays/dev/apps/kustomization.yaml')).resources).toEqual(['orders']);
  });

  it('--help explains every flag', async () => {
    const run = await runApps(['remove', '--help'], { root: fresh.root });
    expect(run.code).toBe(0);
    for (const flag of ['--name', '--env', '--root', '--json', 'DBOS_DRAIN_DATABASE_URL_<ENV>']) expect(run.stdout).toContain(flag);
  });
});
