import { APP_VERSION_LABEL } from '@dbos-gitops/sealing/names';
import type { AppConfig, BotConfig, EnvironmentConfig } from '../../config/schema.ts';
import { baseLabels, branchFor, markerFor, type Plan } from '../../plan.ts';
import { gateWorkflowFor, gateWorkflowId, type GateOutcome, type GateRunner } from '../../sources/dbos-gate/index.ts';
import { HOLD_LABEL } from '../../sources/forge/types.ts';
import type { VersionPods } from '../../sources/kube/health.ts';
import { compareTags } from '../../sources/registry/tag-policy.ts';
import { pinsMemory } from '../shared/pins.ts';
import { incomingVersionOf, requireApps, requireVersionsTree, switchLatestEdits, type AppVersionsTree, type LiveVersion } from '../shared/app-version-files.ts';
import { walkApplications } from '../shared/walk.ts';
import type { Task, TaskContext } from '../types.ts';

const TASK = 'version-switch';

/**
 * The second PR of `switch: gated`, per environment x application: version-add added the new version beside the
 * latest (its Deployment runs, nothing routes to it); this task proposes moving the application's Service selector
 * and the app-latest component to it, once
 *   (a) every pod of that version (labels dbos.dev/app and dbos.dev/app-version) is Ready, read from the cluster
 *       (`environments[].kube`; without cluster access the answer is unknown and nothing is proposed), and
 *   (b) with `gateWorkflow` configured, the named DBOS workflow, enqueued on EXACTLY that version, finished SUCCESS
 *       within the timeout (any other status, a timeout or an unreadable database: nothing is proposed).
 * The gate workflow's id is fixed per environment, application and version, so a re-run reuses it. An open switch PR
 * is left as it is (no read, no enqueue, no write). A version held in the list (rolled back) is never switched to.
 */

function describePods(pods: VersionPods): string {
  if (pods.total === 0) return 'no pod runs yet';
  return `${pods.ready}/${pods.total} pod(s) Ready${pods.readySince ? ` (all Ready since ${pods.readySince.toISOString()})` : ''}`;
}

function buildPlan(
  context: TaskContext,
  app: AppConfig,
  env: EnvironmentConfig,
  tree: AppVersionsTree,
  latest: LiveVersion | null,
  incoming: LiveVersion,
  pods: VersionPods,
  gate: GateOutcome | null,
): Plan {
  const subject = `${app.name}/${incoming.slug}`;
  const memory = pinsMemory([{ image: app.imageName, tag: incoming.image?.newTag ?? incoming.version, digest: incoming.image?.digest ?? '' }]);
  const body = [
    `Switches application **${app.name}** in **${env.name}** from \`${latest?.version ?? '(none)'}\` to \`${incoming.version}\` (\`${incoming.dir}/\`), which version-add added beside it (\`switch: gated\`).`,
    '',
    '**What moves**',
    `- The \`${app.name}\` Service selector (\`${tree.serviceFile}\`) from \`${tree.serviceSelects ?? '(none)'}\` to \`${incoming.slug}\`: new requests go to ${incoming.version}.`,
    `- The \`app-latest\` component (warm minimum and the queue-length trigger) to \`${incoming.kustomizationFile}\`.`,
    `- ${latest ? `${latest.version} keeps its Deployment and drains its own workflows; version-retire removes it once drained.` : 'No older version is live.'}`,
    '',
    '**Evidence this switch rests on** (read by the run that proposed it)',
    `- Pods of \`${APP_VERSION_LABEL}=${incoming.slug}\` in namespace \`${env.kube?.namespace ?? 'dbos'}\`: ${describePods(pods)}.`,
    gate
      ? `- Gate workflow \`${gateWorkflowFor(env, app)!.name}\` on queue \`${gateWorkflowFor(env, app)!.queue}\`, id \`${gate.workflowId}\`: **${gate.status}** on executor \`${gate.executorId ?? 'unknown'}\`, application version \`${gate.applicationVersion ?? incoming.version}\` (${gate.source}).`
      : `- No gate workflow is configured for ${env.name} (\`gateWorkflow\`): pods Ready is the whole gate.`,
    '',
    `To stop this switch, close the PR (the bot does not propose ${incoming.version} again) or add the \`${HOLD_LABEL}\` label; to undo it after merging, \`pnpm bot rollback --env ${env.name} --app ${app.name}\`.`,
    '',
    markerFor({ task: TASK, env: env.name, subject, memory }),
  ].join('\n');
  return {
    task: TASK,
    env: env.name,
    subject,
    branch: branchFor(TASK, env.name, subject),
    title: `${env.name}: switch ${app.name} to version ${incoming.version}`,
    body,
    labels: baseLabels(context.config.forge.labels, env.name),
    edits: switchLatestEdits(tree, incoming.slug),
    memory,
  };
}

export function gatedSwitchDisabledBy(config: BotConfig): string | null {
  if (config.apps.length === 0) return 'not enabled: .github/gitops-bot.yaml has no apps: entries';
  return config.environments.some((env) => env.switch === 'gated') ? null : 'not enabled: no environment has switch: gated';
}

