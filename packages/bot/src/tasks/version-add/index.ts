import type { AppConfig, EnvironmentConfig } from '../../config/schema.ts';
import { baseLabels, branchFor, markerFor, type Plan } from '../../plan.ts';
import { pinsMemory, readPins } from '../shared/pins.ts';
import { compareTags, eligibleTags } from '../../sources/registry/tag-policy.ts';
import {
  appVersionsDisabledBy,
  requireApps,
  addIncomingVersionEdits,
  addVersionEdits,
  appVersionSlug,
  incomingVersionOf,
  requireVersionsTree,
  type AppVersionsTree,
  type LiveVersion,
} from '../shared/app-version-files.ts';
import { digestProblem } from '../image-update/index.ts';
import type { Task, TaskContext } from '../types.ts';
import { holdOn } from '../../repo/holds.ts';
import { walkApplications } from '../shared/walk.ts';
import { appsInEnvironment } from '../../repo/apps.ts';
import { HOLD_LABEL } from '../../sources/forge/types.ts';
import { evidenceSummary, evidenceTable, readGate, type GateReading } from '../../sources/drain/evidence.ts';
import { rejectionLifted, retryLine, retryOf, type Retry, type RetryTick } from '../shared/retry.ts';

const TASK = 'version-add';

/** A maintainer's "promote now" tick on the dashboard: this version into this environment without waiting for a soak. */
export interface PromoteNow {
  env: string;
  app: string;
  version: string;
  /** Who edited the dashboard since the bot last wrote it (every one of them with write access). */
  by: string[];
}

export interface VersionAddSettings {
  /** Honoured dashboard ticks of this run; each skips the promotion soak and the gate's soak, never its `fail`. */
  promoteNow?: readonly PromoteNow[];
  /** Honoured "retry" ticks of this run: each lifts the rejection of its proposal's closed PR, once. */
  retry?: readonly RetryTick[];
}

/** The PR line that records a dashboard promotion: while the PR is open, later runs keep the soak skipped for it. */
const PROMOTE_NOW_LINE = (version: string, by: readonly string[]) =>
  `- Promoted now from the dashboard: ${by.map((login) => `@${login}`).join(', ')} ticked it, so the soak was skipped for \`${version}\` (the gate's other checks still held).`;
const PROMOTE_NOW_MARK = '- Promoted now from the dashboard: ';

/**
 * Who asked to promote `version` of `app` into `env` now: this run's ticks, else the bot's own open PR for it that
 * says so (the tick was honoured once, when the PR was opened; closing the PR ends it). Null: the soak applies.
 */
function promotedNowBy(context: TaskContext, settings: VersionAddSettings, env: string, app: string, version: string): string[] | null {
  const tick = settings.promoteNow?.find((item) => item.env === env && item.app === app && item.version === version);
  if (tick) return tick.by;
  for (const previous of context.previous) {
    if (previous.state !== 'open' || previous.proposal.task !== TASK || previous.proposal.env !== env || !previous.proposal.subject.startsWith(`${app}/`))
      continue;
    const line = previous.body?.split('\n').find((candidate) => candidate.startsWith(PROMOTE_NOW_MARK) && candidate.includes(`\`${version}\``));
    const by = line ? /^- Promoted now from the dashboard: ((?:@[A-Za-z0-9[\]_-]+(?:, )?)+) ticked it,/.exec(line)?.[1] : undefined;
    if (by) return by.split(', ').map((login) => login.replace(/^@/, ''));
  }
  return null;
}
/** Candidates younger than the minimum release age are passed over; look at most this many (as image-update does). */
const MAX_AGE_CANDIDATES = 5;

