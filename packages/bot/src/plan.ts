import { z } from 'zod';

/**
 * A plan is pure data: what one pull request should contain. Tasks produce plans; only the runner applies them.
 * The same inputs always give the same plan, so the same change always lands on the same branch and PR.
 */

/** One file change. `before` is the content the task read (null: file did not exist); `after` null deletes it.
 * A directory is added or removed with one edit per file. */
export interface FileEdit {
  path: string;
  before: string | null;
  after: string | null;
}

/** Machine-readable facts behind a plan. The runner embeds them in the PR body (a hidden marker) so a later run
 * can read back what the bot proposed, which is how the bot remembers closed or reverted proposals without local state. */
export interface PlanEvidence {
  /** Per changed image (or version), what changed and why it is safe. */
  changes: Array<{
    image: string;
    repository: string;
    from: { tag: string; digest: string | null };
    to: { tag: string; digest: string };
    /** ISO time the image config says it was built; null when the registry did not say. */
    created: string | null;
    /** Where the target came from: `registry` for the first environment, `promotion from <env>` after it. */
    source: string;
  }>;
  /** Free-form notes, one line each (e.g. "healthy in dev for 3h"). */
  notes: string[];
}

export interface Plan {
  task: string;
  env: string;
  /** Stable identity of the change inside (task, env): an image name or a group name, a version slug, a secret name. */
  subject: string;
  /** Always `bot/<task>/<env>/<subject>`; see {@link branchFor}. */
  branch: string;
  title: string;
  body: string;
  labels: string[];
  edits: FileEdit[];
  evidence: PlanEvidence;
}

/** Something a task deliberately did not propose, with the reason. Printed by `plan` so a human sees why nothing happened. */
export interface Skip {
  task: string;
  env: string;
  subject: string;
  reason: string;
  /** Leave the matching open PR alone: never update or close it (a hold label, or the task's own PR in progress). */
  held?: boolean;
  /**
   * A `# gitops-bot: hold` comment on the base branch holds this subject. An open PR for it is closed (it must not be
   * merged while held), and its marker records why, so the change is proposed again once the hold is removed.
   */
  heldBy?: 'comment';
}

export interface TaskResult {
  plans: Plan[];
  skips: Skip[];
}

const SEGMENT = /^[a-z0-9][a-z0-9._-]*$/;

export function branchFor(task: string, env: string, subject: string): string {
  for (const [what, value] of [
    ['task', task],
    ['env', env],
    ['subject', subject],
  ] as const) {
    if (!SEGMENT.test(value)) throw new Error(`branch ${what} "${value}" must be lowercase letters, digits, ".", "_" or "-"`);
  }
  return `bot/${task}/${env}/${subject}`;
}

export function parseBranch(branch: string): { task: string; env: string; subject: string } | null {
  const match = /^bot\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(branch);
  return match ? { task: match[1]!, env: match[2]!, subject: match[3]! } : null;
}

const MARKER_PREFIX = '<!-- gitops-bot:';

/** The hidden PR-body marker that carries the evidence; read back by {@link readMarker}. */
export function markerFor(plan: Pick<Plan, 'task' | 'env' | 'subject' | 'evidence'>): string {
  const payload = { task: plan.task, env: plan.env, subject: plan.subject, changes: plan.evidence.changes.map((c) => ({ image: c.image, tag: c.to.tag, digest: c.to.digest })) };
  // `--` cannot appear inside an HTML comment; JSON of tags/digests never contains it, but escape defensively.
  return `${MARKER_PREFIX} ${JSON.stringify(payload).replaceAll('--', '-\\u002d')} -->`;
}

export interface MarkerPayload {
  task: string;
  env: string;
  subject: string;
  changes: Array<{ image: string; tag: string; digest: string }>;
  /** Set when the bot closed the PR because of a hold: not a human's rejection of the change. */
  closedFor?: 'hold';
}

// The marker is read back from a PR body, which is untrusted text: exact shape, bounded sizes, nothing else.
const markerText = z.string().max(512);
const markerSchema = z.strictObject({
  task: z.string().regex(SEGMENT).max(128),
  env: z.string().regex(SEGMENT).max(128),
  subject: z.string().regex(SEGMENT).max(128),
  changes: z.array(z.strictObject({ image: markerText, tag: markerText, digest: markerText })).max(64),
  closedFor: z.literal('hold').optional(),
});

/** `body` with its marker saying the bot closed the PR for a hold; null when the body has no valid marker. */
export function markClosedForHold(body: string): string | null {
  const parsed = parseMarker(body);
  if (!('marker' in parsed)) return null;
  const start = body.indexOf(MARKER_PREFIX);
  const end = body.indexOf('-->', start) + '-->'.length;
  const marker = `${MARKER_PREFIX} ${JSON.stringify({ ...parsed.marker, closedFor: 'hold' }).replaceAll('--', '-\\u002d')} -->`;
  return body.slice(0, start) + marker + body.slice(end);
}

function parseMarker(body: string | null | undefined): { marker: MarkerPayload } | { problem: string } | { absent: true } {
  if (!body) return { absent: true };
  const start = body.indexOf(MARKER_PREFIX);
  if (start < 0) return { absent: true };
  if (body.indexOf(MARKER_PREFIX, start + MARKER_PREFIX.length) >= 0) return { problem: 'the PR body holds more than one gitops-bot marker' };
  const end = body.indexOf('-->', start);
  if (end < 0) return { problem: 'the gitops-bot marker is not closed' };
  let json: unknown;
  try {
    json = JSON.parse(body.slice(start + MARKER_PREFIX.length, end).trim());
  } catch {
    return { problem: 'the gitops-bot marker is not valid JSON' };
  }
  const parsed = markerSchema.safeParse(json);
  if (!parsed.success) return { problem: `the gitops-bot marker has the wrong shape (${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'marker'}: ${issue.message}`).join('; ')})` };
  return { marker: parsed.data };
}

/**
 * The marker of a PR on `branch`, or why it cannot be used; `absent` when the body has none (e.g. the local forge).
 * A marker that names another task, environment or subject than its branch is refused: it would make the bot act
 * on one change because of a PR about another.
 */
export function inspectMarker(body: string | null | undefined, branch: string): { marker: MarkerPayload } | { problem: string } | { absent: true } {
  const result = parseMarker(body);
  if (!('marker' in result)) return result;
  const { marker } = result;
  const fromBranch = parseBranch(branch);
  if (!fromBranch || fromBranch.task !== marker.task || fromBranch.env !== marker.env || fromBranch.subject !== marker.subject) {
    return { problem: `the gitops-bot marker names ${marker.task}/${marker.env}/${marker.subject}, which is not its branch ${branch}` };
  }
  return result;
}

/** The marker of a PR body when it has exactly the shape {@link markerFor} writes, else null. */
export function readMarker(body: string | null | undefined): MarkerPayload | null {
  const result = parseMarker(body);
  return 'marker' in result ? result.marker : null;
}
