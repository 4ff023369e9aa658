import type { AppConfig, EnvironmentConfig } from '../../config/schema.ts';
import { BotError } from '../../errors.ts';
import { baseLabels, branchFor, markerFor, type Plan } from '../../plan.ts';
import { appsInEnvironment } from '../../repo/apps.ts';
import { versionHoldText } from '../../repo/holds.ts';
import { HOLD_LABEL } from '../../sources/forge/types.ts';
import { compareTags } from '../../sources/registry/tag-policy.ts';
import { pinsMemory } from '../shared/pins.ts';
import {
  holdListEntry,
  holdReasonText,
  requireApps,
  requireVersionsTree,
  switchLatestEdits,
  type AppVersionsTree,
  type LiveVersion,
} from '../shared/app-version-files.ts';
import { walkEnvironments } from '../shared/walk.ts';
import type { Task, TaskContext } from '../types.ts';
import { evidenceTable, readGate, type GateReading } from '../../sources/drain/evidence.ts';

const TASK = 'rollback';

/**
 * Rollback in one PR, per environment x application: the Service selector and the app-latest component move back to
 * a version that is still live (its directory exists), and the bad version is held in the list of versions
 * (`# gitops-bot: hold version <bad>: <reason>` directly above its line), so version-add proposes neither it nor an
 * older version there again (repo/holds.ts), while a newer, fixed version ships as usual. The bad version keeps its directory and Deployment: DBOS only lets executors of a
 * version recover or dequeue that version's workflows, so removing them would strand its in-flight work.
 * version-retire then treats it as any non-latest version and removes it once drained.
 *
 * Proposed on request (`pnpm bot rollback`), or by itself in an environment with `rollback: propose` when the gate's
 * verdict on an application's latest version there is `fail` (evidence in the body; `unknown` never proposes).
 * Otherwise it plans nothing and leaves its open PRs alone.
 */

/** What `pnpm bot rollback` asks for; validated against the config and the tree by the planner. */
export interface RollbackRequest {
  env: string;
  /** Null: the environment's only application. */
  app: string | null;
  /** The version to go back to; null: the newest live version older than the current latest. */
  to: string | null;
  reason: string | null;
}

/** A rollback that cannot be planned as asked (unknown environment, application or target): exit 2, nothing written. */
export class RollbackError extends BotError {
  readonly exitCode = 2;
}

/** The environment's latest: the version with the app-latest component, else the one the Service selects. */
function currentLatest(tree: AppVersionsTree): LiveVersion | null {
  return tree.versions.find((live) => live.latestComponent) ?? tree.versions.find((live) => live.slug === tree.serviceSelects) ?? null;
}

function liveList(tree: AppVersionsTree): string {
  const live = [...tree.versions].sort((a, b) => compareTags(b.version, a.version));
  return live.length > 0 ? live.map((version) => `${version.version} (${version.slug})`).join(', ') : '(none)';
}

function resolveApp(context: TaskContext, env: EnvironmentConfig, name: string | null): AppConfig {
  const apps = appsInEnvironment(context.config, env);
  if (name === null) {
    if (apps.length === 1) return apps[0]!;
    throw new RollbackError(
      `${env.name} runs ${apps.length === 0 ? 'no application' : `${apps.length} applications (${apps.map((app) => app.name).join(', ')})`}, so the one to roll back must be named`,
      'pass --app <name>',
    );
  }
  const app = apps.find((candidate) => candidate.name === name);
  if (!app)
    throw new RollbackError(
      `application "${name}" does not run in ${env.name} (.github/gitops-bot.yaml apps:)`,
      `use one of: ${apps.map((candidate) => candidate.name).join(', ') || '(none)'}`,
    );
  return app;
}

interface Decision {
  bad: LiveVersion;
  target: LiveVersion;
}

