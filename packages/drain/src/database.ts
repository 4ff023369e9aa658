import pg from 'pg';
import { parseDatabaseUrl } from './connection-string.ts';
import { countDeadLettered } from './dead-letters.ts';
import { DrainUnknownError, scrub } from './errors.ts';
import { drainReaderGrantStatements, DRAIN_READER_ROLE } from './reader-role.ts';

/** In-flight workflow counts of one application version. `inFlight = pending + enqueued + delayed`. */
export interface VersionDrain {
  version: string;
  pending: number;
  enqueued: number;
  delayed: number;
  inFlight: number;
}

/**
 * A version's counts as the database reports them, plus its dead-lettered workflows (MAX_RECOVERY_ATTEMPTS_EXCEEDED):
 * not in flight, so not in `inFlight`, but unfinished work that only an executor of this version can resume.
 */
export interface DatabaseVersionDrain extends VersionDrain {
  deadLettered: number;
}

export interface DatabaseDrainStatus {
  source: 'database';
  /** ISO 8601 time of the read (the database's clock, from the read's own transaction). */
  readAt: string;
  /** Every registered version of the app plus any version that has in-flight or dead-lettered rows, newest registered first. */
  versions: DatabaseVersionDrain[];
  /** Newest row of dbos.application_versions for the app; null when none is registered or two tie. */
  latestVersion: string | null;
  /**
   * In-flight rows with no application_name (written before DBOS 5.x named owners, or by a nameless client).
   * They are already included in the per-version counts: such a row may be this app's, so it blocks retirement.
   */
  unowned: number;
  /**
   * In-flight rows with no application_version. DBOS lets the latest version dequeue them, so they are counted
   * in the latest version; when no latest is known any executor may take them, so they count in every version.
   */
  unversioned: number;
}

export interface ReadDrainStatusOptions {
  databaseUrl: string;
  appName: string;
  /** Versions to list even when they have no rows (e.g. the versions deployed from git). */
  versions?: readonly string[];
  signal?: AbortSignal;
  /** Connect and per-statement timeout. */
  timeoutMs?: number;
}

/** Anything with pg's `query` (a Client, a Pool, a PoolClient). */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/*
 * The status predicate is written as `status IN ('PENDING','ENQUEUED') OR status = 'DELAYED'` with literals inline so
 * the planner can match it to the two partial indexes (idx_workflow_status_in_flight_v2 and
 * idx_workflow_status_delayed) and combine them with a BitmapOr; `status IN (three)` matches neither and scans the
 * whole table. Only version and app name are parameters. The bench (bench/drain-query.ts) shows the plans.
 */
const IN_FLIGHT = `(status IN ('PENDING', 'ENQUEUED') OR status = 'DELAYED')`;
const OWNED_BY_APP = (p: string): string => `(application_name = ${p} OR application_name IS NULL)`;

const LATEST_VERSIONS_SQL = `
  SELECT version_name, version_timestamp
    FROM dbos.application_versions
   WHERE ${OWNED_BY_APP('$1')}
   ORDER BY version_timestamp DESC, version_name`;

/** Per-version listing: one pass over the in-flight partial indexes, grouped by version. */
export const PER_VERSION_SQL = `
  SELECT application_version AS version,
         count(*) FILTER (WHERE status = 'PENDING')::bigint  AS pending,
         count(*) FILTER (WHERE status = 'ENQUEUED')::bigint AS enqueued,
         count(*) FILTER (WHERE status = 'DELAYED')::bigint  AS delayed,
         count(*) FILTER (WHERE application_name IS NULL)::bigint AS unowned
    FROM dbos.workflow_status
   WHERE ${IN_FLIGHT}
     AND ${OWNED_BY_APP('$1')}
   GROUP BY application_version`;

/**
 * The exact single-version drain query. Rows with NULL application_version count when the version is the latest
 * (DBOS's dequeue rule) or when no latest is registered (then any executor may take them).
 */
export const SINGLE_VERSION_SQL = `
  WITH latest AS (
    SELECT version_name
      FROM dbos.application_versions
     WHERE ${OWNED_BY_APP('$2')}
     ORDER BY version_timestamp DESC
     LIMIT 1)
  SELECT count(*) FILTER (WHERE status = 'PENDING')::bigint  AS pending,
         count(*) FILTER (WHERE status = 'ENQUEUED')::bigint AS enqueued,
         count(*) FILTER (WHERE status = 'DELAYED')::bigint  AS delayed
    FROM dbos.workflow_status
   WHERE ${IN_FLIGHT}
     AND ${OWNED_BY_APP('$2')}
     AND (application_version = $1
          OR (application_version IS NULL
              AND (NOT EXISTS (SELECT 1 FROM latest) OR $1 = (SELECT version_name FROM latest))))`;

