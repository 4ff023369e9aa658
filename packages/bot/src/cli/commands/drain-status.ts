import { readFile } from 'node:fs/promises';
import { runReporting, type CommandSpec, type FlagValues } from '@dbos-gitops/cli-kit';
import { UsageError } from '../../errors.ts';
import { runCommand, type CommandIo } from '../index.ts';

export const DRAIN_STATUS_URL_ENV = 'DBOS_DRAIN_DATABASE_URL';

export const spec = {
  usage: 'pnpm bot drain-status --app-name NAME [--database-url-file FILE] [--json]',
  summary:
    "Prints, per application version, the workflows still in flight (PENDING, ENQUEUED, DELAYED) in the DBOS system database: what keeps an old version's Deployment alive. Reads only, in one read-only transaction.",
  flags: {
    'app-name': { type: 'string', valueName: 'NAME', description: 'the DBOS application name (appVersions.appName in .github/gitops-bot.yaml); required' },
    'database-url-file': {
      type: 'string',
      valueName: 'FILE',
      description: `a file holding postgresql://USER:PASSWORD@HOST:PORT/DATABASE of the DBOS system database; without it the URL comes from ${DRAIN_STATUS_URL_ENV}. The URL is never an argument: pnpm, shell history and ps would show it.`,
    },
    json: {
      type: 'boolean',
      description:
        'one JSON object per version: version, pending, enqueued, delayed, inFlight and deadLettered (MAX_RECOVERY_ATTEMPTS_EXCEEDED: not in flight, but resumable only by an executor of that version)',
    },
  },
  notes: ['Exit codes: 0 read, 10 the status is unknown (unreachable, wrong password, missing schema), 64 usage.'],
} satisfies CommandSpec;

/** The help text, for callers that print it without running the command. */
export { spec as DRAIN_STATUS_SPEC };

export interface DrainStatusIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** An argument's option name, or nothing: arguments are never echoed, since one may be a secret the user mistyped. */
function optionName(arg: string): string | null {
  const name = /^(--?[A-Za-z][A-Za-z-]*)(=|$)/.exec(arg)?.[1];
  return name ?? null;
}

/** Refused before parsing, so that neither the value nor a parser's quoting of it reaches the output. */
export function screen(argv: readonly string[]): void {
  if (argv.some((arg) => optionName(arg) === '--database-url')) {
    throw new UsageError(
      '--database-url is not accepted: a URL on the command line is printed by pnpm and kept in shell history and ps (the value is not shown here)',
      `put the URL in ${DRAIN_STATUS_URL_ENV} or in a file passed with --database-url-file`,
    );
  }
}

/** The drain status could not be read, or reading failed unexpectedly; carries the README's exit code. */
class DrainStatusError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** `pnpm bot drain-status` on its own (its tests, scripts): the same parsing and exit codes as through `main`. */
export async function runDrainStatus(argv: string[], io: DrainStatusIo): Promise<number> {
  return runReporting(io, () => runCommand({ spec, run, screen }, argv, io), 'gitops-bot');
}

/** Never prints the password nor any argument's value. */
export async function run(values: FlagValues<typeof spec.flags>, io: CommandIo): Promise<number> {
  const appName = values['app-name'];
  if (!appName) throw new UsageError('--app-name is required', 'pass --app-name NAME (appVersions.appName in .github/gitops-bot.yaml)');
  let databaseUrl = io.env[DRAIN_STATUS_URL_ENV];
  const file = values['database-url-file'];
  if (file !== undefined) {
    try {
      databaseUrl = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      throw new UsageError(
        `cannot read --database-url-file ${JSON.stringify(file)} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        'pass a readable file that holds only the URL',
      );
    }
  }
  if (!databaseUrl)
    throw new UsageError(
      `no database URL: set ${DRAIN_STATUS_URL_ENV} or pass --database-url-file`,
      `export ${DRAIN_STATUS_URL_ENV}=postgresql://USER:PASSWORD@HOST:PORT/DATABASE (the drain reader role of the DBOS system database)`,
    );
  const { describeConnectionString, DrainUnknownError, formatDrainTable, readDrainStatus, toDrainJson } = await import('@dbos-gitops/drain');
  io.progress(`reading ${describeConnectionString(databaseUrl)}`);
  try {
    const status = await readDrainStatus({ databaseUrl, appName });
    if (values.json) io.stdout(`${JSON.stringify(toDrainJson(status), null, 2)}\n`);
    else io.stdout(formatDrainTable(status));
    return 0;
  } catch (error) {
    if (error instanceof DrainUnknownError) {
      throw new DrainStatusError(
        `the drain status is unknown (${error.reason}): ${error.message}`,
        'fix the cause above and run again; unknown never means drained',
        10,
      );
    }
    // Not the error's message: a driver may quote the connection string. The name says enough to report it.
    throw new DrainStatusError(
      `unexpected failure reading ${describeConnectionString(databaseUrl)}: ${(error as Error)?.name ?? 'error'}`,
      'this is a bug; report it',
      1,
    );
  }
}
