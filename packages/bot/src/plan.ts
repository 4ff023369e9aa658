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

/** A JSON value a task keeps in its PR marker. */
export type MemoryValue = string | number | boolean | null | MemoryValue[] | { [key: string]: MemoryValue };

/**
 * What the next run must know about a proposal, owned by the task that made it (image pins for the image tasks, key
 * names for secret rotation). The runner embeds it in the PR body (a hidden marker) so a later run can read back what
 * the bot proposed: that is how the bot remembers closed or reverted proposals without local state. A task validates
 * its own memory when it reads it back, because a PR body is untrusted text.
 */
export type TaskMemory = { [key: string]: MemoryValue };

/** Where an effect runs: the base branch it was planned against, and the run's output. Nothing task-specific. */
export interface EffectContext {
  /** A repository file on the base branch (e.g. the sealing certificate committed for an environment). */
  readFile(path: string): Promise<string | null>;
  /** The file on the base branch and on each of `branches` of the remote; absent where only the base is known. */
  readRefs?(path: string, branches: readonly string[]): Promise<Array<{ ref: string; text: string }>>;
  /** The branches of the bot's open PRs, as the forge lists them. */
  openBranches: readonly string[];
  now: Date;
  log: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * A write outside git that a plan needs (e.g. a Conductor API key created before its secret can be sealed into the
 * PR). A planner cannot write, so its plan carries the effect; the task that needs it owns its code. The runner calls
 * `apply` right before committing and `compensate` when the commit, push or PR fails; dry-run only describes it.
 */
export interface Effect {
  /** One line for dry-run and logs, e.g. "create Conductor API key gitops-dev-… in organization acme". */
  describe(): string;
  /** Performs the write; returns the plan's edits completed with its result, and lines for the run's output. */
  apply(edits: readonly FileEdit[], context: EffectContext): Promise<{ edits: FileEdit[]; report: string[] }>;
  /** Undoes what `apply` created; returns what could not be undone (names only), for a human to finish. */
  compensate(context: EffectContext): Promise<string[]>;
}

export interface Plan {
  task: string;
  env: string;
  /** Stable identity of the change inside (task, env): an image name or a group name, a version slug, a secret name. */
  subject: string;
  /** Always `bot/<task>/<env>/<subject>` (a per-application subject is `<app>/<slug>`); see {@link branchFor}. */
  branch: string;
  title: string;
  body: string;
  labels: string[];
  edits: FileEdit[];
  /** Stored in the PR marker for the next run; see {@link TaskMemory}. */
  memory: TaskMemory;
  /** Writes outside git, applied in order right before the commit; absent: none. */
  effects?: readonly Effect[];
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
  /** Effects that need no PR (e.g. deleting an unused key); the runner applies them before the plans. */
  effects?: readonly Effect[];
}

const SEGMENT = /^[a-z0-9][a-z0-9._-]*$/;
/** A subject is one segment, or two for a per-application subject (`<app>/<slug>`): never more, never empty parts. */
const SUBJECT = /^[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9][a-z0-9._-]*)?$/;

/**
 * The labels every bot PR of an environment carries: the configured ones plus `env/<env>`. Tasks add their own after
 * these; the runner repairs exactly these on PRs whose labels were never added, so both read the one rule.
 */
export function baseLabels(configuredLabels: readonly string[], env: string): string[] {
  return [...configuredLabels, `env/${env}`];
}

export function branchFor(task: string, env: string, subject: string): string {
  for (const [what, value] of [
    ['task', task],
    ['env', env],
    ['subject', subject],
  ] as const) {
    if (!(what === 'subject' ? SUBJECT : SEGMENT).test(value)) throw new Error(`branch ${what} "${value}" must be lowercase letters, digits, ".", "_" or "-"`);
  }
  return `bot/${task}/${env}/${subject}`;
}

export function parseBranch(branch: string): { task: string; env: string; subject: string } | null {
  const match = /^bot\/([^/]+)\/([^/]+)\/([^/]+(?:\/[^/]+)?)$/.exec(branch);
  return match ? { task: match[1]!, env: match[2]!, subject: match[3]! } : null;
}

