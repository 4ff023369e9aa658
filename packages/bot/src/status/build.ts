import type { AppConfig, BotConfig, EnvironmentConfig } from '../config/schema.ts';
import { BotError } from '../errors.ts';
import { branchFor, parseBranch, type Skip } from '../plan.ts';
import { appsInEnvironment } from '../repo/apps.ts';
import { HOLD_COMMENT } from '../repo/holds.ts';
import { readOverlayImages, type TreeReader } from '../repo/tree.ts';
import type { ImageEntry } from '../repo/yaml-edit.ts';
import { previousProposals } from '../runner.ts';
import type { DrainReading, DrainSource } from '../sources/drain/source.ts';
import { DrainReadError, NOT_CONFIGURED } from '../sources/drain/source.ts';
import type { DrainSourceFor } from '../sources/drain/for-environment.ts';
import { HOLD_LABEL, type BotPullRequests, type PullRequestRecord } from '../sources/forge/types.ts';
import type { KubeHealth } from '../sources/kube/health.ts';
import type { RegistrySource } from '../sources/registry/types.ts';
import { compareTags } from '../sources/registry/tag-policy.ts';
import { readAppVersionsTree, type AppVersionsTree, type LiveVersion } from '../tasks/shared/app-version-files.ts';
import { createSecretRotationTask } from '../tasks/secret-rotation/index.ts';
import {
  STATUS_SCHEMA_VERSION,
  type AppStatus,
  type DrainCell,
  type DueSecret,
  type ImagePin,
  type PlaceholderPin,
  type Promotion,
  type ReplicasCell,
  type StatusModel,
  type StatusPullRequest,
  type VersionState,
  type VersionStatus,
} from './model.ts';

/**
 * Builds the status from the repository alone, plus the readers the caller could configure. Pure with respect to the
 * outside world: no registry is ever asked (a status must work offline), nothing is written, and a reader that is
 * absent reads as `not-read`, one that fails as `unknown` with its reason, never as zero.
 */
export interface StatusInputs {
  config: BotConfig;
  tree: TreeReader;
  now: Date;
  /** Only this environment / application (already checked against the config by the caller). */
  envFilter: string | null;
  appFilter: string | null;
  /** The drain reader per environment x application; null: none configured anywhere. */
  drain: DrainSourceFor | null;
  /** Cluster health, asked only for environments with `kube:`; null: no cluster access. */
  kube: KubeHealth | null;
  /** The bot's PRs; null: no forge could be reached (then PR-derived facts are `not-read`). */
  pullRequests: (() => Promise<BotPullRequests>) | null;
  forgeDescribe: string;
}

const PLACEHOLDER = /^sha256:0{64}$/;
/** The repository's hold comment (defined once in repo/holds.ts) and the reason after it. */
const HOLD_REASON = new RegExp(`${HOLD_COMMENT.source}(.*)$`, 'm');
const VERSION_RETIRE = 'version-retire';

export function pinOf(entry: Pick<ImageEntry, 'newTag' | 'digest'>): ImagePin {
  const digest = entry.digest;
  const hex = digest && /^sha256:[0-9a-f]{12}/.test(digest) ? digest.slice(7, 19) : null;
  return { tag: entry.newTag, digest, shortDigest: hex, placeholder: digest !== null && PLACEHOLDER.test(digest) };
}

/** A message safe to show: BotErrors are written to be shown; anything else only by its name (it may quote a URL). */
function reasonOf(error: unknown): string {
  if (error instanceof BotError) return error.message;
  return `unexpected ${(error as Error)?.name ?? 'error'}`;
}

/** No registry, ever: a status read must not depend on the network, and must never look like a promotion check. */
export const NO_REGISTRY: RegistrySource = new Proxy({} as RegistrySource, {
  get(_target, property) {
    if (property === 'describe') return 'none (status reads no registry)';
    if (property === 'stats') return { calls: 0 };
    throw new Error('internal: status reads no registry');
  },
});

function environmentsOf(inputs: StatusInputs): EnvironmentConfig[] {
  return inputs.config.environments.filter((env) => inputs.envFilter === null || env.name === inputs.envFilter);
}

async function readPullRequests(inputs: StatusInputs): Promise<{ cell: StatusModel['pullRequests']; own: PullRequestRecord[] | null }> {
  if (!inputs.pullRequests) return { cell: { status: 'not-read', reason: 'no forge configured' }, own: null };
  try {
    const listing = await inputs.pullRequests();
    const open = listing.own
      .filter((pr) => pr.state === 'open')
      .map((pr): StatusPullRequest => {
        const parsed = parseBranch(pr.branch);
        return {
          number: pr.number,
          branch: pr.branch,
          title: pr.title,
          url: pr.url,
          task: parsed?.task ?? null,
          env: parsed?.env ?? null,
          subject: parsed?.subject ?? null,
          held: pr.labels.includes(HOLD_LABEL),
        };
      });
    return { cell: { status: 'read', forge: inputs.forgeDescribe, open }, own: listing.own };
  } catch (error) {
    return { cell: { status: 'unknown', reason: `${inputs.forgeDescribe}: ${reasonOf(error)}` }, own: null };
  }
}

