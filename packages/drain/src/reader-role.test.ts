import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, startPostgres, type PostgresServer } from '@dbos-gitops/testkit';
import { createDrainReader } from '../testing/drain-reader.ts';

// Moved from testkit's postgres.test.ts with the drain reader fixture (testkit no longer depends on this package).
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

describe('drain reader role', () => {
  it('on the real DBOS system schema, the reader counts workflow rows and can read nothing else nor write', async () => {
    const sys = await createDbosSystemDatabase(server, { database: 'app_sys', appRole: 'app_role' });
    const app = await connect(sys.appUrl);
    try {
      await app.query(`INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('w1', 'PENDING')`);
    } finally {
      await app.end();
    }
    const reader = await createDrainReader(server, 'app_sys', 'reader_role');
    const r = await connect(reader.url);
    try {
      const { rows } = await r.query<{ n: string }>('SELECT count(*) AS n FROM dbos.workflow_status');
      expect(Number(rows[0]!.n)).toBe(1);
      await expect(r.query('SELECT * FROM dbos.operation_outputs')).rejects.toMatchObject({ code: '42501' });
      await expect(r.query(`DELETE FROM dbos.workflow_status`)).rejects.toMatchObject({ code: '42501' });
    } finally {
      await r.end();
    }
  });
});
