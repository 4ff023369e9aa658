import { runReporting, type CommandSpec, type FlagValues } from '@dbos-gitops/cli-kit';
import type { BotConfig } from '../../config/schema.ts';
import { ConfigError, UsageError } from '../../errors.ts';
import type { DrainSourceFor } from '../../sources/drain/for-environment.ts';
import type { StatusModel } from '../../status/model.ts';
import { runCommand, type CommandIo } from '../index.ts';

export const spec = {
  usage: 'pnpm bot status [--env ENV] [--app APP] [--json] [options]',
  summary:
    'Prints where every application version stands: one table per application (environments as columns, live versions as rows: state, in-flight and dead-lettered workflows, last activity, image tag and digest, replicas ready), then the promotion position of every image, the open bot PRs, the secrets due and the placeholder pins. Reads the repository (no registry, ever); drain counts, cluster health and PRs only where their readers are configured, "not read" otherwise.',
  flags: {
    env: { type: 'string', valueName: 'ENV', description: 'only this environment (an entry of environments: in the bot config)' },
    app: { type: 'string', valueName: 'APP', description: 'only this application (an entry of apps:)' },
    json: {
      type: 'boolean',
      description:
        'one JSON object, schemaVersion 1: generatedAt, tree, environments, apps[].environments[].versions[] (states, holdReason, image, drain, replicas, retirePullRequest), promotion, pullRequests, secretsDue, placeholderPins; each outside reading is {status: read|not-read|unknown, ...} (packages/bot/src/status/model.ts)',
    },
    config: { type: 'string', valueName: 'FILE', description: 'bot config (default: <repo>/.github/gitops-bot.yaml)' },
    repo: { type: 'string', valueName: 'DIR', description: 'the GitOps repository (default: the git top level of the current directory)' },
    forge: {
      type: 'string',
      valueName: 'FORGE',
      description:
        'where the open PRs are read: github, local (the bot/… branches of origin, offline) or none (default: github when GITHUB_TOKEN is set and forge.type is github, else local)',
    },
  },
  notes: [
    "Drain counts come from the drain reader's variables as `pnpm bot plan` reads them (DBOS_DRAIN_DATABASE_URL_<ENV>, or DBOS_DRAIN_DATABASE_URL with --env or a single environment); replicas from environments[].kube. A reader that fails shows unknown with its reason, never zero.",
    'Exit codes: 0 printed (whatever could not be read is said in the output), 2 config (an --env or --app the config does not know; the known names are listed), 6 the tree cannot be read, 7 YAML, 64 usage.',
  ],
} satisfies CommandSpec;

/** `pnpm bot status` on its own (tests, the demo): the same parsing and exit codes as through `main`. */
export async function runStatus(argv: string[], io: Pick<CommandIo, 'stdout' | 'stderr' | 'env'> & { now?: Date }): Promise<number> {
  return runReporting(io, () => runCommand({ spec, run }, argv, io), 'gitops-bot');
}

/** A typo in --env or --app is a config error naming the known names, never an empty status. */
export function checkFilters(config: BotConfig, configFile: string, env: string | null, app: string | null): void {
  const known = (names: string[]) => (names.length > 0 ? names.join(', ') : 'none');
  if (env !== null && !config.environments.some((candidate) => candidate.name === env))
    throw new ConfigError(
      `--env "${env}" is not an environment of the config (known: ${known(config.environments.map((candidate) => candidate.name))})`,
      configFile,
      'environments',
      'pass --env with one of the names listed',
    );
  if (app === null) return;
  const entry = config.apps.find((candidate) => candidate.name === app);
  if (!entry)
    throw new ConfigError(
      `--app "${app}" is not an application of the config (known: ${known(config.apps.map((candidate) => candidate.name))})`,
      configFile,
      'apps',
      'pass --app with one of the names listed',
    );
  if (env !== null && entry.environments && !entry.environments.includes(env))
    throw new ConfigError(
      `application "${app}" does not run in environment "${env}" (its environments: ${entry.environments.join(', ')})`,
      configFile,
      'apps',
      'pass an --env the application runs in, or leave --env out',
    );
}

export interface StatusRequest {
  root: string;
  configFile: string;
  env: string | null;
  app: string | null;
  forge: 'github' | 'local' | 'none' | null;
}

/**
 * An environment's own variable (`DBOS_DRAIN_DATABASE_URL_<ENV>`) when it is set, as `drain-status` and `evidence`
 * read it: with `--env dev` it cannot name another environment's database. Else what `plan` reads.
 */
