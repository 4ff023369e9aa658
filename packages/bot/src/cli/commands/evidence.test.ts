import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, freePort, startConductorFake, startPostgres, type DbosSystemDatabase, type PostgresServer } from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import { parseConfig } from '../../config/load.ts';
import { gateSoakSeconds, runEvidence } from './evidence.ts';

const HOUR = 3_600_000;
let pg: PostgresServer;
let sys: DbosSystemDatabase;
let reader: { url: string; password: string; role: string };
let dir: string;

const CONFIG = `version: 1
environments:
  - name: dev
    overlay: overlays/dev
    gate: { minSucceeded: 3, maxErrorRatio: 0.25 }
  - name: staging
    overlay: overlays/staging
    promotionSoak: 1h
  - name: prod
    overlay: overlays/prod
    promotionSoak: 1d
apps:
  - name: shop
    repository: ghcr.io/example/shop
  - name: orders
    repository: ghcr.io/example/orders
    environments: [staging, prod]
`;

const admin = { query: (sql: string, params?: unknown[]) => pg.query(sql, params, sys.database) };

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  reader = await createDrainReader(pg, sys.database);
  dir = mkdtempSync(join(tmpdir(), 'evidence-cli-'));
  writeFileSync(join(dir, 'bot.yaml'), CONFIG);
});
afterAll(async () => {
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  await admin.query('TRUNCATE dbos.workflow_status CASCADE');
  await admin.query('DELETE FROM dbos.application_versions');
});

/** Rows finished `agoMs` before the database clock, as DBOS 5.x writes them (completed_at = updated_at). */
async function finished(app: string | null, version: string, status: string, n: number, agoMs = 10 * 60_000): Promise<void> {
  await admin.query(
    `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, created_at, updated_at, completed_at)
     SELECT $1 || '-' || i, $2, 'wf', $3, $4, t - 1000, t, t
       FROM generate_series(1, $5::int) AS i, (SELECT (EXTRACT(EPOCH FROM now()) * 1000)::bigint - $6::bigint AS t) AS clock`,
    [`${app}-${version}-${status}-${agoMs}`, status, version, app, n, agoMs],
  );
}

async function registered(version: string, app: string, agoMs: number): Promise<void> {
  await admin.query(
    `INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name)
     VALUES ($1, $1, (EXTRACT(EPOCH FROM now()) * 1000)::bigint - $2::bigint, $3)`,
    [version, agoMs, app],
  );
}

async function cli(argv: string[], env: NodeJS.ProcessEnv = { DBOS_DRAIN_DATABASE_URL: reader.url }) {
  let stdout = '';
  let stderr = '';
  const code = await runEvidence([...argv, '--config', join(dir, 'bot.yaml'), '--repo', dir], {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env,
  });
  return { code, stdout, stderr };
}

