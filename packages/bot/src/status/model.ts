import { z } from 'zod';

/**
 * The status of the whole platform (`pnpm bot status --json`, the dashboard issue, the Actions job summary, the demo):
 * one model, built from the repository tree and the config plus whatever optional readers are configured, rendered
 * three ways. This schema IS the documented `--json` shape: it is versioned (`schemaVersion`), the command's test
 * parses its output with it, and a field is only ever added, never renamed, within one version.
 *
 * Everything read from outside git is a {@link reading}: `read` with its value, `not-read` when no reader is
 * configured (say so, never zero), or `unknown` when a configured reader failed (its reason, never zero either).
 */

const notRead = z.strictObject({ status: z.literal('not-read'), reason: z.string() });
const unknown = z.strictObject({ status: z.literal('unknown'), reason: z.string() });

function reading<T extends z.ZodRawShape>(shape: T) {
  return z.discriminatedUnion('status', [z.strictObject({ status: z.literal('read'), ...shape }), notRead, unknown]);
}

/** What a live version is, as far as this read can tell; a version can be several at once (held and draining). */
export const VERSION_STATES = [
  /** It carries the app-latest component (new work goes to it). */
  'latest',
  /** A live version newer than the latest (a gated switch has not moved the Service yet). */
  'switch-pending',
  /** Not the latest, and work of it is in flight, dead-lettered, or changed within the application's quiet period. */
  'draining',
  /** Not the latest, nothing in flight or dead-lettered, nothing changed for the quiet period: retirement may take it. */
  'drained',
  /** The bot's retire PR for it is open. */
  'retire-pr-open',
  /** `# gitops-bot: hold` in its own kustomization.yaml, or the hold label on its open retire PR. */
  'held',
  /** Held in the list of versions and not the latest: a rollback moved away from it (README "Rolling back"). */
  'rolled-back',
] as const;
export type VersionState = (typeof VERSION_STATES)[number];

export const imagePinSchema = z.strictObject({
  tag: z.string().nullable(),
  digest: z.string().nullable(),
  /** The first 12 hex digits of the digest, for tables. */
  shortDigest: z.string().nullable(),
  /** The all-zero placeholder digest: no real image is pinned. */
  placeholder: z.boolean(),
});
export type ImagePin = z.infer<typeof imagePinSchema>;

export const drainCellSchema = reading({
  pending: z.number().int().min(0),
  enqueued: z.number().int().min(0),
  delayed: z.number().int().min(0),
  inFlight: z.number().int().min(0),
  deadLettered: z.number().int().min(0),
  /** ISO time of the newest change of any workflow row of the version (or its registration); null: never seen. */
  lastActivity: z.string().nullable(),
  /** The database clock at the read. */
  readAt: z.string(),
});
export type DrainCell = z.infer<typeof drainCellSchema>;

export const replicasCellSchema = reading({
  /** Since when every pod running the version's digest has been Ready; null: none runs it, or one is not Ready. */
  readySince: z.string().nullable(),
});
export type ReplicasCell = z.infer<typeof replicasCellSchema>;

export const versionStatusSchema = z.strictObject({
  version: z.string(),
  slug: z.string(),
  states: z.array(z.enum(VERSION_STATES)),
  /** The text after `# gitops-bot: hold` (rolled back: the list's hold line); null: not held. */
  holdReason: z.string().nullable(),
  image: imagePinSchema.nullable(),
  drain: drainCellSchema,
  replicas: replicasCellSchema,
  retirePullRequest: z.strictObject({ number: z.number().int(), url: z.string() }).nullable(),
});
export type VersionStatus = z.infer<typeof versionStatusSchema>;

export const appStatusSchema = z.strictObject({
  name: z.string(),
  /** The environments the application runs in (and the report covers), in promotion order: the table's columns. */
  environments: z.array(
    z.strictObject({
      env: z.string(),
      /** Where the drain counts came from (password removed), or why not. */
      drainSource: z.string(),
      versions: z.array(versionStatusSchema),
    }),
  ),
});
export type AppStatus = z.infer<typeof appStatusSchema>;

export const promotionSchema = z.strictObject({
  /** `image`: an images: entry of the config (pinned in overlays/<env>/images/); `app`: an application's latest version. */
  kind: z.enum(['image', 'app']),
  name: z.string(),
  positions: z.array(z.strictObject({ env: z.string(), pin: imagePinSchema.nullable(), version: z.string().nullable() })),
});
export type Promotion = z.infer<typeof promotionSchema>;

export const pullRequestSchema = z.strictObject({
  number: z.number().int(),
  branch: z.string(),
  title: z.string(),
  url: z.string(),
  task: z.string().nullable(),
  env: z.string().nullable(),
  subject: z.string().nullable(),
  held: z.boolean(),
});
export type StatusPullRequest = z.infer<typeof pullRequestSchema>;

export const dueSecretSchema = z.strictObject({ env: z.string(), subject: z.string(), reason: z.string() });
export type DueSecret = z.infer<typeof dueSecretSchema>;

export const placeholderPinSchema = z.strictObject({ env: z.string(), file: z.string(), image: z.string() });
export type PlaceholderPin = z.infer<typeof placeholderPinSchema>;

export const STATUS_SCHEMA_VERSION = 1;

export const statusSchema = z.strictObject({
  schemaVersion: z.literal(STATUS_SCHEMA_VERSION),
  /** When the status was built (the caller's clock; drain cells carry the database's). */
  generatedAt: z.string(),
  tree: z.string(),
  environments: z.array(z.string()),
  apps: z.array(appStatusSchema),
  promotion: z.array(promotionSchema),
  pullRequests: reading({ forge: z.string(), open: z.array(pullRequestSchema) }),
  secretsDue: reading({ items: z.array(dueSecretSchema) }),
  placeholderPins: z.array(placeholderPinSchema),
});
export type StatusModel = z.infer<typeof statusSchema>;