const MARKER_PREFIX = '<!-- gitops-bot:';

function serializeMarker(payload: object): string {
  // `--` cannot appear inside an HTML comment; escape it wherever a task's memory might hold it.
  return `${MARKER_PREFIX} ${JSON.stringify(payload).replaceAll('--', '-\\u002d')} -->`;
}

/** The hidden PR-body marker that carries the task's memory; read back by {@link readMarker}. */
export function markerFor(plan: Pick<Plan, 'task' | 'env' | 'subject' | 'memory'>): string {
  return serializeMarker({ task: plan.task, env: plan.env, subject: plan.subject, memory: plan.memory });
}

export interface MarkerPayload {
  task: string;
  env: string;
  subject: string;
  /**
   * The task's memory. A marker written before memory existed (`changes: [{ image, tag, digest }]`, still on the open
   * PRs of a deployed bot) is read as `{ pins: changes }`; each task knows what its old markers meant.
   */
  memory: TaskMemory;
  /** Set when the bot closed the PR because of a hold: not a human's rejection of the change. */
  closedFor?: 'hold';
}

// The marker is read back from a PR body, which is untrusted text: exact shape, bounded sizes, nothing else.
const MARKER_MAX_CHARS = 16_384;
const markerText = z.string().max(512);
const memoryValue: z.ZodType<MemoryValue> = z.lazy(() =>
  z.union([markerText, z.number(), z.boolean(), z.null(), z.array(memoryValue).max(64), z.record(z.string().max(128), memoryValue)]),
);
const memorySchema = z.record(z.string().max(128), memoryValue);
const identity = { task: z.string().regex(SEGMENT).max(128), env: z.string().regex(SEGMENT).max(128), subject: z.string().regex(SUBJECT).max(128) };
const markerSchema = z.strictObject({ ...identity, memory: memorySchema, closedFor: z.literal('hold').optional() });
const legacyMarkerSchema = z.strictObject({
  ...identity,
  changes: z.array(z.strictObject({ image: markerText, tag: markerText, digest: markerText })).max(64),
  closedFor: z.literal('hold').optional(),
});

/** `body` with its marker saying the bot closed the PR for a hold; null when the body has no valid marker. */
export function markClosedForHold(body: string): string | null {
  const parsed = parseMarker(body);
  if (!('marker' in parsed)) return null;
  const start = body.indexOf(MARKER_PREFIX);
  const end = body.indexOf('-->', start) + '-->'.length;
  const marker = serializeMarker({ ...parsed.marker, closedFor: 'hold' });
  return body.slice(0, start) + marker + body.slice(end);
}

function parseMarker(body: string | null | undefined): { marker: MarkerPayload } | { problem: string } | { absent: true } {
  if (!body) return { absent: true };
  const start = body.indexOf(MARKER_PREFIX);
  if (start < 0) return { absent: true };
  if (body.indexOf(MARKER_PREFIX, start + MARKER_PREFIX.length) >= 0) return { problem: 'the PR body holds more than one gitops-bot marker' };
  const end = body.indexOf('-->', start);
  if (end < 0) return { problem: 'the gitops-bot marker is not closed' };
  if (end - start > MARKER_MAX_CHARS) return { problem: `the gitops-bot marker is longer than ${MARKER_MAX_CHARS} characters` };
  let json: unknown;
  try {
    json = JSON.parse(body.slice(start + MARKER_PREFIX.length, end).trim());
  } catch {
    return { problem: 'the gitops-bot marker is not valid JSON' };
  }
  if (typeof json === 'object' && json !== null && 'changes' in json) {
    const legacy = legacyMarkerSchema.safeParse(json);
    if (legacy.success) {
      const { changes, ...rest } = legacy.data;
      return { marker: { ...rest, memory: { pins: changes } } };
    }
  }
  const parsed = markerSchema.safeParse(json);
  if (!parsed.success)
    return {
      problem: `the gitops-bot marker has the wrong shape (${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'marker'}: ${issue.message}`).join('; ')})`,
    };
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
