import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { simpleGit } from 'simple-git';
import { DiskCache, defaultCacheDir } from '../cache/disk-cache.ts';
import { CONFIG_PATH } from '../config/load.ts';
import type { BotConfig } from '../config/schema.ts';
import { ConfigError, ForgeError, UsageError } from '../errors.ts';
import { conductorClients } from '../sources/conductor/factory.ts';
import { KubeRolloutCheck } from '../sources/conductor/rollout-check.ts';
import { defaultDrainSourceFor, type DrainSourceFor } from '../sources/drain/for-environment.ts';
import { DrainReadError, NOT_CONFIGURED } from '../sources/drain/source.ts';
import { GitHubForge, githubSettingsFromEnv } from '../sources/forge/github.ts';
import { APP_ID_ENV, authenticateAsApp, githubAppSettingsFromEnv, type GitHubAppAuth } from '../sources/forge/github-auth.ts';
import { LocalForge } from '../sources/forge/local.ts';
import { DashboardStep, type DashboardState, type RenderDashboard } from '../sources/forge/dashboard.ts';
import type { TreeReader } from '../repo/tree.ts';
import { buildStatus } from '../status/build.ts';
import { parseDashboardActions, renderDashboard, retryableProposals } from '../status/dashboard.ts';
import type { RetryTick } from '../tasks/shared/retry.ts';
import type { PromoteNow } from '../tasks/version-add/index.ts';
import type { RollbackRequest } from '../tasks/rollback/index.ts';
import { hasDashboard, type Forge } from '../sources/forge/types.ts';
import { KubeClientHealth, type KubeHealth } from '../sources/kube/health.ts';
import { CatalogRegistry, EMBEDDED_CATALOG } from '../sources/registry/catalog.ts';
import { UnreachableFallbackRegistry } from '../sources/registry/fallback.ts';
import { OciRegistryClient } from '../sources/registry/oci-client.ts';
import type { RegistrySource } from '../sources/registry/types.ts';
import { configuredTasks, TASKS } from '../tasks/index.ts';
import { dbosGateRunner } from '../sources/dbos-gate/index.ts';
import type { ConductorAccess, Task } from '../tasks/types.ts';
import type { Options } from './options.ts';

/**
 * The composition root: every source is built here, once per command, from the config and the CLI's environment
 * (`io.env`), and handed to the runner and the tasks as one context. Nothing below reads `process.env`.
 */
export interface Sources {
  registry: RegistrySource;
  /** Null unless an environment has `kube:`. */
  kube: KubeHealth | null;
  /** Conductor admin clients (secret rotation's effects); null without `secretRotation.conductor`. */
  conductor: ConductorAccess;
  drain: DrainSourceFor;
  tasks: readonly Task[];
}

/**
 * The cache directory: `--cache-dir`, else `GITOPS_BOT_CACHE_DIR` (`off`: no cache), else under XDG_CACHE_HOME or
 * HOME; with none of them there is no cache. A directory that cannot be written costs one warning, never the run.
 */
export async function openCache(options: Pick<Options, 'cacheDir'>, env: NodeJS.ProcessEnv, warn: (line: string) => void): Promise<DiskCache | null> {
  const fromEnv = env.GITOPS_BOT_CACHE_DIR;
  if (!options.cacheDir && fromEnv === 'off') return null;
  const chosen = options.cacheDir ?? (fromEnv && !/[\0\r\n]/.test(fromEnv) ? fromEnv : null);
  const dir = chosen ? resolve(chosen) : defaultCacheDir(env);
  return dir ? DiskCache.open(dir, warn) : null;
}

export function composeSources(
  config: BotConfig,
  options: Options,
  env: NodeJS.ProcessEnv,
  command: 'plan' | 'run',
  cache: DiskCache | null = null,
  ticks: DashboardTicks = NO_TICKS,
): Sources {
  const registry = selectRegistry(options, config, env, command, cache);
  // The environments with cluster access, computed once for both readers of the cluster.
  const kubeContexts = Object.fromEntries(
    config.environments.filter((environment) => environment.kube).map((environment) => [environment.name, environment.kube!.context]),
  );
  const withCluster = Object.keys(kubeContexts).length > 0;
  const conductor = selectConductor(config, env);
  const rotation = config.secretRotation?.conductor;
  const tasks = selectTasks(
    configuredTasks(config, {
      rotateNow: options.rotateNow,
      envFilter: options.env,
      conductorKeys: conductor && rotation ? (name: string) => conductor(name).listTokens(rotation.org) : null,
      rollout: withCluster ? new KubeRolloutCheck(kubeContexts) : null,
      rollback: options.rollback ?? ticks.rollback,
      promoteNow: ticks.promoteNow,
      rotateNowFromDashboard: ticks.rotateNow,
      retry: ticks.retry,
      // Enqueueing a gate workflow writes to the system database: only `run` without --dry-run may.
      gate: dbosGateRunner(env, { write: command === 'run' && !options.dryRun }),
    }),
    options.task,
  );
  return { registry, kube: withCluster ? new KubeClientHealth(kubeContexts) : null, conductor, drain: defaultDrainSourceFor(env), tasks };
}

