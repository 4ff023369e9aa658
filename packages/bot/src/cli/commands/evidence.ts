import { formatHelp, parseCommand, runReporting, type CommandSpec, type FlagValues } from '@dbos-gitops/cli-kit';
import type { EvidenceSignal, EvidenceVerdict, VersionEvidence } from '@dbos-gitops/drain';
import type { AppConfig, BotConfig, EnvironmentConfig } from '../../config/schema.ts';
import { ConfigError, UsageError } from '../../errors.ts';
import type { Options } from '../options.ts';
import { gateSoakSeconds } from '../../sources/drain/gate-soak.ts';
import type { KubeHealth } from '../../sources/kube/health.ts';
import { version, type CommandIo } from '../index.ts';

export const spec = {
  usage: 'pnpm bot evidence --env ENV [--app APP] --version VERSION [--since ISO] [--json]',
  summary:
    "Reads what one application version's workflows did in one environment over the gate's soak window (finished SUCCESS, ERROR, MAX_RECOVERY_ATTEMPTS_EXCEEDED, CANCELLED, the error ratio, the oldest in-flight workflow) from the DBOS system database with the drain reader, and prints the gate's verdict: pass, fail or unknown. Reads only, in one read-only transaction.",
  flags: {
    env: { type: 'string', valueName: 'ENV', description: 'the environment (an entry of environments: in the bot config); required' },
    app: { type: 'string', valueName: 'APP', description: 'the application (an entry of apps:); default: the only application of the environment' },
    version: {
      type: 'string',
      valueName: 'VERSION',
      description: "the application version, as its executors report it (DBOS__APPVERSION); required (alone, --version prints the bot's version)",
    },
    since: {
      type: 'string',
      valueName: 'ISO',
      description: "the window's start, an ISO 8601 time (default: now minus the gate's soak; a soak of 0 means since the version registered)",
    },
    json: {
      type: 'boolean',
      description:
        'one JSON object: env, app, version, window, readAt, counts, errorRatio, oldestInFlightAgeMs, podsReady, executorsConnected, verdict, reasons (and gate, inFlight, unownedFailures, registeredAt)',
    },
    config: { type: 'string', valueName: 'FILE', description: 'bot config (default: <repo>/.github/gitops-bot.yaml)' },
    repo: { type: 'string', valueName: 'DIR', description: 'the GitOps repository (default: the git top level of the current directory)' },
  },
  notes: [
    "The database URL comes from the drain reader's variables, apps[].drain.databaseUrlEnv (default DBOS_DRAIN_DATABASE_URL): <name>_<ENV> (e.g. DBOS_DRAIN_DATABASE_URL_STAGING) when set, else <name> as `pnpm bot plan --env ENV` reads it; it is never an argument.",
    'Exit codes: 0 a verdict was read (pass or fail), 10 the verdict is unknown (not enough data, soak not elapsed, database unreachable, reader misconfigured), 2 config (unknown environment or application), 64 usage.',
  ],
} satisfies CommandSpec;

// Shared with version-add's promotion gate; re-exported for this command's callers.
export { gateSoakSeconds };

/** A version string we print back: what DBOS__APPVERSION values look like; anything else is refused unshown. */
const VERSION_TEXT = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

function appsOf(config: BotConfig, env: string): AppConfig[] {
  return config.apps.filter((app) => app.environments === undefined || app.environments.includes(env));
}

/** Chooses the environment and the application from the config; a name that is not there is a config error (exit 2). */
export function resolveTarget(config: BotConfig, configFile: string, envName: string, appName: string | undefined): { env: EnvironmentConfig; app: AppConfig } {
  const env = config.environments.find((e) => e.name === envName);
  if (!env) {
    throw new ConfigError(
      `--env "${envName}" is not an entry of environments:`,
      configFile,
      'environments',
      `use one of: ${config.environments.map((e) => e.name).join(', ')}`,
    );
  }
  const here = appsOf(config, env.name);
  if (appName === undefined) {
    if (here.length === 1) return { env, app: here[0]! };
    throw new UsageError(
      here.length === 0 ? `no application of apps: runs in ${env.name}` : `${env.name} runs ${here.length} applications; say which with --app`,
      here.length === 0 ? 'add the application to apps: in the bot config' : `pass --app with one of: ${here.map((a) => a.name).join(', ')}`,
    );
  }
  const app = config.apps.find((a) => a.name === appName);
  if (!app) {
    throw new ConfigError(
      `--app "${appName}" is not an entry of apps:`,
      configFile,
      'apps',
      config.apps.length === 0 ? 'add the application to apps:' : `use one of: ${config.apps.map((a) => a.name).join(', ')}`,
    );
  }
  if (!here.includes(app)) {
    throw new ConfigError(
      `application "${app.name}" does not run in ${env.name} (its environments: ${app.environments?.join(', ')})`,
      configFile,
      'apps',
      `use --env with one of: ${app.environments?.join(', ')}`,
    );
  }
  return { env, app };
}

