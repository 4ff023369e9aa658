import {
  DrainUnknownError,
  findDeadLettered,
  findOrphans,
  findStalledPending,
  readDrainStatusFromConductor,
  readVersionInFlight,
  readVersionEvidence,
  readExecutorsSignal,
  describeConnectionString,
  SINGLE_VERSION_SQL,
  withDrainReadTransaction,
  type DeadLetteredOfVersion,
  type OrphanedWorkflow,
  type EvidenceSignal,
  type Queryable,
  type VersionEvidence,
} from '@dbos-gitops/drain';
import type { AppConfig } from '../../config/schema.ts';
import { BotError } from '../../errors.ts';

/**
 * The drain signal as the version tasks see it: per version, its in-flight counts AND since when nothing of it has
 * changed, both from ONE read-only repeatable-read transaction, so the two facts describe the same instant.
 *
 * Why the quiet period can be read from the database instead of remembered between runs: DBOS 5.3 sets
 * `workflow_status.updated_at` to the database's own `now()` in every statement that changes a row's status
 * (`updateWorkflowStatus`, dequeue, recovery, cancel, resume, record output/error). A workflow that was PENDING,
 * ENQUEUED or DELAYED at any moment after T and is not in flight now must have left that state after T, so its row
 * carries `updated_at > T`. Hence: zero rows in flight now AND no row of the version touched after T ⇒ zero in flight
 * during all of (T, now]. One successful read proves the whole interval; no history, no writes, no local state.
 * The only thing that can erase that evidence is deleting rows (DBOS garbage collection / `dbos workflow delete`),
 * and DBOS deletes only finished workflows: work that finished, which retirement does not need to wait for.
 */

/** Newest change of any row of the version, and when the version was registered; both in epoch ms of the DB clock. */
export const QUIET_SINCE_SQL = `
  SELECT (SELECT max(GREATEST(updated_at, created_at))
            FROM dbos.workflow_status
           WHERE application_version = $1
             AND (application_name = $2 OR application_name IS NULL))::bigint AS last_row_change_ms,
         (SELECT max(version_timestamp)
            FROM dbos.application_versions
           WHERE version_name = $1
             AND (application_name = $2 OR application_name IS NULL))::bigint AS registered_ms`;

const LATEST_SQL = `
  SELECT version_name, version_timestamp
    FROM dbos.application_versions
   WHERE (application_name = $1 OR application_name IS NULL)
   ORDER BY version_timestamp DESC, version_name
   LIMIT 2`;

export interface VersionDrainReading {
  version: string;
  pending: number;
  enqueued: number;
  delayed: number;
  inFlight: number;
  /** ISO time since which no workflow row of this version changed (or it was registered); null: the database has
   * never seen this version (no row, not registered), which proves nothing. */
  quietSince: string | null;
  /** PENDING work that looks stranded: executor known to be gone (`confirmed`), or untouched for a quiet period. */
  orphans: Array<OrphanedWorkflow & { confirmed: boolean }>;
  /** MAX_RECOVERY_ATTEMPTS_EXCEEDED workflows of this version: not in flight, but only its executors can resume them. */
  deadLettered: DeadLetteredOfVersion;
}

export interface DrainReading {
  /** `database`, or `conductor+database` when Conductor's counts were required to agree. */
  source: string;
  /** Where it was read, password removed. */
  describe: string;
  /** The database's clock at the read. */
  readAt: string;
  /** Newest registered version of the app; null when none or two tie. */
  latestVersion: string | null;
  versions: VersionDrainReading[];
  /** The exact SQL used, for the PR body. */
  queries: { inFlight: string; quietSince: string };
}

export interface DrainReadRequest {
  appName: string;
  /** DBOS__APPVERSION values to read. */
  versions: readonly string[];
  /** PENDING rows idle longer than this are reported as possibly orphaned. */
  quietPeriodMs: number;
}

/** The evidence of one version over a window (sources/drain/evidence.ts judges it). */
export interface EvidenceReadRequest {
  appName: string;
  version: string;
  /** null: since the version registered. */
  windowStart: Date | null;
  signal?: AbortSignal;
}

/** What version-retire reads, and version-add's promotion gate; the tasks never open a connection themselves. */
export interface DrainSource {
  readonly describe: string;
  read(request: DrainReadRequest): Promise<DrainReading>;
  /** Absent on a reader that cannot read evidence: the gate's verdict is then unknown (fail closed). Fails with DrainReadError. */
  readEvidence?(request: EvidenceReadRequest): Promise<VersionEvidence>;
  /** Conductor executors connected for exactly `version` of the Conductor application `appName`; absent on a reader
   * without Conductor (the signal is then "not read"). Never throws for an unreadable Conductor: that is the signal. */
  readExecutors?(appName: string, version: string): Promise<EvidenceSignal>;
}

