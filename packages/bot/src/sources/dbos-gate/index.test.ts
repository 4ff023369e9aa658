import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, startPostgres, type DbosSystemDatabase, type PostgresServer } from '@dbos-gitops/testkit';
import { parseConfig } from '../../config/load.ts';
import { dbosGateRunner, gateUrlEnv } from './index.ts';

/*
 * The gate runner's failure paths against a real PostgreSQL with the DBOS schema: a wrong password, a database that
 * does not exist and a URL that is not one are all `unknown`, and nothing it returns shows a credential.
 */
let pg: PostgresServer;
let sys: DbosSystemDatabase;

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg, { database: 'gate_sys', appRole: 'gate_role' });
});
afterAll(async () => {
  await pg?.stop();
});

const config = parseConfig(
  'version: 1\nenvironments:\n  - name: prod-eu\n    overlay: overlays/prod\n    switch: gated\n    gateWorkflow:\n      name: gateCheck\n      queue: work\n      timeout: 1s\napps:\n  - name: shop\n    repository: r.example/shop\n',
);
const env = config.environments[0]!;
const app = config.apps[0]!;

describe('dbos gate runner', () => {
  it('reads its URL from DBOS_GATE_DATABASE_URL_<ENV>', () => {
    expect(gateUrlEnv(env)).toBe('DBOS_GATE_DATABASE_URL_PROD_EU');
  });

  it('a wrong password, a missing database and a malformed URL are unknown, and no answer shows the credential', async () => {
    const wrong = randomBytes(12).toString('hex');
    const cases = [
      sys.appUrl.replace(`:${encodeURIComponent(sys.appPassword)}@`, `:${wrong}@`),
      pg.url({ database: 'no_such_db', user: 'gate_role', password: sys.appPassword }),
      `postgresql://gate_role:${wrong}@[bad`,
    ];
    expect(cases[0]).not.toBe(sys.appUrl);
    const expected = ['password authentication failed for user "gate_role"', 'database "no_such_db" does not exist', 'The database URL is not a valid URL'];
    for (const [index, url] of cases.entries()) {
      const outcome = await dbosGateRunner({ DBOS_GATE_DATABASE_URL_PROD_EU: url }, { write: true, pollMs: 50 })({ env, app, version: '2.0.0' });
      expect(outcome.status).toBe('unknown');
      expect(outcome.reason).toContain(expected[index]);
      const shown = JSON.stringify(outcome);
      expect(shown).not.toContain(wrong);
      expect(shown).not.toContain(sys.appPassword);
    }
    // Nothing was enqueued by a refused connection.
    const rows = await pg.query<{ n: string }>('SELECT count(*) AS n FROM dbos.workflow_status', [], sys.database);
    expect(rows.rows[0]!.n).toBe('0');
  }, 60_000);
});
