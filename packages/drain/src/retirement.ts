import { DrainUnknownError } from './errors.ts';
import type { OrphanedWorkflow } from './orphans.ts';

/** One reading of a version's in-flight count; `'unknown'` is a failed read and never counts as zero. */
export interface DrainObservation {
  /** ISO 8601 time of the read. */
  at: string;
  inFlight: number | 'unknown';
  source?: 'database' | 'conductor';
  /** For unknown readings: the DrainUnknownError reason, so the history explains itself. */
  detail?: string;
}

/** What the bot persists between runs: per version, its recent readings, oldest first. JSON-serialisable. */
export interface DrainHistory {
  schema: 'dbos-gitops/drain-history/v1';
  versions: Record<string, DrainObservation[]>;
}

export interface RetirementInput {
  version: string;
  /** Newest registered version; null when unknown. */
  latestVersion: string | null;
  /** The version the application's Service selects; null or 'unknown' when it cannot be read. */
  serviceSelects: string | null | 'unknown';
  /** The application the version belongs to, for the wording ("the orders Service"); absent: "the application's". */
  appName?: string;
  observations: readonly DrainObservation[];
  quietPeriodMs: number;
  /** Readings further apart than this leave the quiet period uncovered. Default: quietPeriodMs / 2. */
  maxGapMs?: number;
  /** Orphaned PENDING workflows of this version, if the caller looked. */
  orphans?: readonly OrphanedWorkflow[];
  now: Date | string | number;
}

export interface RetirementEvidence {
  version: string;
  latestVersion: string | null;
  serviceSelects: string | null | 'unknown';
  quietPeriodMs: number;
  maxGapMs: number;
  now: string;
  newest: DrainObservation | null;
  /** Start of the unbroken run of zero readings that ends with the newest one. */
  zeroSince: string | null;
  quietForMs: number;
  /** Largest gap between readings inside the zero run, including from the newest reading to now. */
  largestGapMs: number | null;
  observationCount: number;
  orphans: number;
}

export interface RetirementDecision {
  retire: boolean;
  reasons: string[];
  evidence: RetirementEvidence;
}

const CLOCK_SKEW_MS = 60_000;

function toMs(value: Date | string | number): number {
  return value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'unknown';
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', !d && !h ? `${sec}s` : ''].filter(Boolean);
  return parts.join(' ') || '0s';
}

/**
 * Pure retirement rule for the bot's version-retire task. Retire only when the version is neither the latest nor
 * what the Service selects, the newest reading succeeded and is zero, and zero readings (no gap wider than maxGapMs,
 * no non-zero or unknown reading) cover at least the whole quiet period up to now. Every doubt means "keep it".
 */
