import type { CommandSpec } from '@dbos-gitops/cli-kit';
import { CREDENTIAL_NOTES, RUN_FLAGS, toOptions, type Options } from '../options.ts';
import type { CommandIo } from '../index.ts';

export const spec = {
  usage: 'pnpm bot run [--task TASK] [--env ENV] [--dry-run] [--json] [options]',
  summary:
    'Clones the remote into a temporary directory, plans against its base branch, and for each plan pushes the branch bot/<task>/<env>/<subject> and opens or updates its PR. Your checkout is never modified.',
  flags: RUN_FLAGS,
  notes: [
    'run never uses the offline catalog by default; --source catalog needs --dry-run, or --remote naming a local bare repository (a sandbox), so example digests never reach a real remote.',
    ...CREDENTIAL_NOTES,
  ],
} satisfies CommandSpec;

export async function run(values: Parameters<typeof toOptions>[0], io: CommandIo): Promise<number> {
  return runWithOptions(toOptions(values), io);
}

/** `run` once its flags are validated; `pnpm bot rollback` runs through here with its request in the options. */
export async function runWithOptions(options: Options, io: CommandIo): Promise<number> {
  // Loaded only when the command runs, so `--help` stays fast.
  const [
    { existsSync },
    { join, resolve },
    { simpleGit },
    { CONFIG_PATH, loadConfig, parseConfig },
    { checkConfigAgainstTree },
    { ConfigError, UsageError },
    { GitWorkspace, resolveGitAccess },
    runner,
    compose,
  ] = await Promise.all([
    import('node:fs'),
    import('node:path'),
    import('simple-git'),
    import('../../config/load.ts'),
    import('../../config/tree-check.ts'),
    import('../../errors.ts'),
    import('../../git/workspace.ts'),
    import('../../runner.ts'),
    import('../compose.ts'),
  ]);
  const root = await compose.repoRoot(options);
  const log = (line: string) => io.stderr(`${line}\n`);
  if (compose.chosenSource(options, io.env) === 'catalog') await compose.assertCatalogRunAllowed(options);
  let remote = options.remote;
  if (!remote) {
    remote =
      (
        await simpleGit({ baseDir: root })
          .remote(['get-url', 'origin'])
          .catch(() => '')
      )?.trim() || null;
    if (!remote) throw new UsageError(`${root} has no "origin" remote`, 'pass --remote <url> or add an origin remote');
  }
  // The base branch and identity come from --config, else from the checkout's config (which names the base branch
  // to clone); without --config the config that plans is the one committed on the base branch, read after the clone.
  const local = options.config
    ? await loadConfig(resolve(options.config))
    : existsSync(join(root, CONFIG_PATH))
      ? await loadConfig(join(root, CONFIG_PATH))
      : null;
  const base = local?.forge.baseBranch ?? 'main';
  const identity = local?.forge.author ?? { name: 'dbos-gitops-bot', email: 'dbos-gitops-bot@users.noreply.github.com' };
  // A GitHub App's installation token replaces GITHUB_TOKEN for git and the forge alike; the checkout's persisted
  // header (Actions' GITHUB_TOKEN, whose pushes trigger no CI) is then not inherited.
  const github = await compose.githubAccess(options, local, io.env, log);
  // Credentials reach git through its environment only, never the clone's .git/config or a command line.
  const access = await resolveGitAccess(remote, { checkoutDir: github.app ? null : root, env: github.env });
  // With an App, "GITHUB_TOKEN" in the sources is the App's installation token, which took its place.
  const credentialSources = github.app ? access.sources.map((source) => source.replace('GITHUB_TOKEN', "the GitHub App's installation token")) : access.sources;
  log(
    `cloning ${access.remote} (${base}) into a temporary directory${credentialSources.length > 0 ? `; credentials from ${credentialSources.join(', ')}` : ''}`,
  );
  io.progress(`cloning ${access.remote}`);
  const workspace = await GitWorkspace.clone(access, base, identity, io.signal ? { signal: io.signal } : {});
  try {
    let config = local;
    if (!options.config) {
      const text = await workspace.baseTree().read(CONFIG_PATH);
      if (text === null) throw new ConfigError(`not found on ${base}`, CONFIG_PATH, '', `commit ${CONFIG_PATH} to ${base} or pass --config <file>`);
      config = parseConfig(text, `${CONFIG_PATH} on ${base}`);
    }
    await checkConfigAgainstTree(config!, workspace.baseTree(), options.config ? resolve(options.config) : `${CONFIG_PATH} on ${base}`);
    const cache = await compose.openCache(options, io.env, log);
    const now = io.now ?? new Date();
    const forge = compose.selectForge(
      options,
      config!,
      github.env,
      async () => [...(await workspace.botBranches()).keys()],
      (text) => io.stdout(`${text}\n`),
      log,
      cache,
      github.app,
    );
    // The dashboard is read before the tasks are built: its honoured ticks are settings of this run's tasks.
    const tree = workspace.baseTree();
    const dashboard = compose.selectDashboard(
      options,
      config!,
      forge,
      log,
      compose.dashboardRenderer(config!, tree, () => sources, now, forge.describe),
    );
    const dashboardState = dashboard ? await dashboard.read() : null;
    const ticks = dashboardState ? await compose.dashboardTicks(dashboardState, config!, tree, now, log, options.rollback ?? null) : compose.NO_TICKS;
    const sources = compose.composeSources(config!, options, io.env, 'run', cache, ticks);
    log(`registry source: ${sources.registry.describe}`);
    log(`forge: ${forge.describe}`);
    if (dashboard) log(`dashboard: ${dashboard.where}`);
    io.progress('planning and applying');
    const result = await runner.runPlans({
      config: config!,
      tasks: sources.tasks,
      workspace,
      forge,
      registry: sources.registry,
      kube: sources.kube,
      conductor: sources.conductor,
      drain: sources.drain,
      envFilter: options.env,
      dryRun: options.dryRun,
      now,
      log,
      print: (text) => (options.json ? io.stderr(`${text}\n`) : io.stdout(`${text}\n`)),
      identity,
      dashboard,
      dashboardState,
      ...(io.signal ? { signal: io.signal } : {}),
    });
    // In GitHub Actions: the job summary (status + what this run did) and one log group per task.
    const actions = io.env.GITHUB_ACTIONS === 'true' ? await import('../github-actions.ts') : null;
    const report = runReport(result, runner.describeIgnored, options.dryRun);
    if (actions) {
      await actions.writeRunSummary({
        env: io.env,
        config: config!,
        tree: workspace.baseTree(),
        forge,
        drain: sources.drain,
        kube: sources.kube,
        envFilter: options.env,
        now: io.now ?? new Date(),
        report,
        log,
      });
    }
    await cache?.flush();
    if (options.json) {
      const data = {
        dryRun: options.dryRun,
        applied: result.applied.map((item) => ({ branch: item.plan.branch, title: item.plan.title, outcome: item.outcome, pr: item.pr, reason: item.reason })),
        closed: result.closed,
        cleanups: result.cleanups,
        skips: result.skips,
        ignored: result.ignored,
        pushes: result.pushes,
        forgeWrites: result.forgeWrites,
        registryCalls: sources.registry.stats,
        forgeCalls: forge.stats,
        cache: cache ? { dir: cache.dir, ...cache.stats } : null,
        dashboard: result.dashboard ?? null,
      };
      io.stdout(`${JSON.stringify(data, null, 2)}\n`);
      return 0;
    }
    if (actions) for (const group of report.groups) io.stdout(actions.groupOutput(group.task, group.lines));
    else for (const line of report.lines) io.stdout(`${line}\n`);
    io.stdout(`${report.totals}\n`);
    return 0;
  } finally {
    await workspace.dispose();
  }
}

