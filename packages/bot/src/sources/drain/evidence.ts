import {
  formatEvidenceDuration,
  formatSignal,
  judgeEvidence,
  judgeSignals,
  SIGNALS_NOT_READ,
  type EvidenceSignal,
  type EvidenceSignals,
  type EvidenceVerdictKind,
  type VersionEvidence,
} from '@dbos-gitops/drain';
import { envVarSuffix, type AppConfig, type BotConfig, type EnvironmentConfig } from '../../config/schema.ts';
import { conductorAppName } from '../../repo/apps.ts';
import type { KubeHealth } from '../kube/health.ts';
import { drainUrlEnvFor, previousDrainUrlEnv, type DrainScope, type DrainSourceFor } from './for-environment.ts';
import { gateSoakSeconds } from './gate-soak.ts';
import { DrainReadError, NOT_CONFIGURED } from './source.ts';

/**
 * The gate's verdict on one application version in one environment, as promotion reads it: the evidence of that
 * version (packages/drain/src/evidence.ts) read with the environment's drain reader, judged against the environment's
 * `gate:`. Everything that keeps the evidence from being read (no reader configured, database unreachable, wrong
 * password, schema missing) is the verdict `unknown` with its reason, never an exception: promotion fails closed per
 * application, and the other environments and applications still get planned.
 */

export interface GateReading {
  env: string;
  app: string;
  version: string;
  verdict: EvidenceVerdictKind;
  reasons: string[];
  /** What was read; null when nothing could be (the verdict is then unknown). */
  evidence: VersionEvidence | null;
  /** Where it was read (password removed), or null when no reader exists. */
  describe: string | null;
  gate: { minSucceeded: number; maxErrorRatio: number; soakSeconds: number };
  /** The window's start asked for (null: since the version registered). */
  windowStart: string | null;
  /** Pods Ready and Conductor executors connected, where the environment configures them. */
  signals: EvidenceSignals;
  /** What to do when the reader could not read (not configured, unreachable, ...); null otherwise. */
  hint: string | null;
}

/** Where, besides the database, the gate looks; every field optional (absent: that signal is not read). */
export interface GateOptions {
  /** The cluster reader; pods are read only for an environment with `kube:`. */
  kube?: KubeHealth | null;
  /** The version's directory slug in that environment (its pods' `dbos.dev/app-version`); null: not live there. */
  slug?: string | null;
  /** Overrides the soak window's start (`pnpm bot evidence --since`). */
  windowStart?: Date;
  /** No soak (a maintainer's "promote now" on the dashboard): the rest of the gate, and `fail` above all, still holds. */
  skipSoak?: boolean;
  signal?: AbortSignal;
}

/**
 * Whose evidence a caller reads, which decides the drain reader's variable (`<databaseUrlEnv>_<ENV>` or the plain name).
 * - `previous`: promotion out of `env` into the next environment. `<name>_<ENV>`, never the plain name: with
 *   `--env staging` that is staging's database, not dev's, and would pass dev's gate on staging's workflows. In a run
 *   over exactly the next environment (`run.envFilter`), `<name>_PREVIOUS` when `<name>_<ENV>` is not set: what the
 *   in-cluster CronJob (base/bot) sets, since a base manifest cannot name the previous environment.
 * - `own`: the environment itself (`rollback: propose`, `pnpm bot evidence`): `<name>_<ENV>` when set, else the plain
 *   name, but only when the run covers that one environment (`--env E`, a one-environment config, the in-cluster
 *   CronJob); in a run over several the plain name may be another environment's database and fail the wrong one.
 */
export type GateScope = { kind: 'previous'; run?: DrainScope } | { kind: 'own'; run: DrainScope };

/**
 * Reads and judges the evidence of `version` of `app` in `env`, with the reader `scope` names. One reader for promotion,
 * rollback and `pnpm bot evidence`, so the three can never disagree on what a version did.
 */
