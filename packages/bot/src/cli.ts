import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { simpleGit } from 'simple-git';
import { CONFIG_PATH, loadConfig } from './config/load.ts';
import type { BotConfig } from './config/schema.ts';
import { checkConfigAgainstTree } from './config/tree-check.ts';
import { isBotError, UsageError, ConfigError, InterruptedError } from './errors.ts';
import { GitWorkspace, localBotBranches, resolveGitAccess } from './git/workspace.ts';
import { fsTree } from './repo/tree.ts';
import { describeIgnored, describePlan, planAll, runPlans, screenPullRequests } from './runner.ts';
import { GitHubForge, githubSettingsFromEnv } from './sources/forge/github.ts';
import { LocalForge } from './sources/forge/local.ts';
import type { Forge } from './sources/forge/types.ts';
import { KubeClientHealth, type KubeHealth } from './sources/kube/health.ts';
import { CatalogRegistry, EMBEDDED_CATALOG } from './sources/registry/catalog.ts';
import { OciRegistryClient } from './sources/registry/oci-client.ts';
import { UnreachableFallbackRegistry } from './sources/registry/fallback.ts';
import type { RegistrySource } from './sources/registry/types.ts';
import { configuredTasks, TASKS } from './tasks/index.ts';
import { conductorClients } from './sources/conductor/factory.ts';
import type { ConductorAccess, Task } from './tasks/types.ts';
import { unifiedDiff } from './diff.ts';
import { runDrainStatus } from './commands/drain-status.ts';
import { DrainReadError, NOT_CONFIGURED } from './sources/drain/source.ts';
import { runSeal } from '@dbos-gitops/sealing';

const HELP: Record<string, string> = {
  main: `gitops-bot: proposes changes to this GitOps repository as pull requests

usage: pnpm bot <command> [options]

commands:
  plan          read everything, write nothing: print what the bot would change
  run           apply the plans: push one branch per change and open or update its PR
  drain-status  in-flight DBOS workflows per application version (what retirement waits for)
  seal          seal values into a SealedSecret for an environment's certificate (kubeseal-compatible flags)

Run \`pnpm bot <command> --help\` for the options of a command.

tasks: ${TASKS.map((task) => task.name).join(', ')}
`,
  plan: `usage: pnpm bot plan [--env ENV] [--task TASK] [--json] [options]

Plans against the working tree of this checkout and writes nothing anywhere.

options:
  --env ENV          only this environment (others are still read for promotion)
  --task TASK        only this task (default: all: ${TASKS.map((task) => task.name).join(', ')})
  --json             machine-readable output on stdout
  --config FILE      bot config (default: <repo>/${CONFIG_PATH})
  --repo DIR         the GitOps repository (default: the git top level of the current directory)
  --source SOURCE    registry source: live (OCI registries, the default) or catalog (offline example data); plan
                     falls back to the catalog, labelled, only when no registry can be reached
  --catalog FILE     catalog file for --source catalog (default: the embedded one)
  --forge FORGE      github or local (default: github when GITHUB_TOKEN is set and forge.type is github)
  --rotate-now       secret-rotation: rotate the Conductor API key now, whatever its age (with --env: only there)
  -h, --help         this help

Registry credentials come from GITOPS_BOT_REGISTRY_<HOST>_USERNAME and GITOPS_BOT_REGISTRY_<HOST>_PASSWORD, where
<HOST> is the registry host upper-cased with non-alphanumerics as "_" (ghcr.io → GHCR_IO). GitHub settings come from
GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL (Enterprise Server).
`,
  run: `usage: pnpm bot run [--task TASK] [--env ENV] [--dry-run] [--json] [options]

Clones the remote into a temporary directory, plans against its base branch, and for each plan pushes the branch
bot/<task>/<env>/<subject> and opens or updates its PR. Your checkout is never modified.

options:
  --dry-run          print diffs and PR text; push nothing, open nothing
  --remote URL       git remote to clone and push (default: origin of --repo)

run never uses the offline catalog by default; --source catalog needs --dry-run, or --remote naming a local bare
repository (a sandbox), so example digests never reach a real remote.
  (and every option of \`pnpm bot plan\`)
`,
};

interface Options {
  env: string | null;
  task: string | null;
  json: boolean;
  dryRun: boolean;
  config: string | null;
  repo: string | null;
  remote: string | null;
  source: 'live' | 'catalog' | null;
  catalog: string | null;
  forge: 'github' | 'local' | null;
  rotateNow: boolean;
}

