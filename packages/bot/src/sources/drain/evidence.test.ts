import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createDbosSystemDatabase,
  startConductorFake,
  startPostgres,
  type ConductorFake,
  type DbosSystemDatabase,
  type PostgresServer,
} from '@dbos-gitops/testkit';
import { createDrainReader, seedFinishedWorkflows } from '@dbos-gitops/drain/testing';
import { parseConfig } from '../../config/load.ts';
import type { KubeHealth } from '../kube/health.ts';
import { evidenceTable, readGate } from './evidence.ts';
import { defaultDrainSourceFor, type DrainSourceFor } from './for-environment.ts';
import { ConductorCheckedDrainSource, DatabaseDrainSource } from './source.ts';

/*
 * The gate's signals besides the database, where configured: pods Ready (kube:, a fake KubeHealth at the interface)
 * and Conductor executors connected (a Conductor-checked reader, against the testkit Conductor fake checked against the
 * API description). Evidence from real PostgreSQL with the DBOS schema: 12 SUCCESS of dev-app 1.1.0, registered a day ago.
 */
const APP = 'dev-app';
const VERSION = '1.1.0';
let pg: PostgresServer;
let sys: DbosSystemDatabase;
let reader: { url: string };
let conductor: ConductorFake;

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  reader = await createDrainReader(pg, sys.database);
  conductor = await startConductorFake({ org: 'acme_org' });
});
afterAll(async () => {
  await conductor?.stop();
  await pg?.stop();
});

/** VERSION registered a day ago; `statuses` finished ten minutes ago. */
const rows = (statuses: Record<string, number>) =>
  seedFinishedWorkflows(
    { query: (text, values) => pg.query(text, values ?? [], sys.database) },
    { app: APP, registered: { [VERSION]: 86_400_000 }, version: VERSION, statuses, finishedAgoMs: 600_000, startedAgoMs: 601_000 },
  );
beforeEach(async () => rows({ SUCCESS: 12 }));

const config = (kube: boolean) =>
  parseConfig(`version: 1
environments:
  - name: dev
    overlay: overlays/dev
${kube ? '    kube: { context: kind-dev, namespace: apps }\n' : ''}    gate: { soak: 1h }
  - name: staging
    overlay: overlays/staging
apps:
  - name: ${APP}
    repository: ghcr.io/example/dev-app
`);

/** A cluster at the KubeHealth interface: the pods of each (app, slug) it is asked for, or a failure. */
function cluster(pods: { ready: number; total: number } | Error): KubeHealth & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    healthySince: async () => null,
    versionPods: async (env, namespace, app, slug) => {
      asked.push(`${env} ${namespace} ${app} ${slug}`);
      if (pods instanceof Error) throw pods;
      return { ...pods, readySince: pods.total > 0 && pods.ready === pods.total ? new Date(0) : null };
    },
  };
}

const database: DrainSourceFor = () => new DatabaseDrainSource({ databaseUrl: reader.url });
const withConductor: DrainSourceFor = () =>
  new ConductorCheckedDrainSource(new DatabaseDrainSource({ databaseUrl: reader.url }), {
    baseUrl: conductor.url,
    org: 'acme_org',
    apiKey: conductor.adminKey,
  });

async function read(options: { kube?: boolean; pods?: { ready: number; total: number } | Error; drainFor?: DrainSourceFor }) {
  const c = config(options.kube ?? false);
  const kube = options.pods ? cluster(options.pods) : null;
  const reading = await readGate(
    options.drainFor ?? database,
    c,
    c.environments[0]!,
    c.apps[0]!,
    VERSION,
    new Date(),
    { kind: 'previous' },
    { kube, slug: '1-1-0' },
  );
  return { reading, kube };
}