/**
 * Running every task, one the config does not enable, or whose inputs were never configured (e.g. no drain reader
 * URL for version-retire), is reported as not proposed instead of aborting the others; asked for by name, it stays
 * an error. Either way it proposes nothing, which is the fail-closed outcome.
 */
function skipWhenNotConfigured(task: Task): Task {
  return {
    ...task,
    async plan(context) {
      const disabled = task.disabledBy?.(context.config) ?? null;
      if (disabled) return { plans: [], skips: [{ task: task.name, env: context.envFilter ?? 'all', subject: '-', reason: disabled }] };
      try {
        return await task.plan(context);
      } catch (error) {
        if (!(error instanceof DrainReadError) || error.reason !== NOT_CONFIGURED) throw error;
        return {
          plans: [],
          skips: [{ task: task.name, env: context.envFilter ?? 'all', subject: '-', reason: `not evaluated: ${error.message} (${error.hint})` }],
        };
      }
    },
  };
}

function selectTasks(tasks: readonly Task[], name: string | null): readonly Task[] {
  if (!name) return tasks.map(skipWhenNotConfigured);
  const task = tasks.find((candidate) => candidate.name === name);
  if (!task) throw new UsageError(`unknown task "${name}"`, `use one of: ${TASKS.map((candidate) => candidate.name).join(', ')}`);
  return [task];
}

/** The source the user chose (flag, then GITOPS_BOT_SOURCE), or null for the default: live. */
export function chosenSource(options: Options, env: NodeJS.ProcessEnv): 'live' | 'catalog' | null {
  return options.source ?? (env.GITOPS_BOT_SOURCE === 'live' || env.GITOPS_BOT_SOURCE === 'catalog' ? env.GITOPS_BOT_SOURCE : null);
}

/**
 * Live by default everywhere. The offline catalog (example data, placeholder digests) is used when asked for, and
 * by `plan` alone as a labelled fallback when no registry can be reached; `run` never falls back.
 */
function selectRegistry(options: Options, config: BotConfig, env: NodeJS.ProcessEnv, command: 'plan' | 'run', cache: DiskCache | null): RegistrySource {
  const chosen = chosenSource(options, env);
  const catalog = () => new CatalogRegistry(options.catalog ? resolve(options.catalog) : EMBEDDED_CATALOG);
  if (chosen === 'catalog') return catalog();
  const plainHttpHosts = Object.entries(config.registries)
    .filter(([, settings]) => settings.plainHttp)
    .map(([host]) => host);
  const live = new OciRegistryClient({ plainHttpHosts, env, cache, tagsTtlSeconds: config.registryCache.tagsTtl });
  return chosen === null && command === 'plan' ? new UnreachableFallbackRegistry(live, catalog) : live;
}

/**
 * `run` on catalog data would push example digests; it is allowed only where nothing real can receive them: with
 * --dry-run, or into a local bare repository named by --remote (a sandbox; never the checkout's origin, never a URL).
 */
export async function assertCatalogRunAllowed(options: Options): Promise<void> {
  if (options.dryRun) return;
  const remote = options.remote;
  if (remote !== null && !remote.includes('://') && !/^[^/]*:/.test(remote) && existsSync(remote)) {
    const bare = await simpleGit({ baseDir: resolve(remote) })
      .raw(['rev-parse', '--is-bare-repository'])
      .catch(() => '');
    if (bare.trim() === 'true') return;
  }
  throw new UsageError(
    `run with the offline catalog would push its example data (placeholder digests) to ${remote === null ? 'the origin remote' : remote.replace(/\/\/[^@/\s]+@/, '//***@')}`,
    'use the live registries (the default; drop --source catalog and GITOPS_BOT_SOURCE=catalog); to try the bot on example data add --dry-run, or push to a sandbox with --remote <path of a local bare repository>',
  );
}

/** How the run reaches GitHub: the environment whose GITHUB_TOKEN git and the forge use, and the App behind it, if any. */
export interface GitHubAccess {
  env: NodeJS.ProcessEnv;
  app: GitHubAppAuth | null;
}

/**
 * With `GITOPS_BOT_APP_ID` set (and the GitHub forge not ruled out), authenticates as the GitHub App once per run and
 * puts its installation token where GITHUB_TOKEN was, so git pushes and API calls both act as the App (whose PRs
 * trigger CI, unlike Actions' GITHUB_TOKEN). Without it, the environment is used as it is.
 */