/** The versions to move from and to, or a reason there is nothing (new) to do. Throws on a request that cannot be met. */
function decide(tree: AppVersionsTree, app: AppConfig, env: string, to: string | null): Decision | string {
  const latest = currentLatest(tree);
  if (!latest) throw new RollbackError(`${app.name} has no latest version in ${env} (${tree.base})`, 'nothing to roll back from');
  // Already rolled back (merged): the newest live version is held in the list and is not the latest. Without an
  // explicit --to, re-running must not roll back one more step.
  const newer = tree.versions.filter((live) => compareTags(live.version, latest.version) > 0);
  const rolledBack = newer.find((live) => live.listHold !== null);
  if (to === null) {
    if (rolledBack)
      return `${app.name} ${rolledBack.version} is already rolled back to ${latest.version} in ${env} (held: ${rolledBack.listHold}); pass --to to go further back`;
    const older = tree.versions.filter((live) => compareTags(live.version, latest.version) < 0).sort((a, b) => compareTags(b.version, a.version));
    const target = older[0];
    if (!target)
      throw new RollbackError(
        `${app.name} ${latest.version} is the only live version in ${env}, or no live version is older (live: ${liveList(tree)})`,
        'a rollback needs an older version that is still live; roll forward with a fixed version instead',
      );
    return { bad: latest, target };
  }
  const target = tree.versions.find((live) => live.version === to || live.slug === to);
  if (!target)
    throw new RollbackError(
      `${app.name} ${to} is not live in ${env}: its directory under ${tree.base} does not exist (retired or never added)`,
      `roll back to a live version: ${liveList(tree)}`,
    );
  if (target.slug === latest.slug && !rolledBack) return `${app.name} ${target.version} is already the latest in ${env}`;
  if (target.slug === latest.slug && rolledBack) return `${app.name} is already rolled back to ${target.version} in ${env}`;
  // With --to after a merged rollback, the version to hold is still the one that failed (the newest held), not the
  // intermediate latest; a --to newer than the latest is a roll forward, not a rollback.
  if (compareTags(target.version, latest.version) > 0)
    throw new RollbackError(`${app.name} ${target.version} is newer than the latest ${latest.version} in ${env}`, 'a rollback goes to an older live version');
  return { bad: latest, target };
}

function buildPlan(
  context: TaskContext,
  app: AppConfig,
  env: string,
  tree: AppVersionsTree,
  decision: Decision,
  reason: string,
  evidence: GateReading | null = null,
): Plan {
  const { bad, target } = decision;
  const subject = `${app.name}/${bad.slug}`;
  const holdText = versionHoldText(bad.version, reason);
  const holdLine = `# gitops-bot: hold ${holdText}`;
  const edits = switchLatestEdits(tree, target.slug);
  const held = holdListEntry(tree.list, tree.listFile, bad.slug, holdText);
  if (held !== tree.list) edits.push({ path: tree.listFile, before: tree.list, after: held });
  // The marker keeps the version rolled back to (what this PR pins as latest).
  const memory = pinsMemory([{ image: app.imageName, tag: target.image?.newTag ?? target.version, digest: target.image?.digest ?? '' }]);
  const body = [
    `Rolls application **${app.name}** in **${env}** back from \`${bad.version}\` to \`${target.version}\`, which is still live (\`${target.dir}/\`).`,
    '',
    ...(evidence
      ? [`Proposed by the bot: \`rollback: propose\` is set for ${env} and the gate failed ${bad.version} there.`, '', ...evidenceTable(evidence), '']
      : []),
    '**What moves**',
    `- The \`${app.name}\` Service selector (\`${tree.serviceFile}\`) from \`${tree.serviceSelects ?? '(none)'}\` to \`${target.slug}\`: new requests go to ${target.version}.`,
    `- The \`app-latest\` component (warm minimum and the queue-length trigger) from \`${bad.kustomizationFile}\` to \`${target.kustomizationFile}\`.`,
    '',
    '**What is held, and why**',
    `- \`${holdLine}\` above \`${bad.slug}\` in \`${tree.listFile}\`. Reason: ${reason}`,
    `- While that line is there, version-add does not propose ${app.name} ${bad.version} or an older version in ${env} again (here, or by promotion from here), also after version-retire has removed ${bad.version}; a newer version (a fix) is proposed as usual. The line names the version, so it keeps its meaning wherever it ends up in the list.`,
    '',
    `**What happens to the work of ${bad.version}**`,
    `- Its directory and Deployment stay: only executors of ${bad.version} can recover or dequeue the workflows DBOS stamped with it, so they finish its in-flight work. Its ScaledObject keeps scaling on its own queue length, without the latest's warm minimum.`,
    `- version-retire removes it like any other non-latest version once nothing of ${bad.version} is in flight for the quiet period. Dead-lettered workflows of it block that until resumed, restarted on ${target.version} or cancelled.`,
    `- New work started through the Service runs on ${target.version}. Anything that enqueues directly on ${bad.version} (a client with that appVersion) still runs there: stop it at the source.`,
    '',
    `To stop this rollback, close the PR or add the \`${HOLD_LABEL}\` label.`,
    '',
    markerFor({ task: TASK, env, subject, memory }),
  ].join('\n');
  return {
    task: TASK,
    env,
    subject,
    branch: branchFor(TASK, env, subject),
    title: `${env}: roll back ${app.name} from ${bad.version} to ${target.version}`,
    body,
    labels: baseLabels(context.config.forge.labels, env),
    edits,
    memory,
  };
}

