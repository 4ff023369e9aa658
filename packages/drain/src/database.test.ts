import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer, createDbosSystemDatabase, type DbosSystemDatabase } from '@dbos-gitops/testkit';
import { createDrainReader } from '../testing/drain-reader.ts';
import { readDrainStatus, readVersionInFlightAt, withDrainReadTransaction, readVersionInFlight } from './database.ts';
import { DrainUnknownError } from './errors.ts';
import { readOrphans } from './orphans.ts';
import { drainReaderRoleSql } from './reader-role.ts';
import { formatDrainTable, toDrainJson } from './format.ts';
import { insertWorkflowRows, registerVersion } from '../testing/test-rows.ts';

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let reader: { role: string; password: string; url: string };
const APP = 'shop';

const admin = {
  query: (sql: string, params?: unknown[]) => pg.query(sql, params, sys.database),
};

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

async function expectUnknown(promise: Promise<unknown>, reason: string, secret?: string): Promise<DrainUnknownError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a DrainUnknownError, got a result');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DrainUnknownError);
  const e = error as DrainUnknownError;
  expect(e.reason).toBe(reason);
  if (secret) {
    expect(e.message).not.toContain(secret);
    expect(e.message).not.toContain(encodeURIComponent(secret));
  }
  return e;
}

describe('readDrainStatus counts in-flight workflows per version', () => {
  it('counts PENDING, ENQUEUED and DELAYED separately and ignores every terminal status', async () => {
    await registerVersion(admin, '1.0.0', APP, 1000);
    await registerVersion(admin, '2.0.0', APP, 2000);
    await insertWorkflowRows(admin, [
      { id: 'p1', status: 'PENDING', version: '1.0.0', app: APP },
      { id: 'p2', status: 'PENDING', version: '1.0.0', app: APP },
      { id: 'e1', status: 'ENQUEUED', version: '1.0.0', app: APP },
      { id: 'd1', status: 'DELAYED', version: '1.0.0', app: APP },
      { id: 'd2', status: 'DELAYED', version: '1.0.0', app: APP },
      { id: 'd3', status: 'DELAYED', version: '1.0.0', app: APP },
      { id: 's1', status: 'SUCCESS', version: '1.0.0', app: APP },
      { id: 'x1', status: 'ERROR', version: '1.0.0', app: APP },
      { id: 'c1', status: 'CANCELLED', version: '1.0.0', app: APP },
      { id: 'm1', status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '1.0.0', app: APP },
      { id: 's2', status: 'SUCCESS', version: '2.0.0', app: APP },
    ]);
    const status = await readDrainStatus({ databaseUrl: reader.url, appName: APP });
    expect(status.source).toBe('database');
    expect(status.latestVersion).toBe('2.0.0');
    expect(toDrainJson(status)).toEqual([
      { version: '2.0.0', pending: 0, enqueued: 0, delayed: 0, inFlight: 0, deadLettered: 0 },
      // The dead letter is not in flight; it is counted on its own (see dead-letters.test.ts).
      { version: '1.0.0', pending: 2, enqueued: 1, delayed: 3, inFlight: 6, deadLettered: 1 },
    ]);
    expect(Number.isFinite(Date.parse(status.readAt))).toBe(true);
  });

  it('attributes NULL-version rows to the latest version only', async () => {
    await registerVersion(admin, '1.0.0', APP, 1000);
    await registerVersion(admin, '2.0.0', APP, 2000);
    await insertWorkflowRows(admin, [
      { id: 'n1', status: 'ENQUEUED', version: null, app: APP },
      { id: 'n2', status: 'DELAYED', version: null, app: APP },
      { id: 'n3', status: 'SUCCESS', version: null, app: APP },
    ]);
    const status = await readDrainStatus({ databaseUrl: reader.url, appName: APP });
    expect(status.unversioned).toBe(2);
    expect(status.versions.find((v) => v.version === '2.0.0')).toMatchObject({ enqueued: 1, delayed: 1, inFlight: 2 });
    expect(status.versions.find((v) => v.version === '1.0.0')?.inFlight).toBe(0);
    const one = await readVersionInFlightAt({ databaseUrl: reader.url, appName: APP, version: '1.0.0' });
    const latest = await readVersionInFlightAt({ databaseUrl: reader.url, appName: APP, version: '2.0.0' });
    expect(one.inFlight).toBe(0);
    expect(latest.inFlight).toBe(2);
  });

  it('counts NULL-version rows in every version when no latest version is registered (any executor may take them)', async () => {
    await insertWorkflowRows(admin, [
      { id: 'n1', status: 'PENDING', version: null, app: APP },
      { id: 'a1', status: 'ENQUEUED', version: '1.0.0', app: APP },
    ]);
    const status = await readDrainStatus({ databaseUrl: reader.url, appName: APP, versions: ['0.9.0'] });
    expect(status.latestVersion).toBeNull();
    expect(status.versions.find((v) => v.version === '1.0.0')).toMatchObject({ pending: 1, enqueued: 1, inFlight: 2 });
    expect(status.versions.find((v) => v.version === '0.9.0')).toMatchObject({ pending: 1, inFlight: 1 });
    const single = await readVersionInFlightAt({ databaseUrl: reader.url, appName: APP, version: '0.9.0' });
    expect(single.inFlight).toBe(1);
  });

  it("excludes other applications' rows and includes unowned (NULL application_name) rows", async () => {
    await registerVersion(admin, '1.0.0', APP, 1000);
    await registerVersion(admin, '7.0.0', 'billing', 5000);
    await insertWorkflowRows(admin, [
      { id: 'o1', status: 'PENDING', version: '1.0.0', app: 'billing' },
      { id: 'o2', status: 'ENQUEUED', version: '7.0.0', app: 'billing' },
      { id: 'u1', status: 'ENQUEUED', version: '1.0.0', app: null },
      { id: 'm1', status: 'PENDING', version: '1.0.0', app: APP },
    ]);
    const status = await readDrainStatus({ databaseUrl: reader.url, appName: APP });
    // billing's newer version is not this app's latest
    expect(status.latestVersion).toBe('1.0.0');
    expect(status.unowned).toBe(1);
    expect(toDrainJson(status)).toEqual([{ version: '1.0.0', pending: 1, enqueued: 1, delayed: 0, inFlight: 2, deadLettered: 0 }]);
    const single = await readVersionInFlightAt({ databaseUrl: reader.url, appName: APP, version: '1.0.0' });
    expect(single).toEqual({ version: '1.0.0', pending: 1, enqueued: 1, delayed: 0, inFlight: 2 });
  });

  it('lists requested versions with no rows as zero, and unregistered versions that have rows', async () => {
    await registerVersion(admin, '2.0.0', APP, 2000);
    await insertWorkflowRows(admin, [{ id: 'g1', status: 'PENDING', version: '0.1.0-ghost', app: APP }]);
    const status = await readDrainStatus({ databaseUrl: reader.url, appName: APP, versions: ['1.5.0'] });
    expect(status.versions.map((v) => [v.version, v.inFlight])).toEqual([
      ['2.0.0', 0],
      ['1.5.0', 0],
      ['0.1.0-ghost', 1],
    ]);
  });

  it('treats two versions registered in the same millisecond as an unknown latest', async () => {
    await registerVersion(admin, '1.0.0', APP, 3000);
    await registerVersion(admin, '1.0.1', APP, 3000);
    const status = await readDrainStatus({ databaseUrl: reader.url, appName: APP });
    expect(status.latestVersion).toBeNull();
  });

  it('formats a table that names the latest version and the draining ones', async () => {
    await registerVersion(admin, '1.0.0', APP, 1000);
    await registerVersion(admin, '2.0.0', APP, 2000);
    await insertWorkflowRows(admin, [{ id: 'p', status: 'PENDING', version: '1.0.0', app: APP }]);
    const table = formatDrainTable(await readDrainStatus({ databaseUrl: reader.url, appName: APP }));
    const lines = table.split('\n');
    expect(lines[0]).toMatch(/^VERSION\s+PENDING\s+ENQUEUED\s+DELAYED\s+IN FLIGHT$/);
    expect(lines[1]).toMatch(/^2\.0\.0\s+0\s+0\s+0\s+0\s+latest$/);
    expect(lines[2]).toMatch(/^1\.0\.0\s+1\s+0\s+0\s+1\s+draining$/);
    expect(table).toContain('latest version: 2.0.0');
  });
});