/** A password in any URL, or any userinfo in an http(s) URL (`https://<token>@host`); `ssh://git@host` is a user name. */
function remoteCarriesCredentials(remote: string): boolean {
  try {
    const url = new URL(remote);
    return url.password !== '' || ((url.protocol === 'http:' || url.protocol === 'https:') && url.username !== '');
  } catch {
    // scp-like `git@host:org/repo` and paths: credentials there would need a URL, but refuse anything ambiguous.
    return /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(remote);
  }
}

function parse(argv: string[]): { command: string | null; options: Options; help: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        env: { type: 'string' },
        task: { type: 'string' },
        json: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        config: { type: 'string' },
        repo: { type: 'string' },
        remote: { type: 'string' },
        source: { type: 'string' },
        catalog: { type: 'string' },
        forge: { type: 'string' },
        'rotate-now': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  // Never echo a stray argument: it may be a secret that lost its flag.
  if (positionals.length > 1) throw new UsageError(`unexpected argument #${argv.indexOf(positionals[1]!) + 1} (not shown)`);
  if (values.remote !== undefined && remoteCarriesCredentials(values.remote)) {
    throw new UsageError('--remote carries credentials (user:password@ or token@ in an http(s) URL), which the command line would leak into logs, shell history and ps; the value is not shown', 'pass the URL without credentials and give the token as GITHUB_TOKEN (github.com, or GITHUB_SERVER_URL), through a git credential helper, or run from a checkout whose git config holds it (as actions/checkout leaves it)');
  }
  const source = values.source ?? null;
  if (source !== null && source !== 'live' && source !== 'catalog') throw new UsageError(`--source must be live or catalog, not "${source}"`);
  const forge = values.forge ?? null;
  if (forge !== null && forge !== 'github' && forge !== 'local') throw new UsageError(`--forge must be github or local, not "${forge}"`);
  return {
    command: positionals[0] ?? null,
    help: values.help ?? false,
    options: {
      env: values.env ?? null,
      task: values.task ?? null,
      json: values.json ?? false,
      dryRun: values['dry-run'] ?? false,
      config: values.config ?? null,
      repo: values.repo ?? null,
      remote: values.remote ?? null,
      source,
      catalog: values.catalog ?? null,
      forge,
      rotateNow: values['rotate-now'] ?? false,
    },
  };
}

/**
 * Running every task, one the config does not enable, or whose inputs were never configured (e.g. no drain reader
 * URL for version-retire), is reported as not proposed instead of aborting the others; asked for by name, it stays an error. Either way it
 * proposes nothing, which is the fail-closed outcome.
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
        return { plans: [], skips: [{ task: task.name, env: context.envFilter ?? 'all', subject: '-', reason: `not evaluated: ${error.message} (${error.hint})` }] };
      }
    },
  };
}

function selectTasks(config: BotConfig, options: Options, env: NodeJS.ProcessEnv): readonly Task[] {
  const rotation = config.secretRotation?.conductor;
  const clients = rotation ? conductorClients(conductorAccess(config), env) : null;
  const conductorKeys = clients && rotation ? (name: string) => clients(name).listTokens(rotation.org) : null;
  const tasks = configuredTasks(config, { rotateNow: options.rotateNow, envFilter: options.env, conductorKeys });
  const name = options.task;
  if (!name) return tasks.map(skipWhenNotConfigured);
  const task = tasks.find((candidate) => candidate.name === name);
  if (!task) throw new UsageError(`unknown task "${name}"`, `use one of: ${TASKS.map((candidate) => candidate.name).join(', ')}`);
  return [task];
}

/** The source the user chose (flag, then GITOPS_BOT_SOURCE), or null for the default: live. */
function chosenSource(options: Options, env: NodeJS.ProcessEnv): 'live' | 'catalog' | null {
  return options.source ?? (env.GITOPS_BOT_SOURCE === 'live' || env.GITOPS_BOT_SOURCE === 'catalog' ? env.GITOPS_BOT_SOURCE : null);
}

/**
 * Live by default everywhere. The offline catalog (example data, placeholder digests) is used when asked for, and
 * by `plan` alone as a labelled fallback when no registry can be reached; `run` never falls back.
 */
function selectRegistry(options: Options, config: BotConfig, env: NodeJS.ProcessEnv, command: 'plan' | 'run'): RegistrySource {
  const chosen = chosenSource(options, env);
  const catalog = () => new CatalogRegistry(options.catalog ? resolve(options.catalog) : EMBEDDED_CATALOG);
  if (chosen === 'catalog') return catalog();
  const plainHttpHosts = Object.entries(config.registries)
    .filter(([, settings]) => settings.plainHttp)
    .map(([host]) => host);
  const live = new OciRegistryClient({ plainHttpHosts, env });
  return chosen === null && command === 'plan' ? new UnreachableFallbackRegistry(live, catalog) : live;
}

