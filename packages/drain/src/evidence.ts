import { withDrainReadTransaction } from './database.ts';
import { DrainUnknownError } from './errors.ts';

/**
 * Evidence of one application version in one environment: what its workflows did over a window, read from the DBOS
 * system database with the drain reader, and the gate's verdict on it (pass, fail, unknown).
 *
 * When a workflow finished. DBOS 5.x writes `completed_at` in the same statement and from the same `now()` as
 * `updated_at` on every move to SUCCESS, ERROR, CANCELLED and MAX_RECOVERY_ATTEMPTS_EXCEEDED (record output/error,
 * cancel, timeout, dead-letter), and clears it on resume. So for a finished row `completed_at` IS the `updated_at` of
 * its finishing transition, and unlike `updated_at` it has an index: the partial `idx_workflow_status_completed_at
 * (completed_at) WHERE completed_at IS NOT NULL`. `updated_at` has none, so a window on it would read the whole table.
 * A finished row without `completed_at` (written by a DBOS older than the column) is not counted: less evidence, so the
 * verdict stays unknown rather than passing on rows it cannot place in time.
 */

export const TERMINAL_STATUSES = ['SUCCESS', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'CANCELLED'] as const;

/** The window's end: the caller's `now` ($4) or, normally, the database clock of the read's own transaction. */
const WINDOW_END = `COALESCE($4::bigint, (EXTRACT(EPOCH FROM now()) * 1000)::bigint)`;
/** When the version registered: the first executor of it started (DBOS retimes it only when a version is promoted). */
const REGISTERED = `(SELECT min(version_timestamp)
            FROM dbos.application_versions
           WHERE version_name = $1
             AND (application_name = $2 OR application_name IS NULL))`;
/** The window's start: $3, or when NULL the version's registration (its whole life here); unregistered: empty. */
const WINDOW_START = `COALESCE($3::bigint, ${REGISTERED}, ${WINDOW_END})`;
const FINISHED_IN_WINDOW = `(completed_at >= ${WINDOW_START} AND completed_at <= ${WINDOW_END})`;
/* Literals inline, as in the drain queries: the planner matches them to the two in-flight partial indexes. */
const IN_FLIGHT = `(status IN ('PENDING', 'ENQUEUED') OR status = 'DELAYED')`;

/**
 * One statement, one pass: a BitmapOr of the completed_at index (finished in the window) and the in-flight partial
 * indexes, then every count from FILTERs over the rows found. $1 version, $2 application name, $3 window start (epoch
 * ms) or NULL for the version's registration, $4 window end (epoch ms) or NULL for the database clock.
 * `pnpm bench:drain` prints its plan.
 *
 * Rows with a NULL application_name (written before DBOS 5.x named owners, or by a nameless client) are never this
 * application's evidence of success: a success that may be another application's proves nothing about this one. Their
 * failures are counted apart (`unowned_failures`), because they may be this application's: the verdict must not pass
 * while they could tip the ratio, and must not fail (and so propose a rollback) on errors that may be someone else's.
 * In-flight rows of the version with a NULL owner do count for the oldest in-flight age, as they block retirement.
 */
export const VERSION_EVIDENCE_SQL = `
  SELECT count(*) FILTER (WHERE status = 'SUCCESS' AND application_name = $2 AND ${FINISHED_IN_WINDOW})::bigint AS success,
         count(*) FILTER (WHERE status = 'ERROR' AND application_name = $2 AND ${FINISHED_IN_WINDOW})::bigint AS error,
         count(*) FILTER (WHERE status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' AND application_name = $2 AND ${FINISHED_IN_WINDOW})::bigint AS dead_lettered,
         count(*) FILTER (WHERE status = 'CANCELLED' AND application_name = $2 AND ${FINISHED_IN_WINDOW})::bigint AS cancelled,
         count(*) FILTER (WHERE status IN ('ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED') AND application_name IS NULL
                            AND ${FINISHED_IN_WINDOW})::bigint AS unowned_failures,
         count(*) FILTER (WHERE ${IN_FLIGHT})::bigint AS in_flight,
         min(created_at) FILTER (WHERE ${IN_FLIGHT})::bigint AS oldest_in_flight_ms,
         ${WINDOW_START} AS window_start_ms,
         ${WINDOW_END} AS window_end_ms,
         ${REGISTERED}::bigint AS registered_ms,
         now() AS read_at
    FROM dbos.workflow_status
   WHERE application_version = $1
     AND (application_name = $2 OR application_name IS NULL)
     AND (${FINISHED_IN_WINDOW} OR ${IN_FLIGHT})`;

