import { ConductorClient, ConductorError } from '@dbos-gitops/conductor';
import { describeConnectionString } from './connection-string.ts';
import { DrainUnknownError, scrub } from './errors.ts';
import type { VersionDrain } from './database.ts';

/*
 * Conductor reads go through the app's executors (docs/production/conductor-api.md, "How Operations Are Served"):
 * 503 means no healthy executor is connected and 502 that none answered — "unknown", never "no workflows".
 * The published docs name the search body fields (arrays `status`, `appVersion`, plus `limit`/`offset`) but leave
 * the response schema to the server's generated OpenAPI document, which is not public here. So the response is
 * checked strictly against what the docs and the Conductor protocol state (a list of workflow objects carrying a
 * status and an application version) and anything else is DrainUnknownError('conductor-malformed').
 */

export interface ConductorDrainOptions {
  /** e.g. `http://dbos-conductor.dbos.svc:8090` (self-hosted) or `https://cloud.dbos.dev/conductor`. */
  baseUrl: string;
  /** Organization name (3–30 of `[a-z0-9_]`); required by every application path. */
  org?: string;
  app: string;
  apiKey: string;
  versions: readonly string[];
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Page size for the search; the read pages until a short page or maxPages. */
  pageSize?: number;
  maxPages?: number;
  fetch?: typeof fetch;
}

export interface ConductorDrainStatus {
  source: 'conductor';
  readAt: string;
  versions: VersionDrain[];
  /** Conductor's search is per app version; it does not say which is latest. */
  latestVersion: null;
  unowned: 0;
  unversioned: 0;
  /** True when maxPages was reached: counts are lower bounds (still never zero when truncated). */
  truncated: boolean;
}

export const IN_FLIGHT_STATUSES = ['PENDING', 'ENQUEUED', 'DELAYED'] as const;
const ALL_STATUSES = new Set(['PENDING', 'ENQUEUED', 'DELAYED', 'SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED']);
const ORG_NAME = /^[a-z0-9_]{3,30}$/;
const APP_NAME = /^[a-z0-9_-]{3,256}$/;

function pick(record: Record<string, unknown>, keys: readonly string[]): unknown {
  for (const k of keys) if (k in record) return record[k];
  return undefined;
}

