// The drain reader fixture lives here rather than in testkit because it needs this package's production grants,
// and testkit depending on drain while drain's tests depend on testkit would be a workspace cycle pnpm refuses.
import type { PostgresServer } from '@dbos-gitops/testkit';
import { DRAIN_READER_ROLE, drainReaderGrantStatements } from '../src/reader-role.ts';

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
