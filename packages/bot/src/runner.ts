import type { BotConfig } from './config/schema.ts';
import { ExistingPullRequestError, PushRejectedError } from './errors.ts';
import { unifiedDiff } from './diff.ts';
import { applyStandaloneEffects, describeEffects, withEffects } from './effects.ts';
import type { GitIdentity, GitWorkspace } from './git/workspace.ts';
import { baseLabels, inspectMarker, markClosedForHold, parseBranch, type EffectContext, type Plan, type Skip, type TaskResult } from './plan.ts';
import type { TreeReader } from './repo/tree.ts';
import type { DashboardOutcome, DashboardState, DashboardStep } from './sources/forge/dashboard.ts';
import { HOLD_LABEL, type BotPullRequests, type Forge, type IgnoredPullRequest, type PullRequestRecord } from './sources/forge/types.ts';
import type { DrainSourceFor } from './sources/drain/for-environment.ts';
import type { KubeHealth } from './sources/kube/health.ts';
import type { RegistrySource } from './sources/registry/types.ts';
import type { ConductorAccess, PreviousProposal, Task, TaskContext } from './tasks/types.ts';

export interface PlanInputs {
  config: BotConfig;
  tasks: readonly Task[];
  tree: TreeReader;
  registry: RegistrySource;
  kube: KubeHealth | null;
  /** Conductor clients per environment (admin API), for tasks whose effects write to Conductor; null: none. */
  conductor?: ConductorAccess;
  /** The drain reader of an environment (version-retire); null: none configured. */
  drain?: DrainSourceFor | null;
  pullRequests: PullRequestRecord[];
  envFilter: string | null;
  now: Date;
  log: (line: string) => void;
}

/** Something the bot read on the forge and will not act on: a PR that is not its own, or an own PR's bad marker. */
export interface IgnoredInput extends Omit<IgnoredPullRequest, 'headRepo' | 'sameRepository'> {
  what: 'pull request' | 'marker';
  headRepo?: string | null;
  sameRepository?: boolean;
}

/** The bot's own PRs, plus everything it ignores (forged PRs from the forge; own PRs whose marker fails its checks). */
export function screenPullRequests(listing: BotPullRequests): { pullRequests: PullRequestRecord[]; ignored: IgnoredInput[] } {
  const ignored: IgnoredInput[] = listing.ignored.map((pr) => ({ ...pr, what: 'pull request' as const }));
  for (const pr of listing.own) {
    const marker = inspectMarker(pr.body, pr.branch);
    if ('problem' in marker)
      ignored.push({ what: 'marker', number: pr.number, branch: pr.branch, state: pr.state, author: pr.author ?? '', url: pr.url, reason: marker.problem });
  }
  return { pullRequests: listing.own, ignored };
}

export function describeIgnored(item: IgnoredInput): string {
  return item.what === 'marker'
    ? `marker of PR #${item.number} (${item.branch}) ignored: ${item.reason}`
    : `PR #${item.number} (${item.branch}, ${item.state}) is not the bot's: ${item.reason}`;
}

export function previousProposals(pullRequests: PullRequestRecord[]): PreviousProposal[] {
  const out: PreviousProposal[] = [];
  for (const pr of pullRequests) {
    const marker = inspectMarker(pr.body, pr.branch);
    if (!('marker' in marker)) continue;
    // Closed by the bot because of a hold, not rejected by a human: once the hold is gone the change is due again.
    if (pr.state === 'closed' && !pr.merged && marker.marker.closedFor === 'hold') continue;
    out.push({
      branch: pr.branch,
      number: pr.number,
      state: pr.state,
      merged: pr.merged,
      held: pr.labels.includes(HOLD_LABEL),
      body: pr.body,
      proposal: marker.marker,
    });
  }
  return out;
}

