import { parse } from 'yaml';
import { APP_VERSION_LABEL } from '@dbos-gitops/sealing/names';
import type { AppConfig, BotConfig, EnvironmentConfig } from '../../config/schema.ts';
import { ConfigError } from '../../errors.ts';
import { baseLabels, branchFor, markerFor, type FileEdit, type Plan } from '../../plan.ts';
import { versionHoldText } from '../../repo/holds.ts';
import { evidenceTable, readGate, type GateReading } from '../../sources/drain/evidence.ts';
import { gateWorkflowFor, gateWorkflowId, type GateOutcome, type GateRunner } from '../../sources/dbos-gate/index.ts';
import { HOLD_LABEL } from '../../sources/forge/types.ts';
import type { VersionPods } from '../../sources/kube/health.ts';
import { compareTags } from '../../sources/registry/tag-policy.ts';
import { pinsMemory } from '../shared/pins.ts';
import {
  holdListEntry,
  holdReasonText,
  incomingVersionOf,
  rampEndEdits,
  rampStepEdits,
  readAppRampTree,
  requireApps,
  requireVersionsTree,
  switchLatestEdits,
  type AppRampTree,
  type AppVersionsTree,
  type LiveVersion,
} from '../shared/app-version-files.ts';
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
 *
 * With `ramp: [10, 50]` (README "Ramping traffic") the switch is preceded by one small PR per step (subject
 * `<app>/<slug>.ramp-<pct>`: a slug never has a ".", and a merged PR cannot be updated, so one PR per step), each
 * moving that percent of new requests to the version through HTTPRoute weights. The first step waits for what the
 * switch waits for today (pods Ready, gate workflow); every later step and the final switch wait for the version's
 * own evidence (readGate, the environment's gate) to `pass`. `fail` proposes the ramp's rollback (weights gone,
 * version held in the list); `unknown` waits and says why. The ramp's state is in git only (the ramp/ component's
 * weights), so a re-run with nothing new proposes nothing beyond what the open PRs already carry.
 */

/** Where a ramp stands for one application in one environment. */
interface RampStep {
  routing: AppRampTree;
  /** Percent now routed to the incoming version (0: no ramp yet). */
  current: number;
  /** The next percent to route; 100 is the final switch. */
  next: number;
}

function describePods(pods: VersionPods): string {
  if (pods.total === 0) return 'no pod runs yet';
  return `${pods.ready}/${pods.total} pod(s) Ready${pods.readySince ? ` (all Ready since ${pods.readySince.toISOString()})` : ''}`;
}

/** The memory of a plan about one version: its image pin, as version-add wrote it. */
function versionMemory(app: AppConfig, version: LiveVersion) {
  return pinsMemory([{ image: app.imageName, tag: version.image?.newTag ?? version.version, digest: version.image?.digest ?? '' }]);
}

/** One PR of this task (a ramp step, the switch, a ramp's rollback or end): the body's lines and then the marker, on
 * the branch its subject names. */