/** The drain could not be read with certainty. Retirement fails closed: no PR, non-zero exit. */
/** The reason of a DrainReadError whose source was never configured (as opposed to configured but unreadable). */
export const NOT_CONFIGURED = 'not-configured';

export class DrainReadError extends BotError {
  readonly exitCode = 10;
  constructor(
    message: string,
    readonly reason: string,
    hint = 'fix the drain reader (database URL secret, network policy, DBOS schema, Conductor) and run again; nothing was proposed, no version was retired',
  ) {
    super(message, hint);
  }
}

function toMs(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

export interface DatabaseDrainSourceOptions {
  databaseUrl: string;
  /** Executor ids known to be alive (Conductor `GET .../executors`, the version's pods). When given, PENDING rows of
   * any other executor are reported as orphaned for certain. */
  liveExecutorIds?: () => Promise<readonly string[]>;
  timeoutMs?: number;
}

async function readInTransaction(
  db: Queryable,
  request: DrainReadRequest,
  liveExecutorIds: readonly string[] | null,
): Promise<Omit<DrainReading, 'source' | 'describe' | 'queries'>> {
  const now = await db.query<{ now: Date }>('SELECT now() AS now');
  const latest = await db.query<{ version_name: string; version_timestamp: string }>(LATEST_SQL, [request.appName]);
  const [first, second] = latest.rows;
  const latestVersion = first && !(second && String(second.version_timestamp) === String(first.version_timestamp)) ? first.version_name : null;
  const versions: VersionDrainReading[] = [];
  for (const version of request.versions) {
    const counts = await readVersionInFlight(db, version, request.appName);
    const quiet = await db.query<{ last_row_change_ms: string | null; registered_ms: string | null }>(QUIET_SINCE_SQL, [version, request.appName]);
    const candidates = [toMs(quiet.rows[0]?.last_row_change_ms), toMs(quiet.rows[0]?.registered_ms)].filter((ms): ms is number => ms !== null);
    const quietSince = candidates.length > 0 ? new Date(Math.max(...candidates)).toISOString() : null;
    let orphans: VersionDrainReading['orphans'] = [];
    if (counts.pending > 0) {
      if (liveExecutorIds) {
        orphans = (await findOrphans(db, { appName: request.appName, version, liveExecutorIds, limit: 20 })).map((orphan) => ({ ...orphan, confirmed: true }));
      } else {
        const stalled = await findStalledPending(db, { appName: request.appName, version, olderThanMs: request.quietPeriodMs, limit: 20 });
        orphans = stalled.map((orphan) => ({ ...orphan, confirmed: false }));
      }
    }
    const deadLettered = await findDeadLettered(db, { appName: request.appName, version, latestVersion, limit: 20 });
    versions.push({ ...counts, quietSince, orphans, deadLettered });
  }
  const readAt = now.rows[0]?.now instanceof Date ? now.rows[0].now.toISOString() : new Date().toISOString();
  return { readAt, latestVersion, versions };
}

function asReadError(error: unknown, where: string, what = 'the drain status'): never {
  // The reader's own hint names the fix for this reason (reseal the URL, run the migration, ...); ours adds that
  // nothing was proposed.
  if (error instanceof DrainUnknownError)
    throw new DrainReadError(
      `${what} could not be read from ${where}: ${error.message}`,
      error.reason,
      `${error.hint}; nothing was proposed, no version was retired`,
    );
  if (error instanceof BotError) throw error;
  // Never echo a raw error that might carry a URL with its password.
  throw new DrainReadError(`${what} could not be read from ${where}: unexpected ${(error as Error)?.name ?? 'error'}`, 'unexpected');
}

export class DatabaseDrainSource implements DrainSource {
  readonly describe: string;
  constructor(private readonly options: DatabaseDrainSourceOptions) {
    this.describe = `database ${describeConnectionString(options.databaseUrl)}`;
  }

  async read(request: DrainReadRequest): Promise<DrainReading> {
    try {
      const live = this.options.liveExecutorIds ? await this.options.liveExecutorIds() : null;
      const result = await withDrainReadTransaction(
        { databaseUrl: this.options.databaseUrl, ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}) },
        (db) => readInTransaction(db, request, live),
      );
      return { source: 'database', describe: this.describe, ...result, queries: { inFlight: SINGLE_VERSION_SQL.trim(), quietSince: QUIET_SINCE_SQL.trim() } };
    } catch (error) {
      return asReadError(error, this.describe);
    }
  }

  async readEvidence(request: EvidenceReadRequest): Promise<VersionEvidence> {
    try {
      return await readVersionEvidence({
        databaseUrl: this.options.databaseUrl,
        appName: request.appName,
        version: request.version,
        windowStart: request.windowStart,
        ...(request.signal ? { signal: request.signal } : {}),
        ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
      });
    } catch (error) {
      return asReadError(error, this.describe, 'the evidence');
    }
  }
}