export async function readGate(
  drainFor: DrainSourceFor | null,
  config: BotConfig,
  env: EnvironmentConfig,
  app: AppConfig,
  version: string,
  now: Date,
  scope: GateScope,
  options: GateOptions = {},
): Promise<GateReading> {
  const soakSeconds = options.skipSoak ? 0 : gateSoakSeconds(config, env);
  const gate = { minSucceeded: env.gate.minSucceeded, maxErrorRatio: env.gate.maxErrorRatio, soakSeconds };
  const windowStart = options.windowStart ?? (soakSeconds > 0 ? new Date(now.getTime() - soakSeconds * 1000) : null);
  const base = { env: env.name, app: app.name, version, gate, windowStart: windowStart?.toISOString() ?? null };
  const unknown = (reason: string, describe: string | null = null, hint: string | null = null): GateReading => ({
    ...base,
    verdict: 'unknown',
    reasons: [reason],
    evidence: null,
    describe,
    signals: SIGNALS_NOT_READ,
    hint,
  });
  const own = drainUrlEnvFor(app, env.name, false);
  const plain = drainUrlEnvFor(app, env.name, true);
  const single = scope.kind === 'own' && (scope.run.envFilter !== null || scope.run.config.environments.length === 1);
  const index = config.environments.findIndex((candidate) => candidate.name === env.name);
  const previousOfRun =
    scope.kind === 'previous' &&
    scope.run?.envFilter != null &&
    scope.run.envFilter === config.environments[index + 1]?.name &&
    // An environment named "previous" would own that suffix: then only `<name>_<ENV>` is unambiguous.
    !config.environments.some((candidate) => envVarSuffix(candidate.name) === 'PREVIOUS');
  const variables: ReadonlyArray<'own' | 'plain' | 'previous'> = single ? ['own', 'plain'] : previousOfRun ? ['own', 'previous'] : ['own'];
  const notConfigured =
    scope.kind === 'previous'
      ? `no evidence reader for ${env.name}: set ${own} to the drain reader's URL of ${env.name}'s DBOS system database`
      : single
        ? `no evidence reader for ${env.name}: neither ${own} nor ${plain} is set`
        : `no evidence reader for ${env.name}: ${own} is not set (a run over several environments reads only that one: ${plain} may name another environment's database)`;
  const setUrl = previousOfRun
    ? `set ${own} (in the cluster: ${previousDrainUrlEnv(app)}, from key previous-database-url of Secret dbos-drain-reader) to the drain reader's URL of ${env.name}'s DBOS system database`
    : `set ${single ? `${own} (or ${plain})` : own} to the drain reader's URL of ${env.name}'s DBOS system database (in the cluster: Secret dbos-drain-reader, key database-url)`;
  if (!drainFor) return unknown(notConfigured, null, setUrl);
  let source: ReturnType<DrainSourceFor> | null = null;
  let from = own;
  for (const variable of variables) {
    try {
      source = drainFor(env, app, { envFilter: scope.kind === 'own' ? scope.run.envFilter : null, config, variable });
      from = variable === 'own' ? own : variable === 'plain' ? plain : previousDrainUrlEnv(app);
      break;
    } catch (error) {
      if (!(error instanceof DrainReadError)) throw error;
      if (error.reason !== NOT_CONFIGURED) return unknown(`the drain reader of ${env.name} is misconfigured: ${error.message}`, null, error.hint);
    }
  }
  if (!source) return unknown(notConfigured, null, setUrl);
  const describe = `${source.describe} (from ${from})`;
  if (!source.readEvidence) return unknown(`the drain reader of ${env.name} (${describe}) cannot read the evidence of a version`, describe);
  let evidence: VersionEvidence;
  try {
    evidence = await source.readEvidence({ appName: app.name, version, windowStart, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    // DrainReadError messages are built from the reader's own sentences, which never carry the URL or its password.
    if (!(error instanceof DrainReadError)) throw error;
    return unknown(`${error.message} (${error.reason})`, describe, error.hint);
  }
  const signals: EvidenceSignals = {
    podsReady: await readPodsReady(env, app, version, options),
    executorsConnected: source.readExecutors ? await source.readExecutors(conductorAppName(app), version) : { status: 'not-configured' },
  };
  const verdict = judgeSignals(judgeEvidence(evidence, gate, { soakMs: soakSeconds * 1000 }), signals, version);
  return { ...base, ...verdict, evidence, describe, signals, hint: null };
}

/** Pods Ready of the version, read only in an environment with `kube:`; a failure is the signal, never an exception. */
async function readPodsReady(env: EnvironmentConfig, app: AppConfig, version: string, options: GateOptions): Promise<EvidenceSignal> {
  if (!env.kube) return { status: 'not-configured' };
  const where = `namespace ${env.kube.namespace}${env.kube.context ? ` of context ${env.kube.context}` : ''}`;
  if (!options.kube?.versionPods) return { status: 'unreadable', reason: `${env.name} has kube: but this run has no cluster reader` };
  if (!options.slug) return { status: 'unreadable', reason: `${version} has no version directory in ${env.name}, so its pods' label is not known` };
  try {
    const { ready, total } = await options.kube.versionPods(env.name, env.kube.namespace, app.name, options.slug);
    return { status: 'read', count: ready, of: total, detail: `pods labelled dbos.dev/app-version=${options.slug} in ${where}` };
  } catch (error) {
    // The client's errors can carry the API server's answer; the run shows only what kind of failure it was.
    const code = (error as { code?: unknown })?.code;
    return {
      status: 'unreadable',
      reason: `the pods in ${where} could not be listed (${(error as Error)?.name ?? 'error'}${typeof code === 'number' ? ` ${code}` : ''})`,
    };
  }
}

/** The counts a skip names, in one line. */
export function evidenceSummary(reading: GateReading): string {
  const e = reading.evidence;
  if (!e) return 'no evidence read';
  const c = e.counts;
  return `SUCCESS ${c.success}, ERROR ${c.error}, MAX_RECOVERY_ATTEMPTS_EXCEEDED ${c.maxRecoveryAttemptsExceeded}, CANCELLED ${c.cancelled} of ${c.finished} finished, error ratio ${e.errorRatio === null ? 'n/a' : e.errorRatio.toFixed(4)}, window ${e.window.start} .. ${e.window.end}`;
}

/** The Markdown table a promotion PR shows: the evidence it relied on, and the verdict. */
export function evidenceTable(reading: GateReading): string[] {
  const e = reading.evidence;
  const g = reading.gate;
  const rows: Array<[string, string]> = [];
  if (e) {
    const c = e.counts;
    rows.push(['SUCCESS', String(c.success)]);
    rows.push(['ERROR', String(c.error)]);
    rows.push(['MAX_RECOVERY_ATTEMPTS_EXCEEDED', String(c.maxRecoveryAttemptsExceeded)]);
    rows.push(['CANCELLED', String(c.cancelled)]);
    rows.push(['finished', String(c.finished)]);
    rows.push(['error ratio', `${e.errorRatio === null ? 'n/a (nothing finished)' : e.errorRatio.toFixed(4)} (gate: at most ${g.maxErrorRatio})`]);
    rows.push(['failed, no application name', String(e.unownedFailures)]);
    rows.push(['oldest in flight', e.inFlight > 0 ? `${formatEvidenceDuration(e.oldestInFlightAgeMs ?? 0)} (${e.inFlight} in flight)` : 'none in flight']);
    rows.push(['pods Ready', formatSignal(reading.signals.podsReady)]);
    rows.push(['Conductor executors connected', formatSignal(reading.signals.executorsConnected)]);
    rows.push(['window', `${e.window.start} .. ${e.window.end}`]);
    rows.push(['read at', `${e.readAt} (database clock)`]);
  }
  rows.push([
    'gate',
    `at least ${g.minSucceeded} SUCCESS, error ratio at most ${g.maxErrorRatio}, soak ${g.soakSeconds > 0 ? formatEvidenceDuration(g.soakSeconds * 1000) : 'none'}`,
  ]);
  rows.push(['verdict', `**${reading.verdict}**`]);
  return [
    `Evidence of \`${reading.version}\` of ${reading.app} in **${reading.env}**${reading.describe ? `, read from ${reading.describe}` : ''}:`,
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    ...reading.reasons.map((reason) => `- ${reason}`),
  ];
}
