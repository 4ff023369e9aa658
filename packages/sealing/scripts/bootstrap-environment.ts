/**
 * Bootstraps a NEW environment's full secret set, the platform's into overlays/<env>/platform/secrets/ and the first
 * application's (dbos-app: database URL, Conductor API key) into overlays/<env>/apps/dbos-app/secrets/, sealed for the environment's
 * certificate (clusters/<env>/sealed-secrets-cert.pem, from fetch-cert):
 *  - random passwords for the Conductor role, the app role, the drain reader role (and the admin role if asked);
 *    the drain reader's URL is sealed twice, for the bot (dbos-drain-reader) and for KEDA in its own namespace
 *    (dbos-drain-reader-keda, read by base/keda-auth's ClusterTriggerAuthentication);
 *  - the Conductor license key and the Conductor API key, asked (hidden prompts, or stdin lines);
 *  - the Dex admin password, asked or generated; only its bcrypt hash is sealed;
 *  - the GitHub token of the bot as a placeholder (seal it later with seal-value).
 * The SQL that creates the roles with those passwords, and a generated Dex password, are shown ONCE on the terminal
 * (/dev/tty): never on stdout, in a file or a log. Without a terminal the script refuses before writing anything.
 *
 *   pnpm secrets:bootstrap --env qa --db-host qa-db.example.internal [--dex-postgres] [--keda-namespace keda] [--force]
 *
 * Values asked, in this order (one line each when stdin is not a terminal): the admin role's password (with
 * --admin-password ask), the Conductor license key, the Conductor API key, the Dex admin password (with
 * --dex-password ask).
 */
import type { CommandSpec } from '@dbos-gitops/cli-kit';
import { DEFAULT_KEDA_NAMESPACE } from '../src/drain-reader-secrets.ts';
import { runScript } from './lib/cli.ts';

export const BOOTSTRAP = {
  usage: 'pnpm secrets:bootstrap --env ENV --db-host HOST [options]',
  summary:
    "Bootstraps a NEW environment's whole secret set (the platform's into overlays/<env>/platform/secrets/, the first " +
    "application's database URL and Conductor API key into overlays/<env>/apps/dbos-app/secrets/), sealed for " +
    'clusters/<env>/sealed-secrets-cert.pem: random passwords for the database roles, the Conductor license and API ' +
    "keys (asked), the Dex admin password (generated or asked; only its bcrypt hash is sealed), the bot's GitHub token " +
    'as a placeholder. The role SQL with those passwords, and a generated Dex password, are shown ONCE on the terminal ' +
    '(/dev/tty), never on stdout; without a terminal it refuses before writing anything. Values asked, in this order ' +
    '(one line each when stdin is not a terminal): the admin password (--admin-password ask), the Conductor license ' +
    'key, the Conductor API key, the Dex admin password (--dex-password ask).',
  flags: {
    env: {
      type: 'string',
      valueName: 'ENV',
      description: 'the new environment: writes overlays/ENV/platform/secrets and overlays/ENV/apps/dbos-app/secrets (required)',
    },
    'db-host': { type: 'string', valueName: 'HOST', description: 'the PostgreSQL host name the workloads connect to (required)' },
    'db-port': { type: 'string', valueName: 'PORT', description: 'the PostgreSQL port (default 5432)' },
    'db-sslmode': { type: 'string', valueName: 'MODE', description: 'sslmode in every database URL (default require)' },
    'admin-password': {
      type: 'string',
      valueName: 'ask|generate',
      description: "ask: the existing admin role's password (default); generate: a new admin role, created by the SQL",
    },
    'admin-role': { type: 'string', valueName: 'NAME', description: 'the admin role (default postgres when asked, dbos_admin when generated)' },
    'dex-password': { type: 'string', valueName: 'generate|ask', description: 'the Dex admin password: generate (default, shown once on the terminal) or ask' },
    'dex-postgres': { type: 'boolean', description: 'Dex stores its state in PostgreSQL: also a dex role, database and its sealed password' },
    'conductor-token-name': {
      type: 'string',
      valueName: 'NAME',
      description: "record the Conductor API key's name, so the bot can revoke it when it rotates the key",
    },
    namespace: { type: 'string', valueName: 'NS', description: "the application's namespace (default dbos)" },
    'keda-namespace': {
      type: 'string',
      valueName: 'NS',
      description: `KEDA's namespace, where its copy of the drain reader's URL is sealed (default ${DEFAULT_KEDA_NAMESPACE})`,
    },
    cert: { type: 'string', valueName: 'FILE|URL', description: 'the sealing certificate (default clusters/ENV/sealed-secrets-cert.pem)' },
    force: { type: 'boolean', description: 'replace every value of an environment that already has SealedSecrets' },
    root: { type: 'string', valueName: 'DIR', description: 'the repository (default: the git work tree around the current directory)' },
    json: { type: 'boolean', description: 'print the files written as JSON instead of lines (the SQL still goes to the terminal only)' },
  },
  notes: [
    'exit codes: 0 sealed, 2 certificate, 6 a file that cannot be written, 64 usage (also: no terminal, an environment that already has secrets without --force, a missing value on stdin), 130 cancelled at a prompt.',
  ],
} satisfies CommandSpec;

runScript(BOOTSTRAP, 'secrets:bootstrap', async (flags, io) => (await import('./lib/bootstrap-environment.ts')).bootstrapEnvironment(flags, io));
