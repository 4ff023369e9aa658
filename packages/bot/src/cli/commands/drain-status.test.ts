import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, type DbosSystemDatabase } from '@dbos-gitops/testkit';
import { freePort, startPostgres, type PostgresServer } from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import { runDrainStatus } from './drain-status.ts';

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let reader: { url: string; password: string };
let configDir: string;
let configFile: string;

/** Two applications, shop in dev and prod, cart only in dev; both on the one system database below. */
const CONFIG = `version: 1
environments:
  - name: dev
    overlay: overlays/dev
  - name: prod
    overlay: overlays/prod
forge:
  type: local
apps:
  - name: shop
    repository: example.invalid/shop
  - name: cart
    repository: example.invalid/cart
    environments: [dev]
`;

beforeAll(async () => {
  configDir = mkdtempSync(join(tmpdir(), 'drain-status-config-'));
  configFile = join(configDir, 'gitops-bot.yaml');
  writeFileSync(configFile, CONFIG);
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  reader = await createDrainReader(pg, sys.database);
  const rows: Array<[string, string]> = [
    ['PENDING', '1.0.0'],
    ['ENQUEUED', '1.0.0'],
    ['ENQUEUED', '1.0.0'],
    ['DELAYED', '1.0.0'],
    ['SUCCESS', '1.0.0'],
    ['MAX_RECOVERY_ATTEMPTS_EXCEEDED', '1.0.0'],
    ['ENQUEUED', '2.0.0'],
  ];
  for (const [i, [status, version]] of rows.entries()) {
    await pg.query(
      `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name) VALUES ($1, $2, 'w', $3, 'shop')`,
      [`wf-${i}`, status, version],
      sys.database,
    );
  }
  // cart has its own work on the same version string 1.0.0, which must never show in shop's counts.
  for (const [i, status] of ['PENDING', 'PENDING', 'ENQUEUED'].entries()) {
    await pg.query(
      `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name) VALUES ($1, $2, 'w', '1.0.0', 'cart')`,
      [`cart-wf-${i}`, status],
      sys.database,
    );
  }
  await pg.query(
    `INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name) VALUES ('a', '1.0.0', 1, 'shop'), ('b', '2.0.0', 2, 'shop')`,
    [],
    sys.database,
  );
});
afterAll(async () => {
  rmSync(configDir, { recursive: true, force: true });
  await pg?.stop();
});

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runDrainStatus(['--config', configFile, ...argv], { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env });
  return { code, stdout, stderr };
}