/**
 * A new application version gets its own Deployment (executors of that version) and ScaledObject,
 * next to the versions still draining. Per environment x application (tasks/shared/walk.ts): the application's first
 * environment takes the newest tag its apps: policy allows from the registry; each later environment it runs in takes
 * exactly the version and DIGEST the previous one has merged for THAT application (never re-resolving the tag). The
 * PR adds the version directory under overlays/<env>/apps/<app>/versions and its list line, and moves the app-latest
 * component and the application's Service selector to it; older versions keep running untouched.
 *
 * Promotion is gated on DBOS evidence: a version enters environment N+1 only when the gate of environment N
 * (`environments[].gate`) reads `pass` for exactly that version name there, read with N's drain reader (the version
 * directory of N pins the digest, so the name stands for that digest). `fail` and `unknown` (no reader configured for
 * N, database unreachable, not enough data, soak not elapsed) skip it with the reason: unknown never promotes. The
 * first environment takes versions from the registry and is not gated (there is no evidence before it runs anywhere).
 */

interface Target {
  version: string;
  tag: string;
  digest: string;
  created: Date | null;
  source: string;
  /** The previous environment's gate reading this promotion relied on (always `pass` when a plan is built). */
  gate?: GateReading;
  /** Promoted now from the dashboard by these people: no soak. */
  promotedNowBy?: string[];
  /** Retried from the dashboard: the closed PR whose rejection this proposal no longer heeds. */
  retry?: Retry;
}

/** The environment's latest version: the one with the app-latest component, else the highest. */
export function latestOf(tree: AppVersionsTree): LiveVersion | null {
  const sorted = [...tree.versions].sort((a, b) => compareTags(b.version, a.version));
  return tree.versions.find((live) => live.latestComponent) ?? sorted[0] ?? null;
}

function highestVersion(tree: AppVersionsTree): string | null {
  return [...tree.versions].sort((a, b) => compareTags(b.version, a.version))[0]?.version ?? null;
}

async function newestFromRegistry(context: TaskContext, app: AppConfig, highest: string | null): Promise<Target | string> {
  const tags = eligibleTags(await context.registry.listTags(app.repository), app.versioning);
  const newer = tags.filter((tag) => compareTags(tag, highest) > 0);
  if (newer.length === 0) return `no tag of ${app.repository} newer than ${highest ?? '(none)'} matches the apps: policy of ${app.name}`;
  const minAge = app.minReleaseAge ?? context.config.minReleaseAge;
  let youngest: string | null = null;
  for (const tag of newer.slice(0, MAX_AGE_CANDIDATES)) {
    const digest = await context.registry.resolveDigest(app.repository, tag);
    const bad = digestProblem(digest, `the digest ${context.registry.describe} gave for ${app.repository}:${tag}`);
    if (bad) return bad;
    const created = await context.registry.createdAt(app.repository, digest);
    // Unknown age fails closed: we cannot show the release is old enough.
    if (minAge > 0 && (!created || context.now.getTime() - created.getTime() < minAge * 1000)) {
      youngest ??= tag;
      continue;
    }
    return { version: tag, tag, digest, created, source: 'registry' };
  }
  return `${youngest ?? newer[0]} is younger than the minimum release age (${minAge}s) or has no created time`;
}

async function fromPreviousEnvironment(
  context: TaskContext,
  app: AppConfig,
  env: EnvironmentConfig,
  previousEnv: EnvironmentConfig,
  previousTree: AppVersionsTree | null,
  settings: VersionAddSettings = {},
): Promise<Target | string> {
  if (!previousTree) return `${previousEnv.name} has no versions list of ${app.name} on the base branch`;
  const latest = latestOf(previousTree);
  if (!latest) return `${previousEnv.name} has no version of ${app.name} yet`;
  if (!latest.image?.newTag || !latest.image.digest) return `${latest.kustomizationFile} does not pin ${app.imageName} by tag and digest`;
  const bad = digestProblem(latest.image.digest, `the digest of ${latest.version} merged in ${previousEnv.name} (${latest.kustomizationFile})`);
  if (bad) return bad;
  const promotedNow = promotedNowBy(context, settings, env.name, app.name, latest.version);
  if (context.kube && env.promotionSoak > 0 && previousEnv.kube) {
    const since = await context.kube.healthySince(previousEnv.name, previousEnv.kube.namespace, latest.image.digest);
    // Promote now skips the waiting, not the health: pods that are not all Ready now still hold the version back.
    if (!since && promotedNow) return `${latest.version} is not running healthy in ${previousEnv.name}; promote now skips the soak, not the health check`;
    if (!since || (!promotedNow && context.now.getTime() - since.getTime() < env.promotionSoak * 1000)) {
      return `${latest.version} has not run healthy in ${previousEnv.name} for ${env.promotionSoak}s yet`;
    }
  }
  const created = await context.registry.createdAt(app.repository, latest.image.digest).catch(() => null);
  return {
    version: latest.version,
    tag: latest.image.newTag,
    digest: latest.image.digest,
    created,
    source: `promotion from ${previousEnv.name}`,
    ...(promotedNow ? { promotedNowBy: promotedNow } : {}),
  };
}

