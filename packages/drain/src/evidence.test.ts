import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DBOS_CLI, startDbosWorker, startPostgres, type PostgresServer, createDbosSystemDatabase, type DbosSystemDatabase } from '@dbos-gitops/testkit';
import { createDrainReader } from '../testing/drain-reader.ts';
import { registerVersion } from '../testing/test-rows.ts';
import { DrainUnknownError } from './errors.ts';
import { judgeEvidence, readVersionEvidence, verdictOfUnreadable, type VersionEvidence } from './evidence.ts';

const APP = 'shop';
const STATUSES = ['PENDING', 'ENQUEUED', 'DELAYED', 'SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'] as const;
const TERMINAL = new Set(['SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED']);
const IN_FLIGHT = new Set(['PENDING', 'ENQUEUED', 'DELAYED']);
const VERSIONS = ['1.0.0', '1.1.0', '2.0.0'];
const APPS = [APP, 'billing', null];
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let reader: { role: string; password: string; url: string };
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

interface Row {
  id: string;
  status: string;
  version: string | null;
  app: string | null;
  createdAt: number;
  /** Set for terminal rows as DBOS 5.x does (null: a row from a DBOS before completed_at). */
  completedAt: number | null;
}

/** Rows as DBOS writes them: updated_at = completed_at for a finished row, the created time for an in-flight one. */
async function insertRows(rows: readonly Row[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    const values: unknown[] = [];
    const tuples = chunk.map((r, j) => {
      values.push(r.id, r.status, r.version, r.app, r.createdAt, r.completedAt ?? r.createdAt, r.completedAt);
      const b = j * 7;
      return `($${b + 1}, $${b + 2}, 'wf', $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7})`;
    });
    await admin.query(
      `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, created_at, updated_at, completed_at)
       VALUES ${tuples.join(', ')}`,
      values,
    );
  }
}

