import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from './postgres.ts';
import { createDbosSystemDatabase } from './dbos.ts';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

describe('startPostgres', () => {
  it('serves PostgreSQL 15+ on loopback with fsync off and a password-protected superuser URL', async () => {
    const url = new URL(server.url());
    expect(url.hostname).toBe('127.0.0.1');
    expect(Number(url.port)).toBe(server.port);
    expect(url.password.length).toBeGreaterThan(10);
    const c = await connect(server.url());
    try {
      const { rows } = await c.query<{ v: string; fsync: string; listen: string }>(
        `SELECT current_setting('server_version_num') AS v, current_setting('fsync') AS fsync, current_setting('listen_addresses') AS listen`,
      );
      expect(Number(rows[0]!.v)).toBeGreaterThanOrEqual(150000);
      expect(rows[0]!.fsync).toBe('off');
      expect(rows[0]!.listen).toBe('127.0.0.1');
    } finally {
      await c.end();
    }
  });

  it('creates databases and login roles, and rejects a wrong password over TCP', async () => {
    const password = await server.createRole('tester');
    await server.createDatabase('things', { owner: 'tester' });
    const c = await connect(server.url({ database: 'things', user: 'tester', password }));
    try {
      const { rows } = await c.query<{ u: string; d: string }>('SELECT current_user AS u, current_database() AS d');
      expect(rows[0]).toEqual({ u: 'tester', d: 'things' });
    } finally {
      await c.end();
    }
    await expect(connect(server.url({ database: 'things', user: 'tester', password: 'wrong' }))).rejects.toMatchObject({
      code: '28P01',
    });
  });

  it('creates the real DBOS system schema with the dbos CLI', async () => {
    const sys = await createDbosSystemDatabase(server, { database: 'app_sys', appRole: 'app_role' });
    const tables = await server.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'dbos'`, [], 'app_sys');
    const names = tables.rows.map((r) => r.table_name);
    expect(names).toEqual(expect.arrayContaining(['workflow_status', 'application_versions', 'operation_outputs']));
    const app = await connect(sys.appUrl);
    try {
      await app.query(`INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('w1', 'PENDING')`);
    } finally {
      await app.end();
    }
  });

  it('stops the server and removes its files', async () => {
    const other = await startPostgres();
    const url = other.url();
    expect(existsSync(other.baseDir)).toBe(true);
    await other.stop();
    expect(existsSync(other.baseDir)).toBe(false);
    await expect(connect(url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await other.stop(); // idempotent
  });
});