export interface EvidenceJson {
  env: string;
  app: string;
  version: string;
  window: { start: string | null; end: string | null };
  readAt: string | null;
  counts: VersionEvidence['counts'] | null;
  errorRatio: number | null;
  oldestInFlightAgeMs: number | null;
  inFlight: number | null;
  unownedFailures: number | null;
  registeredAt: string | null;
  /** Pods of the version Ready (environments with kube:). */
  podsReady: SignalJson;
  /** Conductor executors of exactly the version connected (applications whose drain reader is Conductor-checked). */
  executorsConnected: SignalJson;
  gate: { minSucceeded: number; maxErrorRatio: number; soakSeconds: number };
  verdict: EvidenceVerdict['verdict'];
  reasons: string[];
}

/**
 * cli-kit reads a bare `--version` anywhere as "print the bot's version", but this command's version is a value:
 * `--version 1.4.0` becomes `--version=1.4.0`, which cli-kit parses as the flag. A `--version` with no value after it
 * (last, or before another option) still prints the bot's version, as for every command.
 */
function joinVersionValue(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    if (arg === '--version' && next !== undefined && !next.startsWith('-')) {
      out.push(`--version=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

export function help(): string {
  return formatHelp(spec).replace(/\n {2}\s*--version {2,}print the version and exit/, '');
}

/** Parses its own arguments (see joinVersionValue), then the same help, usage errors and exit codes as every command. */
export async function runArgv(argv: string[], io: CommandIo): Promise<number> {
  const parsed = parseCommand(spec, joinVersionValue(argv), 1);
  if (parsed.kind === 'help') {
    io.stdout(help());
    return 0;
  }
  if (parsed.kind === 'version') {
    io.stdout(version());
    return 0;
  }
  return run(parsed.values, io);
}

/** `pnpm bot evidence` on its own (its tests): the same parsing and exit codes as through `main`. */
export async function runEvidence(argv: string[], io: Omit<CommandIo, 'progress'>): Promise<number> {
  return runReporting(io, () => runArgv(argv, { ...io, progress: () => {} }), 'gitops-bot');
}

export async function run(values: FlagValues<typeof spec.flags>, io: CommandIo): Promise<number> {
  if (!values.env) throw new UsageError('--env is required', 'pass --env ENV (an entry of environments: in the bot config)');
  const version = values.version;
  if (!version) throw new UsageError('--version is required', 'pass --version VERSION (the DBOS__APPVERSION of that version)');
  if (!VERSION_TEXT.test(version))
    throw new UsageError('--version is not a version string (the value is not shown)', 'pass the DBOS__APPVERSION value, e.g. 1.4.0');
  let since: Date | undefined;
  if (values.since !== undefined) {
    since = new Date(values.since);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(values.since) || !Number.isFinite(since.getTime()))
      throw new UsageError('--since is not an ISO 8601 time (the value is not shown)', 'pass e.g. --since 2026-11-30T08:00:00Z');
    if (since.getTime() > (io.now ?? new Date()).getTime()) throw new UsageError('--since is in the future', 'pass a time in the past: the window ends now');
  }

  const [{ join, resolve }, { CONFIG_PATH, loadConfig }, { repoRoot }, { defaultDrainSourceFor }, { readGate }, drain] = await Promise.all([
    import('node:path'),
    import('../../config/load.ts'),
    import('../compose.ts'),
    import('../../sources/drain/for-environment.ts'),
    import('../../sources/drain/evidence.ts'),
    import('@dbos-gitops/drain'),
  ]);
  // repoRoot reads only `repo` of the shared options.
  const root = await repoRoot({ repo: values.repo ?? null } as Options);
  const configFile = values.config ? resolve(values.config) : join(root, CONFIG_PATH);
  const config = await loadConfig(configFile);
  const { env, app } = resolveTarget(config, configFile, values.env, values.app);

  // The cluster is asked only where the environment has kube:, for the pods of the version's directory in git.
  let kube: KubeHealth | null = null;
  let slug: string | null = null;
  if (env.kube) {
    const [{ KubeClientHealth }, { fsTree }, { readAppVersionsTree }] = await Promise.all([
      import('../../sources/kube/health.ts'),
      import('../../repo/tree.ts'),
      import('../../tasks/shared/app-version-files.ts'),
    ]);
    kube = new KubeClientHealth({ [env.name]: env.kube.context });
    slug = (await readAppVersionsTree(fsTree(root), env.name, env.overlay, app))?.versions.find((live) => live.version === version)?.slug ?? null;
  }
  // The same reader as promotion and rollback: propose (sources/drain/evidence.ts). This is one environment's own
  // evidence: its `<name>_<ENV>` variable when set, since it cannot name another environment's database, else the
  // plain name, as `pnpm bot plan --env <env>` and the in-cluster CronJob read it.
  const reading = await readGate(
    defaultDrainSourceFor(io.env),
    config,
    env,
    app,
    version,
    io.now ?? new Date(),
    { kind: 'own', run: { envFilter: env.name, config } },
    { kube, slug, ...(since ? { windowStart: since } : {}), ...(io.signal ? { signal: io.signal } : {}) },
  );
  if (reading.describe) io.progress(`read ${reading.describe}`);
  const e = reading.evidence;
  const result: EvidenceJson = {
    env: env.name,
    app: app.name,
    version,
    window: e ? e.window : { start: reading.windowStart, end: null },
    readAt: e?.readAt ?? null,
    counts: e?.counts ?? null,
    errorRatio: e?.errorRatio ?? null,
    oldestInFlightAgeMs: e?.oldestInFlightAgeMs ?? null,
    inFlight: e?.inFlight ?? null,
    unownedFailures: e?.unownedFailures ?? null,
    registeredAt: e?.registeredAt ?? null,
    podsReady: signalJson(reading.signals.podsReady),
    executorsConnected: signalJson(reading.signals.executorsConnected),
    gate: reading.gate,
    verdict: reading.verdict,
    reasons: reading.reasons,
  };
  io.stdout(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatEvidence(result, drain.formatEvidenceDuration));
  if (reading.hint) io.stderr(`what to do: ${reading.hint}\n`);
  return result.verdict === 'unknown' ? 10 : 0;
}

/** A signal as `--json` prints it: `{ read: false, reason: "not configured" }` when the environment does not configure it. */
export type SignalJson = { read: true; count: number; of: number; detail: string } | { read: false; reason: string };

function signalJson(signal: EvidenceSignal): SignalJson {
  if (signal.status === 'read') return { read: true, count: signal.count, of: signal.of, detail: signal.detail };
  return { read: false, reason: signal.status === 'not-configured' ? 'not configured' : signal.reason };
}

function signalText(signal: SignalJson): string {
  return signal.read ? `${signal.count} of ${signal.of} (${signal.detail})` : `not read (${signal.reason})`;
}

/** The human table: what was counted, over which window, and the verdict with its reasons. */
export function formatEvidence(r: EvidenceJson, duration: (ms: number) => string): string {
  const rows: Array<[string, string]> = [];
  const c = r.counts;
  rows.push(['window', `${r.window.start ?? 'since registration'} .. ${r.window.end ?? '(not read)'}`]);
  rows.push(['read at', r.readAt ?? '(not read)']);
  rows.push(['registered', r.registeredAt ?? (c ? 'never (no executor of this version has started)' : '(not read)')]);
  if (c) {
    rows.push(['SUCCESS', String(c.success)]);
    rows.push(['ERROR', String(c.error)]);
    rows.push(['MAX_RECOVERY_ATTEMPTS_EXCEEDED', String(c.maxRecoveryAttemptsExceeded)]);
    rows.push(['CANCELLED', String(c.cancelled)]);
    rows.push(['finished', String(c.finished)]);
    rows.push(['error ratio', `${r.errorRatio === null ? 'n/a (nothing finished)' : r.errorRatio.toFixed(4)} (gate: at most ${r.gate.maxErrorRatio})`]);
    rows.push(['failed, no application name', String(r.unownedFailures ?? 0)]);
    rows.push(['in flight', r.inFlight ? `${r.inFlight}, the oldest for ${duration(r.oldestInFlightAgeMs ?? 0)}` : '0']);
    rows.push(['pods Ready', signalText(r.podsReady)]);
    rows.push(['executors connected', signalText(r.executorsConnected)]);
  }
  rows.push([
    'gate',
    `at least ${r.gate.minSucceeded} SUCCESS, error ratio at most ${r.gate.maxErrorRatio}, soak ${r.gate.soakSeconds > 0 ? duration(r.gate.soakSeconds * 1000) : 'none'}`,
  ]);
  rows.push(['verdict', r.verdict]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `Evidence of ${r.app} ${r.version} in ${r.env}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    ...r.reasons.map((reason) => `  - ${reason}`),
    '',
  ].join('\n');
}