/**
 * `run` on catalog data would push example digests; it is allowed only where nothing real can receive them: with
 * --dry-run, or into a local bare repository named by --remote (a sandbox; never the checkout's origin, never a URL).
 */
async function assertCatalogRunAllowed(options: Options): Promise<void> {
  if (options.dryRun) return;
  const remote = options.remote;
  if (remote !== null && !remote.includes('://') && !/^[^/]*:/.test(remote) && existsSync(remote)) {
    const bare = await simpleGit({ baseDir: resolve(remote) }).raw(['rev-parse', '--is-bare-repository']).catch(() => '');
    if (bare.trim() === 'true') return;
  }
  throw new UsageError(
    `run with the offline catalog would push its example data (placeholder digests) to ${remote === null ? 'the origin remote' : remote.replace(/\/\/[^@/\s]+@/, '//***@')}`,
    'use the live registries (the default; drop --source catalog and GITOPS_BOT_SOURCE=catalog); to try the bot on example data add --dry-run, or push to a sandbox with --remote <path of a local bare repository>',
  );
}

function selectForge(options: Options, config: BotConfig, env: NodeJS.ProcessEnv, listLocalBranches: () => Promise<string[]>, print: (text: string) => void, log: (line: string) => void): Forge {
  const settings = githubSettingsFromEnv(env);
  const kind = options.forge ?? (config.forge.type === 'github' && settings.token ? 'github' : 'local');
  if (kind === 'local') return new LocalForge(listLocalBranches, print);
  if (!settings.token) throw new ConfigError('--forge github needs a token', 'environment', 'GITHUB_TOKEN', 'set GITHUB_TOKEN (in Actions: secrets.GITHUB_TOKEN) or use --forge local');
  const owner = config.forge.owner ?? settings.owner;
  const repo = config.forge.repo ?? settings.repo;
  if (!owner || !repo) throw new ConfigError('the GitHub repository is unknown', CONFIG_PATH, 'forge.owner', 'set forge.owner and forge.repo, or GITHUB_REPOSITORY=owner/repo');
  const writeInterval = env.GITOPS_BOT_GITHUB_WRITE_INTERVAL_MS;
  return new GitHubForge({ token: settings.token, owner, repo, inActions: settings.inActions, ...(config.forge.botLogin ? { botLogin: config.forge.botLogin } : {}), ...(settings.baseUrl ? { baseUrl: settings.baseUrl } : {}), ...(writeInterval === '0' ? { minWriteIntervalMs: 0, retryAfterBaseValue: 10 } : {}), log });
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

/** Conductor access for effects (API-key rotation): URLs from the config, admin keys from the environment. */
function selectConductor(config: BotConfig, env: NodeJS.ProcessEnv): ConductorAccess {
  if (!config.secretRotation?.conductor) return null;
  return conductorClients(conductorAccess(config), env);
}

function selectKube(config: BotConfig): KubeHealth | null {
  const contexts = Object.fromEntries(config.environments.filter((env) => env.kube).map((env) => [env.name, env.kube!.context]));
  return Object.keys(contexts).length > 0 ? new KubeClientHealth(contexts) : null;
}

async function repoRoot(options: Options): Promise<string> {
  if (options.repo) return resolve(options.repo);
  const top = await simpleGit().revparse(['--show-toplevel']).catch(() => null);
  return top?.trim() || process.cwd();
}

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  now?: Date;
  /** Aborted with an InterruptedError on SIGINT/SIGTERM (see the entry point below). */
  signal?: AbortSignal;
}

