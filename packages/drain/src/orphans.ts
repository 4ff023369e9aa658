import { DrainUnknownError } from './errors.ts';
import { withDrainReadTransaction, type Queryable } from './database.ts';

/**
 * A PENDING workflow whose executor is gone. With Conductor it is reassigned to a live executor of the same version;
 * without it only a process with the same executor id recovers it. Either way it keeps its version busy, so it is
 * never counted as drained; it is reported with its age and the command that moves it on.
 */
export interface OrphanedWorkflow {
  workflowId: string;
  executorId: string | null;
  version: string;
  workflowName: string | null;
  /** ISO time of the row's last update. */
  updatedAt: string;
  ageMs: number;
  /** The command that re-enqueues it for a live executor of the same version. */
  fix: string;
}

export interface ReadOrphansOptions {
  appName: string;
  version: string;
  /** Executor ids known to be alive (from Conductor `GET .../executors` or the version's running pods). */
  liveExecutorIds: readonly string[];
  /** At most this many rows (oldest first). */
  limit?: number;
  /** Used only in the `fix` text; never a URL with a password. Default `$DBOS_SYSTEM_DATABASE_URL`. */
  sysDbUrlPlaceholder?: string;
}

/** PENDING rows of one version of one application ($1, $2), oldest first; `narrow` adds the last predicate ($3). */
function pendingOfVersionSql(narrow: string): string {
  return `
  SELECT workflow_uuid, executor_id, application_version, name, updated_at,
         (EXTRACT(EPOCH FROM now()) * 1000)::bigint AS now_ms
    FROM dbos.workflow_status
   WHERE status = 'PENDING'
     AND application_version = $1
     AND (application_name = $2 OR application_name IS NULL)
     AND ${narrow}
   ORDER BY updated_at
   LIMIT $4`;
}

/** PENDING rows whose executor is not among the live ones ($3). */
export const ORPHANS_SQL = pendingOfVersionSql('(executor_id IS NULL OR NOT (executor_id = ANY($3::text[])))');

/**
 * `dbos workflow resume` (TypeScript CLI: `--sys-db-url`; Python CLI: `--sys-db-url`; Go: `dbos workflow resume`)
 * re-enqueues the workflow with its version kept, so a live executor of that version picks it up.
 */
export function resumeCommand(workflowId: string, sysDbUrlPlaceholder = '"$DBOS_SYSTEM_DATABASE_URL"'): string {
  const quoted = /^[A-Za-z0-9._:-]+$/.test(workflowId) ? workflowId : `'${workflowId.replace(/'/g, `'\\''`)}'`;
  return `dbos workflow resume ${quoted} --sys-db-url ${sysDbUrlPlaceholder}`;
}

/** PENDING rows of the version untouched for longer than `$3` ms: maybe an executor that is gone. What to report when
 * the live executors are not known; unlike {@link ORPHANS_SQL} it cannot confirm the executor is gone. */
export const STALLED_PENDING_SQL = pendingOfVersionSql('updated_at < (EXTRACT(EPOCH FROM now()) * 1000)::bigint - $3');

interface PendingRow {
  workflow_uuid: string;
  executor_id: string | null;
  application_version: string;
  name: string | null;
  updated_at: string;
  now_ms: string;
}

function toOrphan(row: PendingRow, sysDbUrlPlaceholder?: string): OrphanedWorkflow {
  const updated = Number(row.updated_at);
  const nowMs = Number(row.now_ms);
  return {
    workflowId: row.workflow_uuid,
    executorId: row.executor_id,
    version: row.application_version,
    workflowName: row.name,
    updatedAt: new Date(updated).toISOString(),
    ageMs: Math.max(0, nowMs - updated),
    fix: resumeCommand(row.workflow_uuid, sysDbUrlPlaceholder),
  };
}

export async function findOrphans(db: Queryable, options: ReadOrphansOptions): Promise<OrphanedWorkflow[]> {
  if (!options.version || !options.appName) {
    throw new DrainUnknownError('invalid-input', 'findOrphans needs a version and an appName.');
  }
  const limit = options.limit ?? 100;
  const result = await db.query<PendingRow>(ORPHANS_SQL, [options.version, options.appName, [...options.liveExecutorIds], limit]);
  return result.rows.map((row) => toOrphan(row, options.sysDbUrlPlaceholder));
}

/** PENDING workflows of the version whose row has not changed for `olderThanMs`: reported (with the fix) as possibly
 * stranded when the live executors are unknown. */
export async function findStalledPending(
  db: Queryable,
  options: { appName: string; version: string; olderThanMs: number; limit?: number; sysDbUrlPlaceholder?: string },
): Promise<OrphanedWorkflow[]> {
  if (!options.version || !options.appName) {
    throw new DrainUnknownError('invalid-input', 'findStalledPending needs a version and an appName.');
  }
  const result = await db.query<PendingRow>(STALLED_PENDING_SQL, [options.version, options.appName, Math.round(options.olderThanMs), options.limit ?? 100]);
  return result.rows.map((row) => toOrphan(row, options.sysDbUrlPlaceholder));
}

export async function readOrphans(
  options: ReadOrphansOptions & { databaseUrl: string; signal?: AbortSignal; timeoutMs?: number },
): Promise<OrphanedWorkflow[]> {
  return withDrainReadTransaction(options, (db) => findOrphans(db, options));
}