export interface EvidenceCounts {
  success: number;
  error: number;
  maxRecoveryAttemptsExceeded: number;
  cancelled: number;
  /** success + error + maxRecoveryAttemptsExceeded + cancelled. */
  finished: number;
}

export interface VersionEvidence {
  appName: string;
  version: string;
  /** ISO times; finished means completed_at within [start, end]. */
  window: { start: string; end: string };
  /** ISO time of the read, the database's clock. */
  readAt: string;
  counts: EvidenceCounts;
  /** (error + maxRecoveryAttemptsExceeded) / finished; null when nothing finished. */
  errorRatio: number | null;
  /** ERROR and MAX_RECOVERY_ATTEMPTS_EXCEEDED rows of the version in the window with no application name. */
  unownedFailures: number;
  /** PENDING, ENQUEUED and DELAYED workflows of the version now. */
  inFlight: number;
  /** Window end minus the created_at of the oldest in-flight workflow of the version; null when none is in flight. */
  oldestInFlightAgeMs: number | null;
  /** When the version was registered in dbos.application_versions (its first executor started); null: never. */
  registeredAt: string | null;
}

export interface ReadVersionEvidenceOptions {
  databaseUrl: string;
  appName: string;
  version: string;
  /** The window's start; null: since the version registered (its whole life in this database). */
  windowStart: Date | null;
  /** The window's end; default the database clock at the read. */
  now?: Date;
  signal?: AbortSignal;
  timeoutMs?: number;
}

interface EvidenceRow {
  success: string;
  error: string;
  dead_lettered: string;
  cancelled: string;
  unowned_failures: string;
  in_flight: string;
  oldest_in_flight_ms: string | null;
  window_start_ms: string;
  window_end_ms: string;
  registered_ms: string | null;
  read_at: Date;
}

function count(value: unknown, what: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new DrainUnknownError('unexpected', `The database returned ${String(value)} for ${what}; expected a count.`);
  return n;
}

function epochMs(value: unknown, what: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new DrainUnknownError('unexpected', `The database returned ${String(value)} for ${what}; expected epoch milliseconds.`);
  return n;
}

function validDate(value: unknown, what: string): Date {
  if (!(value instanceof Date) || !Number.isFinite(value.getTime())) throw new DrainUnknownError('invalid-input', `${what} must be a valid date.`);
  return value;
}

/** Reads the evidence of one version of one application in one read-only transaction; fails with DrainUnknownError. */
export async function readVersionEvidence(options: ReadVersionEvidenceOptions): Promise<VersionEvidence> {
  for (const [key, value] of [
    ['appName', options.appName],
    ['version', options.version],
  ] as const) {
    if (typeof value !== 'string' || value.trim() === '') throw new DrainUnknownError('invalid-input', `${key} is required and must be a non-empty string.`);
  }
  const start = options.windowStart === null ? null : validDate(options.windowStart, 'windowStart').getTime();
  const end = options.now === undefined ? null : validDate(options.now, 'now').getTime();
  if (start !== null && end !== null && end < start) throw new DrainUnknownError('invalid-input', 'The evidence window ends before it starts.');
  const row = await withDrainReadTransaction(options, async (db) => {
    const result = await db.query<EvidenceRow>(VERSION_EVIDENCE_SQL, [options.version, options.appName, start, end]);
    return result.rows[0];
  });
  if (!row) throw new DrainUnknownError('unexpected', 'The evidence query returned no row.');
  const success = count(row.success, 'SUCCESS');
  const error = count(row.error, 'ERROR');
  const maxRecoveryAttemptsExceeded = count(row.dead_lettered, 'MAX_RECOVERY_ATTEMPTS_EXCEEDED');
  const cancelled = count(row.cancelled, 'CANCELLED');
  const finished = success + error + maxRecoveryAttemptsExceeded + cancelled;
  const windowEnd = epochMs(row.window_end_ms, 'the window end');
  const windowStart = epochMs(row.window_start_ms, 'the window start');
  if (windowEnd < windowStart)
    throw new DrainUnknownError('invalid-input', 'The evidence window starts after it ends: its start is later than the database clock (or the given end).');
  const oldest = row.oldest_in_flight_ms === null ? null : epochMs(row.oldest_in_flight_ms, 'the oldest in-flight created_at');
  if (!(row.read_at instanceof Date)) throw new DrainUnknownError('unexpected', 'The database returned no clock reading.');
  return {
    appName: options.appName,
    version: options.version,
    window: { start: new Date(windowStart).toISOString(), end: new Date(windowEnd).toISOString() },
    readAt: row.read_at.toISOString(),
    counts: { success, error, maxRecoveryAttemptsExceeded, cancelled, finished },
    errorRatio: finished === 0 ? null : (error + maxRecoveryAttemptsExceeded) / finished,
    unownedFailures: count(row.unowned_failures, 'unowned failures'),
    inFlight: count(row.in_flight, 'in flight'),
    // A clock step back could put created_at after the window end; an age is never negative.
    oldestInFlightAgeMs: oldest === null ? null : Math.max(0, windowEnd - oldest),
    registeredAt: row.registered_ms === null ? null : new Date(epochMs(row.registered_ms, 'version_timestamp')).toISOString(),
  };
}