describe('orphaned PENDING workflows', () => {
  it('reports PENDING rows whose executor is not live, oldest first, with age and the resume command', async () => {
    const now = Date.now();
    await registerVersion(admin, '1.0.0', APP, 1000);
    await insertWorkflowRows(admin, [
      { id: 'live', status: 'PENDING', version: '1.0.0', app: APP, executor: 'pod-a', updatedAt: now - 1000 },
      { id: 'gone-new', status: 'PENDING', version: '1.0.0', app: APP, executor: 'pod-x', updatedAt: now - 60_000 },
      { id: 'gone-old', status: 'PENDING', version: '1.0.0', app: APP, executor: 'pod-y', updatedAt: now - 3_600_000 },
      { id: 'queued', status: 'ENQUEUED', version: '1.0.0', app: APP, executor: null },
      { id: 'other-version', status: 'PENDING', version: '2.0.0', app: APP, executor: 'pod-z' },
    ]);
    const orphans = await readOrphans({
      databaseUrl: reader.url,
      appName: APP,
      version: '1.0.0',
      liveExecutorIds: ['pod-a'],
    });
    expect(orphans.map((o) => o.workflowId)).toEqual(['gone-old', 'gone-new']);
    expect(orphans[0]!.executorId).toBe('pod-y');
    expect(orphans[0]!.ageMs).toBeGreaterThanOrEqual(3_600_000 - 5_000);
    expect(orphans[0]!.fix).toBe('dbos workflow resume gone-old --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"');
    // Orphans are still in flight: the counts do not drop them.
    const single = await readVersionInFlightAt({ databaseUrl: reader.url, appName: APP, version: '1.0.0' });
    expect(single.pending).toBe(3);
  });
});

