import { decideRetirement, formatDuration, type DrainObservation } from '@dbos-gitops/drain';
import { baseLabels, branchFor, markerFor, type Plan } from '../../plan.ts';
import { pinsMemory } from '../shared/pins.ts';
import { compareTags } from '../../sources/registry/tag-policy.ts';
import { DrainReadError, NOT_CONFIGURED, type DrainReading, type VersionDrainReading } from '../../sources/drain/source.ts';
import {
  appVersionsDisabledBy,
  requireApps,
  requireVersionsTree,
  removeVersionEdits,
  type AppVersionsTree,
  type LiveVersion,
} from '../shared/app-version-files.ts';
import type { Task, TaskContext } from '../types.ts';
import { walkApplications } from '../shared/walk.ts';
import type { AppConfig } from '../../config/schema.ts';

const TASK = 'version-retire';

/**
 * Retirement of an old application version, per environment x application. A version directory of an application is
 * removed only when ALL hold, read successfully in THIS run: it is not the application's latest (git's app-latest
 * component, its highest version, the database's newest registered version of that application), the application's
 * Service does not select it, it has zero PENDING/ENQUEUED/DELAYED workflows, and nothing of it
 * has changed for the quiet period (proved by the same read, see sources/drain/source.ts). Every count is of the
 * application's own workflows (application_name = its name; rows without a name count for every application, fail
 * closed), so another application's work on the same version string neither blocks nor allows it. Anything unknown throws
 * DrainReadError: no PR, non-zero exit.
 *
 * Hold: a line `# gitops-bot: hold` in the version's kustomization.yaml (the bot then never proposes retiring it), or
 * the `gitops-bot/hold` label on its open retire PR (the bot leaves that PR alone). Force: delete the directory and
 * its list line by hand in a reviewed PR; the bot does not stand in the way, but that strands any workflow of the
 * version still in flight (no executor of that version is left to recover or dequeue it).
 */

import type { DrainSourceFor } from '../../sources/drain/for-environment.ts';
import { HOLD_LABEL } from '../../sources/forge/types.ts';
export { defaultDrainSourceFor, drainUrlEnvFor, type DrainSourceFor } from '../../sources/drain/for-environment.ts';

interface Candidate {
  live: LiveVersion;
  reading: VersionDrainReading;
}

function evidenceLines(reading: DrainReading, candidate: Candidate, quietPeriodMs: number): string[] {
  const { reading: v } = candidate;
  return [
    `| Status | Count |`,
    `| --- | --- |`,
    `| PENDING | ${v.pending} |`,
    `| ENQUEUED | ${v.enqueued} |`,
    `| DELAYED | ${v.delayed} |`,
    '',
    `- **Zero in flight since:** ${v.quietSince} (no workflow row of \`${v.version}\` changed after it; quiet period ${formatDuration(quietPeriodMs)})`,
    `- **Source:** ${reading.source}, ${reading.describe}`,
    `- **Latest registered version:** ${reading.latestVersion}`,
  ];
}