function switchTaskPlan(
  context: TaskContext,
  env: EnvironmentConfig,
  subject: string,
  pr: { title: string; lines: string[]; edits: FileEdit[]; memory: Plan['memory'] },
): Plan {
  return {
    task: TASK,
    env: env.name,
    subject,
    branch: branchFor(TASK, env.name, subject),
    title: pr.title,
    body: [...pr.lines, '', markerFor({ task: TASK, env: env.name, subject, memory: pr.memory })].join('\n'),
    labels: baseLabels(context.config.forge.labels, env.name),
    edits: pr.edits,
    memory: pr.memory,
  };
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
  ramp: { step: RampStep; evidence: GateReading | null } | null = null,
): Plan {
  const percent = ramp && ramp.step.next < 100 ? ramp.step.next : null;
  const subject = percent === null ? `${app.name}/${incoming.slug}` : `${app.name}/${incoming.slug}.ramp-${percent}`;
  const memory = versionMemory(app, incoming);
  const rampLines = ramp
    ? [
        percent === null
          ? `- The traffic ramp ends: the \`${ramp.step.routing.rampDir}/\` component (the Service \`${app.name}-${incoming.slug}\` and the HTTPRoute weights, ${100 - ramp.step.current}/${ramp.step.current} until now) and its line in \`${ramp.step.routing.kustomizationFile}\` go; the route forwards to \`${app.name}\` alone.`
          : `- HTTPRoute \`${app.name}\` weights (\`${ramp.step.routing.rampDir}/route.patch.yaml\`): ${100 - percent} to \`${app.name}\` (${latest?.version ?? 'the latest'}), ${percent} to \`${app.name}-${incoming.slug}\` (${incoming.version}), from ${ramp.step.current}% (weights are proportional).`,
      ]
    : [];
  const evidenceLines = ramp?.evidence
    ? [
        '',
        `**Evidence of ${incoming.version} in ${env.name} since the ramp began** (${ramp.evidence.describe ?? 'no reader'})`,
        '',
        ...evidenceTable(ramp.evidence),
      ]
    : [];
  if (percent !== null) {
    return switchTaskPlan(context, env, subject, {
      title: `${env.name}: ramp ${app.name} ${incoming.version} to ${percent}%`,
      lines: [
        `Ramps application **${app.name}** in **${env.name}**: ${percent}% of new requests to \`${incoming.version}\` (\`${incoming.dir}/\`), the rest to \`${latest?.version ?? '(none)'}\` (\`ramp: [${env.ramp!.join(', ')}]\`, then the switch).`,
        '',
        '**What moves**',
        ...rampLines,
        `- ${ramp!.step.current === 0 ? `The Service \`${app.name}-${incoming.slug}\` selecting exactly ${incoming.version}'s pods is added (\`${ramp!.step.routing.rampDir}/service.yaml\`).` : 'Nothing else: the Service and app-latest stay on the latest until the final switch.'}`,
        '',
        '**Evidence this step rests on** (read by the run that proposed it)',
        `- Pods of \`${APP_VERSION_LABEL}=${incoming.slug}\` in namespace \`${env.kube?.namespace ?? 'dbos'}\`: ${describePods(pods)}.`,
        ...(gate
          ? [
              `- Gate workflow \`${gateWorkflowFor(env, app)!.name}\`, id \`${gate.workflowId}\`: **${gate.status}** on executor \`${gate.executorId ?? 'unknown'}\`, application version \`${gate.applicationVersion ?? incoming.version}\` (${gate.source}).`,
            ]
          : []),
        ...evidenceLines,
        '',
        `Each later step waits for the gate to pass on ${incoming.version}'s own workflows; a failing gate proposes the ramp's rollback. To stop the ramp, close this PR or add the \`${HOLD_LABEL}\` label.`,
      ],
      edits: rampStepEdits(ramp!.step.routing, app.name, incoming.slug, percent, serviceNamespace(tree)),
      memory,
    });
  }
  return switchTaskPlan(context, env, subject, {
    title: `${env.name}: switch ${app.name} to version ${incoming.version}`,
    lines: [
      `Switches application **${app.name}** in **${env.name}** from \`${latest?.version ?? '(none)'}\` to \`${incoming.version}\` (\`${incoming.dir}/\`), which version-add added beside it (\`switch: gated\`).`,
      '',
      '**What moves**',
      `- The \`${app.name}\` Service selector (\`${tree.serviceFile}\`) from \`${tree.serviceSelects ?? '(none)'}\` to \`${incoming.slug}\`: new requests go to ${incoming.version}.`,
      `- The \`app-latest\` component (warm minimum and the queue-length trigger) to \`${incoming.kustomizationFile}\`.`,
      ...rampLines,
      `- ${latest ? `${latest.version} keeps its Deployment and drains its own workflows; version-retire removes it once drained.` : 'No older version is live.'}`,
      '',
      '**Evidence this switch rests on** (read by the run that proposed it)',
      `- Pods of \`${APP_VERSION_LABEL}=${incoming.slug}\` in namespace \`${env.kube?.namespace ?? 'dbos'}\`: ${describePods(pods)}.`,
      gate
        ? `- Gate workflow \`${gateWorkflowFor(env, app)!.name}\` on queue \`${gateWorkflowFor(env, app)!.queue}\`, id \`${gate.workflowId}\`: **${gate.status}** on executor \`${gate.executorId ?? 'unknown'}\`, application version \`${gate.applicationVersion ?? incoming.version}\` (${gate.source}).`
        : ramp
          ? `- ${env.gateWorkflow ? 'Pods Ready and the gate workflow' : 'Pods Ready'} gated the ramp's first step; the version's own evidence gated every later step and this switch.`
          : `- No gate workflow is configured for ${env.name} (\`gateWorkflow\`): pods Ready is the whole gate.`,
      ...evidenceLines,
      '',
      `To stop this switch, close the PR (the bot does not propose ${incoming.version} again) or add the \`${HOLD_LABEL}\` label; to undo it after merging, \`pnpm bot rollback --env ${env.name} --app ${app.name}\`.`,
    ],
    edits: [...switchLatestEdits(tree, incoming.slug), ...(ramp ? rampEndEdits(ramp.step.routing) : [])],
    memory,
  });
}