export interface VersionSwitchOptions {
  /** Runs an environment's gate workflow (built by the composition root; a run that writes nothing never enqueues).
   * Null: none, so an environment with `gateWorkflow` reads unknown and switches nothing. */
  gate?: GateRunner | null;
}

export function createVersionSwitchTask(options: VersionSwitchOptions = {}): Task {
  return {
    name: TASK,
    needs: ['kube', 'forge'],
    disabledBy: gatedSwitchDisabledBy,
    description:
      'switch: gated: move the Service and app-latest to a version version-add added, once its pods are Ready and its gate workflow succeeded on exactly that version',
    async plan(context) {
      requireApps(context.config);
      // Asked for by name (`--task version-switch`) without a gated environment: say so rather than "no changes".
      const disabled = gatedSwitchDisabledBy(context.config);
      if (disabled) return { plans: [], skips: [{ task: TASK, env: context.envFilter ?? 'all', subject: '-', reason: disabled }] };
      return walkApplications(context, TASK, async ({ env, app, skip, held, propose }) => {
        if (env.switch !== 'gated') return;
        const tree = await requireVersionsTree(context, env, app);
        const incoming = incomingVersionOf(tree, compareTags);
        // An open switch PR whose version no longer waits (switched by hand, rolled back and held, retired): the runner
        // closes it, with this reason.
        for (const previous of context.previous) {
          const { task, env: prEnv, subject } = previous.proposal;
          if (previous.state !== 'open' || task !== TASK || prEnv !== env.name || !subject.startsWith(`${app.name}/`)) continue;
          const slug = subject.slice(app.name.length + 1);
          if (slug === incoming?.slug) continue;
          const live = tree.versions.find((candidate) => candidate.slug === slug);
          const why = !live
            ? 'its directory is gone'
            : live.listHold !== null
              ? `it is held in ${tree.listFile} (${live.listHold})`
              : live.latestComponent
                ? 'it is already the latest'
                : 'a newer version waits instead';
          skip(slug, `${app.name} ${live?.version ?? slug} no longer waits to be switched to in ${env.name}: ${why}`);
        }
        if (!incoming) return;
        const latest = tree.versions.find((live) => live.latestComponent) ?? tree.versions.find((live) => live.slug === tree.serviceSelects) ?? null;
        const branch = branchFor(TASK, env.name, `${app.name}/${incoming.slug}`);
        if (held(incoming.slug, null)) return;
        // An open switch PR is in a reviewer's hands: no cluster read, no enqueue, no write.
        const open = context.previous.find((previous) => previous.branch === branch && previous.state === 'open');
        if (open) return skip(incoming.slug, `switch PR #${open.number} for ${incoming.version} is open; left as it is`, { leaveOpenPullRequest: true });
        const rejected = context.previous.find((previous) => previous.branch === branch && previous.state === 'closed' && !previous.merged);
        if (rejected)
          return skip(
            incoming.slug,
            `the switch to ${incoming.version} was proposed in PR #${rejected.number}, which was closed without merging; not proposed again (roll forward with a newer version, or retire it)`,
          );

        // (a) The new version's pods, by label. Unknown (no cluster access, an API error) never switches.
        const unknown = (why: string) => skip(incoming.slug, `unknown: ${why}; ${incoming.version} is not switched to`);
        if (!context.kube || !env.kube || !context.kube.versionPods)
          return unknown(
            `no cluster access is configured for ${env.name} (environments[].kube), so the Readiness of ${app.name} ${incoming.version}'s pods cannot be read`,
          );
        let pods: VersionPods;
        try {
          pods = await context.kube.versionPods(env.name, env.kube.namespace, app.name, incoming.slug);
        } catch (error) {
          return unknown(`the pods of ${app.name} ${incoming.version} could not be listed in ${env.name}: ${(error as Error).message}`);
        }
        context.log(`${env.name} ${app.name} ${incoming.version}: ${describePods(pods)}`);
        if (pods.total === 0 || pods.ready < pods.total)
          return skip(incoming.slug, `${app.name} ${incoming.version} is not Ready in ${env.name} yet: ${describePods(pods)}; waiting before the switch`);

        // (b) The gate workflow on exactly this version.
        let gate: GateOutcome | null = null;
        if (env.gateWorkflow) {
          if (!options.gate) return unknown(`no gate workflow runner is available to enqueue ${gateWorkflowId(env.name, app.name, incoming.version)}`);
          gate = await options.gate({ env, app, version: incoming.version });
          context.log(`${env.name} ${app.name} ${incoming.version}: gate workflow ${gate.workflowId}: ${gate.status}`);
          if (gate.status === 'dry-run') return skip(incoming.slug, gate.reason);
          if (gate.status === 'timeout' || gate.status === 'unknown') return unknown(`${gate.reason} [${gate.source}]`);
          if (gate.status !== 'SUCCESS')
            return skip(
              incoming.slug,
              `the gate failed ${app.name} ${incoming.version} in ${env.name}: ${gate.reason}; no switch (roll forward with a fixed version)`,
            );
        }
        propose(buildPlan(context, app, env, tree, latest, incoming, pods, gate));
      });
    },
  };
}

export const versionSwitchTask: Task = createVersionSwitchTask();