/**
 * Conductor as a second witness: its in-flight counts must be read successfully and agree that a version is empty.
 * Conductor does not say since when a version has been empty, so the quiet period still comes from the database.
 * 503/502 (no executor connected) is unknown, never zero.
 */
export class ConductorCheckedDrainSource implements DrainSource {
  readonly describe: string;
  constructor(
    private readonly database: DrainSource,
    private readonly conductor: { baseUrl: string; org: string; apiKey: string; fetch?: typeof fetch },
  ) {
    this.describe = `${database.describe} checked by Conductor ${describeConnectionString(conductor.baseUrl)}`;
  }

  async read(request: DrainReadRequest): Promise<DrainReading> {
    let fromConductor: Awaited<ReturnType<typeof readDrainStatusFromConductor>>;
    try {
      fromConductor = await readDrainStatusFromConductor({
        baseUrl: this.conductor.baseUrl,
        org: this.conductor.org,
        app: request.appName,
        apiKey: this.conductor.apiKey,
        versions: request.versions,
        ...(this.conductor.fetch ? { fetch: this.conductor.fetch } : {}),
      });
    } catch (error) {
      return asReadError(error, `Conductor ${describeConnectionString(this.conductor.baseUrl)}`);
    }
    const reading = await this.database.read(request);
    // The larger count wins: either witness seeing work keeps the version.
    const versions = reading.versions.map((version) => {
      const other = fromConductor.versions.find((candidate) => candidate.version === version.version);
      if (!other) throw new DrainReadError(`Conductor did not report version ${version.version}`, 'conductor-malformed');
      const pending = Math.max(version.pending, other.pending);
      const enqueued = Math.max(version.enqueued, other.enqueued);
      const delayed = Math.max(version.delayed, other.delayed);
      return { ...version, pending, enqueued, delayed, inFlight: pending + enqueued + delayed };
    });
    if (fromConductor.truncated)
      throw new DrainReadError('Conductor returned more pages than the reader reads; its counts are incomplete', 'conductor-malformed');
    return { ...reading, source: 'conductor+database', describe: this.describe, versions };
  }

  /** Conductor counts no finished workflows: the evidence is the database's alone. */
  async readEvidence(request: EvidenceReadRequest): Promise<VersionEvidence> {
    if (!this.database.readEvidence) throw new DrainReadError(`${this.database.describe} cannot read the evidence of a version`, 'invalid-input');
    return this.database.readEvidence(request);
  }

  /** Conductor lists each executor with its appVersion, so it can say how many of exactly one version are connected. */
  async readExecutors(appName: string, version: string): Promise<EvidenceSignal> {
    return readExecutorsSignal({ ...this.conductor, app: appName, version });
  }
}

/**
 * The drain source the config asks for, with connection settings from environment variables whose NAMES the config
 * gives (values never live in git). Missing settings are a DrainReadError: unknown, so nothing is retired.
 */
export function drainSourceFromEnv(config: AppConfig, env: NodeJS.ProcessEnv, extra: { conductorOrgEnv?: string } = {}): DrainSource {
  const drain = config.drain;
  const databaseUrl = env[drain.databaseUrlEnv];
  if (!databaseUrl) {
    throw new DrainReadError(
      `environment variable ${drain.databaseUrlEnv} is not set, so the drain status cannot be read`,
      NOT_CONFIGURED,
      `set ${drain.databaseUrlEnv} to the drain reader's URL of the DBOS system database (in the cluster: Secret dbos-drain-reader, key database-url)`,
    );
  }
  const database = new DatabaseDrainSource({ databaseUrl });
  if (drain.source === 'database') return database;
  const apiKey = env[drain.conductorApiKeyEnv];
  const orgEnv = extra.conductorOrgEnv ?? 'CONDUCTOR_ORG';
  const org = env[orgEnv];
  if (!drain.conductorUrl || !apiKey || !org) {
    const missing = [!drain.conductorUrl ? `drain.conductorUrl of ${config.name} under apps:` : '', !apiKey ? drain.conductorApiKeyEnv : '', !org ? orgEnv : '']
      .filter(Boolean)
      .join(', ');
    throw new DrainReadError(
      `drain source is conductor but ${missing} is not set`,
      'invalid-input',
      `set ${missing}, or use drain.source: database for ${config.name}`,
    );
  }
  return new ConductorCheckedDrainSource(database, { baseUrl: drain.conductorUrl, org, apiKey });
}
