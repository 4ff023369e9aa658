/** Anything that runs SQL with parameters (a pg Client, or the testkit server's query). */
export interface SqlRunner {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/** A workflow_status row as tests write it: only the columns the drain reader looks at. */
export interface TestWorkflowRow {
  id: string;
  status: string;
  version: string | null;
  app: string | null;
  executor?: string | null;
  updatedAt?: number;
}

/** Inserts rows into the real dbos.workflow_status with one multi-row INSERT. */
export async function insertWorkflowRows(db: SqlRunner, rows: readonly TestWorkflowRow[]): Promise<void> {
  if (rows.length === 0) return;
  const values: unknown[] = [];
  const tuples = rows.map((r, i) => {
    values.push(r.id, r.status, r.version, r.app, r.executor ?? null, r.updatedAt ?? Date.now());
    const b = i * 6;
    return `($${b + 1}, $${b + 2}, 'test_workflow', $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6})`;
  });
  await db.query(
    `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, executor_id, updated_at)
     VALUES ${tuples.join(', ')}`,
    values,
  );
}

export async function registerVersion(db: SqlRunner, version: string, app: string | null, timestampMs: number): Promise<void> {
  await db.query(`INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name) VALUES ($1, $2, $3, $4)`, [
    `${app ?? 'unclaimed'}-${version}`,
    version,
    timestampMs,
    app,
  ]);
}

/** What a gate reads for one version, as evidence tests set it up (ages on the database clock, in ms). */
export interface FinishedWorkflowsSeed {
  app: string;
  /** Versions of `app` DBOS has registered, each with how long ago. */
  registered: Record<string, number>;
  /** The version the workflows ran on. */
  version: string;
  /** How many workflows finished with each status. */
  statuses: Record<string, number>;
  /** When they finished (`updated_at` = `completed_at`, as DBOS 5.x stamps a final status), and started. */
  finishedAgoMs: number;
  startedAgoMs: number;
  executor?: string;
}

/** Replaces every workflow and registration in the system database with `seed`, in one statement per table. */
export async function seedFinishedWorkflows(db: SqlRunner, seed: FinishedWorkflowsSeed): Promise<void> {
  const now = '(EXTRACT(EPOCH FROM now()) * 1000)::bigint';
  await db.query('TRUNCATE dbos.workflow_status CASCADE');
  await db.query('DELETE FROM dbos.application_versions');
  for (const [version, agoMs] of Object.entries(seed.registered))
    await db.query(
      `INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name) VALUES ($1, $1, ${now} - $2::bigint, $3)`,
      [version, agoMs, seed.app],
    );
  for (const [status, count] of Object.entries(seed.statuses))
    await db.query(
      `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, executor_id, created_at, updated_at, completed_at)
       SELECT 'wf-' || lower($1) || '-' || g, $1, 'checkout', $2, $3, $4, ${now} - $5::bigint, ${now} - $6::bigint, ${now} - $6::bigint
         FROM generate_series(1, $7::int) AS g`,
      [status, seed.version, seed.app, seed.executor ?? 'executor-1', seed.startedAgoMs, seed.finishedAgoMs, count],
    );
}