/**
 * A version proposed before in a PR that was closed without merging is not proposed again; a newer one is. A retry
 * ticked on the dashboard lifts the rejection of its closed PR (and the PR it opens then stands in for it).
 */
function rejected(context: TaskContext, env: string, app: string, target: Target, retry: Retry | null): string | null {
  for (const previous of context.previous) {
    // Only this application's proposals: another application's closed PR says nothing about this one's versions.
    if (previous.proposal.task !== TASK || previous.proposal.env !== env || !previous.proposal.subject.startsWith(`${app}/`)) continue;
    const proposed = readPins(previous.proposal.memory)[0];
    if (!proposed || compareTags(proposed.tag, target.tag) < 0) continue;
    if (previous.state === 'closed' && !previous.merged && !rejectionLifted(context, previous, retry))
      return `${target.version} was proposed in PR #${previous.number}, which was closed without merging; waiting for a newer version`;
  }
  return null;
}

/** The evidence block of a promotion PR body: from its heading to the blank line before "Sync order". */
const EVIDENCE_BLOCK = /\n\nEvidence of `[^\n]*\n[\s\S]*?(?=\n\nSync order: )/;

/**
 * The body of an open promotion PR whose every other line is unchanged keeps the evidence it was opened (or last
 * changed) on: the gate still reads pass, and re-writing the counts and read time every run would be a forge write
 * per run that says nothing new. A changed plan (another digest, another previous version) gets the fresh table.
 */
function keptEvidenceBody(context: TaskContext, branch: string, withoutEvidence: string, fresh: string): string {
  const open = context.previous.find((previous) => previous.branch === branch && previous.state === 'open');
  const kept = open?.body ? EVIDENCE_BLOCK.exec(open.body)?.[0] : undefined;
  // The PR body is forge input anyone with write access can edit: keep it only when it is the bot's text to the
  // digit, the same table with other counts and times. The decision never rests on it: the gate was read this run.
  const digitsMasked = (text: string) => text.replace(/\d/g, '0');
  if (kept && open!.body!.replace(EVIDENCE_BLOCK, '') === withoutEvidence && digitsMasked(kept) === digitsMasked(EVIDENCE_BLOCK.exec(fresh)?.[0] ?? ''))
    return open!.body!;
  return fresh;
}

function buildPlan(context: TaskContext, app: AppConfig, env: string, tree: AppVersionsTree, target: Target, gated = false): Plan {
  const taken = new Map(tree.versions.map((live) => [live.slug, live.version]));
  const slug = appVersionSlug(target.version, taken);
  const subject = `${app.name}/${slug}`;
  const previous = latestOf(tree);
  const input = {
    version: target.version,
    slug,
    image: { name: app.imageName, newName: app.repository, tag: target.tag, digest: target.digest },
  };
  // switch: gated adds the version beside the latest; version-switch moves traffic in a second PR.
  const edits = gated ? addIncomingVersionEdits(tree, input) : addVersionEdits(tree, input);
  const memory = pinsMemory([{ image: app.imageName, tag: target.tag, digest: target.digest }]);
  const why =
    target.source === 'registry'
      ? `This is the newest tag the policy of \`${app.name}\` under \`apps:\` in \`.github/gitops-bot.yaml\` allows (semver range, tag filters) that is older than the minimum release age.`
      : `This exact digest is the latest version of \`${app.name}\` merged in the previous environment it runs in on the base branch${context.kube ? ' and passed the cluster health gate' : ''}, and its DBOS evidence there passed that environment's gate (table above); promotion copies the digest, it never re-resolves the tag.`;
  const bodyWith = (evidence: string[]) =>
    [
      gated
        ? `Adds version \`${target.version}\` of application **${app.name}** to **${env}** as \`${tree.base}/${slug}/\`, beside the latest; traffic does not move yet (\`switch: gated\`).`
        : `Adds version \`${target.version}\` of application **${app.name}** to **${env}** as \`${tree.base}/${slug}/\` and makes it the latest.`,
      '',
      `- Image: \`${app.repository}:${target.tag}@${target.digest}\` (built ${target.created ? target.created.toISOString().slice(0, 10) : 'unknown'})`,
      `- Source: ${target.source}`,
      ...(target.promotedNowBy ? [PROMOTE_NOW_LINE(target.version, target.promotedNowBy)] : []),
      ...(target.retry ? [retryLine(target.retry)] : []),
      gated
        ? `- The \`app-latest\` component and the \`${app.name}\` Service selector stay on \`${previous?.slug ?? '(none)'}\`. Once this is merged and the new executors' pods are Ready${context.config.environments.find((candidate) => candidate.name === env)?.gateWorkflow ? ' and the gate workflow succeeded on exactly this version' : ''}, version-switch proposes moving them to \`${slug}\` in a second PR.`
        : `- The \`app-latest\` component and the \`${app.name}\` Service selector move from \`${previous?.slug ?? '(none)'}\` to \`${slug}\`.`,
      `- Older versions keep their Deployments and keep draining their own workflows; version-retire removes each once it has drained.`,
      ...evidence,
      '',
      gated
        ? `Sync order: ${app.name}'s schema migration runs first, then the new executors start; its Service stays where it is until the switch PR is merged. Other applications are not touched.`
        : `Sync order: ${app.name}'s schema migration runs first, then the new executors start, then its Service switches to them. Other applications are not touched.`,
      '',
      `**Why:** ${why}`,
      '',
      `To stop this proposal, close the PR (the bot waits for a newer version) or add the \`${HOLD_LABEL}\` label.`,
      '',
      markerFor({ task: TASK, env, subject, memory }),
    ].join('\n');
  const branch = branchFor(TASK, env, subject);
  const body = target.gate ? keptEvidenceBody(context, branch, bodyWith([]), bodyWith(['', ...evidenceTable(target.gate)])) : bodyWith([]);
  return {
    task: TASK,
    env,
    subject,
    branch,
    title: `${env}: add ${app.name} version ${target.version}`,
    body,
    labels: baseLabels(context.config.forge.labels, env),
    edits,
    memory,
  };
}