describe('pnpm bot evidence', () => {
  it('prints the evidence and a pass as JSON, exit 0 (dev soaks for staging promotionSoak, 1h)', async () => {
    await registered('1.0.0', 'shop', 2 * HOUR);
    await finished('shop', '1.0.0', 'SUCCESS', 3);
    await finished('shop', '1.0.0', 'ERROR', 1);
    await finished('shop', '1.0.0', 'SUCCESS', 5, 2 * HOUR); // before the 1h window
    await finished('billing', '1.0.0', 'ERROR', 4); // another application
    await finished('shop', '2.0.0', 'ERROR', 4); // another version
    const { code, stdout, stderr } = await cli(['--env', 'dev', '--version', '1.0.0', '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const json = JSON.parse(stdout);
    expect(json).toMatchObject({
      env: 'dev',
      app: 'shop',
      version: '1.0.0',
      counts: { success: 3, error: 1, maxRecoveryAttemptsExceeded: 0, cancelled: 0, finished: 4 },
      errorRatio: 0.25,
      oldestInFlightAgeMs: null,
      gate: { minSucceeded: 3, maxErrorRatio: 0.25, soakSeconds: 3600 },
      // dev has no kube: and shop's drain reader no Conductor: not read, and no reason against the pass.
      podsReady: { read: false, reason: 'not configured' },
      executorsConnected: { read: false, reason: 'not configured' },
      verdict: 'pass',
    });
    expect(Object.keys(json)).toEqual(
      expect.arrayContaining([
        'env',
        'app',
        'version',
        'window',
        'readAt',
        'counts',
        'errorRatio',
        'oldestInFlightAgeMs',
        'podsReady',
        'executorsConnected',
        'verdict',
        'reasons',
      ]),
    );
    expect(Date.parse(json.window.end) - Date.parse(json.window.start)).toBeGreaterThanOrEqual(HOUR - 1000);
    expect(Date.parse(json.window.end) - Date.parse(json.window.start)).toBeLessThanOrEqual(HOUR + 60_000);
    expect(json.reasons).toHaveLength(1);
  });

  it('with a Conductor-checked reader, the executors of exactly that version connected; none is unknown (exit 10)', async () => {
    const conductor = await startConductorFake({ org: 'acme_org' });
    try {
      const file = join(dir, 'bot-conductor.yaml');
      writeFileSync(
        file,
        CONFIG.replace(
          '  - name: shop\n    repository: ghcr.io/example/shop\n',
          `  - name: shop\n    repository: ghcr.io/example/shop\n    drain: { source: conductor, conductorUrl: "${conductor.url}" }\n`,
        ),
      );
      const env = { DBOS_DRAIN_DATABASE_URL: reader.url, CONDUCTOR_API_KEY: conductor.adminKey, CONDUCTOR_ORG: 'acme_org' };
      await registered('1.0.0', 'shop', 2 * HOUR);
      await finished('shop', '1.0.0', 'SUCCESS', 3);
      conductor.setExecutors('shop', [
        { executorId: 'a', status: 'HEALTHY', appVersion: '1.0.0' },
        { executorId: 'b', status: 'HEALTHY', appVersion: '2.0.0' },
      ]);
      const run = (argv: string[]) => runEvidence([...argv, '--config', file, '--repo', dir], { stdout: (t) => (out += t), stderr: () => {}, env });
      let out = '';
      expect(await run(['--env', 'dev', '--version', '1.0.0', '--json'])).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ verdict: 'pass', executorsConnected: { read: true, count: 1, of: 1, detail: '1 HEALTHY' } });
      conductor.setExecutors('shop', [{ executorId: 'b', status: 'HEALTHY', appVersion: '2.0.0' }]);
      out = '';
      expect(await run(['--env', 'dev', '--version', '1.0.0'])).toBe(10);
      expect(out).toMatch(/\n {2}executors connected +0 of 0 \(Conductor lists 1 executor\(s\) of the application, none of version 1\.0\.0\)\n/);
      expect(out).toContain('- Conductor executors connected of 1.0.0: none');
      expect(out).not.toContain(conductor.adminKey);
    } finally {
      await conductor.stop();
    }
  });

  it('a fail is a verdict too (exit 0); the table shows the counts and the reason', async () => {
    await registered('1.0.0', 'shop', 2 * HOUR);
    await finished('shop', '1.0.0', 'SUCCESS', 3);
    await finished('shop', '1.0.0', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 2);
    const { code, stdout } = await cli(['--env', 'dev', '--version', '1.0.0']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Evidence of shop 1\.0\.0 in dev\n/);
    expect(stdout).toMatch(/MAX_RECOVERY_ATTEMPTS_EXCEEDED +2\n/);
    expect(stdout).toMatch(/verdict +fail\n/);
    expect(stdout).toContain('2 of 5 finished workflows failed');
  });

  it('not enough data, or a soak not elapsed, is unknown: exit 10', async () => {
    await registered('1.0.0', 'shop', 30 * 60_000);
    await finished('shop', '1.0.0', 'SUCCESS', 5, 60_000);
    const young = await cli(['--env', 'dev', '--version', '1.0.0', '--json']);
    expect(young.code).toBe(10);
    expect(JSON.parse(young.stdout)).toMatchObject({ verdict: 'unknown', reasons: [expect.stringMatching(/has run for 3\dm.* of its 1h soak/)] });
    const few = await cli(['--env', 'dev', '--version', '1.0.0', '--since', new Date(Date.now() - 2 * HOUR).toISOString(), '--json']);
    expect(JSON.parse(few.stdout).counts.success).toBe(5);
    const none = await cli(['--env', 'dev', '--version', '9.9.9', '--json']);
    expect(none.code).toBe(10);
    expect(JSON.parse(none.stdout).reasons).toEqual([
      expect.stringMatching(/not registered/),
      expect.stringMatching(/^Not enough data: 0 workflows succeeded in the window, the gate needs 3/),
    ]);
  });

  it('--version=V works as well, and --app defaults to the only application of the environment', async () => {
    await registered('1.0.0', 'shop', 2 * HOUR);
    await finished('shop', '1.0.0', 'SUCCESS', 3);
    const { code, stdout } = await cli(['--env', 'dev', '--version=1.0.0', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ app: 'shop', verdict: 'pass' });
  });

  it('refuses what the config does not know: exit 2 for an environment or application typo, 64 when --app is ambiguous', async () => {
    expect((await cli(['--env', 'stagign', '--version', '1.0.0'])).code).toBe(2);
    const typo = await cli(['--env', 'dev', '--app', 'shp', '--version', '1.0.0']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('use one of: shop, orders');
    expect((await cli(['--env', 'dev', '--app', 'orders', '--version', '1.0.0'])).code).toBe(2);
    const ambiguous = await cli(['--env', 'staging', '--version', '1.0.0']);
    expect(ambiguous.code).toBe(64);
    expect(ambiguous.stderr).toContain('pass --app with one of: shop, orders');
    expect((await cli(['--env', 'dev'])).code).toBe(64);
    expect((await cli(['--env', 'dev', '--version', '1.0.0', '--since', 'yesterday'])).code).toBe(64);
  });

  describe('fails closed: unknown, exit 10, no secret in any output', () => {
    async function expectUnknown(env: NodeJS.ProcessEnv, reason: RegExp, secret: string) {
      const { code, stdout, stderr } = await cli(['--env', 'dev', '--version', '1.0.0', '--json'], env);
      expect(code).toBe(10);
      const json = JSON.parse(stdout);
      expect(json).toMatchObject({ verdict: 'unknown', counts: null, readAt: null });
      expect(json.reasons[0]).toMatch(reason);
      expect(stderr).toMatch(/^what to do: /);
      for (const text of [stdout, stderr]) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(encodeURIComponent(secret));
      }
    }

    it('database down', async () => {
      const port = await freePort();
      await expectUnknown(
        { DBOS_DRAIN_DATABASE_URL: `postgresql://${reader.role}:${encodeURIComponent(reader.password)}@127.0.0.1:${port}/${sys.database}` },
        /connection-refused/,
        reader.password,
      );
    });

    it('wrong password', async () => {
      const url = new URL(reader.url);
      const wrong = `wrong-${randomBytes(8).toString('hex')}`;
      url.password = wrong;
      await expectUnknown({ DBOS_DRAIN_DATABASE_URL: url.toString() }, /authentication/, wrong);
      // The fix for this reason, not a generic one.
      expect((await cli(['--env', 'dev', '--version', '1.0.0'], { DBOS_DRAIN_DATABASE_URL: url.toString() })).stderr).toContain('reseal the drain reader URL');
    });

    it('schema missing', async () => {
      await pg.createDatabase('no_dbos_here');
      await pg.query(`GRANT CONNECT ON DATABASE no_dbos_here TO ${reader.role}`);
      await expectUnknown(
        { DBOS_DRAIN_DATABASE_URL: pg.url({ database: 'no_dbos_here', user: reader.role, password: reader.password }) },
        /schema-missing/,
        reader.password,
      );
    });

    it('reader not configured: neither variable is set', async () => {
      await expectUnknown({}, /neither DBOS_DRAIN_DATABASE_URL_DEV nor DBOS_DRAIN_DATABASE_URL is set/, reader.password);
    });

    it("the environment's own variable wins over the plain one, which may name another environment's database", async () => {
      const port = await freePort();
      const elsewhere = `postgresql://${reader.role}:${encodeURIComponent(reader.password)}@127.0.0.1:${port}/${sys.database}`;
      await registered('1.0.0', 'shop', 2 * HOUR);
      await finished('shop', '1.0.0', 'SUCCESS', 3);
      const own = await cli(['--env', 'dev', '--version', '1.0.0', '--json'], { DBOS_DRAIN_DATABASE_URL_DEV: reader.url, DBOS_DRAIN_DATABASE_URL: elsewhere });
      expect(own.code).toBe(0);
      expect(JSON.parse(own.stdout).verdict).toBe('pass');
      await expectUnknown({ DBOS_DRAIN_DATABASE_URL_DEV: elsewhere, DBOS_DRAIN_DATABASE_URL: reader.url }, /connection-refused/, reader.password);
    });
  });
});