export function conductorSearchUrl(baseUrl: string, org: string, app: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/v2/orgs/${encodeURIComponent(org)}/apps/${encodeURIComponent(app)}/workflows/search`;
}

export async function readDrainStatusFromConductor(options: ConductorDrainOptions): Promise<ConductorDrainStatus> {
  const { app, apiKey } = options;
  const secrets = [apiKey];
  const fail = (reason: ConstructorParameters<typeof DrainUnknownError>[0], message: string): never => {
    throw new DrainUnknownError(reason, scrub(message, secrets));
  };
  /** The client's typed failure, in the drain signal's words: every one of them is unknown, never zero. */
  const failFor = (error: ConductorError): never => {
    const shownUrl = describeConnectionString(conductorSearchUrl(options.baseUrl, options.org ?? '', app));
    const suffix = error.status !== undefined && error.detail ? `: ${error.detail}` : '';
    if (error.noAnswer === 'aborted') return fail('aborted', `The Conductor drain read of ${app} was cancelled.`);
    if (error.noAnswer === 'timeout') return fail('timeout', `Conductor at ${shownUrl} did not answer within ${options.timeoutMs ?? 10_000} ms.`);
    if (error.noAnswer === 'network') {
      return fail('conductor-unavailable', `Conductor at ${shownUrl} could not be reached (${error.detail}). Check the URL and that Conductor is running.`);
    }
    if (error.status === 503 || error.status === 502) {
      return fail(
        'conductor-unavailable',
        `Conductor answered ${error.status}${suffix}. No healthy executor of "${app}" answered, so its workflows cannot be read; this is unknown, not zero. Check that the app's pods are connected to Conductor.`,
      );
    }
    if (error.status === 401 || error.status === 403) {
      return fail(
        'conductor-auth',
        `Conductor refused the API key (${error.status}${suffix}). The key needs application.read on "${app}"; create one with POST /v2/orgs/${options.org}/tokens/{name}.`,
      );
    }
    if (error.failure === 'malformed')
      return fail('conductor-malformed', `Conductor's answer from ${shownUrl} cannot be read (${error.detail}); cannot count workflows.`);
    if (error.failure === 'invalid' && error.status === undefined) return fail('invalid-input', error.message);
    return fail('conductor-http', `Conductor answered ${error.status ?? 'nothing usable'} for ${shownUrl}${suffix}.`);
  };
  if (!options.org) fail('invalid-input', 'The Conductor organization name is required (the `orgName` in /v2/orgs/{orgName}/...).');
  const org = options.org!;
  if (!ORG_NAME.test(org)) fail('invalid-input', `Conductor organization "${org}" is invalid: 3–30 characters of a-z, 0-9 and _.`);
  if (!APP_NAME.test(app)) fail('invalid-input', `Conductor application "${app}" is invalid: 3–256 characters of a-z, 0-9, - and _.`);
  if (!apiKey) fail('invalid-input', 'A Conductor API key is required (Authorization: Bearer).');
  if (options.versions.length === 0 || options.versions.some((v) => typeof v !== 'string' || v === '')) {
    fail('invalid-input', 'Name at least one application version to read from Conductor.');
  }
  let base: URL;
  try {
    base = new URL(options.baseUrl);
  } catch {
    return fail('invalid-input', `Conductor base URL ${describeConnectionString(options.baseUrl)} is not a URL (e.g. http://dbos-conductor:8090).`);
  }
  const pageSize = options.pageSize ?? 1000;
  const maxPages = options.maxPages ?? 20;
  const timeoutMs = options.timeoutMs ?? 10_000;
  // The one Conductor client (@dbos-gitops/conductor), asked once per page: a drain read never retries, because an
  // answer it cannot trust is "unknown", and the next run reads again.
  const client = new ConductorClient({ baseUrl: base.toString(), apiKey, attempts: 1, timeoutMs, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const wanted = new Set(options.versions);
  const counts = new Map<string, { pending: number; enqueued: number; delayed: number }>();
  for (const v of wanted) counts.set(v, { pending: 0, enqueued: 0, delayed: 0 });

  let truncated = false;
  const readAt = new Date().toISOString();
  for (let page = 0; ; page++) {
    if (page >= maxPages) {
      truncated = true;
      break;
    }
    let items: unknown[];
    try {
      items = await client.searchWorkflows(
        org,
        app,
        { appVersion: [...wanted], status: [...IN_FLIGHT_STATUSES], limit: pageSize, offset: page * pageSize, loadInput: false, loadOutput: false },
        options.signal ? { signal: options.signal } : {},
      );
    } catch (error) {
      if (!(error instanceof ConductorError)) throw error;
      return failFor(error);
    }
    for (const [i, item] of items.entries()) {
      if (typeof item !== 'object' || item === null) fail('conductor-malformed', `Workflow ${i} in Conductor's answer is not an object.`);
      const record = item as Record<string, unknown>;
      const status = pick(record, ['status', 'Status']);
      const version = pick(record, ['appVersion', 'AppVersion', 'applicationVersion', 'ApplicationVersion']);
      if (typeof status !== 'string' || !ALL_STATUSES.has(status)) {
        fail('conductor-malformed', `Workflow ${i} in Conductor's answer has no known status (${JSON.stringify(status)}).`);
      }
      if (typeof version !== 'string' || !wanted.has(version)) {
        fail('conductor-malformed', `Workflow ${i} in Conductor's answer has version ${JSON.stringify(version)}, which was not asked for.`);
      }
      const c = counts.get(version as string)!;
      if (status === 'PENDING') c.pending++;
      else if (status === 'ENQUEUED') c.enqueued++;
      else if (status === 'DELAYED') c.delayed++;
      else fail('conductor-malformed', `Workflow ${i} in Conductor's answer has status ${String(status)}, which was not asked for.`);
    }
    if (items.length < pageSize) break;
  }
  return {
    source: 'conductor',
    readAt,
    versions: [...counts].map(([version, c]) => ({ version, ...c, inFlight: c.pending + c.enqueued + c.delayed })),
    latestVersion: null,
    unowned: 0,
    unversioned: 0,
    truncated,
  };
}