/** Sources + repo → context → tasks → plans. Reads only. */
export async function planAll(inputs: PlanInputs): Promise<{ plans: Plan[]; skips: Skip[]; effects: NonNullable<TaskResult['effects']> }> {
  if (inputs.envFilter && !inputs.config.environments.some((env) => env.name === inputs.envFilter)) {
    const { UsageError } = await import('./errors.ts');
    throw new UsageError(`unknown environment "${inputs.envFilter}"`, `use one of: ${inputs.config.environments.map((env) => env.name).join(', ')}`);
  }
  const context: TaskContext = {
    config: inputs.config,
    tree: inputs.tree,
    registry: inputs.registry,
    kube: inputs.kube,
    conductor: inputs.conductor ?? null,
    drain: inputs.drain ?? null,
    previous: previousProposals(inputs.pullRequests),
    now: inputs.now,
    envFilter: inputs.envFilter,
    log: inputs.log,
  };
  const plans: Plan[] = [];
  const skips: Skip[] = [];
  const effects: NonNullable<TaskResult['effects']>[number][] = [];
  for (const task of inputs.tasks) {
    inputs.log(`planning ${task.name} against ${inputs.tree.describe}`);
    const result = await task.plan(context);
    plans.push(...result.plans);
    skips.push(...result.skips);
    effects.push(...(result.effects ?? []));
  }
  const branches = new Set<string>();
  for (const plan of plans) {
    // One change = one branch: two plans on one branch would overwrite each other.
    if (branches.has(plan.branch)) throw new Error(`internal: two plans for ${plan.branch}`);
    branches.add(plan.branch);
  }
  return { plans, skips, effects };
}

export type Outcome = 'created' | 'updated' | 'unchanged' | 'pushed-pr-unchanged' | 'limited' | 'held' | 'dry-run' | 'refused';

export interface AppliedPlan {
  plan: Plan;
  outcome: Outcome;
  pr: { number: number; url: string } | null;
  reason?: string;
}

export interface RunResult {
  applied: AppliedPlan[];
  skips: Skip[];
  closed: Array<{ branch: string; number: number; reason: string }>;
  /** PRs (and markers) on the forge the bot did not act on, with why. */
  ignored: IgnoredInput[];
  pushes: number;
  forgeWrites: number;
  /** What the run's PR-less effects did (e.g. unused Conductor keys deleted or kept), one line each. */
  cleanups: string[];
  /** What the dashboard step did; null when the dashboard is off. */
  dashboard?: DashboardOutcome | null;
}

export interface RunInputs {
  config: BotConfig;
  tasks: readonly Task[];
  workspace: GitWorkspace;
  /** Built after the clone, because the local forge reads branches from it. */
  forge: Forge;
  registry: RegistrySource;
  kube: KubeHealth | null;
  conductor?: ConductorAccess;
  drain?: DrainSourceFor | null;
  envFilter: string | null;
  dryRun: boolean;
  now: Date;
  log: (line: string) => void;
  /** Human output (dry-run diffs, local-forge PR text). */
  print: (text: string) => void;
  identity: GitIdentity;
  /** Aborted on SIGINT/SIGTERM: the run stops at the next step boundary and the usual error path undoes its work. */
  signal?: AbortSignal;
  /** The dashboard issue, read before the tasks and written after them; absent or null: off. */
  dashboard?: DashboardStep | null;
  /** The dashboard as the caller already read it (its ticks configured the tasks); absent: read here. */
  dashboardState?: DashboardState | null;
}

/** A plan the runner writes: its branch is pushed (unless the remote already has its content) and its PR opened or updated. */
interface Write {
  plan: Plan;
  existing: PullRequestRecord | null;
  labelled: string | undefined;
  /** The branch's commit on the remote when the run fetched it; null: no such branch. */
  remoteSha: string | null;
  pushed: { sha: string; previous: string | null } | null;
  /** git's reason when the remote refused the branch. */
  refused: string | null;
}

/** The commit message: the PR title and body without the hidden marker. */
function commitMessage(plan: Plan): string {
  return `${plan.title}\n\n${plan.body.split('\n<!--')[0]!.trim()}`;
}

export function describePlan(plan: Plan): string {
  const diffs = plan.edits.map((edit) => unifiedDiff(edit.path, edit.before, edit.after)).join('\n');
  return [`${plan.branch}: ${plan.title}`, `labels: ${plan.labels.join(', ')}`, diffs, '', plan.body].join('\n');
}

/**
 * The only code that writes. For each plan: push its branch (one commit on the base branch, force-with-lease) when the
 * remote branch does not already carry the same content, then create or update its PR; then close the bot's own open
 * PRs that no plan wants any more. Re-running with nothing new does no writes at all.
 */
/** Whether a skip speaks for an open PR's subject: the same subject, every subject (`*`), or every subject of one
 * application (`<app>/*` covers `<app>/<slug>` and nothing of another application). */
