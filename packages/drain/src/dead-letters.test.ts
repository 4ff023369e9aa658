import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer, createDbosSystemDatabase, type DbosSystemDatabase } from '@dbos-gitops/testkit';
import { createDrainReader } from '../testing/drain-reader.ts';
import { PER_VERSION_SQL, readDrainStatus, SINGLE_VERSION_SQL, withDrainReadTransaction } from './database.ts';
import { DEAD_LETTERED_OF_VERSION_SQL, DEAD_LETTERED_PER_VERSION_SQL, findDeadLettered } from './dead-letters.ts';
import { formatDrainTable, toDrainJson } from './format.ts';
import { insertWorkflowRows, registerVersion } from '../testing/test-rows.ts';

/** Issue 8 item 11: MAX_RECOVERY_ATTEMPTS_EXCEEDED workflows, against real PostgreSQL with the real DBOS schema. */
let pg: PostgresServer;
let sys: DbosSystemDatabase;
let reader: { url: string; password: string };
const APP = 'shop';
const admin = { query: (sql: string, params?: unknown[]) => pg.query(sql, params, sys.database) };

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  reader = await createDrainReader(pg, sys.database);
});
afterAll(async () => {
  await pg?.stop();
});
beforeEach(async () => {
  await admin.query('TRUNCATE dbos.workflow_status CASCADE');
  await admin.query('DELETE FROM dbos.application_versions');
});