function shellWord(value: string): string {
  return /^[A-Za-z0-9._:-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** One line per listed dead letter: its id and name, the resume command, and the fork onto the latest version. */
function deadLetterLines(v: VersionDrainReading, latestVersion: string | null): string[] {
  const lines = v.deadLettered.workflows.map(
    (workflow) =>
      `- \`${workflow.workflowId}\`${workflow.workflowName ? ` (${workflow.workflowName})` : ''}, dead-lettered ${workflow.updatedAt}: resume on ${v.version} with \`${workflow.resume}\`${workflow.fork ? `, or restart it on ${latestVersion} with \`${workflow.fork}\`` : ''}`,
  );
  const more = v.deadLettered.count - v.deadLettered.workflows.length;
  if (more > 0)
    lines.push(
      `- and ${more} more; list them all with \`dbos workflow list --status MAX_RECOVERY_ATTEMPTS_EXCEEDED --application-version ${shellWord(v.version)} --limit ${v.deadLettered.count} --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"\``,
    );
  return lines;
}

function queryBlock(reading: DrainReading): string[] {
  return [
    'In-flight query (parameters: $1 = version, $2 = app name):',
    '```sql',
    reading.queries.inFlight,
    '```',
    'Quiet-since query (same transaction):',
    '```sql',
    reading.queries.quietSince,
    '```',
  ];
}

/** Reuses the read time of the open PR's body when every other fact is unchanged, so hourly re-runs write nothing. */
function readTimeLine(context: TaskContext, branch: string, stableBody: string, readAt: string): string {
  const open = context.previous.find((previous) => previous.branch === branch && previous.state === 'open');
  const previousBody = open?.body ?? null;
  if (previousBody?.includes(stableBody)) {
    const match = /^- \*\*Read at:\*\* .+$/m.exec(previousBody);
    if (match) return match[0];
  }
  return `- **Read at:** ${readAt} (database clock, one read-only repeatable-read transaction)`;
}

function buildPlan(
  context: TaskContext,
  app: AppConfig,
  env: string,
  tree: AppVersionsTree,
  candidate: Candidate,
  reading: DrainReading,
  quietPeriodMs: number,
  edits: Plan['edits'],
): Plan {
  const { live } = candidate;
  const subject = `${app.name}/${live.slug}`;
  const imageName = app.imageName;
  const branch = branchFor(TASK, env, subject);
  // Nothing replaces a retired version; the marker records what was removed.
  const memory = pinsMemory([{ image: imageName, tag: live.image?.newTag ?? live.version, digest: live.image?.digest ?? '' }]);
  const stable = [
    `Retires version \`${live.version}\` of application **${app.name}** in **${env}**: removes \`${live.dir}/\` and its line in \`${tree.listFile}\`.`,
    '',
    `It is not the latest version of ${app.name} and the \`${app.name}\` Service selects \`${tree.serviceSelects}\`. Its executors are no longer needed: nothing of \`${live.version}\` is in flight and nothing of it has changed for at least the quiet period, read successfully by this run.`,
    '',
    ...evidenceLines(reading, candidate, quietPeriodMs),
    ...(candidate.reading.deadLettered.count > 0
      ? [
          '',
          `**${candidate.reading.deadLettered.count} dead-lettered workflow(s)** (MAX_RECOVERY_ATTEMPTS_EXCEEDED) of \`${live.version}\` are retired with it because \`drain.retireDeadLettered\` of ${app.name} under \`apps:\` is on. Once merged, nothing can resume them on ${live.version}; resume them before merging, or restart them on the latest version:`,
          ...deadLetterLines(candidate.reading, reading.latestVersion),
        ]
      : []),
  ].join('\n');
  const body = [
    stable,
    readTimeLine(context, branch, stable, reading.readAt),
    '',
    ...queryBlock(reading),
    '',
    `To stop this retirement, add the \`${HOLD_LABEL}\` label to this PR or a line \`# gitops-bot: hold\` to the version's kustomization.yaml. If work of this version appears again before merge, the bot closes this PR.`,
    '',
    markerFor({ task: TASK, env, subject, memory }),
  ].join('\n');
  return {
    task: TASK,
    env,
    subject,
    branch,
    title: `${env}: retire ${app.name} version ${live.version}`,
    body,
    labels: baseLabels(context.config.forge.labels, env),
    edits,
    memory,
  };
}

/** The versions git says must stay: the one with the app-latest component, the highest version, the Service's pick. */
function protectedSlugs(tree: AppVersionsTree): Map<string, string> {
  const service = `the ${tree.app} Service selects it`;
  const out = new Map<string, string>();
  for (const live of tree.versions) if (live.latestComponent) out.set(live.slug, 'it includes the app-latest component (the latest version)');
  // A rolled-back version (held in the list, see tasks/rollback) is no longer the latest even when it is the highest.
  const highest = [...tree.versions].filter((live) => live.listHold === null).sort((a, b) => compareTags(b.version, a.version))[0];
  if (highest && !out.has(highest.slug)) out.set(highest.slug, 'it is the highest version in this environment');
  if (tree.serviceSelects && !out.has(tree.serviceSelects)) out.set(tree.serviceSelects, service);
  return out;
}

export function createVersionRetireTask(options: { drainSourceFor?: DrainSourceFor } = {}): Task {
  return {
    name: TASK,
    needs: ['drain', 'forge'],
    disabledBy: appVersionsDisabledBy,
    description:
      'remove an old application version once its durable workflows have drained (zero in flight for the quiet period, read successfully this run); fails closed',
    async plan(context) {
      requireApps(context.config);
      return walkApplications(context, TASK, async ({ env, app, skip, held, propose }) => {
        const quietPeriodMs = app.drain.quietPeriod * 1000;
        const tree = await requireVersionsTree(context, env, app);
        const keep = protectedSlugs(tree);
        const candidates: LiveVersion[] = [];
        for (const live of tree.versions) {
          const why = keep.get(live.slug);
          if (why) {
            skip(live.slug, `${live.version} stays: ${why}`);
            continue;
          }
          if (held(live.slug, live.held ? `line in ${live.kustomizationFile}` : null)) continue;
          candidates.push(live);
        }
        if (candidates.length === 0) return;

        // The composition root builds the drain readers from the CLI's environment; a test may hand its own.
        const drainSourceFor = options.drainSourceFor ?? context.drain;
        if (!drainSourceFor) throw new DrainReadError('no drain reader is configured', NOT_CONFIGURED);
        const source = drainSourceFor(env, app, context);
        context.log(`reading the drain status of ${app.name} ${candidates.map((live) => live.version).join(', ')} in ${env.name} from ${source.describe}`);
        // Throws DrainReadError on anything unknown: the whole run stops before any branch is pushed.
        const reading = await source.read({ appName: app.name, versions: candidates.map((live) => live.version), quietPeriodMs });
        const serviceVersion = tree.versions.find((live) => live.slug === tree.serviceSelects)?.version ?? null;
        // The database's latest is the newest REGISTERED version, which a rollback leaves pointing at the bad one. Only
        // when git agrees it was rolled back (held in the list, neither latest nor selected) does git's latest stand in.
        const rolledBack = tree.versions.find((live) => live.version === reading.latestVersion && live.listHold !== null && !keep.has(live.slug));
        const latestVersion = rolledBack ? (tree.versions.find((live) => live.latestComponent)?.version ?? null) : reading.latestVersion;
        for (const live of candidates) {
          const drained = reading.versions.find((version) => version.version === live.version);
          if (!drained) throw new DrainReadError(`the drain read did not report version ${live.version}`, 'unexpected');
          const counts = `pending ${drained.pending}, enqueued ${drained.enqueued}, delayed ${drained.delayed}`;
          context.log(`${env.name} ${app.name} ${live.version}: ${counts}; unchanged since ${drained.quietSince ?? 'never seen'}; read at ${reading.readAt}`);
          if (drained.inFlight === 0 && drained.quietSince === null) {
            skip(
              live.slug,
              `the database (${reading.describe}) has no workflow of ${live.version} and never registered it; check that DBOS__APPVERSION in ${live.patchFile} is what the executors run (unknown is not drained)`,
            );
            continue;
          }
          const observations: DrainObservation[] = [];
          if (drained.quietSince !== null && drained.inFlight === 0) observations.push({ at: drained.quietSince, inFlight: 0, source: 'database' });
          observations.push({ at: reading.readAt, inFlight: drained.inFlight, source: 'database' });
          const decision = decideRetirement({
            version: live.version,
            latestVersion,
            serviceSelects: serviceVersion ?? 'unknown',
            appName: app.name,
            observations,
            quietPeriodMs,
            // The database proves the interval since quietSince without gaps (no row changed), so sampling gaps do not apply.
            maxGapMs: Number.MAX_SAFE_INTEGER,
            orphans: drained.orphans.filter((orphan) => orphan.confirmed),
            now: reading.readAt,
          });
          const stalled = drained.orphans.filter((orphan) => !orphan.confirmed);
          if (stalled.length > 0) {
            const oldest = Math.max(...stalled.map((orphan) => orphan.ageMs));
            decision.reasons.push(
              `${stalled.length} PENDING workflow(s) of ${live.version} have not changed for more than the quiet period (oldest ${formatDuration(oldest)}); if their executor is gone they wait forever: resume them on a live executor of ${live.version}, e.g. ${stalled[0]!.fix}.`,
            );
          }
          if (drained.deadLettered.count > 0 && !app.drain.retireDeadLettered) {
            decision.retire = false;
            decision.reasons.push(
              `${drained.deadLettered.count} workflow(s) of ${live.version} are dead-lettered (MAX_RECOVERY_ATTEMPTS_EXCEEDED) and only an executor of ${live.version} can resume them, so ${live.version} stays. Resume them while it runs, restart them on the latest version, or cancel them (\`dbos workflow cancel <id>\`); to retire anyway set drain.retireDeadLettered: true on ${app.name} under apps:.\n${deadLetterLines(drained, reading.latestVersion).join('\n')}`,
            );
          }
          if (!decision.retire) {
            skip(live.slug, `${decision.reasons.join(' ')} (${counts}; read at ${reading.readAt})`);
            continue;
          }
          const edits = await removeVersionEdits(context.tree, tree, live);
          propose(buildPlan(context, app, env.name, tree, { live, reading: drained }, reading, quietPeriodMs, edits));
        }
      });
    },
  };
}

export const versionRetireTask: Task = createVersionRetireTask();
