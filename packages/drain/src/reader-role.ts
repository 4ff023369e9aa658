/**
 * The least-privilege PostgreSQL role the drain reader connects as: it can count workflow rows and read the
 * registered versions, nothing else (no inputs/outputs of other tables, no writes).
 */
export const DRAIN_READER_ROLE = 'dbos_drain_reader';

export interface DrainReaderGrantOptions {
  /** The DBOS system database, e.g. `dbos_sys` or `<app>_dbos_sys`. */
  database: string;
  role?: string;
  /** The DBOS system schema (`dbos` unless the app configured another). */
  schema?: string;
}

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** GRANT statements only; run them as the owner of the DBOS schema (or a superuser) in the system database. */
export function drainReaderGrantStatements(options: DrainReaderGrantOptions): string[] {
  const role = ident(options.role ?? DRAIN_READER_ROLE);
  const schema = ident(options.schema ?? 'dbos');
  return [
    `GRANT CONNECT ON DATABASE ${ident(options.database)} TO ${role}`,
    `GRANT USAGE ON SCHEMA ${schema} TO ${role}`,
    `GRANT SELECT ON ${schema}."workflow_status" TO ${role}`,
    `GRANT SELECT ON ${schema}."application_versions" TO ${role}`,
  ];
}

/**
 * The full script an operator runs with psql. The password is never part of it: psql prompts for it with
 * `\password`, so it does not land in shell history or in this output.
 */
export function drainReaderRoleSql(options: DrainReaderGrantOptions): string {
  const role = ident(options.role ?? DRAIN_READER_ROLE);
  return [
    `-- Read-only role for the drain signal. Run in database ${ident(options.database)} as the DBOS schema owner.`,
    `CREATE ROLE ${role} LOGIN;`,
    `\\password ${role}`,
    ...drainReaderGrantStatements(options).map((s) => `${s};`),
    '',
  ].join('\n');
}