describe('pods Ready (environments with kube:)', () => {
  it('not configured: not read, and no reason; the database alone passes', async () => {
    const { reading, kube } = await read({ kube: false, pods: { ready: 0, total: 0 } });
    expect(reading.verdict).toBe('pass');
    expect(reading.signals.podsReady).toEqual({ status: 'not-configured' });
    expect(kube!.asked).toEqual([]);
    expect(evidenceTable(reading)).toContain('| pods Ready | not read (not configured) |');
  });

  it("read by the version's label in the environment's namespace: Ready pods keep the pass", async () => {
    const { reading, kube } = await read({ kube: true, pods: { ready: 2, total: 3 } });
    expect(kube!.asked).toEqual(['dev apps dev-app 1-1-0']);
    expect(reading.verdict).toBe('pass');
    expect(reading.signals.podsReady).toMatchObject({ status: 'read', count: 2, of: 3 });
    expect(evidenceTable(reading)).toContain('| pods Ready | 2 of 3 (pods labelled dbos.dev/app-version=1-1-0 in namespace apps of context kind-dev) |');
  });

  it('none Ready, or the cluster unreadable: unknown with the reason, never pass', async () => {
    const none = (await read({ kube: true, pods: { ready: 0, total: 2 } })).reading;
    expect(none.verdict).toBe('unknown');
    expect(none.reasons).toEqual([expect.stringMatching(/^pods Ready of 1\.1\.0: none \(pods labelled/)]);
    // The client's error text may carry the API server's answer or a credential: the reason shows neither.
    const secret = randomBytes(8).toString('hex');
    const down = (await read({ kube: true, pods: Object.assign(new Error(`connect ECONNREFUSED https://admin:${secret}@10.0.0.1`), { code: 503 }) })).reading;
    expect(down.verdict).toBe('unknown');
    expect(down.reasons[0]).toBe('pods Ready of 1.1.0 could not be read: the pods in namespace apps of context kind-dev could not be listed (Error 503)');
    expect(evidenceTable(down).join('\n')).not.toContain(secret);
    // No cluster reader at all, though the environment says kube:.
    const missing = (await read({ kube: true })).reading;
    expect(missing.verdict).toBe('unknown');
    expect(missing.reasons[0]).toContain('has kube: but this run has no cluster reader');
  });

  it('a fail stays a fail whatever the pods say (too many errors fail at once)', async () => {
    await rows({ SUCCESS: 5, ERROR: 5 });
    const { reading } = await read({ kube: true, pods: { ready: 0, total: 0 } });
    expect(reading.verdict).toBe('fail');
  });
});

describe('Conductor executors connected (a Conductor-checked drain reader)', () => {
  it('counts the healthy executors of exactly that version; other versions and disconnected ones do not count', async () => {
    conductor.setExecutors(APP, [
      { executorId: 'a', status: 'HEALTHY', appVersion: VERSION },
      { executorId: 'b', status: 'DISCONNECTED', appVersion: VERSION },
      { executorId: 'c', status: 'HEALTHY', appVersion: '1.0.0' },
    ]);
    const { reading } = await read({ drainFor: withConductor });
    expect(reading.verdict).toBe('pass');
    expect(reading.signals.executorsConnected).toEqual({ status: 'read', count: 1, of: 2, detail: '1 HEALTHY, 1 DISCONNECTED' });
    expect(evidenceTable(reading)).toContain('| Conductor executors connected | 1 of 2 (1 HEALTHY, 1 DISCONNECTED) |');
    // Without Conductor in the reader: not read.
    expect((await read({})).reading.signals.executorsConnected).toEqual({ status: 'not-configured' });
  });

  it('none connected for the version, or Conductor answering 503: unknown, never pass', async () => {
    conductor.setExecutors(APP, [{ executorId: 'c', status: 'HEALTHY', appVersion: '1.0.0' }]);
    const none = (await read({ drainFor: withConductor })).reading;
    expect(none.verdict).toBe('unknown');
    expect(none.reasons[0]).toBe('Conductor executors connected of 1.1.0: none (Conductor lists 1 executor(s) of the application, none of version 1.1.0).');
    conductor.setExecutors(APP, [{ executorId: 'a', status: 'HEALTHY', appVersion: VERSION }]);
    conductor.injectFault({ method: 'GET', path: /\/executors$/, status: 503 });
    const down = (await read({ drainFor: withConductor })).reading;
    expect(down.verdict).toBe('unknown');
    expect(down.reasons[0]).toMatch(/^Conductor executors connected of 1\.1\.0 could not be read: Conductor http:\/\/127\.0\.0\.1:\d+ answered 503/);
    for (const text of [...down.reasons, ...evidenceTable(down)]) expect(text).not.toContain(conductor.adminKey);
    expect(conductor.violations).toEqual([]);
  });
});

describe("promotion's reader of the previous environment", () => {
  const c = config(false);
  const [dev] = c.environments;
  const gate = (env: NodeJS.ProcessEnv, envFilter: string | null) =>
    readGate(defaultDrainSourceFor(env), c, dev!, c.apps[0]!, VERSION, new Date(), { kind: 'previous', run: { envFilter, config: c } });

  it('reads <name>_DEV; in a run over staging alone (the in-cluster CronJob) <name>_PREVIOUS when that is not set; never the plain name', async () => {
    const nowhere = reader.url.replace(/\/[^/?]+(\?|$)/, '/no_such_database$1');
    expect((await gate({ DBOS_DRAIN_DATABASE_URL_DEV: reader.url, DBOS_DRAIN_DATABASE_URL_PREVIOUS: nowhere }, 'staging')).describe).toMatch(
      /\(from DBOS_DRAIN_DATABASE_URL_DEV\)$/,
    );
    const previous = await gate({ DBOS_DRAIN_DATABASE_URL_PREVIOUS: reader.url }, 'staging');
    expect(previous.verdict).toBe('pass');
    expect(previous.describe).toMatch(/\(from DBOS_DRAIN_DATABASE_URL_PREVIOUS\)$/);
    // Over every environment, or over dev itself, _PREVIOUS would be some other environment's predecessor: not read.
    for (const envFilter of [null, 'dev']) {
      const unread = await gate({ DBOS_DRAIN_DATABASE_URL_PREVIOUS: reader.url, DBOS_DRAIN_DATABASE_URL: reader.url }, envFilter);
      expect(unread.verdict).toBe('unknown');
      expect(unread.reasons).toEqual(["no evidence reader for dev: set DBOS_DRAIN_DATABASE_URL_DEV to the drain reader's URL of dev's DBOS system database"]);
    }
    // The plain name with --env staging is staging's own database: never dev's evidence.
    expect((await gate({ DBOS_DRAIN_DATABASE_URL: reader.url }, 'staging')).verdict).toBe('unknown');
  });
});