export interface EvidenceGate {
  /** SUCCESS workflows the window must hold before the version can pass. */
  minSucceeded: number;
  /** Largest (ERROR + MAX_RECOVERY_ATTEMPTS_EXCEEDED) / finished that still passes; above it the version fails. */
  maxErrorRatio: number;
}

export const DEFAULT_EVIDENCE_GATE: EvidenceGate = { minSucceeded: 10, maxErrorRatio: 0.05 };

export type EvidenceVerdictKind = 'pass' | 'fail' | 'unknown';

export interface EvidenceVerdict {
  verdict: EvidenceVerdictKind;
  /** Human sentences: why this verdict (for pass and fail, the thresholds it met or broke). */
  reasons: string[];
}

export interface JudgeTiming {
  /** How long the version must have run in the environment before it can pass. */
  soakMs: number;
  /** Since when the version runs there; default the evidence's registeredAt. null: unknown. */
  versionSince?: Date | null;
  /** Default the evidence's readAt (the database clock). */
  now?: Date;
}

/** `1d 2h`, `3h 5m`, `45s`: durations in verdict sentences. */
export function formatEvidenceDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const shown = parts.filter(([n]) => n > 0).slice(0, 2);
  return shown.length === 0 ? '0s' : shown.map(([n, unit]) => `${n}${unit}`).join(' ');
}

const ratio = (r: number): string => r.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');

/**
 * The gate's verdict, a pure function of the evidence (same inputs, same verdict).
 *
 * fail, at once and whatever the soak: at least one failure (ERROR or MAX_RECOVERY_ATTEMPTS_EXCEEDED) and
 *   failures / (finished + max(0, minSucceeded - succeeded)) > maxErrorRatio.
 *   That is the ratio the version would have if every success it still lacks to reach minSucceeded arrived right now:
 *   when even that is too high, the minimum sample cannot come out under the threshold, so waiting only delays a fail.
 *   Once succeeded >= minSucceeded it is exactly errorRatio > maxErrorRatio. (With the defaults, one failure among the
 *   first finished workflows fails the version until 19 others have finished: 1/20 = 0.05 is the most allowed.)
 *   Failures with no application name never count toward fail (they may be another application's).
 * pass: the soak has elapsed since the version started (now - versionSince >= soakMs), succeeded >= minSucceeded,
 *   errorRatio <= maxErrorRatio, and it would still be <= maxErrorRatio if every unowned failure were this
 *   application's ((failures + unowned) / (finished + unowned)).
 * unknown: anything else, with every reason that blocked a pass.
 */
