import type { EnvironmentConfig, ImageConfig } from '../../config/schema.ts';
import { UnknownImageError } from '../../errors.ts';
import { baseLabels, branchFor, markerFor, type Plan } from '../../plan.ts';
import { pinsMemory, readPins } from '../shared/pins.ts';
import { imagePinsPath, readOverlayImages, type OverlayImages } from '../../repo/tree.ts';
import { setImageEntries, type ImageEntry } from '../../repo/yaml-edit.ts';
import { compareTags, eligibleTags } from '../../sources/registry/tag-policy.ts';
import type { PreviousProposal, Task, TaskContext } from '../types.ts';
import { walkEnvironments } from '../shared/walk.ts';
import { HOLD_LABEL } from '../../sources/forge/types.ts';
import { rejectionLifted, retryLine, retryOf, type Retry, type RetryTick } from '../shared/retry.ts';

const TASK = 'image-update';
/** Candidates younger than the minimum release age are passed over; look at most this many before giving up. */
const MAX_AGE_CANDIDATES = 5;

interface Target {
  tag: string;
  digest: string;
  created: Date | null;
  source: string;
}

interface Unit {
  subject: string;
  images: ImageConfig[];
}

/** Groups first (their members always move together), then every other updatable image on its own. */
function unitsOf(context: TaskContext): Unit[] {
  const { images, groups } = context.config;
  const byId = new Map(images.map((image) => [image.id, image]));
  const grouped = new Set(groups.flatMap((group) => group.images));
  const units: Unit[] = groups.map((group) => ({ subject: group.name, images: group.images.map((id) => byId.get(id)!).filter((image) => image.update) }));
  for (const image of images) if (image.update && !grouped.has(image.id)) units.push({ subject: image.id, images: [image] });
  return units.filter((unit) => unit.images.length > 0);
}

function shortDigest(digest: string | null): string {
  return digest ? `${digest.slice(0, 19)}…` : '(none)';
}

function age(created: Date | null, now: Date): string {
  if (!created) return 'unknown';
  // Absolute dates only: a relative age would change the PR body every day and cost a write per run.
  void now;
  return created.toISOString().slice(0, 10);
}

/**
 * A digest the bot may write: well-formed and not a placeholder. The repository ships 64-zero digests where the
 * real one was unknown and the offline catalog is full of them; copying one into the next environment (or
 * writing one from a registry answer) would pin an image that does not exist.
 */
export function digestProblem(digest: string, where: string): string | null {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) return `${where} is not a sha256 digest ("${digest.slice(0, 80)}")`;
  if (/^sha256:0{64}$/.test(digest))
    return `${where} is the all-zero placeholder digest, not a real image; pin the real digest there first (image-update proposes it from a live registry read)`;
  return null;
}

/** Newest allowed tag that is newer than the current one and old enough; null with a reason otherwise. */
async function newestFromRegistry(context: TaskContext, image: ImageConfig, entry: ImageEntry): Promise<Target | string> {
  const tags = eligibleTags(await context.registry.listTags(image.repository), image.versioning);
  const newer = tags.filter((tag) => compareTags(tag, entry.newTag) >= 0);
  if (newer.length === 0) return `no tag of ${image.repository} newer than ${entry.newTag} matches the policy`;
  const minAge = image.minReleaseAge ?? context.config.minReleaseAge;
  let youngest: string | null = null;
  for (const tag of newer.slice(0, MAX_AGE_CANDIDATES)) {
    const digest = await context.registry.resolveDigest(image.repository, tag);
    const bad = digestProblem(digest, `the digest ${context.registry.describe} gave for ${image.repository}:${tag}`);
    if (bad) return bad;
    if (tag === entry.newTag && digest === entry.digest) return { tag, digest, created: null, source: 'registry' };
    const created = minAge > 0 || tag !== entry.newTag ? await context.registry.createdAt(image.repository, digest) : null;
    if (minAge > 0) {
      // Unknown age fails closed: we cannot show the release is old enough.
      if (!created || context.now.getTime() - created.getTime() < minAge * 1000) {
        youngest ??= tag;
        continue;
      }
    }
    return { tag, digest, created, source: 'registry' };
  }
  return `${youngest ?? newer[0]} is younger than the minimum release age (${minAge}s) or has no created time`;
}