describe('dead-lettered workflows', () => {
  it('drain status counts them per version beside the in-flight counts, which they do not change', async () => {
    await registerVersion(admin, '1.0.0', APP, 1000);
    await registerVersion(admin, '2.0.0', APP, 2000);
    await registerVersion(admin, '3.0.0', APP, 3000);
    await insertWorkflowRows(admin, [
      { id: 'd1', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '1.0.0', app: APP },
      { id: 'd2', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '1.0.0', app: null },
      { id: 'e1', status: 'ERROR', version: '1.0.0', app: APP },
      { id: 'c1', status: 'CANCELLED', version: '1.0.0', app: APP },
      { id: 'p1', status: 'PENDING', version: '2.0.0', app: APP },
      { id: 'd3', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '2.0.0', app: APP },
      // Another application's dead letter is not ours; a NULL-version one resumes under the latest (3.0.0).
      { id: 'x1', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '1.0.0', app: 'other' },
      { id: 'n1', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: null, app: APP },
      // Unregistered version that has only a dead letter: still listed.
      { id: 'd4', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '0.9.0', app: APP },
    ]);
    const status = await readDrainStatus({ databaseUrl: reader.url, appName: APP });
    expect(toDrainJson(status)).toEqual([
      { version: '3.0.0', pending: 0, enqueued: 0, delayed: 0, inFlight: 0, deadLettered: 1 },
      { version: '2.0.0', pending: 1, enqueued: 0, delayed: 0, inFlight: 1, deadLettered: 1 },
      { version: '1.0.0', pending: 0, enqueued: 0, delayed: 0, inFlight: 0, deadLettered: 2 },
      { version: '0.9.0', pending: 0, enqueued: 0, delayed: 0, inFlight: 0, deadLettered: 1 },
    ]);
    const table = formatDrainTable(status);
    expect(table).toMatch(/^1\.0\.0\s+0\s+0\s+0\s+0\s+dead-lettered$/m);
    expect(table).toContain('2 workflow(s) of 1.0.0 are dead-lettered (MAX_RECOVERY_ATTEMPTS_EXCEEDED): only an executor of 1.0.0 can resume them');
  });

  it('a source that cannot count dead letters reports null, never zero', () => {
    const json = toDrainJson({
      source: 'conductor',
      readAt: '2026-01-01T00:00:00Z',
      versions: [{ version: '1.0.0', pending: 0, enqueued: 0, delayed: 0, inFlight: 0 }],
    });
    expect(json).toEqual([{ version: '1.0.0', pending: 0, enqueued: 0, delayed: 0, inFlight: 0, deadLettered: null }]);
  });

  it("lists a version's dead letters oldest first with the total, the resume command and the fork onto the latest", async () => {
    await insertWorkflowRows(admin, [
      { id: 'new', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '1.0.0', app: APP, updatedAt: 3_000 },
      { id: 'old', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '1.0.0', app: APP, updatedAt: 1_000 },
      { id: "it's odd", status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '1.0.0', app: APP, updatedAt: 2_000 },
      { id: 'other-version', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '2.0.0', app: APP },
      { id: 'finished', status: 'SUCCESS', version: '1.0.0', app: APP },
    ]);
    const found = await withDrainReadTransaction({ databaseUrl: reader.url }, (db) =>
      findDeadLettered(db, { appName: APP, version: '1.0.0', latestVersion: '2.0.0', limit: 2 }),
    );
    expect(found.count).toBe(3);
    expect(found.workflows.map((w) => [w.workflowId, w.updatedAt])).toEqual([
      ['old', new Date(1_000).toISOString()],
      ["it's odd", new Date(2_000).toISOString()],
    ]);
    expect(found.workflows[0]).toMatchObject({
      resume: 'dbos workflow resume old --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"',
      fork: 'dbos workflow fork old --step 0 --application-version 2.0.0 --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"',
    });
    expect(found.workflows[1]!.resume).toBe(`dbos workflow resume 'it'\\''s odd' --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"`);
    const none = await withDrainReadTransaction({ databaseUrl: reader.url }, (db) =>
      findDeadLettered(db, { appName: APP, version: '3.0.0', latestVersion: null }),
    );
    expect(none).toEqual({ count: 0, workflows: [] });
  });

  it("the dead-letter queries use DBOS's failed-status partial index, and the in-flight queries keep their indexes", async () => {
    // Enough finished rows that a sequential scan would cost more than the partial indexes.
    await admin.query(`
      INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, updated_at)
      SELECT 'wf-' || g, CASE WHEN g % 1000 = 0 THEN 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' WHEN g % 997 = 0 THEN 'PENDING' ELSE 'SUCCESS' END,
             'w', '1.' || (g % 5) || '.0', 'shop', g
        FROM generate_series(1, 60000) AS g`);
    await admin.query('ANALYZE dbos.workflow_status');
    const indexes = (await admin.query(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = 'dbos' AND indexname = 'idx_workflow_status_failed'`,
    )) as unknown as { rows: Array<{ indexdef: string }> };
    expect(indexes.rows[0]?.indexdef).toMatch(/WHERE .*MAX_RECOVERY_ATTEMPTS_EXCEEDED/);

    /** Every scan node of the plan: its type, table and index. */
    const scans = async (sql: string, params: unknown[]) => {
      type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] };
      const result = (await admin.query(`EXPLAIN (FORMAT JSON) ${sql}`, params)) as unknown as { rows: Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }> };
      const out: string[] = [];
      const walk = (node: PlanNode): void => {
        if (/Scan/.test(node['Node Type'])) out.push(`${node['Node Type']} ${node['Relation Name'] ?? ''} ${node['Index Name'] ?? ''}`.trim());
        for (const child of node.Plans ?? []) walk(child);
      };
      walk(result.rows[0]!['QUERY PLAN'][0]!.Plan);
      return out;
    };
    const onWorkflowStatus = (list: string[]) => list.filter((scan) => /workflow_status|idx_workflow_status/.test(scan));
    for (const [sql, params] of [
      [DEAD_LETTERED_PER_VERSION_SQL, [APP]],
      [DEAD_LETTERED_OF_VERSION_SQL, ['1.0.0', APP, 20]],
    ] as const) {
      const used = onWorkflowStatus(await scans(sql, [...params]));
      expect(used.length).toBeGreaterThan(0);
      for (const scan of used) expect(scan).toMatch(/^(Index|Index Only|Bitmap Index) Scan .*idx_workflow_status_failed$|^Bitmap Heap Scan workflow_status$/);
    }
    for (const [sql, params] of [
      [PER_VERSION_SQL, [APP]],
      [SINGLE_VERSION_SQL, ['1.0.0', APP]],
    ] as const) {
      const used = onWorkflowStatus(await scans(sql, [...params]));
      expect(used.some((scan) => /idx_workflow_status_in_flight/.test(scan))).toBe(true);
      expect(used.filter((scan) => scan.startsWith('Seq Scan'))).toEqual([]);
    }
  });
});