export async function githubAccess(options: Options, config: BotConfig | null, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<GitHubAccess> {
  if (options.forge === 'local' || (options.forge !== 'github' && config !== null && config.forge.type !== 'github')) return { env, app: null };
  const settings = githubAppSettingsFromEnv(env);
  if (!settings) return { env, app: null };
  if (env.GITHUB_TOKEN) log(`github: ${APP_ID_ENV} is set, so the bot acts as the GitHub App; GITHUB_TOKEN is not used`);
  const fromEnv = githubSettingsFromEnv(env);
  const app = await authenticateAsApp(
    settings,
    {
      owner: config?.forge.owner ?? fromEnv.owner ?? null,
      repo: config?.forge.repo ?? fromEnv.repo ?? null,
      ...(fromEnv.baseUrl ? { baseUrl: fromEnv.baseUrl } : {}),
    },
    log,
  );
  return { env: { ...env, GITHUB_TOKEN: app.token }, app };
}

/** The forge; built after the clone in `run`, because the local forge reads branches from it. */
export function selectForge(
  options: Options,
  config: BotConfig,
  env: NodeJS.ProcessEnv,
  listLocalBranches: () => Promise<string[]>,
  print: (text: string) => void,
  log: (line: string) => void,
  cache: DiskCache | null = null,
  app: GitHubAppAuth | null = null,
): Forge {
  const settings = githubSettingsFromEnv(env);
  // A pinned login that is not the App's would trust another author's PRs (or none of the App's own): refuse.
  if (app && config.forge.botLogin && config.forge.botLogin.toLowerCase() !== app.botLogin.toLowerCase())
    throw new ForgeError(
      `forge.botLogin is ${config.forge.botLogin}, but the GitHub App's bot user is ${app.botLogin}`,
      undefined,
      `set forge.botLogin in .github/gitops-bot.yaml to "${app.botLogin}" (or remove it: with an App the bot knows its own login), or set ${APP_ID_ENV} to the App it names`,
    );
  const kind = options.forge ?? (config.forge.type === 'github' && settings.token ? 'github' : 'local');
  if (kind === 'local') return new LocalForge(listLocalBranches, print, sandboxDashboardFile(options));
  if (!settings.token)
    throw new ConfigError(
      '--forge github needs a token',
      'environment',
      'GITHUB_TOKEN',
      'set GITHUB_TOKEN (in Actions: secrets.GITHUB_TOKEN) or use --forge local',
    );
  const owner = config.forge.owner ?? settings.owner;
  const repo = config.forge.repo ?? settings.repo;
  if (!owner || !repo)
    throw new ConfigError('the GitHub repository is unknown', CONFIG_PATH, 'forge.owner', 'set forge.owner and forge.repo, or GITHUB_REPOSITORY=owner/repo');
  const writeInterval = env.GITOPS_BOT_GITHUB_WRITE_INTERVAL_MS;
  return new GitHubForge({
    token: settings.token,
    owner,
    repo,
    inActions: settings.inActions,
    ...(app ? { botLogin: app.botLogin } : config.forge.botLogin ? { botLogin: config.forge.botLogin } : {}),
    ...(settings.baseUrl ? { baseUrl: settings.baseUrl } : {}),
    ...(writeInterval === '0' ? { minWriteIntervalMs: 0, retryAfterBaseValue: 10 } : {}),
    log,
    cache,
  });
}

/**
 * With `--remote` naming a local bare repository (a sandbox), the local forge keeps the dashboard in a file inside it,
 * where git ignores it; anywhere else it prints the dashboard.
 */
function sandboxDashboardFile(options: Options): string | null {
  const remote = options.remote;
  if (!remote || remote.includes('://') || /^[^/]*:/.test(remote)) return null;
  const dir = resolve(remote);
  const bare = existsSync(join(dir, 'HEAD')) && existsSync(join(dir, 'objects')) && existsSync(join(dir, 'refs')) && !existsSync(join(dir, '.git'));
  return bare ? join(dir, 'gitops-bot-dashboard.md') : null;
}

/**
 * The dashboard step, or null when off: `dashboard:` in the config, by default on with the GitHub forge only (the
 * local forge has no one to tick boxes but the operator). `render` is what fills the body. Only a full run (no
 * `--task`, no `--env`) reads and writes it: its ticks act through every task and environment, and rewriting the body
 * clears every tick, so a run of one task (each job of the workflow) would clear ticks it cannot act on.
 */
export function selectDashboard(
  options: Pick<Options, 'task' | 'env'>,
  config: BotConfig,
  forge: Forge,
  log: (line: string) => void,
  render: RenderDashboard,
): DashboardStep | null {
  const enabled = config.dashboard ?? forge instanceof GitHubForge;
  if (!enabled || !hasDashboard(forge)) return null;
  if (options.task !== null || options.env !== null) {
    log('dashboard: left alone by a run of some tasks or environments only (run without --task and --env to update it and act on its ticks)');
    return null;
  }
  return new DashboardStep(forge.dashboard, render, log);
}

/** What the dashboard's honoured ticks ask of this run, as task settings. */
export interface DashboardTicks {
  promoteNow: PromoteNow[];
  rotateNow: Array<{ env: string; by: string[] }>;
  rollback: RollbackRequest | null;
  retry: RetryTick[];
}

export const NO_TICKS: DashboardTicks = { promoteNow: [], rotateNow: [], rollback: null, retry: [] };

/**
 * The ticked boxes of the dashboard as task settings, when its ticks are honoured (every editor since the bot's last
 * write has write access). The ids are checked against the actions the repository offers now, read offline from the
 * base branch (the same tree the tasks plan on); anything else is ignored and logged. The run rewrites the body
 * without ticks, so each is acted on once.
 */
export async function dashboardTicks(
  state: DashboardState,
  config: BotConfig,
  tree: TreeReader,
  now: Date,
  log: (line: string) => void,
  cliRollback: RollbackRequest | null = null,
): Promise<DashboardTicks> {
  const body = state.issue?.state === 'open' ? state.issue.body : null;
  if (!body) return NO_TICKS;
  const model = await buildStatus({ config, tree, now, envFilter: null, appFilter: null, drain: null, kube: null, pullRequests: null, forgeDescribe: 'none' });
  const { actions, ignored } = parseDashboardActions(body, model);
  for (const item of ignored) log(`dashboard: line ${item.line} not acted on: ${item.reason}`);
  if (actions.length === 0) return NO_TICKS;
  if (!state.ticks.honoured) {
    log(`dashboard: ${actions.length} ticked box(es) not acted on: ${state.ticks.reason}`);
    return NO_TICKS;
  }
  const by = state.ticks.editors;
  const who = by.map((login) => `@${login}`).join(', ');
  const ticks: DashboardTicks = { promoteNow: [], rotateNow: [], rollback: null, retry: [] };
  for (const action of actions) {
    log(`dashboard: acting on "${action.id}", ticked by ${who}`);
    if (action.kind === 'promote') ticks.promoteNow.push({ env: action.env, app: action.app, version: action.version, by });
    else if (action.kind === 'rotate') ticks.rotateNow.push({ env: action.env, by });
    else if (action.kind === 'retry') ticks.retry.push({ task: action.task, env: action.env, subject: action.subject, by });
    else if (action.kind === 'rollback') {
      if (cliRollback || ticks.rollback) {
        log(
          `dashboard: "${action.id}" not acted on: one rollback per run (${cliRollback ? 'pnpm bot rollback asked for one' : 'another was ticked'}); tick it again`,
        );
        continue;
      }
      ticks.rollback = { env: action.env, app: action.app, to: action.to, reason: `ticked on the dashboard by ${who}` };
    }
  }
  return ticks;
}

/**
 * The dashboard's renderer for a run: the platform's status, built from the base branch the run planned on, its drain
 * and cluster readers, and the bot's PRs as the run left them (no second listing).
 */
export function dashboardRenderer(
  config: BotConfig,
  tree: TreeReader,
  readers: () => Pick<Sources, 'drain' | 'kube'>,
  now: Date,
  forgeDescribe: string,
): RenderDashboard {
  return async (model) => {
    const { drain, kube } = readers();
    const status = await buildStatus({
      config,
      tree,
      now,
      envFilter: null,
      appFilter: null,
      drain,
      kube,
      pullRequests: model.pullRequests ? async () => ({ own: model.pullRequests!, ignored: [] }) : null,
      forgeDescribe,
    });
    return renderDashboard(status, model.previousBody, { retryable: retryableProposals(model.pullRequests ?? []) });
  };
}

function conductorAccess(config: BotConfig): Record<string, { url: string; adminKeyEnv: string }> {
  const conductor = config.secretRotation?.conductor;
  if (!conductor) return {};
  return Object.fromEntries(
    config.environments.map((environment) => {
      const override = conductor.environments[environment.name] ?? {};
      return [environment.name, { url: override.url ?? conductor.url, adminKeyEnv: override.adminKeyEnv ?? conductor.adminKeyEnv }];
    }),
  );
}

/** Conductor admin clients: URLs from the config, admin keys from the environment (read only when a client is used). */
function selectConductor(config: BotConfig, env: NodeJS.ProcessEnv): ConductorAccess {
  if (!config.secretRotation?.conductor) return null;
  return conductorClients(conductorAccess(config), env);
}

export async function repoRoot(options: Pick<Options, 'repo'>): Promise<string> {
  if (options.repo) return resolve(options.repo);
  const top = await simpleGit()
    .revparse(['--show-toplevel'])
    .catch(() => null);
  return top?.trim() || process.cwd();
}