interface DrainOfApp {
  describe: string;
  reading: DrainReading | null;
  failure: { status: 'not-read' | 'unknown'; reason: string } | null;
}

async function readDrain(inputs: StatusInputs, env: EnvironmentConfig, app: AppConfig, tree: AppVersionsTree): Promise<DrainOfApp> {
  if (!inputs.drain) return { describe: 'not configured', reading: null, failure: { status: 'not-read', reason: 'no drain reader configured' } };
  let source: DrainSource;
  try {
    source = inputs.drain(env, app, { envFilter: inputs.envFilter, config: inputs.config });
  } catch (error) {
    const notConfigured = error instanceof DrainReadError && error.reason === NOT_CONFIGURED;
    return { describe: 'not configured', reading: null, failure: { status: notConfigured ? 'not-read' : 'unknown', reason: reasonOf(error) } };
  }
  if (tree.versions.length === 0) return { describe: source.describe, reading: null, failure: null };
  try {
    const reading = await source.read({ appName: app.name, versions: tree.versions.map((live) => live.version), quietPeriodMs: app.drain.quietPeriod * 1000 });
    return { describe: source.describe, reading, failure: null };
  } catch (error) {
    return { describe: source.describe, reading: null, failure: { status: 'unknown', reason: reasonOf(error) } };
  }
}

function drainCell(drain: DrainOfApp, version: string): DrainCell {
  if (drain.failure) return drain.failure;
  const read = drain.reading?.versions.find((candidate) => candidate.version === version);
  if (!drain.reading || !read) return { status: 'unknown', reason: `the drain reader did not report ${version}` };
  return {
    status: 'read',
    pending: read.pending,
    enqueued: read.enqueued,
    delayed: read.delayed,
    inFlight: read.inFlight,
    deadLettered: read.deadLettered.count,
    lastActivity: read.quietSince,
    readAt: drain.reading.readAt,
  };
}

async function replicasCell(inputs: StatusInputs, env: EnvironmentConfig, image: ImagePin | null): Promise<ReplicasCell> {
  if (!inputs.kube || !env.kube) return { status: 'not-read', reason: `no cluster access configured for ${env.name} (environments[].kube)` };
  if (!image?.digest || image.placeholder) return { status: 'unknown', reason: 'the version pins no real digest' };
  try {
    const since = await inputs.kube.healthySince(env.name, env.kube.namespace, image.digest);
    return { status: 'read', readySince: since ? since.toISOString() : null };
  } catch (error) {
    return { status: 'unknown', reason: reasonOf(error) };
  }
}

/** The states git, the drain reading and the PRs give one live version (see VERSION_STATES). */
function statesOf(live: LiveVersion, latest: LiveVersion | null, drain: DrainCell, quietPeriodMs: number, retirePr: PullRequestRecord | null): VersionState[] {
  const states: VersionState[] = [];
  const isLatest = live.latestComponent;
  if (isLatest) states.push('latest');
  const rolledBack = !isLatest && live.listHold !== null;
  if (!isLatest && !rolledBack && latest && compareTags(live.version, latest.version) > 0) states.push('switch-pending');
  // A version DBOS has never seen (no row, not registered) is neither: nothing proves it drained, nothing drains.
  const seen = drain.status === 'read' && (drain.lastActivity !== null || drain.inFlight > 0 || drain.deadLettered > 0);
  if (!isLatest && drain.status === 'read' && seen) {
    const lastMs = drain.lastActivity === null ? null : Date.parse(drain.lastActivity);
    const quiet = lastMs !== null && Date.parse(drain.readAt) - lastMs >= quietPeriodMs;
    states.push(drain.inFlight === 0 && drain.deadLettered === 0 && quiet ? 'drained' : 'draining');
  }
  if (retirePr) states.push('retire-pr-open');
  if (live.held || retirePr?.labels.includes(HOLD_LABEL)) states.push('held');
  if (rolledBack) states.push('rolled-back');
  return states;
}

function compareVersionsDescending(a: LiveVersion, b: LiveVersion): number {
  return compareTags(b.version, a.version) || b.version.localeCompare(a.version);
}