/** The rollback task: plans the requested rollback, or (no request) nothing, leaving its open PRs to their reviewers. */
export function createRollbackTask(request: RollbackRequest | null = null): Task {
  return {
    name: TASK,
    // drain: `rollback: propose` reads the gate's evidence of each application's latest with the environment's own reader.
    needs: ['forge', 'drain', 'kube'],
    description: 'roll an application back to a version that is still live, in one PR (pnpm bot rollback); the bad version is held and drains',
    async plan(context) {
      if (request) {
        requireApps(context.config);
        if (!context.config.environments.some((env) => env.name === request.env))
          throw new RollbackError(`unknown environment "${request.env}"`, `use one of: ${context.config.environments.map((env) => env.name).join(', ')}`);
      }
      const wanted = new Set<string>();
      const result = await walkEnvironments(context, TASK, async ({ env, skip, held, propose }) => {
        if (request && env.name === request.env) {
          const app = resolveApp(context, env, request.app);
          const tree = await requireVersionsTree(context, env, app);
          const decision = decide(tree, app, env.name, request.to);
          if (typeof decision === 'string') {
            skip(`${app.name}/-`, decision);
          } else {
            const subject = `${app.name}/${decision.bad.slug}`;
            wanted.add(branchFor(TASK, env.name, subject));
            if (!held(subject, null)) {
              const reason = holdReasonText(request.reason ?? `rolled back from ${decision.bad.version} to ${decision.target.version}`);
              context.log(`${env.name} ${app.name}: rolling back ${decision.bad.version} -> ${decision.target.version}`);
              propose(buildPlan(context, app, env.name, tree, decision, reason));
            }
          }
        }
        if (!request && env.rollback === 'propose') {
          for (const app of appsInEnvironment(context.config, env)) {
            const plan = await proposedByGate(context, env, app, (subject, reason) => skip(subject, reason));
            if (plan && !held(plan.subject, null)) {
              wanted.add(plan.branch);
              // The counts in the body and the hold reason move with every read: an open rollback PR that the gate
              // still confirms stays as it was proposed, so a re-run writes nothing.
              const open = context.previous.find((previous) => previous.branch === plan.branch && previous.state === 'open');
              if (open)
                skip(plan.subject, `rollback PR #${open.number} already proposes this and the gate still reads fail; left as it is`, {
                  leaveOpenPullRequest: true,
                });
              else propose(plan);
            }
          }
        }
        // Another open rollback PR is a reviewer's to merge or close: this run neither updates nor closes it.
        for (const previous of context.previous) {
          const proposal = previous.proposal;
          if (previous.state !== 'open' || proposal.task !== TASK || proposal.env !== env.name || wanted.has(previous.branch)) continue;
          skip(proposal.subject, `rollback PR #${previous.number} is only planned on request (pnpm bot rollback); left as it is`, {
            leaveOpenPullRequest: true,
          });
        }
      });
      return result;
    },
  };
}

/** `rollback: propose`: the rollback of an application's latest when the gate's verdict on it is `fail`, else null. */
async function proposedByGate(
  context: TaskContext,
  env: EnvironmentConfig,
  app: AppConfig,
  skip: (subject: string, reason: string) => void,
): Promise<Plan | null> {
  const tree = await requireVersionsTree(context, env, app);
  const latest = currentLatest(tree);
  if (!latest) return null;
  const decision = tree.versions.some((live) => live.listHold !== null && compareTags(live.version, latest.version) > 0)
    ? null
    : tree.versions.filter((live) => compareTags(live.version, latest.version) < 0).sort((a, b) => compareTags(b.version, a.version))[0];
  if (!decision) {
    skip(`${app.name}/-`, `no automatic rollback of ${app.name} ${latest.version} in ${env.name}: it was already rolled back to, or no older version is live`);
    return null;
  }
  // The same reader, window and gate as promotion and `pnpm bot evidence`; anything unreadable is unknown.
  const found = await readGate(
    context.drain,
    context.config,
    env,
    app,
    latest.version,
    context.now,
    { kind: 'own', run: { envFilter: context.envFilter, config: context.config } },
    { kube: context.kube, slug: latest.slug },
  );
  context.log(`${env.name} ${app.name} ${latest.version}: gate verdict ${found.verdict} (${found.describe ?? 'no reader'})`);
  if (found.verdict !== 'fail') {
    // unknown never rolls back (fail closed in the other direction too: no evidence, no automatic change).
    skip(`${app.name}/${latest.slug}`, `${latest.version}: gate verdict ${found.verdict}, no rollback: ${found.reasons.join(' ')}`);
    return null;
  }
  const ratio = found.evidence?.errorRatio;
  const reason = holdReasonText(
    `gate failed ${latest.version} in ${env.name}${ratio !== null && ratio !== undefined ? ` (error ratio ${(ratio * 100).toFixed(1)}% of ${found.evidence!.counts.finished} finished)` : ''}`,
  );
  return buildPlan(context, app, env.name, tree, { bad: latest, target: decision }, reason, found);
}

export const rollbackTask: Task = createRollbackTask();