export const versionAddTask: Task = createVersionAddTask({});

export function createVersionAddTask(settings: VersionAddSettings): Task {
  return {
    name: TASK,
    // drain: the previous environment's drain reader reads the evidence promotion is gated on.
    needs: ['registry', 'forge', 'kube', 'drain'],
    disabledBy: appVersionsDisabledBy,
    description:
      'add a Deployment for a new application version (newest allowed tag into the first environment, then the merged digest env by env); older versions keep draining',
    async plan(context) {
      requireApps(context.config);
      const trees = new Map<string, AppVersionsTree>();
      const treeOf = async (env: EnvironmentConfig, app: AppConfig) => {
        const key = `${env.name}/${app.name}`;
        if (!trees.has(key)) trees.set(key, await requireVersionsTree(context, env, app));
        return trees.get(key)!;
      };
      return walkApplications(context, TASK, async ({ env, app, previousEnv, skipApp, skip, held, propose }) => {
        const tree = await treeOf(env, app);
        const target = previousEnv
          ? await fromPreviousEnvironment(context, app, env, previousEnv, await treeOf(previousEnv, app), settings)
          : await newestFromRegistry(context, app, highestVersion(tree));
        if (typeof target === 'string') return skipApp(target);
        if (tree.versions.some((live) => live.version === target.version)) return;
        const highest = highestVersion(tree);
        if (compareTags(target.tag, highest) <= 0) {
          return skipApp(
            `${previousEnv ? previousEnv.name : 'the registry'} has ${app.name} ${target.version}, not newer than ${highest} here; versions are only added in order`,
          );
        }
        const slug = appVersionSlug(target.version, new Map(tree.versions.map((live) => [live.slug, live.version])));
        const hold = holdOn(tree.holds, target.version, compareTags);
        if (held(slug, hold ? `line in ${tree.listFile}${hold.scope === 'version' ? ` (holds ${hold.upTo} and older)` : ''}` : null)) return;
        const gated = env.switch === 'gated';
        const incoming = gated ? incomingVersionOf(tree, compareTags) : null;
        if (incoming)
          // One version at a time behind the gate: the next waits until the previous one is switched to (or rolled back).
          return skip(
            slug,
            `${app.name} ${incoming.version} is added to ${env.name} but not switched to yet (switch: gated); ${target.version} waits for version-switch`,
            { leaveOpenPullRequest: true },
          );
        if (tree.versions.length >= app.maxLive) {
          return skip(
            slug,
            `${tree.versions.length} versions of ${app.name} are live in ${env.name} (its maxLive: ${app.maxLive}); ${target.version} waits until version-retire removes a drained one`,
          );
        }
        // DBOS refuses to launch executors whose version name another application already registered in the same
        // system database (the applications of an environment share one); its workflows would never start.
        for (const other of appsInEnvironment(context.config, env)) {
          if (other.name === app.name) continue;
          const clash = (await treeOf(env, other)).versions.find((live) => live.version === target.version);
          if (clash)
            return skip(
              slug,
              `${app.name} ${target.version} has the version name of a live version of ${other.name} in ${env.name} (${clash.dir}); DBOS refuses two applications one version name in a shared system database, so give the release a distinct version`,
            );
        }
        const retry = retryOf(context, settings.retry ?? [], TASK, env.name, `${app.name}/${slug}`, branchFor(TASK, env.name, `${app.name}/${slug}`));
        const why = rejected(context, env.name, app.name, target, retry);
        if (why) return skip(slug, why);
        if (retry) {
          context.log(
            `${app.name} ${target.version} in ${env.name}: retried from the dashboard by ${retry.by.map((login) => `@${login}`).join(', ')} (PR #${retry.pr} no longer holds it back)`,
          );
          target.retry = retry;
        }
        if (previousEnv) {
          // Last, so a run where nothing is to be promoted never opens a connection.
          const slugThere = (await treeOf(previousEnv, app)).versions.find((live) => live.version === target.version)?.slug ?? null;
          const gate = await readGate(
            context.drain,
            context.config,
            previousEnv,
            app,
            target.version,
            context.now,
            { kind: 'previous', run: context },
            { kube: context.kube, slug: slugThere, ...(target.promotedNowBy ? { skipSoak: true } : {}) },
          );
          context.log(`gate of ${app.name} ${target.version} in ${previousEnv.name}: ${gate.verdict} (${evidenceSummary(gate)})`);
          if (gate.verdict !== 'pass') {
            const counts = gate.evidence ? ` [${evidenceSummary(gate)}]` : '';
            const reason = `${target.version} is not promoted from ${previousEnv.name}: its gate there reads ${gate.verdict}${counts}: ${gate.reasons.join(' ')}`;
            // fail: an open promotion PR is closed with the evidence, and a closed one is never re-proposed: the version
            // is bad. unknown says nothing new about the version (an outage, a quiet hour in the window): no new PR, but
            // an open one (opened on a pass, its evidence in its body) is left alone, since closing it would read back
            // as a rejection and bar the version for good.
            return gate.verdict === 'fail' ? skip(slug, reason) : skip(slug, reason, { leaveOpenPullRequest: true });
          }
          target.gate = gate;
        }
        propose(buildPlan(context, app, env.name, tree, target, gated));
      });
    },
  };
}