/** What a run did, line by line, grouped by task (in the order the tasks ran), and its totals line. */
export interface RunReport {
  groups: Array<{ task: string; lines: string[] }>;
  /** The same lines in the order a terminal shows them: applied, cleanups, closed, skips, ignored. */
  lines: string[];
  totals: string;
}

export function runReport(
  result: Awaited<ReturnType<typeof import('../../runner.ts').runPlans>>,
  describeIgnored: (item: Awaited<ReturnType<typeof import('../../runner.ts').runPlans>>['ignored'][number]) => string,
  dryRun: boolean,
): RunReport {
  const groups = new Map<string, string[]>();
  const lines: string[] = [];
  const add = (task: string, line: string) => {
    lines.push(line);
    if (!groups.has(task)) groups.set(task, []);
    groups.get(task)!.push(line);
  };
  const taskOf = (branch: string) => /^bot\/([^/]+)\//.exec(branch)?.[1] ?? 'other';
  for (const item of result.applied)
    add(
      item.plan.task,
      `${item.outcome.padEnd(19)} ${item.plan.branch}${item.pr?.number ? ` (PR #${item.pr.number})` : ''}${item.reason ? `: ${item.reason}` : ''}`,
    );
  for (const line of result.cleanups) add('cleanups', `cleaned up          ${line}`);
  for (const closed of result.closed) add(taskOf(closed.branch), `closed              ${closed.branch} (PR #${closed.number}): ${closed.reason}`);
  for (const skip of result.skips) add(skip.task, `not proposed        ${skip.task} ${skip.env} ${skip.subject}: ${skip.reason}`);
  for (const item of result.ignored) add('ignored', `ignored             ${describeIgnored(item)}`);
  if (result.dashboard && result.dashboard.outcome !== 'dry-run')
    add(
      'dashboard',
      `dashboard           ${result.dashboard.outcome}: ${result.dashboard.url}${'reason' in result.dashboard ? ` (${result.dashboard.reason})` : ''}`,
    );
  return {
    groups: [...groups].map(([task, taskLines]) => ({ task, lines: taskLines })),
    lines,
    totals: `${result.pushes} push(es), ${result.forgeWrites} forge write(s)${dryRun ? ' (dry run: nothing written)' : ''}`,
  };
}
