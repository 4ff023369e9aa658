import { DrainUnknownError } from './errors.ts';
import { resumeCommand } from './orphans.ts';
import type { Queryable } from './database.ts';

/**
 * A dead-lettered workflow: DBOS stopped recovering it after `max_recovery_attempts` and set its status to
 * MAX_RECOVERY_ATTEMPTS_EXCEEDED. It is not in flight (nothing runs or dequeues it), but it is unfinished work:
 * `dbos workflow resume` re-enqueues it on its OWN application version, so only an executor of that version can
 * ever finish it. Retiring the version takes that option away; `dbos workflow fork --application-version` is
 * the other one, restarting it under a new id on another version.
 */
export const DEAD_LETTERED_STATUS = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED';

/*
 * Both queries filter on `status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'` with the literal inline, which the planner
 * matches to DBOS's partial index idx_workflow_status_failed (status, created_at) WHERE status IN ('ERROR',
 * 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'): an index scan over dead letters only, never the whole table.
 * They are separate from the in-flight queries, whose BitmapOr over the in-flight partial indexes stays as it was.
 */

/** Per-version count of dead-lettered workflows of the app ($1); NULL-version rows come back as version NULL. */
export const DEAD_LETTERED_PER_VERSION_SQL = `
  SELECT application_version AS version, count(*)::bigint AS dead_lettered
    FROM dbos.workflow_status
   WHERE status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'
     AND (application_name = $1 OR application_name IS NULL)
   GROUP BY application_version`;

/** Dead-lettered workflows of one version ($1) of one app ($2), oldest first, at most $3, with the total count. */
export const DEAD_LETTERED_OF_VERSION_SQL = `
  SELECT workflow_uuid, name, updated_at, count(*) OVER ()::bigint AS total
    FROM dbos.workflow_status
   WHERE status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'
     AND application_version = $1
     AND (application_name = $2 OR application_name IS NULL)
   ORDER BY updated_at, workflow_uuid
   LIMIT $3`;

export interface DeadLetteredWorkflow {
  workflowId: string;
  workflowName: string | null;
  version: string;
  /** ISO time of the row's last update (when it was dead-lettered, unless touched since). */
  updatedAt: string;
  /** Re-enqueues it on its own version: needs a live executor of that version. */
  resume: string;
  /** Restarts it from the first step under a new id on the latest version; null when the latest is unknown. */
  fork: string | null;
}

export interface DeadLetteredOfVersion {
  /** Every dead-lettered workflow of the version, not only the listed ones. */
  count: number;
  /** The oldest ones, at most `limit`. */
  workflows: DeadLetteredWorkflow[];
}

function quote(value: string): string {
  return /^[A-Za-z0-9._:-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * `dbos workflow fork <id> --step 0 --application-version <v>` (the 5.3.0 CLI requires --step; 0 re-runs every
 * step, since checkpoints of the old version's code need not fit the new version's steps).
 */
export function forkCommand(workflowId: string, toVersion: string, sysDbUrlPlaceholder = '"$DBOS_SYSTEM_DATABASE_URL"'): string {
  return `dbos workflow fork ${quote(workflowId)} --step 0 --application-version ${quote(toVersion)} --sys-db-url ${sysDbUrlPlaceholder}`;
}

function toCount(value: unknown): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new DrainUnknownError('unexpected', `The database returned ${String(value)} for a dead-lettered count; expected a count.`);
  return n;
}

/** Dead-lettered workflows of the app per version; the key `null` holds rows without an application_version. */
export async function countDeadLettered(db: Queryable, appName: string): Promise<Map<string | null, number>> {
  const result = await db.query<{ version: string | null; dead_lettered: string }>(DEAD_LETTERED_PER_VERSION_SQL, [appName]);
  return new Map(result.rows.map((row) => [row.version, toCount(row.dead_lettered)]));
}

export async function findDeadLettered(
  db: Queryable,
  options: { appName: string; version: string; latestVersion: string | null; limit?: number; sysDbUrlPlaceholder?: string },
): Promise<DeadLetteredOfVersion> {
  if (!options.version || !options.appName) throw new DrainUnknownError('invalid-input', 'findDeadLettered needs a version and an appName.');
  const limit = options.limit ?? 20;
  const result = await db.query<{ workflow_uuid: string; name: string | null; updated_at: string; total: string }>(DEAD_LETTERED_OF_VERSION_SQL, [
    options.version,
    options.appName,
    limit,
  ]);
  const count = result.rows.length === 0 ? 0 : toCount(result.rows[0]!.total);
  const forkTo = options.latestVersion !== null && options.latestVersion !== options.version ? options.latestVersion : null;
  return {
    count,
    workflows: result.rows.map((row) => ({
      workflowId: row.workflow_uuid,
      workflowName: row.name,
      version: options.version,
      updatedAt: new Date(Number(row.updated_at)).toISOString(),
      resume: resumeCommand(row.workflow_uuid, options.sysDbUrlPlaceholder),
      fork: forkTo === null ? null : forkCommand(row.workflow_uuid, forkTo, options.sysDbUrlPlaceholder),
    })),
  };
}