async function commandPlan(options: Options, io: CliIo): Promise<void> {
  const root = await repoRoot(options);
  const configFile = options.config ? resolve(options.config) : join(root, CONFIG_PATH);
  const config = await loadConfig(configFile);
  const tasks = selectTasks(config, options, io.env);
  const log = (line: string) => io.stderr(`${line}\n`);
  const registry = selectRegistry(options, config, io.env, 'plan');
  const forge = selectForge(options, config, io.env, () => localBotBranches(root), log, log);
  const tree = fsTree(root);
  await checkConfigAgainstTree(config, tree, configFile);
  log(`registry source: ${registry.describe}`);
  log(`forge: ${forge.describe}`);
  const { pullRequests, ignored } = screenPullRequests(await forge.listBotPullRequests());
  const { plans, skips } = await planAll({ config, tasks, tree, registry, kube: selectKube(config), pullRequests, conductor: selectConductor(config, io.env), envFilter: options.env, now: io.now ?? new Date(), log });
  if (options.json) {
    io.stdout(
      `${JSON.stringify(
        {
          sources: { tree: tree.describe, registry: registry.describe, forge: forge.describe },
          plans: plans.map((plan) => ({ ...plan, edits: plan.edits.map((edit) => ({ path: edit.path, diff: unifiedDiff(edit.path, edit.before, edit.after) })), effects: (plan.effects ?? []).map((effect) => effect.describe()) })),
          skips,
          ignored,
          registryCalls: registry.stats,
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  io.stdout(`Plan against ${tree.describe}\nregistry: ${registry.describe}\nforge: ${forge.describe}\n\n`);
  if (plans.length === 0) io.stdout('No changes to propose.\n');
  for (const plan of plans) io.stdout(`${describePlan(plan)}\n\n`);
  if (skips.length > 0) {
    io.stdout('Not proposed:\n');
    for (const skip of skips) io.stdout(`  ${skip.task} ${skip.env} ${skip.subject}: ${skip.reason}\n`);
  }
  if (ignored.length > 0) {
    io.stdout('Ignored (not the bot\'s):\n');
    for (const item of ignored) io.stdout(`  ${describeIgnored(item)}\n`);
  }
}

async function commandRun(options: Options, io: CliIo): Promise<void> {
  const root = await repoRoot(options);
  const log = (line: string) => io.stderr(`${line}\n`);
  if (chosenSource(options, io.env) === 'catalog') await assertCatalogRunAllowed(options);
  let remote = options.remote;
  if (!remote) {
    remote = (await simpleGit({ baseDir: root }).remote(['get-url', 'origin']).catch(() => ''))?.trim() || null;
    if (!remote) throw new UsageError(`${root} has no "origin" remote`, 'pass --remote <url> or add an origin remote');
  }
  // The base branch and identity come from the config on the base branch, read after the clone; --config overrides.
  const preliminary = options.config ? await loadConfig(resolve(options.config)) : existsSync(join(root, CONFIG_PATH)) ? await loadConfig(join(root, CONFIG_PATH)) : null;
  const base = preliminary?.forge.baseBranch ?? 'main';
  const identity = preliminary?.forge.author ?? { name: 'dbos-gitops-bot', email: 'dbos-gitops-bot@users.noreply.github.com' };
  // Credentials reach git through its environment only, never the clone's .git/config or a command line.
  const access = await resolveGitAccess(remote, { checkoutDir: root, env: io.env });
  log(`cloning ${access.remote} (${base}) into a temporary directory${access.sources.length > 0 ? `; credentials from ${access.sources.join(', ')}` : ''}`);
  const workspace = await GitWorkspace.clone(access, base, identity, io.signal ? { signal: io.signal } : {});
  try {
    let config = preliminary;
    if (!options.config) {
      const text = await workspace.baseTree().read(CONFIG_PATH);
      if (text === null) throw new ConfigError(`not found on ${base}`, CONFIG_PATH, '', `commit ${CONFIG_PATH} to ${base} or pass --config <file>`);
      const { parseConfig } = await import('./config/load.ts');
      config = parseConfig(text, `${CONFIG_PATH} on ${base}`);
    }
    await checkConfigAgainstTree(config!, workspace.baseTree(), options.config ? resolve(options.config) : `${CONFIG_PATH} on ${base}`);
    const tasks = selectTasks(config!, options, io.env);
    const registry = selectRegistry(options, config!, io.env, 'run');
    const forge = selectForge(options, config!, io.env, async () => [...(await workspace.botBranches()).keys()], (text) => io.stdout(`${text}\n`), log);
    log(`registry source: ${registry.describe}`);
    log(`forge: ${forge.describe}`);
    const result = await runPlans({
      config: config!,
      tasks,
      workspace,
      forge,
      registry,
      kube: selectKube(config!),
      envFilter: options.env,
      dryRun: options.dryRun,
      now: io.now ?? new Date(),
      log,
      print: (text) => (options.json ? io.stderr(`${text}\n`) : io.stdout(`${text}\n`)),
      identity,
      conductor: selectConductor(config!, io.env),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    if (options.json) {
      io.stdout(
        `${JSON.stringify(
          {
            dryRun: options.dryRun,
            applied: result.applied.map((item) => ({ branch: item.plan.branch, title: item.plan.title, outcome: item.outcome, pr: item.pr, reason: item.reason })),
            closed: result.closed,
            cleanups: result.cleanups,
            skips: result.skips,
            ignored: result.ignored,
            pushes: result.pushes,
            forgeWrites: result.forgeWrites,
            registryCalls: registry.stats,
          },
          null,
          2,
        )}\n`,
      );
      return;
    }
    for (const item of result.applied) io.stdout(`${item.outcome.padEnd(19)} ${item.plan.branch}${item.pr && item.pr.number ? ` (PR #${item.pr.number})` : ''}${item.reason ? `: ${item.reason}` : ''}\n`);
    for (const line of result.cleanups) io.stdout(`cleaned up          ${line}\n`);
    for (const closed of result.closed) io.stdout(`closed              ${closed.branch} (PR #${closed.number}): ${closed.reason}\n`);
    for (const skip of result.skips) io.stdout(`not proposed        ${skip.task} ${skip.env} ${skip.subject}: ${skip.reason}\n`);
    for (const item of result.ignored) io.stdout(`ignored             ${describeIgnored(item)}\n`);
    io.stdout(`${result.pushes} push(es), ${result.forgeWrites} forge write(s)${options.dryRun ? ' (dry run: nothing written)' : ''}\n`);
  } finally {
    await workspace.dispose();
  }
}

/** Files in this repository are YAML, so `seal` writes YAML unless asked otherwise (kubeseal itself defaults to JSON). */
function withDefaultFormat(args: string[]): string[] {
  const hasFormat = args.some((arg) => arg === '--format' || arg === '-o' || arg.startsWith('--format=') || arg.startsWith('-o='));
  return hasFormat ? args : [...args, '--format', 'yaml'];
}

/** Parses argv, runs the command, and maps every failure to a message and an exit code. The only catch in the bot. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  try {
    // Commands with their own flags parse them themselves.
    if (argv[0] === 'drain-status') return await runDrainStatus(argv.slice(1), io);
    if (argv[0] === 'seal') {
      // pnpm runs scripts from the repository root; relative paths mean what they meant where the user typed them.
      const cwd = io.env.INIT_CWD ?? process.cwd();
      return await runSeal(withDefaultFormat(argv.slice(1)), { stdout: { write: io.stdout }, stderr: { write: io.stderr }, env: io.env, cwd });
    }
    const { command, options, help } = parse(argv);
    if (!command || command === 'help') {
      io.stdout(HELP.main!);
      return command || help ? 0 : 64;
    }
    if (!(command in HELP) || command === 'main') throw new UsageError(`unknown command "${command}"`);
    if (help) {
      io.stdout(HELP[command]!);
      return 0;
    }
    if (command === 'plan') {
      if (options.dryRun || options.remote) throw new UsageError('plan never writes; --dry-run and --remote belong to `run`');
      await commandPlan(options, io);
    } else await commandRun(options, io);
    return 0;
  } catch (error) {
    // Whatever the interrupted step threw, the process was asked to stop: report that, with the signal's exit code.
    const reason: unknown = io.signal?.aborted ? io.signal.reason : null;
    if (reason instanceof InterruptedError && error !== reason) {
      io.stderr(`error: ${reason.message}\n  what to do: ${reason.hint}\n`);
      return reason.exitCode;
    }
    if (isBotError(error)) {
      io.stderr(`error: ${error.message}\n  what to do: ${error.hint}\n`);
      return error.exitCode;
    }
    io.stderr(`error: unexpected failure: ${(error as Error)?.message ?? String(error)}\n  what to do: this is a bug in the bot; rerun with DEBUG=gitops-bot for details and report it\n`);
    if (io.env.DEBUG?.includes('gitops-bot')) io.stderr(`${(error as Error)?.stack ?? ''}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/bot/src/cli.ts')) {
  // SIGINT/SIGTERM abort the run instead of killing it, so the normal error path cleans up (a created Conductor key
  // is deleted, the temporary clone removed) before the process exits 130/143. A second signal exits at once.
  const interrupt = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupt.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
      process.stderr.write(`received ${signal}: stopping at the next step and undoing this run's changes\n`);
      interrupt.abort(new InterruptedError(signal));
    });
  }
  const code = await main(process.argv.slice(2), { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text), env: process.env, signal: interrupt.signal });
  process.exitCode = interrupt.signal.aborted ? (interrupt.signal.reason as InterruptedError).exitCode : code;
}