async function appStatus(inputs: StatusInputs, app: AppConfig, ownPrs: PullRequestRecord[] | null): Promise<AppStatus> {
  const environments: AppStatus['environments'] = [];
  for (const env of environmentsOf(inputs)) {
    if (!appsInEnvironment(inputs.config, env).some((candidate) => candidate.name === app.name)) continue;
    const tree = await readAppVersionsTree(inputs.tree, env.name, env.overlay, app);
    if (!tree) {
      environments.push({ env: env.name, drainSource: 'not read: the application has no versions directory here', versions: [] });
      continue;
    }
    const drain = await readDrain(inputs, env, app, tree);
    const latest = tree.versions.find((live) => live.latestComponent) ?? null;
    const versions: VersionStatus[] = [];
    for (const live of [...tree.versions].sort(compareVersionsDescending)) {
      const retireBranch = branchFor(VERSION_RETIRE, env.name, `${app.name}/${live.slug}`);
      const retirePr = ownPrs?.find((pr) => pr.state === 'open' && pr.branch === retireBranch) ?? null;
      const image = live.image ? pinOf(live.image) : null;
      const cell = drainCell(drain, live.version);
      const holdLine = HOLD_REASON.exec(live.kustomization)?.[1]?.trim();
      versions.push({
        version: live.version,
        slug: live.slug,
        states: statesOf(live, latest, cell, app.drain.quietPeriod * 1000, retirePr),
        holdReason: live.held ? (holdLine ?? '') : live.listHold,
        image,
        drain: cell,
        replicas: await replicasCell(inputs, env, image),
        retirePullRequest: retirePr ? { number: retirePr.number, url: retirePr.url } : null,
      });
    }
    environments.push({
      env: env.name,
      drainSource: drain.failure ? `${drain.failure.status === 'not-read' ? 'not read' : 'unknown'}: ${drain.failure.reason}` : drain.describe,
      versions,
    });
  }
  return { name: app.name, environments };
}

async function promotionAndPlaceholders(inputs: StatusInputs, apps: AppStatus[]): Promise<{ promotion: Promotion[]; placeholders: PlaceholderPin[] }> {
  const environments = environmentsOf(inputs);
  const pins = new Map<string, Map<string, ImageEntry>>();
  const placeholders: PlaceholderPin[] = [];
  for (const env of environments) {
    const images = await readOverlayImages(inputs.tree, env.name, env.overlay);
    const byName = new Map<string, ImageEntry>();
    for (const entry of images?.entries ?? []) {
      byName.set(entry.name, entry);
      if (entry.digest && PLACEHOLDER.test(entry.digest)) placeholders.push({ env: env.name, file: images!.file, image: entry.name });
    }
    pins.set(env.name, byName);
  }
  const promotion: Promotion[] = inputs.config.images.map((image) => ({
    kind: 'image',
    name: image.name,
    positions: environments
      .filter((env) => !image.environments || image.environments.includes(env.name))
      .map((env) => {
        const entry = pins.get(env.name)?.get(image.name);
        return { env: env.name, pin: entry ? pinOf(entry) : null, version: null };
      }),
  }));
  for (const app of apps) {
    promotion.push({
      kind: 'app',
      name: app.name,
      positions: app.environments.map(({ env, versions }) => {
        const latest = versions.find((version) => version.states.includes('latest')) ?? null;
        return { env, pin: latest?.image ?? null, version: latest?.version ?? null };
      }),
    });
    for (const { env, versions } of app.environments)
      for (const version of versions)
        if (version.image?.placeholder)
          placeholders.push({
            env,
            file: `${inputs.config.environments.find((candidate) => candidate.name === env)!.overlay.replace(/\/+$/, '')}/apps/${app.name}/versions/${version.slug}/kustomization.yaml`,
            image: `${app.name} ${version.version}`,
          });
  }
  return { promotion, placeholders };
}

/** Secrets due: exactly what the secret-rotation task reports, from its own planner with no Conductor access. */
async function secretsDue(inputs: StatusInputs, ownPrs: PullRequestRecord[] | null): Promise<StatusModel['secretsDue']> {
  const rotation = inputs.config.secretRotation;
  const task = createSecretRotationTask({ conductor: null, keyList: null, rollout: null, ...(rotation ? { maxAgeSeconds: rotation.maxAge } : {}) });
  try {
    const result = await task.plan({
      config: inputs.config,
      tree: inputs.tree,
      registry: NO_REGISTRY,
      kube: null,
      conductor: null,
      drain: null,
      previous: previousProposals(ownPrs ?? []),
      now: inputs.now,
      envFilter: inputs.envFilter,
      log: () => {},
    });
    const due = (skip: Skip) => /\bdue\b|placeholder/.test(skip.reason);
    const items: DueSecret[] = result.skips.filter(due).map((skip) => ({ env: skip.env, subject: skip.subject, reason: skip.reason }));
    return { status: 'read', items };
  } catch (error) {
    return { status: 'unknown', reason: reasonOf(error) };
  }
}

export async function buildStatus(inputs: StatusInputs): Promise<StatusModel> {
  const { cell: pullRequests, own } = await readPullRequests(inputs);
  const apps: AppStatus[] = [];
  for (const app of inputs.config.apps) {
    if (inputs.appFilter !== null && app.name !== inputs.appFilter) continue;
    const status = await appStatus(inputs, app, own);
    if (status.environments.length > 0) apps.push(status);
  }
  const { promotion, placeholders } = await promotionAndPlaceholders(inputs, apps);
  return {
    schemaVersion: STATUS_SCHEMA_VERSION,
    generatedAt: inputs.now.toISOString(),
    tree: inputs.tree.describe,
    environments: environmentsOf(inputs).map((env) => env.name),
    apps,
    promotion,
    pullRequests,
    secretsDue: await secretsDue(inputs, own),
    placeholderPins: placeholders,
  };
}