interface CountRow {
  pending: string;
  enqueued: string;
  delayed: string;
}

function toCount(value: unknown, what: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new DrainUnknownError('unexpected', `The database returned ${String(value)} for ${what}; expected a count.`);
  }
  return n;
}

function versionDrain(version: string, row: CountRow | undefined): VersionDrain {
  const pending = toCount(row?.pending ?? 0, 'pending');
  const enqueued = toCount(row?.enqueued ?? 0, 'enqueued');
  const delayed = toCount(row?.delayed ?? 0, 'delayed');
  return { version, pending, enqueued, delayed, inFlight: pending + enqueued + delayed };
}

function requireText(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new DrainUnknownError('invalid-input', `${what} is required and must be a non-empty string.`);
  }
  return value;
}

/** In-flight counts of one version, using an existing connection (the caller handles errors and transactions). */
export async function readVersionInFlight(db: Queryable, version: string, appName: string): Promise<VersionDrain> {
  requireText(version, 'version');
  requireText(appName, 'appName');
  const result = await db.query<CountRow>(SINGLE_VERSION_SQL, [version, appName]);
  return versionDrain(version, result.rows[0]);
}

/** Opens a connection, runs `work` in one read-only repeatable-read transaction, maps every failure to DrainUnknownError. */
export async function withDrainReadTransaction<T>(
  options: { databaseUrl: string; signal?: AbortSignal; timeoutMs?: number },
  work: (db: Queryable) => Promise<T>,
): Promise<T> {
  // Throws invalid-input without echoing the input; from here on only `connection.display` is ever shown.
  const connection = parseDatabaseUrl(options.databaseUrl);
  const databaseUrl = connection.url;
  const context: ErrorContext = {
    safeUrl: connection.display,
    database: connection.database,
    user: connection.user,
    secrets: connection.secrets,
  };
  if (options.signal?.aborted) {
    throw new DrainUnknownError('aborted', `The drain read of ${context.safeUrl} was cancelled before it started.`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    query_timeout: timeoutMs,
    application_name: 'dbos-gitops-drain',
  });
  // An error event on an idle client would otherwise crash the process; the awaited calls report it instead.
  client.on('error', () => undefined);
  let aborted = false;
  const onAbort = (): void => {
    aborted = true;
    // Ending the connection makes the pending query reject promptly.
    void client.end().catch(() => undefined);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    if (error instanceof DrainUnknownError) throw error;
    if (aborted) throw new DrainUnknownError('aborted', `The drain read of ${context.safeUrl} was cancelled.`);
    throw classifyDatabaseError(error, context);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => undefined);
  }
}

export async function readDrainStatus(options: ReadDrainStatusOptions): Promise<DatabaseDrainStatus> {
  const appName = requireText(options.appName, 'appName');
  const wanted = options.versions ?? [];
  for (const v of wanted) requireText(v, 'each entry of versions');
  return withDrainReadTransaction(options, async (db) => {
    const now = await db.query<{ now: Date }>('SELECT now() AS now');
    const registered = await db.query<{ version_name: string; version_timestamp: string }>(LATEST_VERSIONS_SQL, [appName]);
    const counts = await db.query<CountRow & { version: string | null; unowned: string }>(PER_VERSION_SQL, [appName]);
    const deadLettered = await countDeadLettered(db, appName);

    const first = registered.rows[0];
    const second = registered.rows[1];
    // Two versions registered at the same millisecond: DBOS's own "latest" is then arbitrary, so ours is unknown.
    const latestVersion = first && !(second && String(second.version_timestamp) === String(first.version_timestamp)) ? first.version_name : null;

    const byVersion = new Map<string, CountRow>();
    let unversionedRow: CountRow | undefined;
    let unowned = 0;
    for (const row of counts.rows) {
      unowned += toCount(row.unowned, 'unowned');
      if (row.version === null) unversionedRow = row;
      else byVersion.set(row.version, row);
    }

    const order: string[] = [];
    const seen = new Set<string>();
    const add = (v: string): void => {
      if (!seen.has(v)) {
        seen.add(v);
        order.push(v);
      }
    };
    for (const row of registered.rows) add(row.version_name);
    for (const v of wanted) add(v);
    for (const v of [...byVersion.keys()].sort()) add(v);
    for (const v of [...deadLettered.keys()].filter((key): key is string => key !== null).sort()) add(v);

    const unversioned = versionDrain('', unversionedRow);
    const versions = order.map((v): DatabaseVersionDrain => {
      const own = versionDrain(v, byVersion.get(v));
      const absorbsUnversioned = latestVersion === null || v === latestVersion;
      // A NULL-version dead letter resumes under the latest version (the same rule as NULL-version queued work).
      const dead = (deadLettered.get(v) ?? 0) + (absorbsUnversioned ? (deadLettered.get(null) ?? 0) : 0);
      if (!absorbsUnversioned || unversioned.inFlight === 0) return { ...own, deadLettered: dead };
      const pending = own.pending + unversioned.pending;
      const enqueued = own.enqueued + unversioned.enqueued;
      const delayed = own.delayed + unversioned.delayed;
      return { version: v, pending, enqueued, delayed, inFlight: pending + enqueued + delayed, deadLettered: dead };
    });

    const readAt = now.rows[0]?.now instanceof Date ? now.rows[0].now.toISOString() : new Date().toISOString();
    return {
      source: 'database',
      readAt,
      versions,
      latestVersion,
      unowned,
      unversioned: unversioned.inFlight,
    } satisfies DatabaseDrainStatus;
  });
}

