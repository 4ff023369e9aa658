import type { CommandSpec } from '@dbos-gitops/cli-kit';
import { UsageError } from '../../errors.ts';
import { CREDENTIAL_NOTES, PLAN_FLAGS, toOptions } from '../options.ts';
import type { CommandIo } from '../index.ts';

export const spec = {
  usage: 'pnpm bot plan [--env ENV] [--task TASK] [--json] [options]',
  summary:
    'Plans against the working tree of this checkout and writes nothing anywhere: prints what the bot would change, and why it proposes nothing elsewhere.',
  flags: PLAN_FLAGS,
  notes: CREDENTIAL_NOTES,
} satisfies CommandSpec;

/** `plan` never writes: name the command that takes the write flags instead of calling them unknown. */
export function screen(argv: readonly string[]): void {
  if (argv.some((arg) => /^--(dry-run|remote)(=|$)/.test(arg))) {
    throw new UsageError('plan never writes; --dry-run and --remote belong to `run`', 'use `pnpm bot run --dry-run` to see what a run would do');
  }
}

export async function run(values: Parameters<typeof toOptions>[0], io: CommandIo): Promise<number> {
  const options = toOptions(values);
  // Loaded only when the command runs, so `--help` stays fast.
  const [{ join, resolve }, { CONFIG_PATH, loadConfig }, { checkConfigAgainstTree }, { localBotBranches }, { fsTree }, runner, { unifiedDiff }, compose] =
    await Promise.all([
      import('node:path'),
      import('../../config/load.ts'),
      import('../../config/tree-check.ts'),
      import('../../git/workspace.ts'),
      import('../../repo/tree.ts'),
      import('../../runner.ts'),
      import('../../diff.ts'),
      import('../compose.ts'),
    ]);
  const root = await compose.repoRoot(options);
  const configFile = options.config ? resolve(options.config) : join(root, CONFIG_PATH);
  io.progress(`reading the config ${configFile}`);
  const config = await loadConfig(configFile);
  const log = (line: string) => io.stderr(`${line}\n`);
  const cache = await compose.openCache(options, io.env, log);
  const sources = compose.composeSources(config, options, io.env, 'plan', cache);
  const github = await compose.githubAccess(options, config, io.env, log);
  const forge = compose.selectForge(options, config, github.env, () => localBotBranches(root), log, log, cache, github.app);
  const tree = fsTree(root);
  await checkConfigAgainstTree(config, tree, configFile);
  log(`registry source: ${sources.registry.describe}`);
  log(`forge: ${forge.describe}`);
  const { pullRequests, ignored } = runner.screenPullRequests(await forge.listBotPullRequests());
  const { plans, skips } = await runner.planAll({
    config,
    tasks: sources.tasks,
    tree,
    registry: sources.registry,
    kube: sources.kube,
    conductor: sources.conductor,
    drain: sources.drain,
    pullRequests,
    envFilter: options.env,
    now: io.now ?? new Date(),
    log,
  });
  await cache?.flush();
  if (options.json) {
    const data = {
      sources: { tree: tree.describe, registry: sources.registry.describe, forge: forge.describe },
      plans: plans.map((plan) => ({
        ...plan,
        edits: plan.edits.map((edit) => ({ path: edit.path, diff: unifiedDiff(edit.path, edit.before, edit.after) })),
        effects: (plan.effects ?? []).map((effect) => effect.describe()),
      })),
      skips,
      ignored,
      registryCalls: sources.registry.stats,
      forgeCalls: forge.stats,
      cache: cache ? { dir: cache.dir, ...cache.stats } : null,
    };
    io.stdout(`${JSON.stringify(data, null, 2)}\n`);
    return 0;
  }
  io.stdout(`Plan against ${tree.describe}\nregistry: ${sources.registry.describe}\nforge: ${forge.describe}\n\n`);
  if (plans.length === 0) io.stdout('No changes to propose.\n');
  for (const plan of plans) io.stdout(`${runner.describePlan(plan)}\n\n`);
  if (skips.length > 0) {
    io.stdout('Not proposed:\n');
    for (const skip of skips) io.stdout(`  ${skip.task} ${skip.env} ${skip.subject}: ${skip.reason}\n`);
  }
  if (ignored.length > 0) {
    io.stdout("Ignored (not the bot's):\n");
    for (const item of ignored) io.stdout(`  ${runner.describeIgnored(item)}\n`);
  }
  return 0;
}