function skipCovers(skipSubject: string, subject: string): boolean {
  if (skipSubject === subject || skipSubject === '*') return true;
  return skipSubject.endsWith('/*') && subject.startsWith(skipSubject.slice(0, -1));
}

export async function runPlans(inputs: RunInputs): Promise<RunResult> {
  const { config, forge, workspace, log } = inputs;
  log(`reading the bot's pull requests from ${forge.describe}`);
  const { pullRequests, ignored } = screenPullRequests(await forge.listBotPullRequests());
  for (const item of ignored) log(`ignored: ${describeIgnored(item)}`);
  const board = inputs.dashboard ? (inputs.dashboardState ?? (await inputs.dashboard.read())) : null;
  const { plans, skips, effects } = await planAll({
    config,
    tasks: inputs.tasks,
    tree: workspace.baseTree(),
    registry: inputs.registry,
    kube: inputs.kube,
    conductor: inputs.conductor ?? null,
    drain: inputs.drain ?? null,
    pullRequests,
    envFilter: inputs.envFilter,
    now: inputs.now,
    log,
  });
  const heads = await workspace.botBranches();
  const openByBranch = new Map(pullRequests.filter((pr) => pr.state === 'open').map((pr) => [pr.branch, pr]));
  const result: RunResult = { applied: [], skips, closed: [], ignored, pushes: 0, forgeWrites: 0, cleanups: [] };
  const openBranches = pullRequests.filter((pr) => pr.state === 'open').map((pr) => pr.branch);
  // Effects read the base branch they were planned against (and the open bot branches), never the forge's PR bodies.
  const effectContext: EffectContext = {
    readFile: (path) => workspace.baseTree().read(path),
    readRefs: (path, branches) => workspace.readRefs(path, branches),
    openBranches,
    now: inputs.now,
    log,
    ...(inputs.signal ? { signal: inputs.signal } : {}),
  };
  result.cleanups = await applyStandaloneEffects([{ effects }], effectContext, { dryRun: inputs.dryRun, print: inputs.print });
  const hourAgo = inputs.now.getTime() - 3_600_000;
  let openCount = pullRequests.filter((pr) => pr.state === 'open').length;
  let createdLastHour = pullRequests.filter((pr) => Date.parse(pr.createdAt) >= hourAgo).length;
  const base = config.forge.baseBranch;

  /** Opens the plan's PR, or updates the open one; records the outcome. Returns the PR it opened, if any. */
  const openOrUpdate = async (
    plan: Plan,
    existing: PullRequestRecord | null,
    labelled: string | undefined,
    pushed: boolean,
  ): Promise<PullRequestRecord | null> => {
    inputs.signal?.throwIfAborted();
    if (!existing) {
      const opened = await forge.createPullRequest({ branch: plan.branch, base, title: plan.title, body: plan.body, labels: plan.labels });
      result.applied.push({ plan, outcome: 'created', pr: { number: opened.number, url: opened.url } });
      return opened;
    }
    if (forge.capabilities.pullRequestBodies && (existing.title !== plan.title || existing.body !== plan.body)) {
      await forge.updatePullRequest(existing, { title: plan.title, body: plan.body });
      result.applied.push({ plan, outcome: 'updated', pr: { number: existing.number, url: existing.url }, ...(labelled ? { reason: labelled } : {}) });
    } else {
      result.applied.push({
        plan,
        outcome: labelled ? 'updated' : pushed ? 'pushed-pr-unchanged' : 'unchanged',
        pr: { number: existing.number, url: existing.url },
        ...(labelled ? { reason: labelled } : {}),
      });
    }
    return null;
  };

  /**
   * A plan with effects (e.g. create a Conductor API key and seal it) on its own: the effects run just before its
   * commit and push, and are compensated if any part of that step fails, so nothing is left half-written.
   */
  const writeWithEffects = async ({ plan, existing, labelled, remoteSha }: Write): Promise<void> => {
    let opened: PullRequestRecord | null = null;
    await withEffects(plan, effectContext, { dryRun: false, print: inputs.print }, async (plan) => {
      inputs.signal?.throwIfAborted();
      let pushed: { sha: string; previous: string | null } | null = null;
      if (!remoteSha || !(await workspace.branchHasEdits(plan.branch, plan.edits, remoteSha))) {
        log(`pushing ${plan.branch}`);
        try {
          pushed = { sha: await workspace.commitAndPush(plan.branch, plan.edits, commitMessage(plan), remoteSha), previous: remoteSha };
          result.pushes++;
        } catch (error) {
          // Lost a race with a concurrent run that pushed the same change: that is success, not a conflict.
          if (!(error instanceof PushRejectedError)) throw error;
          const now = await workspace.refreshBranch(plan.branch);
          if (!now || !(await workspace.branchHasEdits(plan.branch, plan.edits))) throw error;
          log(`${plan.branch} was pushed by a concurrent run with the same content`);
        }
      }
      try {
        opened = await openOrUpdate(plan, existing, labelled, pushed !== null);
      } catch (error) {
        // Leave the remote as we found it: a branch without its PR would only confuse humans. Not when GitHub says a
        // PR for the branch exists: that PR uses the branch, and removing it would close that PR.
        if (pushed && !(error instanceof ExistingPullRequestError))
          await workspace.restoreBranch(plan.branch, pushed.sha, pushed.previous).catch(() => log(`could not roll back ${plan.branch}`));
        if (pushed) result.pushes--;
        throw error;
      }
    });
    // Outside the write step: once the PR exists, a failure here must not undo it (or its effects).
    const created = opened as PullRequestRecord | null;
    if (created && forge.capabilities.labels) {
      const missing = plan.labels.filter((label) => !created.labels.includes(label));
      if (missing.length > 0) await forge.addLabels(created, missing);
    }
  };

  // Plans that write: their branches are committed and pushed together (one fast-import, one push), then their PRs
  // are opened or updated in plan order. A plan with effects keeps its own step (its effects run right before its
  // commit and are compensated if that step fails).
  const writes: Write[] = [];
  for (const plan of plans) {
    inputs.signal?.throwIfAborted();
    const existing = openByBranch.get(plan.branch) ?? null;
    // Tasks should already skip held PRs; the runner enforces it for every task anyway.
    if (existing?.labels.includes(HOLD_LABEL)) {
      result.applied.push({
        plan,
        outcome: 'held',
        pr: { number: existing.number, url: existing.url },
        reason: `PR #${existing.number} has the ${HOLD_LABEL} label`,
      });
      continue;
    }
    // Someone else's open PR from this repository's branch of that name: pushing would rewrite their PR, and
    // GitHub would refuse a second PR for the branch anyway.
    const squatter = ignored.find((item) => item.what === 'pull request' && item.state === 'open' && item.sameRepository && item.branch === plan.branch);
    if (squatter) {
      result.applied.push({
        plan,
        outcome: 'refused',
        pr: null,
        reason: `PR #${squatter.number} on ${plan.branch} is not the bot's (${squatter.reason}); close it and delete the branch, then run again`,
      });
      continue;
    }
    // Labels are added after a PR is opened; a run interrupted in between left them missing. Repair them on every
    // open PR a plan covers, whatever else happens to it.
    const missingLabels = existing && forge.capabilities.labels ? plan.labels.filter((label) => !existing.labels.includes(label)) : [];
    if (inputs.dryRun) {
      if (existing && missingLabels.length > 0) inputs.print(`would add labels ${missingLabels.join(', ')} to PR #${existing.number}`);
      inputs.print(`${existing ? `would update PR #${existing.number}` : 'would open a PR'} on ${describePlan(plan)}\n`);
      if ((plan.effects ?? []).length > 0) inputs.print(describeEffects(plan));
      result.applied.push({ plan, outcome: 'dry-run', pr: existing ? { number: existing.number, url: existing.url } : null });
      continue;
    }
    if (!existing) {
      if (openCount >= config.pullRequests.maxOpen) {
        result.applied.push({
          plan,
          outcome: 'limited',
          pr: null,
          reason: `${openCount} bot PRs are open (pullRequests.maxOpen: ${config.pullRequests.maxOpen})`,
        });
        continue;
      }
      if (createdLastHour >= config.pullRequests.maxPerHour) {
        result.applied.push({
          plan,
          outcome: 'limited',
          pr: null,
          reason: `${createdLastHour} bot PRs were opened in the last hour (pullRequests.maxPerHour: ${config.pullRequests.maxPerHour})`,
        });
        continue;
      }
      // Counted now, before the PR exists: the limits apply to the PRs this run is about to open as well.
      openCount++;
      createdLastHour++;
    }
    if (existing && missingLabels.length > 0) await forge.addLabels(existing, missingLabels);
    const labelled = missingLabels.length > 0 ? `added the missing labels ${missingLabels.join(', ')}` : undefined;
    // A plan's effects change things outside git (a Conductor key is created), so they run once, when its PR is
    // opened; while that PR is open a re-run must not repeat them. Tasks skip their own open PRs when the PR body
    // tells them; this also holds where the forge cannot tell (the local forge knows branches, not bodies).
    if (existing && (plan.effects ?? []).length > 0) {
      result.applied.push({
        plan,
        outcome: labelled ? 'updated' : 'unchanged',
        pr: { number: existing.number, url: existing.url },
        reason: [labelled, 'its PR is open; its actions ran when it was opened'].filter(Boolean).join('; '),
      });
      continue;
    }
    writes.push({ plan, existing, labelled, remoteSha: heads.get(plan.branch) ?? null, pushed: null, refused: null });
  }

  // Every branch without effects whose remote content differs: one commit each, all pushed in one git process.
  const batched: Write[] = [];
  for (const write of writes) {
    if ((write.plan.effects ?? []).length > 0) continue;
    const { plan, remoteSha } = write;
    if (!remoteSha || !(await workspace.branchHasEdits(plan.branch, plan.edits, remoteSha))) batched.push(write);
  }
  if (batched.length > 0) {
    inputs.signal?.throwIfAborted();
    const commits = await workspace.commitEach(batched.map(({ plan }) => ({ branch: plan.branch, edits: plan.edits, message: commitMessage(plan) })));
    inputs.signal?.throwIfAborted();
    log(`pushing ${batched.length} branch(es) in one push: ${batched.map(({ plan }) => plan.branch).join(', ')}`);
    const landed = await workspace.pushEach(batched.map(({ plan, remoteSha }, index) => ({ branch: plan.branch, sha: commits[index]!, expected: remoteSha })));
    batched.forEach((write, index) => {
      const refused = landed.get(write.plan.branch) ?? null;
      if (refused === null) {
        write.pushed = { sha: commits[index]!, previous: write.remoteSha };
        result.pushes++;
      } else write.refused = refused;
    });
  }

  // Pushed branches whose PR step has not finished; if the run stops (an error, SIGINT), they are put back as they were.
  const unsettled = new Set(writes.filter((write) => write.pushed));
  const refusals: Array<{ branch: string; detail: string }> = [];
  try {
    for (const write of writes) {
      inputs.signal?.throwIfAborted();
      const { existing, labelled } = write;
      if ((write.plan.effects ?? []).length > 0) {
        await writeWithEffects(write);
        continue;
      }
      const { plan } = write;
      if (write.refused) {
        // Lost a race with a concurrent run that pushed the same change: that is success, not a conflict.
        const now = await workspace.refreshBranch(plan.branch);
        if (!now || !(await workspace.branchHasEdits(plan.branch, plan.edits))) {
          log(`push of ${plan.branch} was rejected: ${write.refused}; the other branches go on`);
          refusals.push({ branch: plan.branch, detail: write.refused });
          if (!existing) {
            openCount--;
            createdLastHour--;
          }
          continue;
        }
        log(`${plan.branch} was pushed by a concurrent run with the same content`);
      }
      const opened = await openOrUpdate(plan, existing, labelled, write.pushed !== null).catch((error: unknown) => {
        // GitHub says a PR for the branch exists: that PR uses the branch, and removing it would close that PR.
        if (error instanceof ExistingPullRequestError) unsettled.delete(write);
        throw error;
      });
      unsettled.delete(write);
      // Outside the write step: once the PR exists, a failure here must not undo it; the next run adds the labels
      // that are still missing.
      if (opened && forge.capabilities.labels) {
        const missing = plan.labels.filter((label) => !opened.labels.includes(label));
        if (missing.length > 0) await forge.addLabels(opened, missing);
      }
    }
  } catch (error) {
    // Leave the remote as we found it: a branch without its PR would only confuse humans.
    const restore = [...unsettled].map((write) => ({ branch: write.plan.branch, pushedSha: write.pushed!.sha, previous: write.pushed!.previous }));
    result.pushes -= restore.length;
    for (const branch of await workspace.restoreEach(restore)) log(`could not roll back ${branch}`);
    throw error;
  }
  const order = new Map(plans.map((plan, index) => [plan.branch, index]));
  result.applied.sort((a, b) => order.get(a.plan.branch)! - order.get(b.plan.branch)!);

  // Close the bot's own PRs that no plan wants any more, within the tasks and environments this run covered.
  const taskNames = new Set(inputs.tasks.map((task) => task.name));
  const planned = new Set(plans.map((plan) => plan.branch));
  for (const pr of pullRequests) {
    if (pr.state !== 'open' || planned.has(pr.branch) || pr.labels.includes(HOLD_LABEL)) continue;
    const parsed = parseBranch(pr.branch);
    if (!parsed || !taskNames.has(parsed.task)) continue;
    if (inputs.envFilter && parsed.env !== inputs.envFilter) continue;
    if (!config.environments.some((env) => env.name === parsed.env)) continue;
    const related = skips.filter((skip) => skip.task === parsed.task && skip.env === parsed.env && skipCovers(skip.subject, parsed.subject));
    // A hold that landed on the base branch while the PR was open: the PR must not stay mergeable.
    const hold = related.find((skip) => skip.heldBy === 'comment');
    if (!hold && related.some((skip) => skip.held)) {
      // Left alone by its task (e.g. a rotation in progress), so no plan repaired its labels above: add the ones
      // every bot PR carries, in case the run that opened it stopped before labelling.
      const missing = forge.capabilities.labels ? baseLabels(config.forge.labels, parsed.env).filter((label) => !pr.labels.includes(label)) : [];
      if (missing.length === 0) continue;
      if (inputs.dryRun) inputs.print(`would add labels ${missing.join(', ')} to PR #${pr.number} (${pr.branch})`);
      else {
        log(`adding the missing labels ${missing.join(', ')} to PR #${pr.number} (${pr.branch})`);
        await forge.addLabels(pr, missing);
      }
      continue;
    }
    const reason = hold
      ? `${hold.reason}; the change is proposed again once the hold is removed`
      : related.length > 0
        ? related.map((skip) => skip.reason).join('; ')
        : 'the base branch already has these versions (or newer ones), so this change is no longer needed';
    if (inputs.dryRun) {
      inputs.print(`would close PR #${pr.number} (${pr.branch}): ${reason}`);
      continue;
    }
    if (hold) {
      // The marker records why, so this close is not read back as a human's rejection of the change.
      const body = markClosedForHold(pr.body);
      if (body !== null && body !== pr.body) await forge.updatePullRequest(pr, { title: pr.title, body });
    }
    await forge.closePullRequest(pr, `Closed by gitops-bot: ${reason}.`);
    result.closed.push({ branch: pr.branch, number: pr.number, reason });
  }
  if (inputs.dashboard && board) {
    inputs.signal?.throwIfAborted();
    const plansShown = result.applied.map((item) => ({
      task: item.plan.task,
      env: item.plan.env,
      subject: item.plan.subject,
      branch: item.plan.branch,
      title: item.plan.title,
      pr: item.pr,
      outcome: item.outcome,
    }));
    // The PRs as this run left them, without listing them again: closed ones closed, opened ones added, and the title
    // each plan gives its PR (the local forge lists branches without titles), so a re-run renders the same body.
    const closedNow = new Set(result.closed.map((item) => item.branch));
    const titles = new Map(result.applied.map((item) => [item.plan.branch, item.plan.title]));
    const left: PullRequestRecord[] = pullRequests.map((pr) => ({
      ...pr,
      title: titles.get(pr.branch) ?? pr.title,
      ...(closedNow.has(pr.branch) ? { state: 'closed' as const } : {}),
    }));
    for (const item of result.applied)
      if (item.outcome === 'created' && item.pr)
        left.push({
          ...item.pr,
          branch: item.plan.branch,
          title: item.plan.title,
          body: item.plan.body,
          state: 'open',
          merged: false,
          labels: item.plan.labels,
          createdAt: inputs.now.toISOString(),
        });
    result.dashboard = await inputs.dashboard.publish(board, { plans: plansShown, skips, pullRequests: left }, { dryRun: inputs.dryRun, print: inputs.print });
  }
  result.forgeWrites = forge.stats.writes;
  // A refused branch did not stop the others; the run still ends with its error (exit 6), naming every refused branch.
  if (refusals.length > 0) {
    const [first, ...more] = refusals;
    throw new PushRejectedError(
      first!.branch,
      more.length === 0 ? first!.detail : `${first!.detail}; also refused: ${more.map((refusal) => `${refusal.branch} (${refusal.detail})`).join(', ')}`,
    );
  }
  return result;
}