describe('pnpm bot drain-status', () => {
  it('prints one JSON object per version with per-status counts, URL from the environment', async () => {
    const { code, stdout, stderr } = await cli(['--app-name', 'shop', '--json'], { DBOS_DRAIN_DATABASE_URL: reader.url });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      shop: [
        { version: '2.0.0', pending: 0, enqueued: 1, delayed: 0, inFlight: 1, deadLettered: 0 },
        { version: '1.0.0', pending: 1, enqueued: 2, delayed: 1, inFlight: 4, deadLettered: 1 },
      ],
    });
  });

  it('prints a readable table with the URL from --database-url-file, never the password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drain-status-'));
    const file = join(dir, 'url');
    writeFileSync(file, `${reader.url}\n`, { mode: 0o600 });
    const { code, stdout, stderr } = await cli(['--app-name', 'shop', '--database-url-file', file]).finally(() =>
      rmSync(dir, { recursive: true, force: true }),
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/^application shop\nVERSION\s+PENDING\s+ENQUEUED\s+DELAYED\s+IN FLIGHT/);
    expect(stdout).toMatch(/1\.0\.0\s+1\s+2\s+1\s+4\s+draining/);
    expect(stdout).toMatch(/2\.0\.0\s+0\s+1\s+0\s+1\s+latest/);
    expect(stdout + stderr).not.toContain(reader.password);
  });

  it('exits 10 with a clear message when the status is unknown, without the password', async () => {
    const wrong = new URL(reader.url);
    wrong.password = `${reader.password}x`;
    const denied = await cli(['--app-name', 'shop'], { DBOS_DRAIN_DATABASE_URL: wrong.toString() });
    expect(denied.code).toBe(10);
    expect(denied.stderr).toContain('the drain status is unknown (authentication)');
    expect(denied.stdout + denied.stderr).not.toContain(reader.password);

    const down = new URL(reader.url);
    down.port = String(await freePort());
    const refused = await cli(['--app-name', 'shop'], { DBOS_DRAIN_DATABASE_URL: down.toString() });
    expect(refused.code).toBe(10);
    expect(refused.stderr).toContain('connection-refused');
    expect(refused.stdout + refused.stderr).not.toContain(reader.password);
  });

  it('usage errors exit 64 and name what is missing', async () => {
    expect(await cli(['--app-name', 'shop'])).toMatchObject({ code: 64, stderr: expect.stringContaining('DBOS_DRAIN_DATABASE_URL') });
    const stray = await cli(['--app-name', 'shop', reader.url]);
    expect(stray.code).toBe(64);
    expect(stray.stderr).not.toContain(reader.password);
    expect(await cli(['--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('usage: pnpm bot drain-status') });
  });

  it('refuses a URL on the command line (pnpm prints argv into CI logs) with exit 64, without repeating it', async () => {
    for (const argv of [
      ['--app-name', 'shop', '--database-url', reader.url],
      ['--app-name', 'shop', `--database-url=${reader.url}`],
      [`--database-url=${reader.url}`, '--json'],
    ]) {
      const refused = await cli(argv, { DBOS_DRAIN_DATABASE_URL: reader.url });
      expect(refused.code).toBe(64);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain('--database-url is not accepted');
      expect(refused.stderr).toContain('DBOS_DRAIN_DATABASE_URL');
      expect(refused.stderr).not.toContain(reader.password);
      expect(refused.stderr).not.toContain('dbos_drain_reader');
    }
    // An unknown option carrying a value is named, its value is not.
    const unknown = await cli(['--app-name', 'shop', `--db=${reader.url}`], { DBOS_DRAIN_DATABASE_URL: reader.url });
    expect(unknown).toMatchObject({ code: 64, stderr: expect.stringContaining('unknown option --db') });
    expect(unknown.stderr).not.toContain(reader.password);
  });

  it('never echoes a URL that does not parse, nor a libpq key=value string', async () => {
    for (const bad of [
      `postgresql://u:Sl/ash${reader.password}@127.0.0.1/x`,
      `postgresql://u:1234/${reader.password}@127.0.0.1/x`,
      `host=127.0.0.1 user=u password=${reader.password} dbname=x`,
    ]) {
      const result = await cli(['--app-name', 'shop'], { DBOS_DRAIN_DATABASE_URL: bad });
      expect(result.code).toBe(10);
      expect(result.stderr).toContain('(invalid-input)');
      expect(result.stderr).toMatch(/not shown because it may contain a password/);
      expect(result.stdout + result.stderr).not.toContain(reader.password);
    }
  });

  it('reports every application of the environment unless one is named, each with its own rows only', async () => {
    const dev = await cli(['--env', 'dev', '--json'], { DBOS_DRAIN_DATABASE_URL: reader.url });
    expect(dev.code).toBe(0);
    const byApp = JSON.parse(dev.stdout);
    expect(Object.keys(byApp)).toEqual(['shop', 'cart']);
    expect(byApp.cart).toEqual([{ version: '1.0.0', pending: 2, enqueued: 1, delayed: 0, inFlight: 3, deadLettered: 0 }]);
    expect(byApp.shop.find((row: { version: string }) => row.version === '1.0.0')).toMatchObject({ pending: 1, enqueued: 2, inFlight: 4 });
    // cart runs only in dev.
    const prod = await cli(['--env', 'prod', '--json'], { DBOS_DRAIN_DATABASE_URL: reader.url });
    expect(Object.keys(JSON.parse(prod.stdout))).toEqual(['shop']);
    const table = await cli(['--env', 'dev'], { DBOS_DRAIN_DATABASE_URL: reader.url });
    expect(table.stdout).toMatch(/^application shop\nVERSION/);
    expect(table.stdout).toMatch(/\napplication cart\nVERSION\s+PENDING[^\n]*\n1\.0\.0\s+2\s+1\s+0\s+3\s+draining/);
    const one = await cli(['--env', 'dev', '--app', 'cart', '--json'], { DBOS_DRAIN_DATABASE_URL: reader.url });
    expect(Object.keys(JSON.parse(one.stdout))).toEqual(['cart']);
  });

  it("with --env, reads that environment's own DBOS_DRAIN_DATABASE_URL_<ENV> before the plain variable", async () => {
    const closed = `postgresql://reader@127.0.0.1:1/${sys.database}`;
    // The environment's own variable wins over a plain one that names another database (here: nothing listening).
    const own = await cli(['--env', 'dev', '--app', 'cart', '--json'], { DBOS_DRAIN_DATABASE_URL_DEV: reader.url, DBOS_DRAIN_DATABASE_URL: closed });
    expect(own.code).toBe(0);
    expect(JSON.parse(own.stdout).cart[0]).toMatchObject({ version: '1.0.0', inFlight: 3 });
    // Another environment's variable is never read for this one.
    const other = await cli(['--env', 'prod', '--json'], { DBOS_DRAIN_DATABASE_URL_DEV: reader.url });
    expect(other.code).toBe(64);
    expect(other.stderr).toContain('no database URL: set DBOS_DRAIN_DATABASE_URL_PROD or DBOS_DRAIN_DATABASE_URL');
  });

  it('an application or environment the config does not know is exit 2 with the known names, never "nothing in flight"', async () => {
    for (const argv of [
      ['--app', 'shpo'],
      ['--app-name', 'shpo'],
      ['--env', 'dev', '--app', 'shpo'],
    ]) {
      const typo = await cli(argv, { DBOS_DRAIN_DATABASE_URL: reader.url });
      expect(typo.code, argv.join(' ')).toBe(2);
      expect(typo.stdout).toBe('');
      expect(typo.stderr).toContain('application "shpo" is not in apps: (known: shop, cart)');
    }
    const elsewhere = await cli(['--env', 'prod', '--app', 'cart'], { DBOS_DRAIN_DATABASE_URL: reader.url });
    expect(elsewhere).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('application "cart" does not run in environment "prod"') });
    const env = await cli(['--env', 'staging'], { DBOS_DRAIN_DATABASE_URL: reader.url });
    expect(env).toMatchObject({ code: 2, stderr: expect.stringContaining('--env "staging" is not an environment of the config (known: dev, prod)') });
    // Checked before the database is read: no URL is needed to learn about a typo.
    expect(await cli(['--app', 'shpo'])).toMatchObject({ code: 2 });
    const conflicting = await cli(['--app', 'shop', '--app-name', 'cart'], { DBOS_DRAIN_DATABASE_URL: reader.url });
    expect(conflicting).toMatchObject({ code: 64, stderr: expect.stringContaining('--app and --app-name name different applications') });
  });
});