/** The ramp's rollback, when the gate fails the version mid-ramp: the weights go (all new requests back to the latest)
 * and the version is held in the list, so neither this task nor version-add proposes it again. Its Deployment stays
 * until its own workflows drain, as after `pnpm bot rollback`. */
function buildRampRollback(
  context: TaskContext,
  app: AppConfig,
  env: EnvironmentConfig,
  tree: AppVersionsTree,
  incoming: LiveVersion,
  step: RampStep,
  evidence: GateReading,
): Plan {
  const subject = `${app.name}/${incoming.slug}.ramp-rollback`;
  const memory = versionMemory(app, incoming);
  const ratio = evidence.evidence?.errorRatio;
  const reason = holdReasonText(
    `gate failed ${incoming.version} in ${env.name} at ${step.current}% of the ramp${ratio !== null && ratio !== undefined ? ` (error ratio ${(ratio * 100).toFixed(1)}% of ${evidence.evidence!.counts.finished} finished)` : ''}`,
  );
  const edits: FileEdit[] = [
    ...rampEndEdits(step.routing),
    { path: tree.listFile, before: tree.list, after: holdListEntry(tree.list, tree.listFile, incoming.slug, versionHoldText(incoming.version, reason)) },
  ];
  return switchTaskPlan(context, env, subject, {
    title: `${env.name}: roll back the ramp of ${app.name} ${incoming.version}`,
    lines: [
      `Rolls back the traffic ramp of **${app.name}** \`${incoming.version}\` in **${env.name}**: the gate failed it at ${step.current}% of new requests.`,
      '',
      '**What moves**',
      `- The \`${step.routing.rampDir}/\` component (Service \`${app.name}-${incoming.slug}\`, HTTPRoute weights) and its line go: every new request goes to \`${app.name}\` (the latest) again.`,
      `- ${incoming.version} is held in \`${tree.listFile}\` (\`# gitops-bot: hold ${versionHoldText(incoming.version, reason)}\`), so it is not ramped, switched to nor re-proposed; ship a fixed version.`,
      `- ${incoming.version} keeps its Deployment: only its own executors can finish the workflows stamped with it; version-retire removes it once drained.`,
      '',
      `**Evidence** (${evidence.describe ?? 'no reader'})`,
      '',
      ...evidenceTable(evidence),
      '',
      ...evidence.reasons.map((why) => `- ${why}`),
    ],
    edits: edits,
    memory,
  });
}

/** Ends a ramp whose version no longer waits to be switched to: the ramp/ component and its line go. */
function buildRampEnd(context: TaskContext, app: AppConfig, env: EnvironmentConfig, routing: AppRampTree, slug: string, percent: number, why: string): Plan {
  const subject = `${app.name}/${slug}.ramp-end`;
  const memory = pinsMemory([]);
  return switchTaskPlan(context, env, subject, {
    title: `${env.name}: end the traffic ramp of ${app.name} ${slug}`,
    lines: [
      `Ends the traffic ramp of **${app.name}** to \`${slug}\` in **${env.name}** (${percent}% of new requests until now): ${why}.`,
      '',
      '**What moves**',
      `- The \`${routing.rampDir}/\` component (Service \`${app.name}-${slug}\`, HTTPRoute weights) and its line in \`${routing.kustomizationFile}\` go: every new request goes to the \`${app.name}\` Service.`,
      '- Nothing else: the version directories, the list and the Service selector stay as they are.',
    ],
    edits: rampEndEdits(routing),
    memory,
  });
}