/** mulberry32: a seeded RNG, so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function randomRows(seed: number, n: number, windowStart: number, windowEnd: number): Row[] {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const span = windowEnd - windowStart;
  return Array.from({ length: n }, (_, i) => {
    const status = pick(STATUSES);
    // Finished before, inside (both edges included) and after the window; some at the exact edges.
    const edge = next();
    const completedAt =
      edge < 0.05
        ? windowStart
        : edge < 0.1
          ? windowEnd
          : edge < 0.13
            ? windowStart - 1
            : edge < 0.16
              ? windowEnd + 1
              : windowStart - span + Math.floor(next() * 3 * span);
    const createdAt = completedAt - Math.floor(next() * 2 * HOUR);
    const terminal = TERMINAL.has(status);
    return {
      id: `wf-${seed}-${i}`,
      status,
      version: next() < 0.1 ? null : pick(VERSIONS),
      app: pick(APPS),
      createdAt,
      completedAt: terminal && next() > 0.05 ? completedAt : null,
    };
  });
}

/** The reference, in TypeScript, of what readVersionEvidence must return for (app, version). */
function reference(rows: readonly Row[], app: string, version: string, start: number, end: number) {
  const mine = rows.filter((r) => r.version === version);
  const inWindow = (r: Row) => r.completedAt !== null && r.completedAt >= start && r.completedAt <= end && TERMINAL.has(r.status);
  const owned = mine.filter((r) => r.app === app && inWindow(r));
  const n = (status: string) => owned.filter((r) => r.status === status).length;
  const counts = { success: n('SUCCESS'), error: n('ERROR'), maxRecoveryAttemptsExceeded: n('MAX_RECOVERY_ATTEMPTS_EXCEEDED'), cancelled: n('CANCELLED') };
  const finished = counts.success + counts.error + counts.maxRecoveryAttemptsExceeded + counts.cancelled;
  const live = mine.filter((r) => (r.app === app || r.app === null) && IN_FLIGHT.has(r.status));
  const oldest = live.length === 0 ? null : Math.min(...live.map((r) => r.createdAt));
  return {
    counts: { ...counts, finished },
    errorRatio: finished === 0 ? null : (counts.error + counts.maxRecoveryAttemptsExceeded) / finished,
    unownedFailures: mine.filter((r) => r.app === null && inWindow(r) && (r.status === 'ERROR' || r.status === 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')).length,
    inFlight: live.length,
    oldestInFlightAgeMs: oldest === null ? null : Math.max(0, end - oldest),
  };
}

describe('readVersionEvidence counts exactly one version of one application in the window', () => {
  it.each([1, 2, 3, 4, 5, 6])('matches the TypeScript reference over 600 random rows (seed %i)', async (seed) => {
    const start = T0;
    const end = T0 + 6 * HOUR;
    const rows = randomRows(seed, 600, start, end);
    await insertRows(rows);
    for (const app of [APP, 'billing']) {
      for (const version of VERSIONS) {
        const evidence = await readVersionEvidence({ databaseUrl: reader.url, appName: app, version, windowStart: new Date(start), now: new Date(end) });
        const expected = reference(rows, app, version, start, end);
        expect({ app, version, ...pickComparable(evidence) }).toEqual({ app, version, ...expected });
        expect(evidence.window).toEqual({ start: new Date(start).toISOString(), end: new Date(end).toISOString() });
      }
    }
  });

  it('the random rows hold every case the reference distinguishes', () => {
    const rows = [1, 2, 3, 4, 5, 6].flatMap((seed) => randomRows(seed, 600, T0, T0 + 6 * HOUR));
    for (const status of STATUSES) expect(rows.some((r) => r.status === status)).toBe(true);
    expect(rows.some((r) => r.app === null && r.status === 'ERROR' && r.completedAt !== null)).toBe(true);
    expect(rows.some((r) => r.version === null)).toBe(true);
    expect(rows.some((r) => r.completedAt === T0)).toBe(true);
    expect(rows.some((r) => r.completedAt === T0 + 6 * HOUR)).toBe(true);
    expect(rows.some((r) => r.completedAt === T0 - 1)).toBe(true);
    expect(rows.some((r) => r.completedAt === T0 + 6 * HOUR + 1)).toBe(true);
    expect(rows.some((r) => TERMINAL.has(r.status) && r.completedAt === null)).toBe(true);
  });

  it('ends the window at the database clock when no now is given, and reports the read time and registration', async () => {
    const { rows } = (await admin.query(`SELECT (EXTRACT(EPOCH FROM now()) * 1000)::bigint AS ms`)) as unknown as { rows: Array<{ ms: string }> };
    const dbNow = Number(rows[0]!.ms);
    await registerVersion(admin, '1.0.0', APP, dbNow - 5 * HOUR);
    await insertRows([
      { id: 'done', status: 'SUCCESS', version: '1.0.0', app: APP, createdAt: dbNow - 2 * HOUR, completedAt: dbNow - HOUR },
      { id: 'old', status: 'SUCCESS', version: '1.0.0', app: APP, createdAt: dbNow - 4 * HOUR, completedAt: dbNow - 3 * HOUR },
      { id: 'later', status: 'ERROR', version: '1.0.0', app: APP, createdAt: dbNow, completedAt: dbNow + HOUR },
      { id: 'live', status: 'ENQUEUED', version: '1.0.0', app: APP, createdAt: dbNow - 90 * 60_000, completedAt: null },
    ]);
    const evidence = await readVersionEvidence({ databaseUrl: reader.url, appName: APP, version: '1.0.0', windowStart: new Date(dbNow - 2 * HOUR) });
    expect(evidence.counts).toEqual({ success: 1, error: 0, maxRecoveryAttemptsExceeded: 0, cancelled: 0, finished: 1 });
    expect(evidence.registeredAt).toBe(new Date(dbNow - 5 * HOUR).toISOString());
    const end = Date.parse(evidence.window.end);
    expect(end).toBeGreaterThanOrEqual(dbNow);
    expect(end - dbNow).toBeLessThan(60_000);
    expect(Math.abs(Date.parse(evidence.readAt) - end)).toBeLessThan(2);
    expect(evidence.oldestInFlightAgeMs).toBe(end - (dbNow - 90 * 60_000));

    // No start: the window is the version's whole life since it registered, so the older success counts too.
    const whole = await readVersionEvidence({ databaseUrl: reader.url, appName: APP, version: '1.0.0', windowStart: null });
    expect(whole.window.start).toBe(new Date(dbNow - 5 * HOUR).toISOString());
    expect(whole.counts).toEqual({ success: 2, error: 0, maxRecoveryAttemptsExceeded: 0, cancelled: 0, finished: 2 });
  });

  it('a window since registration is empty for a version that never registered', async () => {
    await insertRows([{ id: 'x', status: 'SUCCESS', version: '3.0.0', app: APP, createdAt: T0, completedAt: T0 + 1 }]);
    const evidence = await readVersionEvidence({ databaseUrl: reader.url, appName: APP, version: '3.0.0', windowStart: null, now: new Date(T0 + HOUR) });
    expect(evidence.window).toEqual({ start: new Date(T0 + HOUR).toISOString(), end: new Date(T0 + HOUR).toISOString() });
    expect(evidence.counts.finished).toBe(0);
    expect(evidence.registeredAt).toBeNull();
  });

  it('reports an unregistered version as such, and refuses a window that ends before it starts', async () => {
    const evidence = await readVersionEvidence({
      databaseUrl: reader.url,
      appName: APP,
      version: '9.9.9',
      windowStart: new Date(T0),
      now: new Date(T0 + HOUR),
    });
    expect(evidence.registeredAt).toBeNull();
    expect(evidence.errorRatio).toBeNull();
    expect(evidence.oldestInFlightAgeMs).toBeNull();
    await expect(
      readVersionEvidence({ databaseUrl: reader.url, appName: APP, version: '1.0.0', windowStart: new Date(T0 + HOUR), now: new Date(T0) }),
    ).rejects.toMatchObject({ reason: 'invalid-input' });
  });
});

describe('readVersionEvidence over what a real DBOS executor writes', () => {
  it('counts the SUCCESS and CANCELLED workflows of the executor, in flight until they finish (completed_at as the SDK writes it)', async () => {
    const worker = startDbosWorker({ systemDatabaseUrl: sys.appUrl, appName: APP, version: '4.0.0', executorId: 'exec-4', enqueueMs: [50, 50, 50, 600_000] });
    try {
      await worker.waitFor('enqueued', 40_000);
      for (let i = 0; i < 200 && worker.finished.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
      expect(worker.finished).toHaveLength(3);
      const read = () => readVersionEvidence({ databaseUrl: reader.url, appName: APP, version: '4.0.0', windowStart: new Date(Date.now() - HOUR) });
      const running = await read();
      expect(running.counts).toEqual({ success: 3, error: 0, maxRecoveryAttemptsExceeded: 0, cancelled: 0, finished: 3 });
      expect(running.inFlight).toBe(1);
      expect(running.oldestInFlightAgeMs).toBeGreaterThanOrEqual(0);
      expect(running.registeredAt).not.toBeNull();
      // The same executor's version, seen as another application: none of it is that application's evidence.
      const other = await readVersionEvidence({ databaseUrl: reader.url, appName: 'billing', version: '4.0.0', windowStart: new Date(Date.now() - HOUR) });
      expect(other.counts.finished).toBe(0);

      const long = worker.enqueued.find((id) => !worker.finished.includes(id))!;
      // The URL goes through the environment, never argv (ps would show its password).
      await promisify(execFile)('sh', ['-c', `"$DBOS" workflow cancel ${long} --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"`], {
        env: { ...process.env, DBOS: DBOS_CLI, DBOS_SYSTEM_DATABASE_URL: sys.appUrl },
        timeout: 60_000,
      });
      const after = await read();
      expect(after.counts).toEqual({ success: 3, error: 0, maxRecoveryAttemptsExceeded: 0, cancelled: 1, finished: 4 });
      expect(after.inFlight).toBe(0);
      expect(after.oldestInFlightAgeMs).toBeNull();
      expect(after.errorRatio).toBe(0);
    } finally {
      await worker.stop();
    }
  });
});

function pickComparable(e: VersionEvidence) {
  return { counts: e.counts, errorRatio: e.errorRatio, unownedFailures: e.unownedFailures, inFlight: e.inFlight, oldestInFlightAgeMs: e.oldestInFlightAgeMs };
}

describe('readVersionEvidence fails closed', () => {
  async function unknown(promise: Promise<unknown>, reason: string, secret: string): Promise<void> {
    const error = await promise.then(
      () => new Error('expected DrainUnknownError'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DrainUnknownError);
    const e = error as DrainUnknownError;
    expect(e.reason).toBe(reason);
    expect(e.message).not.toContain(secret);
    const verdict = verdictOfUnreadable(e);
    expect(verdict.verdict).toBe('unknown');
    expect(verdict.reasons.join(' ')).not.toContain(secret);
  }
  const options = { appName: APP, version: '1.0.0', windowStart: new Date(T0), timeoutMs: 5_000 };

  it('database down: nothing listens on the port', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await unknown(
      readVersionEvidence({ ...options, databaseUrl: `postgresql://${reader.role}:${reader.password}@127.0.0.1:${port}/${sys.database}` }),
      'connection-refused',
      reader.password,
    );
  });

  it('wrong password', async () => {
    const url = new URL(reader.url);
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    url.password = wrong;
    await unknown(readVersionEvidence({ ...options, databaseUrl: url.toString() }), 'authentication', wrong);
  });

  it('schema missing: a database without the DBOS tables', async () => {
    await pg.createDatabase('not_dbos');
    await pg.query(`GRANT CONNECT ON DATABASE not_dbos TO ${reader.role}`);
    const url = pg.url({ database: 'not_dbos', user: reader.role, password: reader.password });
    await unknown(readVersionEvidence({ ...options, databaseUrl: url }), 'schema-missing', reader.password);
  });
});

/** Evidence with only the fields the verdict reads, registered long ago. */
function evidence(
  counts: { success?: number; error?: number; dead?: number; cancelled?: number; unowned?: number },
  registeredAt = '2026-01-01T00:00:00.000Z',
): VersionEvidence {
  const success = counts.success ?? 0;
  const error = counts.error ?? 0;
  const dead = counts.dead ?? 0;
  const cancelled = counts.cancelled ?? 0;
  const finished = success + error + dead + cancelled;
  return {
    appName: APP,
    version: '2.0.0',
    window: { start: '2026-11-01T00:00:00.000Z', end: '2026-11-02T00:00:00.000Z' },
    readAt: '2026-11-02T00:00:00.000Z',
    counts: { success, error, maxRecoveryAttemptsExceeded: dead, cancelled, finished },
    errorRatio: finished === 0 ? null : (error + dead) / finished,
    unownedFailures: counts.unowned ?? 0,
    inFlight: 0,
    oldestInFlightAgeMs: null,
    registeredAt,
  };
}

describe('judgeEvidence follows the thresholds exactly at their boundaries', () => {
  const gate = { minSucceeded: 10, maxErrorRatio: 0.05 };
  const soaked = { soakMs: HOUR };

  it('succeeded exactly minSucceeded passes; one fewer is unknown (not enough data)', () => {
    expect(judgeEvidence(evidence({ success: 10 }), gate, soaked).verdict).toBe('pass');
    const nine = judgeEvidence(evidence({ success: 9 }), gate, soaked);
    expect(nine.verdict).toBe('unknown');
    expect(nine.reasons).toEqual(['Not enough data: 9 workflows succeeded in the window, the gate needs 10.']);
  });

  it('error ratio exactly maxErrorRatio passes; just above fails at once', () => {
    expect(judgeEvidence(evidence({ success: 19, error: 1 }), gate, soaked)).toMatchObject({ verdict: 'pass' });
    expect(judgeEvidence(evidence({ success: 18, dead: 1, cancelled: 1 }), gate, soaked)).toMatchObject({ verdict: 'pass' });
    expect(judgeEvidence(evidence({ success: 38, error: 1, dead: 1 }), gate, soaked)).toMatchObject({ verdict: 'pass' });
    const above = judgeEvidence(evidence({ success: 18, error: 1 }), gate, soaked);
    expect(above.verdict).toBe('fail');
    expect(above.reasons[0]).toContain('error ratio 0.0526 is above');
    expect(judgeEvidence(evidence({ success: 37, error: 1, dead: 1 }), gate, soaked).verdict).toBe('fail');
  });

  it('fail needs no soak, and counts the successes still missing to reach minSucceeded as if they came now', () => {
    const young = { soakMs: 365 * 24 * HOUR };
    // 1 failure, 1 finished: 1 / (1 + 10) = 0.09 > 0.05.
    expect(judgeEvidence(evidence({ error: 1 }), gate, young).verdict).toBe('fail');
    // 1 failure, 9 successes: 1 / (10 + 1) = 0.09 > 0.05.
    expect(judgeEvidence(evidence({ success: 9, error: 1 }), gate, young).verdict).toBe('fail');
    // 1 failure, 9 successes, 10 cancelled: 1 / (20 + 1) = 0.048, can still come out at or under 0.05.
    const recoverable = judgeEvidence(evidence({ success: 9, error: 1, cancelled: 10 }), gate, young);
    expect(recoverable.verdict).toBe('unknown');
    // 1 failure, 9 successes, 9 cancelled: 1 / (19 + 1) = 0.05 exactly: not above, so not yet a fail.
    expect(judgeEvidence(evidence({ success: 9, error: 1, cancelled: 9 }), gate, young).verdict).toBe('unknown');
    // ... and 8 cancelled: 1 / (18 + 1) > 0.05.
    expect(judgeEvidence(evidence({ success: 9, error: 1, cancelled: 8 }), gate, young).verdict).toBe('fail');
    // Zero failures never fail.
    expect(judgeEvidence(evidence({ cancelled: 50 }), gate, young).verdict).toBe('unknown');
  });

  it('pass needs the soak: exactly elapsed passes, one millisecond short is unknown', () => {
    const since = new Date('2026-11-01T00:00:00.000Z');
    const now = new Date(since.getTime() + HOUR);
    expect(judgeEvidence(evidence({ success: 10 }), gate, { soakMs: HOUR, versionSince: since, now }).verdict).toBe('pass');
    const short = judgeEvidence(evidence({ success: 10 }), gate, { soakMs: HOUR, versionSince: since, now: new Date(now.getTime() - 1) });
    expect(short).toEqual({ verdict: 'unknown', reasons: ['Version 2.0.0 has run for 59m 59s of its 1h soak.'] });
    // Default timing: the version's registration and the read time of the evidence.
    expect(judgeEvidence(evidence({ success: 10 }, '2026-11-01T23:00:00.000Z'), gate, { soakMs: HOUR }).verdict).toBe('pass');
    expect(judgeEvidence(evidence({ success: 10 }, '2026-11-01T23:00:00.001Z'), gate, { soakMs: HOUR }).verdict).toBe('unknown');
  });

  it('an unregistered version cannot pass: its soak cannot be measured', () => {
    const result = judgeEvidence({ ...evidence({ success: 50 }), registeredAt: null }, gate, soaked);
    expect(result.verdict).toBe('unknown');
    expect(result.reasons[0]).toMatch(/not registered in dbos\.application_versions/);
  });

  it('failures without an application name block a pass they could tip, but never fail the version', () => {
    // 19 ok + 1 error = 0.05; one more unowned failure would make it 2/21 > 0.05.
    const tipped = judgeEvidence(evidence({ success: 19, error: 1, unowned: 1 }), gate, soaked);
    expect(tipped.verdict).toBe('unknown');
    expect(tipped.reasons[0]).toMatch(/1 failed workflows of version 2\.0\.0 carry no application name/);
    // 39 ok + 1 error, 1 unowned: 2/41 = 0.0488 still passes.
    expect(judgeEvidence(evidence({ success: 39, error: 1, unowned: 1 }), gate, soaked).verdict).toBe('pass');
    // Many unowned failures alone: never a fail.
    expect(judgeEvidence(evidence({ success: 10, unowned: 100 }), gate, soaked).verdict).toBe('unknown');
  });

  it('a custom gate moves both boundaries', () => {
    const strict = { minSucceeded: 3, maxErrorRatio: 0.25 };
    expect(judgeEvidence(evidence({ success: 3, error: 1 }), strict, soaked).verdict).toBe('pass');
    expect(judgeEvidence(evidence({ success: 3, error: 2 }), strict, soaked).verdict).toBe('fail');
    // 1 / (3 finished + 1 missing) = 0.25 exactly: not above, so not a fail; too few successes to pass.
    expect(judgeEvidence(evidence({ success: 2, error: 1 }), strict, soaked).verdict).toBe('unknown');
    expect(judgeEvidence(evidence({ success: 2 }), strict, soaked).verdict).toBe('unknown');
  });

  it('lists every reason that blocked a pass', () => {
    const result = judgeEvidence({ ...evidence({}), registeredAt: '2026-11-01T23:30:00.000Z' }, gate, soaked);
    expect(result).toEqual({
      verdict: 'unknown',
      reasons: [
        'Version 2.0.0 has run for 30m of its 1h soak.',
        'Not enough data: 0 workflows succeeded in the window, the gate needs 10 (none finished in it; rows a DBOS without the completed_at column wrote are not counted).',
      ],
    });
  });
});