/** Convenience: open, read one version with the exact single-version query, close. */
export async function readVersionInFlightAt(options: {
  databaseUrl: string;
  version: string;
  appName: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}): Promise<VersionDrain> {
  return withDrainReadTransaction(options, (db) => readVersionInFlight(db, options.version, options.appName));
}

interface ErrorContext {
  safeUrl: string;
  database: string;
  user: string;
  secrets: string[];
}

function grantHint(database: string): string {
  return `${drainReaderGrantStatements({ database }).join('; ')};`;
}

/** Maps a pg/network error to a DrainUnknownError whose message says what to do. Never includes the password. */
export function classifyDatabaseError(error: unknown, context: ErrorContext): DrainUnknownError {
  const err = (error ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  const raw = scrub(typeof err.message === 'string' ? err.message : String(error), context.secrets);
  const where = context.safeUrl;
  const make = (reason: ConstructorParameters<typeof DrainUnknownError>[0], message: string): DrainUnknownError =>
    new DrainUnknownError(reason, scrub(message, context.secrets));

  switch (code) {
    case 'ECONNREFUSED':
      return make(
        'connection-refused',
        `Connection to ${where} was refused: PostgreSQL is not listening there. Check the host and port, that the server is running, and that a NetworkPolicy allows the bot to reach it.`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return make('dns', `The host in ${where} could not be resolved (${code}). Check the host name in the database URL and the cluster DNS.`);
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return make('timeout', `Connection to ${where} failed (${code}). Check network reachability of the database.`);
    case '28P01':
    case '28000':
      return make(
        'authentication',
        `PostgreSQL rejected the credentials of user "${context.user}" at ${where} (${code}). Check the password in the drain reader's Secret and pg_hba.conf.`,
      );
    case '3D000':
      return make(
        'database-missing',
        `Database "${context.database}" does not exist at ${where}. Point the URL at the DBOS system database (the app's systemDatabaseUrl).`,
      );
    case '3F000':
    case '42P01':
      return make(
        'schema-missing',
        `The DBOS system tables are missing in "${context.database}" at ${where} (${raw}). Run \`dbos schema <url> --app-role <role>\` (TypeScript) or \`dbos migrate --app-role <role>\` (Python/Go) against this database, or point the URL at the right one.`,
      );
    case '42703':
      return make(
        'schema-outdated',
        `The DBOS system schema in "${context.database}" is older than this reader expects (${raw}). Upgrade it with the app's DBOS migration (DBOS 5.x adds application_name).`,
      );
    case '42501':
      return make(
        'permission-denied',
        `User "${context.user}" may not read the DBOS tables (${raw}). Grant read access to the drain reader: ${grantHint(context.database)} (role ${DRAIN_READER_ROLE} or the role in your URL).`,
      );
    case '57014':
      return make(
        'timeout',
        `The drain query at ${where} was cancelled by the statement timeout. Check database load; the query should take milliseconds with the DBOS partial indexes.`,
      );
    case '57P01':
    case '57P03':
    case '53300':
      return make('connection-refused', `PostgreSQL at ${where} is not accepting connections right now (${code}: ${raw}). Retry later.`);
  }
  if (/timeout|timed out/i.test(raw)) {
    return make('timeout', `Reading ${where} timed out (${raw}). Check that the database is reachable and not overloaded.`);
  }
  if (/terminated|ended|closed/i.test(raw)) {
    return make('connection-refused', `The connection to ${where} was closed unexpectedly (${raw}). Retry; check the server log.`);
  }
  return make('unexpected', `Reading the drain status from ${where} failed: ${raw}${code ? ` (${code})` : ''}.`);
}