describe('environments[].gate', () => {
  const config = (gate: string) =>
    `version: 1\nenvironments:\n  - name: dev\n    overlay: overlays/dev\n    gate: ${gate}\n  - name: prod\n    overlay: overlays/prod\n    promotionSoak: 2h\n`;

  it('defaults to at least 10 succeeded and an error ratio of at most 0.05', () => {
    const parsed = parseConfig('version: 1\nenvironments:\n  - name: dev\n    overlay: overlays/dev\n');
    expect(parsed.environments[0]!.gate).toEqual({ minSucceeded: 10, maxErrorRatio: 0.05 });
  });

  it('a typo, a ratio outside (0, 1) or a minSucceeded below 1 is a config error', () => {
    expect(() => parseConfig(config('{ minSucceded: 3 }'))).toThrow(/environments\[0\]\.gate: .*minSucceded/);
    expect(() => parseConfig(config('{ maxErrorRatio: 0 }'))).toThrow(/gate\.maxErrorRatio: must be above 0/);
    expect(() => parseConfig(config('{ maxErrorRatio: 1 }'))).toThrow(/gate\.maxErrorRatio: must be below 1/);
    expect(() => parseConfig(config('{ minSucceeded: 0 }'))).toThrow(/gate\.minSucceeded: must be at least 1/);
    expect(() => parseConfig(config('{ minSucceeded: 2.5 }'))).toThrow(/gate\.minSucceeded/);
    expect(() => parseConfig(config('{ soak: soon }'))).toThrow(/gate\.soak/);
  });

  it("soaks for gate.soak, else the next environment's promotionSoak, else (last) its own", () => {
    const a = parseConfig(config('{ minSucceeded: 3 }'));
    expect(gateSoakSeconds(a, a.environments[0]!)).toBe(7200);
    expect(gateSoakSeconds(a, a.environments[1]!)).toBe(7200);
    const b = parseConfig(config('{ soak: 30m }'));
    expect(gateSoakSeconds(b, b.environments[0]!)).toBe(1800);
    expect(b.environments[0]!.gate).toEqual({ minSucceeded: 10, maxErrorRatio: 0.05, soak: 1800 });
  });
});