function runsIn(image: ImageConfig, env: EnvironmentConfig): boolean {
  return !image.environments || image.environments.includes(env.name);
}

/** Promotion copies exactly what the previous environment has merged: same tag, same digest, never re-resolved. */
async function fromPreviousEnvironment(
  context: TaskContext,
  image: ImageConfig,
  env: EnvironmentConfig,
  previousEnv: EnvironmentConfig,
  previousOverlay: OverlayImages | null,
): Promise<Target | string> {
  if (!previousOverlay) return `the image pins of ${previousEnv.name} (${imagePinsPath(previousEnv.overlay)}) are missing on the base branch`;
  const previousEntry = previousOverlay.entries.find((candidate) => candidate.name === image.name);
  if (!previousEntry) throw new UnknownImageError(image.name, previousOverlay.file);
  if (!previousEntry.newTag || !previousEntry.digest) return `${previousEnv.name} does not pin ${image.name} by tag and digest`;
  const bad = digestProblem(previousEntry.digest, `the digest of ${image.name} merged in ${previousEnv.name} (${previousOverlay.file})`);
  if (bad) return bad;
  if (context.kube && env.promotionSoak > 0 && previousEnv.kube) {
    const since = await context.kube.healthySince(previousEnv.name, previousEnv.kube.namespace, previousEntry.digest);
    if (!since || context.now.getTime() - since.getTime() < env.promotionSoak * 1000) {
      return `${image.name} ${previousEntry.newTag} has not run healthy in ${previousEnv.name} for ${env.promotionSoak}s yet`;
    }
  }
  const created = await context.registry.createdAt(image.repository, previousEntry.digest).catch(() => null);
  return { tag: previousEntry.newTag, digest: previousEntry.digest, created, source: `promotion from ${previousEnv.name}` };
}

/**
 * Why a proposal must not be made again, or null. A newer version than every rejected one is always allowed, and a
 * retry ticked on the dashboard lifts the rejection of its closed PR (the PR it opens then stands in for it).
 */
function rejection(context: TaskContext, env: string, subject: string, image: string, current: ImageEntry, target: Target, retry: Retry | null): string | null {
  const mine = context.previous.filter(
    (previous: PreviousProposal) => previous.proposal.task === TASK && previous.proposal.env === env && previous.proposal.subject === subject,
  );
  for (const previous of mine) {
    const proposed = readPins(previous.proposal.memory).find((pin) => pin.image === image);
    if (!proposed || compareTags(proposed.tag, target.tag) < 0) continue;
    if (previous.state === 'closed' && !previous.merged && !rejectionLifted(context, previous, retry))
      return `${image} ${proposed.tag} was proposed in PR #${previous.number}, which was closed without merging; waiting for a newer version`;
    if (previous.merged && compareTags(current.newTag, proposed.tag) < 0)
      return `${image} ${proposed.tag} was merged in PR #${previous.number} and later downgraded by hand to ${current.newTag}; waiting for a newer version`;
  }
  return null;
}

function buildPlan(
  env: string,
  subject: string,
  overlay: OverlayImages,
  changes: Array<{ image: ImageConfig; entry: ImageEntry; target: Target }>,
  context: TaskContext,
  retry: Retry | null = null,
): Plan {
  const after = setImageEntries(
    overlay.text,
    overlay.file,
    changes.map((change) => ({ name: change.image.name, newTag: change.target.tag, digest: change.target.digest })),
  );
  const memory = pinsMemory(changes.map(({ image, target }) => ({ image: image.id, tag: target.tag, digest: target.digest })));
  const promoted = changes.some((change) => change.target.source !== 'registry');
  const what = changes.map((change) => `${change.image.id} ${change.target.tag}`).join(', ');
  const title = `${env}: update ${what}`;
  const rows = changes.map(
    ({ image, entry, target }) =>
      `| ${image.name} | ${env} | \`${entry.newTag}\` \`${shortDigest(entry.digest)}\` → \`${target.tag}\` \`${shortDigest(target.digest)}\` | ${age(target.created, context.now)} |`,
  );
  const why = promoted
    ? `These exact digests are merged in the previous environment on the base branch${context.kube ? ' and passed the cluster health gate' : ''}; promotion copies the digest, it never re-resolves the tag.`
    : 'These are the newest versions the update policy in `.github/gitops-bot.yaml` allows (semver range, tag filters) that are older than the minimum release age.';
  const body = [
    `Updates ${changes.length === 1 ? 'an image' : 'images'} in \`${overlay.file}\`.`,
    '',
    '| Image | Env | Change | Released |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    ...(retry ? [retryLine(retry), ''] : []),
    `**Why:** ${why}`,
    '',
    `To stop this proposal, close the PR (the bot waits for a newer version) or add the \`${HOLD_LABEL}\` label.`,
    '',
    markerFor({ task: TASK, env, subject, memory }),
  ].join('\n');
  return {
    task: TASK,
    env,
    subject,
    branch: branchFor(TASK, env, subject),
    title,
    body,
    labels: baseLabels(context.config.forge.labels, env),
    edits: [{ path: overlay.file, before: overlay.text, after }],
    memory,
  };
}

