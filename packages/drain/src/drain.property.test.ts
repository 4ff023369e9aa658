import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer, createDbosSystemDatabase } from '@dbos-gitops/testkit';
import { createDrainReader } from '../testing/drain-reader.ts';
import { readDrainStatus, readVersionInFlight, withDrainReadTransaction } from './database.ts';
import { findOrphans } from './orphans.ts';
import { decideRetirement, type DrainObservation } from './retirement.ts';
import { insertWorkflowRows, registerVersion, type TestWorkflowRow } from '../testing/test-rows.ts';

const RUNS = 1000;
const APP = 'shop';
const STATUSES = ['PENDING', 'ENQUEUED', 'DELAYED', 'SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'];
const IN_FLIGHT = new Set(['PENDING', 'ENQUEUED', 'DELAYED']);
const VERSIONS = ['1.0.0', '1.1.0', '2.0.0', '3.0.0-rc'];
const EXECUTORS = ['exec-a', 'exec-b', 'exec-c'];
const HOUR = 3_600_000;

let server: PostgresServer;
let readerUrl: string;
let admin: pg.Client;

beforeAll(async () => {
  server = await startPostgres();
  const sys = await createDbosSystemDatabase(server);
  readerUrl = (await createDrainReader(server, sys.database)).url;
  admin = new pg.Client({ connectionString: sys.adminUrl });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

const rowArb = fc.record({
  status: fc.constantFrom(...STATUSES),
  version: fc.option(fc.constantFrom(...VERSIONS), { nil: null, freq: 4 }),
  app: fc.constantFrom<string | null>(APP, APP, 'billing', null),
  executor: fc.option(fc.constantFrom(...EXECUTORS), { nil: null, freq: 5 }),
  ageMs: fc.integer({ min: 0, max: 10 * 86_400_000 }),
});

const tableArb = fc.record({
  rows: fc.array(rowArb, { maxLength: 14 }),
  // version_name is unique across apps in the real schema, so each version is registered at most once.
  registrations: fc.uniqueArray(fc.record({ version: fc.constantFrom(...VERSIONS), app: fc.constantFrom<string | null>(APP, APP, 'billing', null) }), {
    selector: (r) => r.version,
    maxLength: VERSIONS.length,
  }),
  liveExecutors: fc.subarray(EXECUTORS),
  serviceSelects: fc.constantFrom<string | null>(...VERSIONS, null),
  quietHours: fc.integer({ min: 1, max: 48 }),
});

type Table = typeof tableArb extends fc.Arbitrary<infer T> ? T : never;

/** The reference model, computed in TypeScript from the generated table. */
function reference(table: Table) {
  const owned = (app: string | null): boolean => app === APP || app === null;
  const ownRegs = table.registrations.map((r, i) => ({ ...r, ts: 1000 + i })).filter((r) => owned(r.app));
  const latest = ownRegs.length === 0 ? null : ownRegs.reduce((a, b) => (b.ts > a.ts ? b : a)).version;
  const live = table.rows.filter((r) => owned(r.app) && IN_FLIGHT.has(r.status));
  const countFor = (v: string) => {
    const mine = live.filter((r) => r.version === v || (r.version === null && (latest === null || latest === v)));
    const pending = mine.filter((r) => r.status === 'PENDING').length;
    const enqueued = mine.filter((r) => r.status === 'ENQUEUED').length;
    const delayed = mine.filter((r) => r.status === 'DELAYED').length;
    return { version: v, pending, enqueued, delayed, inFlight: pending + enqueued + delayed };
  };
  // Dead letters follow the same attribution (a NULL-version one resumes under the latest), but are never in flight.
  const deadFor = (v: string) =>
    table.rows.filter(
      (r) => owned(r.app) && r.status === 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' && (r.version === v || (r.version === null && (latest === null || latest === v))),
    ).length;
  return {
    latest,
    countFor,
    deadFor,
    unowned: live.filter((r) => r.app === null).length,
    unversioned: live.filter((r) => r.version === null).length,
    orphanIds: (v: string) =>
      table.rows
        .map((r, i) => ({ ...r, id: `wf-${i}` }))
        .filter((r) => r.status === 'PENDING' && r.version === v && owned(r.app) && (r.executor === null || !table.liveExecutors.includes(r.executor)))
        .map((r) => r.id)
        .sort(),
  };
}

async function load(table: Table): Promise<void> {
  const now = Date.now();
  await admin.query('BEGIN');
  try {
    // DELETE, not TRUNCATE: on a table of a dozen rows it avoids rewriting a dozen relation files per run.
    await admin.query('DELETE FROM dbos.workflow_status');
    await admin.query('DELETE FROM dbos.application_versions');
    for (const [i, r] of table.registrations.entries()) await registerVersion(admin, r.version, r.app, 1000 + i);
    const rows: TestWorkflowRow[] = table.rows.map((r, i) => ({
      id: `wf-${i}`,
      status: r.status,
      version: r.version,
      app: r.app,
      executor: r.executor,
      updatedAt: now - r.ageMs,
    }));
    await insertWorkflowRows(admin, rows);
    await admin.query('COMMIT');
  } catch (error) {
    await admin.query('ROLLBACK');
    throw error;
  }
}

describe('drain counts against a reference model (real PostgreSQL, real DBOS schema)', () => {
  it(`agrees with the TypeScript reference on ${RUNS} random workflow tables and never retires busy or latest versions`, async () => {
    let runs = 0;
    let retirements = 0;
    let busyChecks = 0;
    await fc.assert(
      fc.asyncProperty(tableArb, async (table) => {
        runs++;
        await load(table);
        const ref = reference(table);

        const status = await readDrainStatus({ databaseUrl: readerUrl, appName: APP, versions: VERSIONS });
        expect(status.latestVersion).toBe(ref.latest);
        expect(status.unowned).toBe(ref.unowned);
        expect(status.unversioned).toBe(ref.unversioned);
        for (const v of VERSIONS) expect(status.versions.find((x) => x.version === v)).toEqual({ ...ref.countFor(v), deadLettered: ref.deadFor(v) });

        const single = await withDrainReadTransaction({ databaseUrl: readerUrl }, async (db) => {
          const out: Record<string, { inFlight: number; orphans: string[] }> = {};
          for (const v of VERSIONS) {
            const counts = await readVersionInFlight(db, v, APP);
            expect(counts).toEqual(ref.countFor(v));
            const orphans = await findOrphans(db, { appName: APP, version: v, liveExecutorIds: table.liveExecutors });
            out[v] = { inFlight: counts.inFlight, orphans: orphans.map((o) => o.workflowId).sort() };
          }
          return out;
        });

        for (const v of VERSIONS) {
          expect(single[v]!.orphans).toEqual(ref.orphanIds(v));
          // A long, dense history of zeros followed by the real reading: the most retirement-friendly history.
          const now = Date.parse(status.readAt);
          const quietPeriodMs = table.quietHours * HOUR;
          const history: DrainObservation[] = Array.from({ length: 100 }, (_, i) => ({
            at: new Date(now - (100 - i) * HOUR).toISOString(),
            inFlight: 0,
          }));
          history.push({ at: status.readAt, inFlight: single[v]!.inFlight, source: 'database' });
          const decision = decideRetirement({
            version: v,
            latestVersion: status.latestVersion,
            serviceSelects: table.serviceSelects,
            observations: history,
            quietPeriodMs,
            maxGapMs: 2 * HOUR,
            now,
          });
          if (ref.countFor(v).inFlight > 0 || v === ref.latest || ref.latest === null || table.serviceSelects === v) {
            busyChecks++;
            expect(decision.retire).toBe(false);
          }
          if (decision.retire) {
            retirements++;
            expect(ref.countFor(v).inFlight).toBe(0);
            expect(ref.orphanIds(v)).toEqual([]);
          }
        }
      }),
      { numRuns: RUNS, seed: Number(process.env.DRAIN_PROPERTY_SEED ?? Date.now() % 2 ** 31) },
    );
    console.log(`drain property: ${runs} randomized tables, ${busyChecks} must-keep decisions held, ${retirements} retirements allowed`);
    expect(runs).toBeGreaterThanOrEqual(RUNS);
    // The generator must reach both outcomes, or the property proves nothing.
    expect(retirements).toBeGreaterThan(0);
    expect(busyChecks).toBeGreaterThan(0);
  }, 240_000);
});
