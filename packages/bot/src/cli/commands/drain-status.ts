import { readFile } from 'node:fs/promises';
import { runReporting, type CommandSpec, type FlagValues } from '@dbos-gitops/cli-kit';
import { ConfigError, UsageError } from '../../errors.ts';
import { runCommand, type CommandIo } from '../index.ts';

export const DRAIN_STATUS_URL_ENV = 'DBOS_DRAIN_DATABASE_URL';

export const spec = {
  usage: 'pnpm bot drain-status [--env ENV] [--app NAME] [--database-url-file FILE] [--json]',
  summary:
    "Prints, per application and version, the workflows still in flight (PENDING, ENQUEUED, DELAYED) in the DBOS system database: what keeps an old version's Deployment alive. Every application of the environment (or of the config) unless one is named. Reads only, one read-only transaction per application.",
  flags: {
    env: {
      type: 'string',
      valueName: 'ENV',
      description: 'the environment whose applications to report (an entry of environments: in the config); without it, every application of the config',
    },
    app: {
      type: 'string',
      valueName: 'NAME',
      description:
        'only this application (its name under apps: in the config, which is also its DBOS application_name); a name the config does not know is an error',
    },
    'app-name': { type: 'string', valueName: 'NAME', description: 'the same as --app (its former name), with the same check' },
    config: { type: 'string', valueName: 'FILE', description: 'bot config (default: <repo>/.github/gitops-bot.yaml)' },
    repo: { type: 'string', valueName: 'DIR', description: 'the GitOps repository (default: the git top level of the current directory)' },
    'database-url-file': {
      type: 'string',
      valueName: 'FILE',
      description: `a file holding postgresql://USER:PASSWORD@HOST:PORT/DATABASE of the DBOS system database; without it the URL comes from ${DRAIN_STATUS_URL_ENV}_<ENV> with --env (DBOS_DRAIN_DATABASE_URL_DEV for dev), else ${DRAIN_STATUS_URL_ENV}. The URL is never an argument: pnpm, shell history and ps would show it.`,
    },
    json: {
      type: 'boolean',
      description:
        'one JSON object keyed by application name; each holds one object per version: version, pending, enqueued, delayed, inFlight and deadLettered (MAX_RECOVERY_ATTEMPTS_EXCEEDED: not in flight, but resumable only by an executor of that version)',
    },
  },
  notes: [
    'Exit codes: 0 read, 2 an --env or --app the config does not know (the known names are listed), 10 the status is unknown (unreachable, wrong password, missing schema), 64 usage.',
  ],
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

/**
 * The applications to report, from the config: named ones must exist (a typo is exit 2 with the known names, never an
 * empty "nothing in flight"), and with --env must run there.
 */
async function selectApplications(values: FlagValues<typeof spec.flags>): Promise<string[]> {
  const alias = values['app-name'];
  if (values.app !== undefined && alias !== undefined && values.app !== alias)
    throw new UsageError('--app and --app-name name different applications', 'pass one of them (--app-name is the former name of --app)');
  const named = values.app ?? alias;
  const [{ join, resolve }, { CONFIG_PATH, loadConfig }, { appsInEnvironment }, { repoRoot }] = await Promise.all([
    import('node:path'),
    import('../../config/load.ts'),
    import('../../repo/apps.ts'),
    import('../compose.ts'),
  ]);
  const configFile = values.config ? resolve(values.config) : join(await repoRoot({ repo: values.repo ?? null }), CONFIG_PATH);
  const config = await loadConfig(configFile);
  const known = (names: string[]) => (names.length > 0 ? names.join(', ') : 'none');
  let apps = config.apps;
  if (values.env !== undefined) {
    const env = config.environments.find((candidate) => candidate.name === values.env);
    if (!env)
      throw new ConfigError(
        `--env "${values.env}" is not an environment of the config (known: ${known(config.environments.map((candidate) => candidate.name))})`,
        configFile,
        'environments',
        'pass --env with one of the names listed',
      );
    apps = appsInEnvironment(config, env);
  }
  if (named === undefined) {
    if (apps.length === 0)
      throw new ConfigError(
        `no application runs ${values.env !== undefined ? `in environment "${values.env}"` : 'in any environment'} (apps: is empty${values.env !== undefined ? ' for it' : ''})`,
        configFile,
        'apps',
        'add the applications under apps: in the config',
      );
    return apps.map((app) => app.name);
  }
  if (!config.apps.some((app) => app.name === named))
    throw new ConfigError(
      `application "${named}" is not in apps: (known: ${known(config.apps.map((app) => app.name))})`,
      configFile,
      'apps',
      'pass --app with one of the names listed (the DBOS application name is the apps: name)',
    );
  if (!apps.some((app) => app.name === named))
    throw new ConfigError(
      `application "${named}" does not run in environment "${values.env}" (its environments: ${config.apps.find((app) => app.name === named)!.environments?.join(', ')}; there: ${known(apps.map((app) => app.name))})`,
      configFile,
      'apps',
      'pass an --env the application runs in, or leave --app out',
    );
  return [named];
}

/** Never prints the password nor any argument's value. */
export async function run(values: FlagValues<typeof spec.flags>, io: CommandIo): Promise<number> {
  const appNames = await selectApplications(values);
  // With --env, that environment's own variable first (DBOS_DRAIN_DATABASE_URL_<ENV>, what a run over every
  // environment reads, and what `pnpm bot evidence` and `pnpm apps:remove` read): it cannot name another environment's
  // database. Else the plain one.
  const { envVarSuffix } = await import('../../config/schema.ts');
  const ownEnv = values.env !== undefined ? `${DRAIN_STATUS_URL_ENV}_${envVarSuffix(values.env)}` : null;
  const urlEnv = ownEnv && io.env[ownEnv] ? ownEnv : DRAIN_STATUS_URL_ENV;
  let databaseUrl = io.env[urlEnv];
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
      `no database URL: set ${ownEnv ? `${ownEnv} or ` : ''}${DRAIN_STATUS_URL_ENV} or pass --database-url-file`,
      `export ${DRAIN_STATUS_URL_ENV}=postgresql://USER:PASSWORD@HOST:PORT/DATABASE (the drain reader role of the DBOS system database)`,
    );
  const { describeConnectionString, DrainUnknownError, formatDrainTable, readDrainStatus, toDrainJson } = await import('@dbos-gitops/drain');
  io.progress(`reading ${describeConnectionString(databaseUrl)}`);
  try {
    // One application after the other, each in its own read-only transaction: the counts of one are its own rows only.
    const statuses: Array<{ app: string; status: Awaited<ReturnType<typeof readDrainStatus>> }> = [];
    for (const appName of appNames) statuses.push({ app: appName, status: await readDrainStatus({ databaseUrl, appName }) });
    if (values.json) io.stdout(`${JSON.stringify(Object.fromEntries(statuses.map(({ app, status }) => [app, toDrainJson(status)])), null, 2)}\n`);
    else io.stdout(statuses.map(({ app, status }) => `application ${app}\n${formatDrainTable(status)}`).join('\n'));
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
