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