function preferOwnVariable(
  fallback: DrainSourceFor,
  env: NodeJS.ProcessEnv,
  suffix: (name: string) => string,
  fromEnv: typeof import('../../sources/drain/source.ts').drainSourceFromEnv,
): DrainSourceFor {
  return (environment, app, scope) => {
    const own = `${app.drain.databaseUrlEnv}_${suffix(environment.name)}`;
    return env[own] ? fromEnv({ ...app, drain: { ...app.drain, databaseUrlEnv: own } }, env) : fallback(environment, app, scope);
  };
}

/** Reads the config and the tree, builds every configured reader (none of them a registry) and the model. */
export async function readStatus(request: StatusRequest, io: Pick<CommandIo, 'env' | 'stderr'> & { now?: Date }): Promise<StatusModel> {
  const [
    { loadConfig },
    { checkConfigAgainstTree },
    { fsTree },
    { localBotBranches },
    compose,
    { defaultDrainSourceFor },
    { KubeClientHealth },
    { buildStatus },
    { envVarSuffix },
    { drainSourceFromEnv },
  ] = await Promise.all([
    import('../../config/load.ts'),
    import('../../config/tree-check.ts'),
    import('../../repo/tree.ts'),
    import('../../git/workspace.ts'),
    import('../compose.ts'),
    import('../../sources/drain/for-environment.ts'),
    import('../../sources/kube/health.ts'),
    import('../../status/build.ts'),
    import('../../config/schema.ts'),
    import('../../sources/drain/source.ts'),
  ]);
  const config = await loadConfig(request.configFile);
  checkFilters(config, request.configFile, request.env, request.app);
  const tree = fsTree(request.root);
  await checkConfigAgainstTree(config, tree, request.configFile);
  const kubeContexts = Object.fromEntries(config.environments.filter((env) => env.kube).map((env) => [env.name, env.kube!.context]));
  const log = (line: string) => io.stderr(`${line}\n`);
  const forge =
    request.forge === 'none'
      ? null
      : compose.selectForge(
          { forge: request.forge } as Parameters<typeof compose.selectForge>[0],
          config,
          io.env,
          () => localBotBranches(request.root),
          log,
          log,
        );
  return buildStatus({
    config,
    tree,
    now: io.now ?? new Date(),
    envFilter: request.env,
    appFilter: request.app,
    drain: preferOwnVariable(defaultDrainSourceFor(io.env), io.env, envVarSuffix, drainSourceFromEnv),
    kube: Object.keys(kubeContexts).length > 0 ? new KubeClientHealth(kubeContexts) : null,
    pullRequests: forge ? () => forge.listBotPullRequests() : null,
    forgeDescribe: forge?.describe ?? 'none',
  });
}

export async function run(values: FlagValues<typeof spec.flags>, io: CommandIo): Promise<number> {
  const forge = values.forge ?? null;
  if (forge !== null && forge !== 'github' && forge !== 'local' && forge !== 'none')
    throw new UsageError(`--forge must be github, local or none, not "${forge}"`);
  const [{ join, resolve }, { CONFIG_PATH }, { repoRoot }, { renderStatusTable }] = await Promise.all([
    import('node:path'),
    import('../../config/load.ts'),
    import('../compose.ts'),
    import('../../status/render.ts'),
  ]);
  const root = await repoRoot({ repo: values.repo ?? null });
  const configFile = values.config ? resolve(values.config) : join(root, CONFIG_PATH);
  io.progress('reading the repository and the configured readers');
  const model = await readStatus({ root, configFile, env: values.env ?? null, app: values.app ?? null, forge }, io);
  io.stdout(values.json ? `${JSON.stringify(model, null, 2)}\n` : renderStatusTable(model));
  return 0;
}

/**
 * The status table of a checkout, as `pnpm bot status` prints it: for callers that show it between their own steps
 * (`pnpm demo`). `env` holds the drain reader variables (DBOS_DRAIN_DATABASE_URL_<ENV>); the forge defaults to local.
 */
export async function statusTableOf(
  root: string,
  options: { env?: NodeJS.ProcessEnv; forge?: StatusRequest['forge']; filter?: { env?: string; app?: string }; now?: Date } = {},
): Promise<string> {
  const [{ join }, { CONFIG_PATH }, { renderStatusTable }] = await Promise.all([
    import('node:path'),
    import('../../config/load.ts'),
    import('../../status/render.ts'),
  ]);
  const model = await readStatus(
    { root, configFile: join(root, CONFIG_PATH), env: options.filter?.env ?? null, app: options.filter?.app ?? null, forge: options.forge ?? 'local' },
    { env: options.env ?? {}, stderr: () => {}, ...(options.now ? { now: options.now } : {}) },
  );
  return renderStatusTable(model);
}