export function judgeEvidence(evidence: VersionEvidence, gate: EvidenceGate, timing: JudgeTiming): EvidenceVerdict {
  const { success, finished } = evidence.counts;
  const failures = evidence.counts.error + evidence.counts.maxRecoveryAttemptsExceeded;
  const missing = Math.max(0, gate.minSucceeded - success);
  const projected = failures / (finished + missing);
  const failureText = `${failures} of ${finished} finished workflows failed (ERROR or MAX_RECOVERY_ATTEMPTS_EXCEEDED)`;
  if (failures > 0 && projected > gate.maxErrorRatio) {
    return {
      verdict: 'fail',
      reasons: [
        missing === 0
          ? `${failureText}: error ratio ${ratio(projected)} is above the gate's ${gate.maxErrorRatio}.`
          : `${failureText}: even if the ${missing} more successes needed to reach ${gate.minSucceeded} arrived now, the error ratio would be ${ratio(projected)}, above the gate's ${gate.maxErrorRatio}.`,
      ],
    };
  }

  const reasons: string[] = [];
  const now = timing.now ?? new Date(evidence.readAt);
  const since = timing.versionSince === undefined ? (evidence.registeredAt === null ? null : new Date(evidence.registeredAt)) : timing.versionSince;
  const soak = formatEvidenceDuration(timing.soakMs);
  if (since === null) {
    reasons.push(
      `Version ${evidence.version} of ${evidence.appName} is not registered in dbos.application_versions (no executor of it has started), so its soak of ${soak} cannot be measured.`,
    );
  } else if (now.getTime() - since.getTime() < timing.soakMs) {
    reasons.push(`Version ${evidence.version} has run for ${formatEvidenceDuration(now.getTime() - since.getTime())} of its ${soak} soak.`);
  }
  if (success < gate.minSucceeded) {
    reasons.push(
      `Not enough data: ${success} workflows succeeded in the window, the gate needs ${gate.minSucceeded}` +
        (finished === 0 ? ' (none finished in it; rows a DBOS without the completed_at column wrote are not counted).' : '.'),
    );
  }
  if (evidence.unownedFailures > 0 && finished > 0) {
    const worst = (failures + evidence.unownedFailures) / (finished + evidence.unownedFailures);
    if (worst > gate.maxErrorRatio) {
      reasons.push(
        `${evidence.unownedFailures} failed workflows of version ${evidence.version} carry no application name; if they are ${evidence.appName}'s the error ratio is ${ratio(worst)}, above the gate's ${gate.maxErrorRatio}.`,
      );
    }
  }
  if (reasons.length > 0) return { verdict: 'unknown', reasons };
  return {
    verdict: 'pass',
    reasons: [
      `${success} workflows succeeded (gate: at least ${gate.minSucceeded}); ${failureText}, error ratio ${ratio(evidence.errorRatio ?? 0)} (gate: at most ${gate.maxErrorRatio}); the ${soak} soak has elapsed.`,
    ],
  };
}

/** The verdict when the evidence could not be read: always unknown, with the reader's own sentence. */
export function verdictOfUnreadable(error: DrainUnknownError): EvidenceVerdict {
  return { verdict: 'unknown', reasons: [`The evidence could not be read (${error.reason}): ${error.message}`] };
}

/**
 * A signal the gate reads besides the database where the environment configures it: pods Ready (`kube:`) and Conductor
 * executors connected (an application whose drain reader is Conductor-checked). `not-configured` is "not read" and no
 * reason; `unreadable` and a count of zero keep the verdict from `pass`.
 */
export type EvidenceSignal =
  | { status: 'not-configured' }
  | { status: 'unreadable'; reason: string }
  | { status: 'read'; count: number; of: number; detail: string };

export interface EvidenceSignals {
  /** Pods of the version (label dbos.dev/app-version) Ready, of all its pods. */
  podsReady: EvidenceSignal;
  /** Conductor executors of exactly the version (their appVersion) that are healthy, of all it lists for it. */
  executorsConnected: EvidenceSignal;
}

export const SIGNALS_NOT_READ: Readonly<EvidenceSignals> = Object.freeze({
  podsReady: Object.freeze({ status: 'not-configured' as const }),
  executorsConnected: Object.freeze({ status: 'not-configured' as const }),
});

/**
 * The database's verdict with the configured signals on top: a `pass` needs every configured signal read and above
 * zero, else it is `unknown` with the reason (fail closed). `fail` stays `fail` (too many errors fail at once, whatever
 * the pods say); `unknown` keeps its reasons and gains the signals'.
 */
export function judgeSignals(verdict: EvidenceVerdict, signals: EvidenceSignals, version: string): EvidenceVerdict {
  if (verdict.verdict === 'fail') return verdict;
  const problems: string[] = [];
  const named: Array<[string, EvidenceSignal]> = [
    ['pods Ready', signals.podsReady],
    ['Conductor executors connected', signals.executorsConnected],
  ];
  for (const [name, signal] of named) {
    if (signal.status === 'unreadable') problems.push(`${name} of ${version} could not be read: ${signal.reason}`);
    else if (signal.status === 'read' && signal.count === 0) problems.push(`${name} of ${version}: none (${signal.detail}).`);
  }
  if (problems.length === 0) return verdict;
  return { verdict: 'unknown', reasons: verdict.verdict === 'pass' ? problems : [...verdict.reasons, ...problems] };
}

/** One line for a signal: `2 of 3 (…)`, `not read (not configured)`, `unreadable: …`. */
export function formatSignal(signal: EvidenceSignal): string {
  if (signal.status === 'not-configured') return 'not read (not configured)';
  if (signal.status === 'unreadable') return `unreadable: ${signal.reason}`;
  return `${signal.count} of ${signal.of}${signal.detail ? ` (${signal.detail})` : ''}`;
}
