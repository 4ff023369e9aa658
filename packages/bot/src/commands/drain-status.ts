import { parseArgs } from 'node:util';
import { DrainUnknownError, formatDrainTable, readDrainStatus, redactUrl, toDrainJson } from '@dbos-gitops/drain';

export const DRAIN_STATUS_HELP = `usage: pnpm bot drain-status --app-name NAME [--database-url URL] [--json]

Prints, per application version, the workflows still in flight (PENDING, ENQUEUED, DELAYED) in the DBOS system
database: what keeps an old version's Deployment alive. Reads only, in one read-only transaction.

options:
  --app-name NAME      the DBOS application name (appVersions.appName in .github/gitops-bot.yaml)
  --database-url URL   postgresql://USER:PASSWORD@HOST:PORT/DATABASE of the DBOS system database; prefer the
                       environment variable DBOS_DRAIN_DATABASE_URL, which stays out of shell history
  --json               one JSON object per version: version, pending, enqueued, delayed, inFlight and
                       deadLettered (MAX_RECOVERY_ATTEMPTS_EXCEEDED: not in flight, but resumable only by an
                       executor of that version)
  -h, --help           this help

Exit codes: 0 read, 10 the status is unknown (unreachable, wrong password, missing schema), 64 usage.
`;

export const DRAIN_STATUS_URL_ENV = 'DBOS_DRAIN_DATABASE_URL';

export interface DrainStatusIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

function usage(io: DrainStatusIo, message: string, hint = 'run `pnpm bot drain-status --help`'): number {
  io.stderr(`error: ${message}\n  what to do: ${hint}\n`);
  return 64;
}

/** `pnpm bot drain-status`: returns the exit code; never prints the password (URLs are shown redacted). */
export async function runDrainStatus(argv: string[], io: DrainStatusIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        'database-url': { type: 'string' },
        'app-name': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    // parseArgs quotes the offending argument; an unexpected positional could be a URL, so redact.
    return usage(io, redactUrl((error as Error).message));
  }
  if (values.help) {
    io.stdout(DRAIN_STATUS_HELP);
    return 0;
  }
  const appName = values['app-name'];
  if (!appName) return usage(io, '--app-name is required', 'pass --app-name NAME (appVersions.appName in .github/gitops-bot.yaml)');
  const databaseUrl = values['database-url'] ?? io.env[DRAIN_STATUS_URL_ENV];
  if (!databaseUrl) return usage(io, `no database URL: pass --database-url or set ${DRAIN_STATUS_URL_ENV}`, `export ${DRAIN_STATUS_URL_ENV}=postgresql://USER:PASSWORD@HOST:PORT/DATABASE (the drain reader role of the DBOS system database)`);
  try {
    const status = await readDrainStatus({ databaseUrl, appName });
    if (values.json) io.stdout(`${JSON.stringify(toDrainJson(status), null, 2)}\n`);
    else io.stdout(formatDrainTable(status));
    return 0;
  } catch (error) {
    if (error instanceof DrainUnknownError) {
      io.stderr(`error: the drain status is unknown (${error.reason}): ${error.message}\n  what to do: fix the cause above and run again; unknown never means drained\n`);
      return 10;
    }
    io.stderr(`error: unexpected failure reading ${redactUrl(databaseUrl)}: ${(error as Error)?.name ?? 'error'}\n  what to do: this is a bug; report it\n`);
    return 1;
  }
}
