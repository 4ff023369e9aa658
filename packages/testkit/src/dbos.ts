import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DRAIN_READER_ROLE, drainReaderGrantStatements } from '../../drain/src/reader-role.ts';
import type { PostgresServer } from './postgres.ts';

/** The real `dbos` CLI shipped by @dbos-inc/dbos-sdk (a testkit devDependency). */
export const DBOS_CLI = fileURLToPath(new URL('../node_modules/.bin/dbos', import.meta.url));

export interface DbosSystemDatabase {
  database: string;
  appRole: string;
  appPassword: string;
  /** URL for the application role (what executors use). */
  appUrl: string;
  /** Superuser URL of the system database. */
  adminUrl: string;
}

export class DbosHarnessError extends Error {
  override readonly name = 'DbosHarnessError';
}

function runCli(args: string[], secrets: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(DBOS_CLI, args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      let text = `${stdout}\n${stderr}`;
      for (const s of secrets) text = text.split(s).join('***');
      reject(new DbosHarnessError(`dbos ${args[0]} failed: ${text.slice(-2000)}`));
    });
  });
}

/**
 * Creates the DBOS system database with the real CLI (`dbos schema <admin-url> --app-role <role>`), i.e. the exact
 * tables, indexes and grants an application gets in production.
 */
export async function createDbosSystemDatabase(
  server: PostgresServer,
  options: { database?: string; appRole?: string } = {},
): Promise<DbosSystemDatabase> {
  const database = options.database ?? 'dbos_sys';
  const appRole = options.appRole ?? 'dbos_app';
  const appPassword = await server.createRole(appRole);
  const adminUrl = server.url({ database });
  const superPassword = new URL(adminUrl).password;
  await runCli(['schema', adminUrl, '--app-role', appRole], [superPassword, encodeURIComponent(superPassword)]);
  return { database, appRole, appPassword, appUrl: server.url({ database, user: appRole, password: appPassword }), adminUrl };
}

/** Creates the drain reader role with exactly the grants the product prints for operators; returns its URL. */
export async function createDrainReader(
  server: PostgresServer,
  database: string,
  role: string = DRAIN_READER_ROLE,
): Promise<{ role: string; password: string; url: string }> {
  const password = await server.createRole(role);
  for (const statement of drainReaderGrantStatements({ database, role })) await server.query(statement, [], database);
  return { role, password, url: server.url({ database, user: role, password }) };
}