export function decideRetirement(input: RetirementInput): RetirementDecision {
  const reasons: string[] = [];
  const nowMs = toMs(input.now);
  const quietPeriodMs = input.quietPeriodMs;
  const maxGapMs = input.maxGapMs ?? quietPeriodMs / 2;
  const version = input.version;

  const sorted = [...input.observations].map((o) => ({ o, t: Date.parse(o.at) })).sort((a, b) => a.t - b.t);
  const newest = sorted.at(-1);

  const evidence: RetirementEvidence = {
    version,
    latestVersion: input.latestVersion,
    serviceSelects: input.serviceSelects,
    quietPeriodMs,
    maxGapMs,
    now: Number.isFinite(nowMs) ? new Date(nowMs).toISOString() : String(input.now),
    newest: newest?.o ?? null,
    zeroSince: null,
    quietForMs: 0,
    largestGapMs: null,
    observationCount: sorted.length,
    orphans: input.orphans?.length ?? 0,
  };
  const keep = (): RetirementDecision => ({ retire: false, reasons, evidence });

  if (typeof version !== 'string' || version === '') reasons.push('No version given.');
  if (!Number.isFinite(nowMs)) reasons.push(`The current time ${String(input.now)} is not a valid time.`);
  if (!Number.isFinite(quietPeriodMs) || quietPeriodMs <= 0) {
    reasons.push(`The quiet period must be a positive number of milliseconds (got ${String(quietPeriodMs)}).`);
  }
  if (!Number.isFinite(maxGapMs) || maxGapMs <= 0) {
    reasons.push(`The maximum gap between readings must be positive (got ${String(maxGapMs)}).`);
  }
  if (input.latestVersion === null || input.latestVersion === '') {
    reasons.push('The latest application version is unknown, so no version can be proven old.');
  } else if (input.latestVersion === version) {
    reasons.push(`${version} is the latest version; the latest is never retired.`);
  }
  if (input.serviceSelects === null || input.serviceSelects === 'unknown' || input.serviceSelects === '') {
    reasons.push(`It is unknown which version ${serviceOf(input.appName)} selects.`);
  } else if (input.serviceSelects === version) {
    reasons.push(`${capitalized(serviceOf(input.appName))} still selects ${version}.`);
  }
  if (input.orphans && input.orphans.length > 0) {
    const oldest = Math.max(...input.orphans.map((o) => o.ageMs));
    reasons.push(
      `${input.orphans.length} PENDING workflow(s) of ${version} belong to executors that are gone (oldest idle ${formatDuration(oldest)}); ` +
        `resume them on a live executor of ${version}, e.g. ${input.orphans[0]!.fix}.`,
    );
  }
  const invalid = sorted.filter(
    ({ o, t }) => !Number.isFinite(t) || !(o.inFlight === 'unknown' || (typeof o.inFlight === 'number' && Number.isInteger(o.inFlight) && o.inFlight >= 0)),
  );
  if (invalid.length > 0) reasons.push(`${invalid.length} drain reading(s) are malformed (bad time or count).`);
  const future = sorted.filter(({ t }) => Number.isFinite(t) && Number.isFinite(nowMs) && t > nowMs + CLOCK_SKEW_MS);
  if (future.length > 0) reasons.push(`${future.length} drain reading(s) are dated in the future; check the clocks.`);

  if (!newest) {
    reasons.push(`No drain reading of ${version} exists yet.`);
    return keep();
  }
  if (newest.o.inFlight === 'unknown') {
    reasons.push(`The newest drain reading of ${version} (${newest.o.at}) failed${newest.o.detail ? `: ${newest.o.detail}` : ''}; unknown is not zero.`);
  } else if (newest.o.inFlight !== 0) {
    reasons.push(`${version} has ${String(newest.o.inFlight)} workflow(s) in flight (read ${newest.o.at}).`);
  }

  // The unbroken run of zero readings that ends with the newest reading.
  let start = sorted.length;
  while (start > 0 && sorted[start - 1]!.o.inFlight === 0) start--;
  const run = sorted.slice(start);
  if (run.length > 0 && Number.isFinite(nowMs)) {
    const first = run[0]!;
    evidence.zeroSince = first.o.at;
    evidence.quietForMs = Math.max(0, nowMs - first.t);
    let largestGap = Math.max(0, nowMs - run.at(-1)!.t);
    for (let i = 1; i < run.length; i++) largestGap = Math.max(largestGap, run[i]!.t - run[i - 1]!.t);
    evidence.largestGapMs = largestGap;
    if (evidence.quietForMs < quietPeriodMs) {
      reasons.push(
        `${version} has read zero for ${formatDuration(evidence.quietForMs)} (since ${first.o.at}); the quiet period is ${formatDuration(quietPeriodMs)}.`,
      );
    }
    if (largestGap > maxGapMs) {
      reasons.push(
        `Readings of ${version} are ${formatDuration(largestGap)} apart at most, more than the allowed ${formatDuration(maxGapMs)}; the quiet period is not fully covered.`,
      );
    }
  }

  return reasons.length === 0
    ? {
        retire: true,
        reasons: [
          `${version} has read zero in flight for ${formatDuration(evidence.quietForMs)} (since ${evidence.zeroSince}), at least the quiet period of ${formatDuration(quietPeriodMs)}; it is not the latest (${input.latestVersion}) and the Service selects ${String(input.serviceSelects)}.`,
        ],
        evidence,
      }
    : keep();
}

export const HISTORY_SCHEMA = 'dbos-gitops/drain-history/v1' as const;

export function emptyDrainHistory(): DrainHistory {
  return { schema: HISTORY_SCHEMA, versions: {} };
}