export interface ImageUpdateSettings {
  /** Honoured "retry" ticks of this run: each lifts the rejection of its proposal's closed PR, once. */
  retry?: readonly RetryTick[];
}

export const imageUpdateTask: Task = createImageUpdateTask({});

export function createImageUpdateTask(settings: ImageUpdateSettings): Task {
  return {
    name: TASK,
    // kube: the promotion health gate, when an environment has cluster access.
    needs: ['registry', 'forge', 'kube'],
    description:
      'bump control-plane images (conductor+console, dex, dbos-migrate): newest allowed version into the first environment, then promote the merged digest env by env',
    async plan(context) {
      const units = unitsOf(context);
      const overlays = new Map<string, OverlayImages | null>();
      const overlayOf = async (env: EnvironmentConfig) => {
        if (!overlays.has(env.name)) overlays.set(env.name, await readOverlayImages(context.tree, env.name, env.overlay));
        return overlays.get(env.name)!;
      };
      return walkEnvironments(context, TASK, async ({ env, previousEnv, skip, held, propose }) => {
        const overlay = await overlayOf(env);
        if (!overlay) return skip('*', `overlay ${env.overlay} has no image pins file (${imagePinsPath(env.overlay)}) on the base branch`);
        const previousOverlay = previousEnv ? await overlayOf(previousEnv) : null;
        for (const unit of units) {
          // An image configured for some environments only (an application's migration image) is not pinned elsewhere.
          if (!unit.images.every((image) => runsIn(image, env))) continue;
          const entries = unit.images.map((image) => {
            const entry = overlay.entries.find((candidate) => candidate.name === image.name);
            if (!entry) throw new UnknownImageError(image.name, overlay.file);
            return { image, entry };
          });
          const commentHold = entries.find(({ entry }) => entry.held);
          if (held(unit.subject, commentHold ? `comment on ${commentHold.image.name} in ${overlay.file}` : null)) continue;
          const changes: Array<{ image: ImageConfig; entry: ImageEntry; target: Target }> = [];
          const retry = retryOf(context, settings.retry ?? [], TASK, env.name, unit.subject, branchFor(TASK, env.name, unit.subject));
          for (const { image, entry } of entries) {
            // The first environment the image runs in takes it from the registry; each later one by promotion.
            const target =
              previousEnv && runsIn(image, previousEnv)
                ? await fromPreviousEnvironment(context, image, env, previousEnv, previousOverlay)
                : await newestFromRegistry(context, image, entry);
            if (typeof target === 'string') {
              skip(image.id, target);
              continue;
            }
            const order = compareTags(target.tag, entry.newTag);
            if (order < 0) {
              skip(image.id, `${previousEnv ? previousEnv.name : 'the registry'} has ${target.tag}, older than ${entry.newTag} here; never downgrading`);
              continue;
            }
            if (order === 0 && target.digest === entry.digest) continue;
            const rejected = rejection(context, env.name, unit.subject, image.id, entry, target, retry);
            if (rejected) {
              skip(image.id, rejected);
              continue;
            }
            changes.push({ image, entry, target });
          }
          if (changes.length > 0) propose(buildPlan(env.name, unit.subject, overlay, changes, context, retry));
        }
      });
    },
  };
}
