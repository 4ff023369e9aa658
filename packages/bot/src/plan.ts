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
  /** A hold (label or comment) means: never touch or close the matching PR. */
  held?: boolean;
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
}

export function readMarker(body: string | null | undefined): MarkerPayload | null {
  if (!body) return null;
  const start = body.indexOf(MARKER_PREFIX);
  if (start < 0) return null;
  const end = body.indexOf('-->', start);
  if (end < 0) return null;
  try {
    const parsed = JSON.parse(body.slice(start + MARKER_PREFIX.length, end).trim()) as MarkerPayload;
    return Array.isArray(parsed.changes) ? parsed : null;
  } catch {
    return null;
  }
}