/**
 * Returns a new history with `observation` appended to `version`, dropping readings older than `retainMs`
 * (default 7 days) and keeping at most `maxEntries` per version. Dropping old readings can only delay a retirement.
 */
export function appendObservation(
  history: DrainHistory,
  version: string,
  observation: DrainObservation,
  options: { retainMs?: number; maxEntries?: number } = {},
): DrainHistory {
  const retainMs = options.retainMs ?? 7 * 86_400_000;
  const maxEntries = options.maxEntries ?? 2000;
  const at = Date.parse(observation.at);
  if (!Number.isFinite(at)) throw new DrainUnknownError('invalid-input', `Observation time ${observation.at} is not an ISO time.`);
  const list = [...(history.versions[version] ?? []), observation]
    .filter((o) => Date.parse(o.at) >= at - retainMs)
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at))
    .slice(-maxEntries);
  return { schema: HISTORY_SCHEMA, versions: { ...history.versions, [version]: list } };
}

/** Removes a retired version's readings. */
export function forgetVersion(history: DrainHistory, version: string): DrainHistory {
  const versions = { ...history.versions };
  delete versions[version];
  return { schema: HISTORY_SCHEMA, versions };
}

/** Validates a stored history (e.g. read back from a ConfigMap); a bad one is an error, never an empty history. */
export function parseDrainHistory(value: unknown): DrainHistory {
  const fail = (what: string): never => {
    throw new DrainUnknownError(
      'invalid-input',
      `The stored drain history is invalid: ${what}. Fix or delete it; a fresh history delays retirement by one quiet period.`,
    );
  };
  if (typeof value !== 'object' || value === null) return fail('not an object');
  const v = value as { schema?: unknown; versions?: unknown };
  if (v.schema !== HISTORY_SCHEMA) return fail(`schema is ${JSON.stringify(v.schema)}, expected ${HISTORY_SCHEMA}`);
  if (typeof v.versions !== 'object' || v.versions === null || Array.isArray(v.versions)) return fail('versions is not an object');
  const versions: Record<string, DrainObservation[]> = {};
  for (const [version, list] of Object.entries(v.versions as Record<string, unknown>)) {
    if (!Array.isArray(list)) return fail(`versions["${version}"] is not a list`);
    versions[version] = list.map((item, i) => {
      const o = item as Partial<DrainObservation> | null;
      if (!o || typeof o.at !== 'string' || !Number.isFinite(Date.parse(o.at))) return fail(`versions["${version}"][${i}].at is not an ISO time`);
      if (!(o.inFlight === 'unknown' || (typeof o.inFlight === 'number' && Number.isInteger(o.inFlight) && o.inFlight >= 0))) {
        return fail(`versions["${version}"][${i}].inFlight must be a count or "unknown"`);
      }
      const out: DrainObservation = { at: o.at, inFlight: o.inFlight };
      if (o.source === 'database' || o.source === 'conductor') out.source = o.source;
      if (typeof o.detail === 'string') out.detail = o.detail;
      return out;
    });
  }
  return { schema: HISTORY_SCHEMA, versions };
}

/** Turns a drain read (or its failure) into one observation per version the caller cares about. */
export function observationsFromRead(
  read: { readAt: string; source: 'database' | 'conductor'; versions: ReadonlyArray<{ version: string; inFlight: number }> } | DrainUnknownError,
  versions: readonly string[],
  at: Date = new Date(),
): Record<string, DrainObservation> {
  const out: Record<string, DrainObservation> = {};
  for (const version of versions) {
    if (read instanceof DrainUnknownError) {
      out[version] = { at: at.toISOString(), inFlight: 'unknown', detail: read.reason };
      continue;
    }
    const found = read.versions.find((v) => v.version === version);
    // A version the read did not report is not proven zero.
    out[version] = found
      ? { at: read.readAt, inFlight: found.inFlight, source: read.source }
      : { at: read.readAt, inFlight: 'unknown', source: read.source, detail: 'version not in the read' };
  }
  return out;
}

function serviceOf(appName: string | undefined): string {
  return appName ? `the ${appName} Service` : "the application's Service";
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
