import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { describeConnectionString, DrainUnknownError, formatDrainTable, readDrainStatus, toDrainJson } from '@dbos-gitops/drain';

export const DRAIN_STATUS_HELP = `usage: pnpm bot drain-status --app-name NAME [--database-url-file FILE] [--json]

Prints, per application version, the workflows still in flight (PENDING, ENQUEUED, DELAYED) in the DBOS system
database: what keeps an old version's Deployment alive. Reads only, in one read-only transaction.

options:
  --app-name NAME      the DBOS application name (appVersions.appName in .github/gitops-bot.yaml)
  --database-url-file FILE
                       a file holding postgresql://USER:PASSWORD@HOST:PORT/DATABASE of the DBOS system
                       database; without it the URL comes from the environment variable DBOS_DRAIN_DATABASE_URL.
                       The URL is never an argument: pnpm, shell history and ps would show it.
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

/** An argument's option name, or nothing: arguments are never echoed, since one may be a secret the user mistyped. */
function optionName(arg: string): string | null {
  const name = /^(--?[A-Za-z][A-Za-z-]*)(=|$)/.exec(arg)?.[1];
  return name ?? null;
}

/** `pnpm bot drain-status`: returns the exit code; never prints the password nor any argument's value. */
export async function runDrainStatus(argv: string[], io: DrainStatusIo): Promise<number> {
  // Refused before parsing so that neither the value nor parseArgs' quoting of it reaches the output.
  if (argv.some((arg) => optionName(arg) === '--database-url')) {
    return usage(io, '--database-url is not accepted: a URL on the command line is printed by pnpm and kept in shell history and ps (the value is not shown here)', `put the URL in ${DRAIN_STATUS_URL_ENV} or in a file passed with --database-url-file`);
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        'database-url-file': { type: 'string' },
        'app-name': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch {
    // parseArgs quotes the offending argument, which could be a secret: name only options, never values.
    const names = argv.map(optionName).filter((name): name is string => name !== null && !['--database-url-file', '--app-name', '--json', '--help', '-h'].includes(name));
    return usage(io, names.length > 0 ? `unknown option ${names.join(', ')}` : 'unexpected or malformed arguments (not shown: one may be a secret)');
  }
  if (values.help) {
    io.stdout(DRAIN_STATUS_HELP);
    return 0;
  }
  const appName = values['app-name'];
  if (!appName) return usage(io, '--app-name is required', 'pass --app-name NAME (appVersions.appName in .github/gitops-bot.yaml)');
  let databaseUrl = io.env[DRAIN_STATUS_URL_ENV];
  const file = values['database-url-file'];
  if (file !== undefined) {
    try {
      databaseUrl = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      return usage(io, `cannot read --database-url-file ${JSON.stringify(file)} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, 'pass a readable file that holds only the URL');
    }
  }
  if (!databaseUrl) return usage(io, `no database URL: set ${DRAIN_STATUS_URL_ENV} or pass --database-url-file`, `export ${DRAIN_STATUS_URL_ENV}=postgresql://USER:PASSWORD@HOST:PORT/DATABASE (the drain reader role of the DBOS system database)`);
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
    io.stderr(`error: unexpected failure reading ${describeConnectionString(databaseUrl)}: ${(error as Error)?.name ?? 'error'}\n  what to do: this is a bug; report it\n`);
    return 1;
  }
}