/** The namespace of the application's Service (the ramp Service sits beside it); `dbos` when it names none. */
function serviceNamespace(tree: AppVersionsTree): string {
  try {
    const namespace = (parse(tree.service) as { metadata?: { namespace?: unknown } } | null)?.metadata?.namespace;
    return typeof namespace === 'string' && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) ? namespace : 'dbos';
  } catch {
    return 'dbos';
  }
}

/** The version slug of a version-switch subject: `<app>/<slug>` or `<app>/<slug>.ramp-<pct|rollback>`. */
function subjectSlug(subject: string, app: string): string | null {
  if (!subject.startsWith(`${app}/`)) return null;
  // A slug is [a-z0-9-] only, so the first "." is where a ramp suffix begins.
  return subject.slice(app.length + 1).split('.')[0] ?? null;
}

/** The application's route and ramp where `ramp:` is configured; exit 2 (naming the field) when the route cannot weight. */
async function rampRouting(context: TaskContext, env: EnvironmentConfig, app: AppConfig): Promise<AppRampTree> {
  const routing = await readAppRampTree(context.tree, env.overlay, app);
  if (routing?.gatewayRoute) return routing;
  const index = context.config.environments.findIndex((candidate) => candidate.name === env.name);
  throw new ConfigError(
    `ramps traffic, but ${app.name}'s route in ${env.name} is not the Gateway API component (base/components/app-route-gateway in ${routing?.kustomizationFile ?? `the application directory of ${app.name}`}); only HTTPRoute weights can split requests between versions`,
    '.github/gitops-bot.yaml',
    `environments[${index}].ramp`,
    `remove ramp: from environment ${env.name}, or route ${app.name} there through the Gateway API (components: ../../../../base/components/app-route-gateway)`,
  );
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
    needs: ['kube', 'forge', 'drain'],
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
        const routing = env.ramp ? await rampRouting(context, env, app) : null;
        const incoming = incomingVersionOf(tree, compareTags);
        // An open switch PR whose version no longer waits (switched by hand, rolled back and held, retired): the runner
        // closes it, with this reason.
        for (const previous of context.previous) {
          const { task, env: prEnv, subject } = previous.proposal;
          if (previous.state !== 'open' || task !== TASK || prEnv !== env.name || !subject.startsWith(`${app.name}/`)) continue;
          const slug = subjectSlug(subject, app.name)!;
          // A ramp's rollback holds the version it rolls back: it is not stale once the version no longer waits.
          if (slug === incoming?.slug || subject.endsWith('.ramp-rollback') || subject.endsWith('.ramp-end')) continue;
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
        // A ramp whose version no longer waits (held or retired by hand, or switched to by hand) still weights traffic
        // to it: propose ending it (its Service and weights go), since nothing else will.
        if (routing?.ramp && routing.ramp.slug !== incoming?.slug) {
          const ramp = routing.ramp;
          const live = tree.versions.find((candidate) => candidate.slug === ramp.slug);
          const why = !live
            ? 'its directory is gone'
            : live.listHold !== null
              ? `it is held in ${tree.listFile} (${live.listHold})`
              : live.latestComponent || tree.serviceSelects === live.slug
                ? 'it is already the latest'
                : null;
          if (why) {
            const subject = `${app.name}/${ramp.slug}.ramp-end`;
            const branch = branchFor(TASK, env.name, subject);
            const open = context.previous.find((previous) => previous.branch === branch && previous.state === 'open');
            if (open) return skip(ramp.slug, `ramp-end PR #${open.number} is open; left as it is`, { leaveOpenPullRequest: true });
            const rejected = context.previous.find((previous) => previous.branch === branch && previous.state === 'closed' && !previous.merged);
            if (rejected)
              return skip(ramp.slug, `ending the ramp of ${ramp.slug} was proposed in PR #${rejected.number}, closed without merging; not proposed again`);
            return propose(buildRampEnd(context, app, env, routing, ramp.slug, ramp.percent, why));
          }
        }
        if (!incoming) return;
        const latest = tree.versions.find((live) => live.latestComponent) ?? tree.versions.find((live) => live.slug === tree.serviceSelects) ?? null;
        if (held(incoming.slug, null)) return;
        // An open switch (or ramp step) PR is in a reviewer's hands: no cluster read, no enqueue, no write.
        const open = context.previous.find(
          (previous) =>
            previous.state === 'open' &&
            previous.proposal.task === TASK &&
            previous.proposal.env === env.name &&
            subjectSlug(previous.proposal.subject, app.name) === incoming.slug,
        );
        if (open)
          return skip(
            incoming.slug,
            `${open.proposal.subject.includes('.ramp-') ? 'ramp' : 'switch'} PR #${open.number} for ${incoming.version} is open; left as it is`,
            {
              leaveOpenPullRequest: true,
            },
          );
        let step: RampStep | null = null;
        if (routing && env.ramp) {
          if (routing.ramp && routing.ramp.slug !== incoming.slug)
            return skip(
              incoming.slug,
              `unknown: ${routing.rampDir}/ ramps ${app.name}-${routing.ramp.slug}, but ${incoming.version} (${incoming.slug}) waits; finish or remove that ramp by hand first`,
            );
          const current = routing.ramp?.percent ?? 0;
          step = { routing, current, next: env.ramp.find((percent) => percent > current) ?? 100 };
        }
        const branch = branchFor(TASK, env.name, step && step.next < 100 ? `${app.name}/${incoming.slug}.ramp-${step.next}` : `${app.name}/${incoming.slug}`);
        const rejected = context.previous.find((previous) => previous.branch === branch && previous.state === 'closed' && !previous.merged);
        if (rejected)
          return skip(
            incoming.slug,
            `the ${step && step.next < 100 ? `ramp to ${step.next}%` : 'switch'} of ${incoming.version} was proposed in PR #${rejected.number}, which was closed without merging; not proposed again (roll forward with a newer version, or retire it)`,
          );

        // Mid-ramp (some traffic already reaches the version): its own evidence decides, not the gate workflow again. A
        // fail rolls the ramp back whatever its pods say (a crashing version is the first to fail); pass also needs them.
        let evidence: GateReading | null = null;
        if (step && step.current > 0) {
          evidence = await readGate(
            context.drain,
            context.config,
            env,
            app,
            incoming.version,
            context.now,
            { kind: 'own', run: { envFilter: context.envFilter, config: context.config } },
            { kube: context.kube, slug: incoming.slug },
          );
          context.log(
            `${env.name} ${app.name} ${incoming.version} at ${step.current}%: gate verdict ${evidence.verdict} (${evidence.describe ?? 'no reader'})`,
          );
          if (evidence.verdict === 'fail') {
            const rollbackBranch = branchFor(TASK, env.name, `${app.name}/${incoming.slug}.ramp-rollback`);
            const closed = context.previous.find((previous) => previous.branch === rollbackBranch && previous.state === 'closed' && !previous.merged);
            if (closed)
              return skip(
                incoming.slug,
                `the gate failed ${app.name} ${incoming.version} at ${step.current}% in ${env.name}, and its rollback PR #${closed.number} was closed without merging; not proposed again (the ramp stays where it is)`,
              );
            return propose(buildRampRollback(context, app, env, tree, incoming, step, evidence));
          }
        }

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

        // Mid-ramp, pass needs pods Ready as well; the evidence was read above.
        if (step && step.current > 0 && evidence) {
          if (evidence.verdict !== 'pass')
            return unknown(
              `the gate reads ${evidence.verdict} for ${incoming.version} at ${step.current}% of the ramp (it stays there): ${evidence.reasons.join(' ')}`,
            );
          return propose(buildPlan(context, app, env, tree, latest, incoming, pods, null, { step, evidence }));
        }

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
        propose(buildPlan(context, app, env, tree, latest, incoming, pods, gate, step ? { step, evidence: null } : null));
      });
    },
  };
}

export const versionSwitchTask: Task = createVersionSwitchTask();