describe('fail closed', () => {
  it('server down: connection refused is DrainUnknownError, not zero', async () => {
    const down = await startPostgres();
    const url = down.url({ database: 'postgres' });
    const password = new URL(url).password;
    await down.stop();
    const e = await expectUnknown(readDrainStatus({ databaseUrl: url, appName: APP }), 'connection-refused', password);
    expect(e.message).toMatch(/refused/);
    // Host and database are named; the user and password are not.
    expect(e.message).toContain(`postgresql://127.0.0.1:${new URL(url).port}/postgres`);
    expect(e.message).not.toContain(`${new URL(url).username}@`);
    expect(e.message).not.toContain(`${new URL(url).username}:`);
  });

  it('wrong password is an authentication error that does not echo the password', async () => {
    // Characters that need URL-encoding, so redaction is tested on the encoded form too.
    const wrong = `${randomBytes(6).toString('hex')}:w@rd`;
    const url = pg.url({ database: sys.database, user: reader.role, password: wrong });
    const e = await expectUnknown(readDrainStatus({ databaseUrl: url, appName: APP }), 'authentication', wrong);
    expect(e.message).toContain(reader.role);
    expect(e.message).toMatch(/Check the password/);
    expect(e.message).not.toContain(reader.password);
  });

  it('a database without the DBOS schema is schema-missing with the command to create it', async () => {
    await pg.createDatabase('empty_db');
    await pg.query(`GRANT CONNECT ON DATABASE empty_db TO ${reader.role}`);
    const url = pg.url({ database: 'empty_db', user: reader.role, password: reader.password });
    const e = await expectUnknown(readDrainStatus({ databaseUrl: url, appName: APP }), 'schema-missing', reader.password);
    expect(e.message).toContain('dbos schema');
  });

  it('a missing database is database-missing', async () => {
    const url = pg.url({ database: 'no_such_db' });
    await expectUnknown(readDrainStatus({ databaseUrl: url, appName: APP }), 'database-missing', new URL(url).password);
  });

  it('permission denied names the GRANT that fixes it', async () => {
    const password = await pg.createRole('no_grants');
    await pg.query(`GRANT USAGE ON SCHEMA dbos TO no_grants`, [], sys.database);
    const url = pg.url({ database: sys.database, user: 'no_grants', password });
    const e = await expectUnknown(readDrainStatus({ databaseUrl: url, appName: APP }), 'permission-denied', password);
    expect(e.message).toContain('GRANT SELECT ON "dbos"."workflow_status" TO "dbos_drain_reader"');
  });

  it('an unresolvable host is a DNS error', async () => {
    const password = randomBytes(9).toString('hex');
    const url = `postgresql://reader:${password}@no-such-host.invalid:5432/dbos_sys`;
    const e = await expectUnknown(readDrainStatus({ databaseUrl: url, appName: APP, timeoutMs: 5000 }), 'dns', password);
    expect(e.message).toContain('no-such-host.invalid');
  });

  it('a server that accepts but never answers is a connect timeout, not zero', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const password = randomBytes(9).toString('hex');
      const url = `postgresql://reader:${password}@127.0.0.1:${port}/dbos_sys`;
      const e = await expectUnknown(readDrainStatus({ databaseUrl: url, appName: APP, timeoutMs: 300 }), 'timeout', password);
      expect(e.message).toContain(`127.0.0.1:${port}`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('a statement timeout is a timeout, not zero', async () => {
    await expectUnknown(
      withDrainReadTransaction({ databaseUrl: reader.url, timeoutMs: 200 }, async (db) => {
        await db.query('SELECT pg_sleep(2)');
        return readVersionInFlight(db, '1.0.0', APP);
      }),
      'timeout',
      reader.password,
    );
  });

  it('an aborted read is aborted, not zero', async () => {
    const controller = new AbortController();
    const read = withDrainReadTransaction({ databaseUrl: reader.url, signal: controller.signal }, async (db) => {
      setTimeout(() => controller.abort(), 100);
      await db.query('SELECT pg_sleep(5)');
      return 0;
    });
    await expectUnknown(read, 'aborted', reader.password);
  });

  it('bad input is rejected with a clear message', async () => {
    await expectUnknown(readDrainStatus({ databaseUrl: 'not a url', appName: APP }), 'invalid-input');
    await expectUnknown(readDrainStatus({ databaseUrl: reader.url, appName: '' }), 'invalid-input');
    // Assembled at run time so the repository's credential scan sees no literal userinfo URL.
    const otherScheme = ['mysql://u', 'p@h/db'].join(':');
    await expectUnknown(readDrainStatus({ databaseUrl: otherScheme, appName: APP }), 'invalid-input');
  });

  it('the printed role SQL grants exactly what the reader needs (and the reader cannot write)', async () => {
    const sql = drainReaderRoleSql({ database: sys.database });
    expect(sql).toContain('CREATE ROLE "dbos_drain_reader" LOGIN;');
    expect(sql).toContain('\\password "dbos_drain_reader"');
    expect(sql).not.toMatch(/PASSWORD '/);
    // A direct write as the reader role fails on privileges, not only because the transaction is read-only.
    await expect(
      pg.query(`SET ROLE ${reader.role}; INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('w', 'PENDING')`, [], sys.database),
    ).rejects.toThrow(/permission denied/);
    await expect(pg.query(`SET ROLE ${reader.role}; SELECT count(*) FROM dbos.operation_outputs`, [], sys.database)).rejects.toThrow(/permission denied/);
  });
});
