/**
 * Client for the part of the DBOS Conductor API the secret-rotation task needs (docs/production/conductor-api.md in
 * dbos-inc/dbos-docs): API keys are `GET /v2/orgs/{org}/tokens`, `POST|DELETE /v2/orgs/{org}/tokens/{name}`
 * (there is no rotate endpoint and no single-key GET: rotation is create, roll out, delete), executors are
 * `GET /v2/orgs/{org}/apps/{app}/executors`, and the workflow search the drain signal reads
 * (`POST /v2/orgs/{org}/apps/{app}/workflows/search`). Auth is `Authorization: Bearer <key>`. Shapes are in
 * packages/testkit/openapi/conductor-subset.json. The one client for both the bot and the drain package.
 */
import { inspect } from 'node:util';
import { ConductorError, failureForStatus, type NoAnswer } from './errors.ts';

/**
 * A secret that does not print itself: string conversion, JSON and util.inspect all give a mask, so a key cannot
 * reach a log line, an error message or a PR body by accident. `reveal()` is the one deliberate way out.
 */
export class SecretValue {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [inspect.custom](): string {
    return 'SecretValue([secret])';
  }
}

export interface TokenInfo {
  tokenName: string;
  /** null: the key is not limited to some applications. */
  appIds: string[] | null;
  permissions: string[];
  createdAt: string;
}

export interface CreatedToken {
  tokenName: string;
  /** Shown once by Conductor; never retrievable again. */
  token: SecretValue;
}

export interface ExecutorInfo {
  executorId: string;
  status: string;
  appVersion: string;
  hostname: string | null;
  updatedAt: string | null;
}

export interface TokenScope {
  /** Applications the key may act for; omitted or empty: all. */
  appNames?: readonly string[];
  /** e.g. `websocket.connect` for an executor's key; omitted or empty: every permission. */
  permissions?: readonly string[];
}

/** The operations the rotation actions use; the fake-backed tests and the real client share it. */
export interface ConductorTokenApi {
  createToken(org: string, tokenName: string, scope: TokenScope): Promise<CreatedToken>;
  listTokens(org: string): Promise<TokenInfo[]>;
  getToken(org: string, tokenName: string): Promise<TokenInfo | null>;
  /** `deleted`, or `absent` when there was no such key (deleting is idempotent). */
  deleteToken(org: string, tokenName: string): Promise<'deleted' | 'absent'>;
  listExecutors(org: string, app: string): Promise<ExecutorInfo[]>;
}

/** The documented search body: array filters plus paging; inputs and outputs are never loaded. */
export interface WorkflowSearch {
  appVersion: string[];
  status: string[];
  limit: number;
  offset: number;
  loadInput: false;
  loadOutput: false;
}

export interface ConductorClientOptions {
  /** Self-hosted: `http://dbos-conductor.dbos.svc:8090`; DBOS-managed: `https://cloud.dbos.dev/conductor`. */
  baseUrl: string;
  apiKey: string | SecretValue;
  fetch?: typeof fetch;
  /** Attempts for a request answered with 502/503/504 (or, for reads and deletes, not answered). Default 3. */
  attempts?: number;
  /** First back-off; doubles per attempt. Default 500 ms. */
  retryDelayMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const ORG_NAME = /^[a-z0-9_]{3,30}$/;
const APP_NAME = /^[a-z0-9_-]{3,256}$/;
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const RETRY_STATUSES = new Set([502, 503, 504]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

export class ConductorClient implements ConductorTokenApi {
  private readonly baseUrl: string;
  private readonly apiKey: SecretValue;
  private readonly doFetch: typeof fetch;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: ConductorClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new ConductorError(
        'invalid',
        'setup',
        undefined,
        `the Conductor URL (${options.baseUrl.length} characters, not shown: input that does not parse may hold a secret) is not a URL (e.g. http://dbos-conductor:8090)`,
      );
    }
    if (url.username || url.password)
      throw new ConductorError('invalid', 'setup', undefined, 'the Conductor URL must not carry credentials; the key goes in its own variable');
    this.baseUrl = url.toString().replace(/\/+$/, '');
    this.apiKey = options.apiKey instanceof SecretValue ? options.apiKey : new SecretValue(options.apiKey);
    if (this.apiKey.reveal() === '') throw new ConductorError('auth', 'setup', undefined, 'no Conductor admin API key was given');
    this.doFetch = options.fetch ?? fetch;
    this.attempts = Math.max(1, Math.min(options.attempts ?? 3, 10));
    this.retryDelayMs = options.retryDelayMs ?? 500;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  private scrub(text: string): string {
    const key = this.apiKey.reveal();
    return key.length >= 4 ? text.split(key).join('[secret]') : text;
  }

  /**
   * One operation with bounded retries. A write that may have reached the server (connection lost mid-way) is not
   * retried: a second create would answer 409 and hide whether the first one took effect.
   */
  private async request(
    operation: string,
    method: string,
    path: string,
    body: unknown,
    idempotent: boolean,
    signal?: AbortSignal,
  ): Promise<{ status: number; json: unknown }> {
    let lastError: ConductorError | null = null;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) await this.sleep(this.retryDelayMs * 2 ** (attempt - 2));
      let response: Response;
      try {
        response = await this.doFetch(`${this.baseUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.apiKey.reveal()}`,
            accept: 'application/json, application/problem+json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: signal ? AbortSignal.any([AbortSignal.timeout(this.timeoutMs), signal]) : AbortSignal.timeout(this.timeoutMs),
        });
      } catch (error) {
        const cause = (error as Error).cause as (Error & { code?: string }) | undefined;
        const reason = this.scrub(cause?.code ?? cause?.message ?? (error as Error).message);
        const noAnswer: NoAnswer = signal?.aborted ? 'aborted' : (error as Error).name === 'TimeoutError' ? 'timeout' : 'network';
        if (!idempotent) throw new ConductorError('unknown-outcome', operation, undefined, `no answer from ${this.baseUrl} (${reason})`, noAnswer);
        lastError = new ConductorError('unavailable', operation, undefined, `no answer from ${this.baseUrl} (${reason})`, noAnswer);
        if (noAnswer === 'aborted') break;
        continue;
      }
      const text = await response.text();
      let json: unknown = null;
      if (text !== '') {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      if (response.ok) {
        if (json === undefined) throw new ConductorError('malformed', operation, response.status, 'the answer is not JSON');
        return { status: response.status, json };
      }
      // Problem details (RFC 9457) carry a `detail` (or a `title`); they describe the request, never the caller's key,
      // but are scrubbed anyway. A body that is not JSON (a proxy's page) is quoted briefly.
      const detail = this.scrub(
        isObject(json) && typeof json.detail === 'string'
          ? json.detail.slice(0, 300)
          : isObject(json) && typeof json.title === 'string'
            ? json.title.slice(0, 300)
            : json === undefined && text !== ''
              ? text.slice(0, 200)
              : response.statusText || 'error',
      );
      const error = new ConductorError(failureForStatus(response.status), operation, response.status, detail);
      if (!RETRY_STATUSES.has(response.status)) throw error;
      lastError = error;
    }
    throw lastError!;
  }

  private orgPath(org: string): string {
    if (!ORG_NAME.test(org)) throw new ConductorError('invalid', 'request', undefined, `organization "${org}" is not valid: 3-30 characters of a-z, 0-9 and _`);
    return `/v2/orgs/${encodeURIComponent(org)}`;
  }

  private tokenPath(org: string, tokenName: string): string {
    if (!TOKEN_NAME.test(tokenName))
      throw new ConductorError('invalid', 'request', undefined, `API key name "${tokenName}" is not valid: letters, digits, ".", "_" and "-"`);
    return `${this.orgPath(org)}/tokens/${encodeURIComponent(tokenName)}`;
  }

  async createToken(org: string, tokenName: string, scope: TokenScope): Promise<CreatedToken> {
    for (const app of scope.appNames ?? []) {
      if (!APP_NAME.test(app))
        throw new ConductorError('invalid', 'create API key', undefined, `application "${app}" is not valid: 3-256 characters of a-z, 0-9, - and _`);
    }
    const body: Record<string, string[]> = {};
    if (scope.appNames && scope.appNames.length > 0) body.appNames = [...scope.appNames];
    if (scope.permissions && scope.permissions.length > 0) body.permissions = [...scope.permissions];
    const { json } = await this.request(`create API key ${tokenName}`, 'POST', this.tokenPath(org, tokenName), body, false);
    if (!isObject(json) || typeof json.token !== 'string' || json.token === '') {
      throw new ConductorError('malformed', `create API key ${tokenName}`, undefined, 'the answer has no token');
    }
    return { tokenName: typeof json.tokenName === 'string' ? json.tokenName : tokenName, token: new SecretValue(json.token) };
  }

  async listTokens(org: string): Promise<TokenInfo[]> {
    const { json } = await this.request('list API keys', 'GET', `${this.orgPath(org)}/tokens`, undefined, true);
    if (!Array.isArray(json)) throw new ConductorError('malformed', 'list API keys', undefined, 'expected an array of keys');
    return json.map((item) => {
      if (!isObject(item) || typeof item.tokenName !== 'string' || !stringArray(item.permissions)) {
        throw new ConductorError('malformed', 'list API keys', undefined, 'a key has no tokenName or permissions');
      }
      return {
        tokenName: item.tokenName,
        appIds: stringArray(item.appIds) ? item.appIds : null,
        permissions: item.permissions,
        createdAt: typeof item.createdAt === 'string' ? item.createdAt : '',
      };
    });
  }

  async getToken(org: string, tokenName: string): Promise<TokenInfo | null> {
    return (await this.listTokens(org)).find((token) => token.tokenName === tokenName) ?? null;
  }

  async deleteToken(org: string, tokenName: string): Promise<'deleted' | 'absent'> {
    try {
      await this.request(`delete API key ${tokenName}`, 'DELETE', this.tokenPath(org, tokenName), undefined, true);
      return 'deleted';
    } catch (error) {
      if (error instanceof ConductorError && error.failure === 'not-found' && error.status === 404) {
        // A 404 for an unknown organization would look the same; tell them apart with a read.
        await this.listTokens(org);
        return 'absent';
      }
      throw error;
    }
  }

  /**
   * One page of the workflow search (the drain signal's read): the raw workflow objects, which the caller checks,
   * because the response schema is the server's generated OpenAPI document, not published. A list, or
   * `{ workflows: [...] }`; anything else is `malformed`.
   */
  async searchWorkflows(org: string, app: string, filter: WorkflowSearch, options: { signal?: AbortSignal } = {}): Promise<unknown[]> {
    if (!APP_NAME.test(app)) throw new ConductorError('invalid', 'search workflows', undefined, `application "${app}" is not valid`);
    const operation = `search workflows of ${app}`;
    const { json } = await this.request(
      operation,
      'POST',
      `${this.orgPath(org)}/apps/${encodeURIComponent(app)}/workflows/search`,
      filter,
      true,
      options.signal,
    );
    if (Array.isArray(json)) return json;
    if (isObject(json) && Array.isArray(json.workflows)) return json.workflows;
    throw new ConductorError('malformed', operation, undefined, 'the answer is neither a list of workflows nor {workflows: [...]}');
  }

  async listExecutors(org: string, app: string): Promise<ExecutorInfo[]> {
    if (!APP_NAME.test(app)) throw new ConductorError('invalid', 'list executors', undefined, `application "${app}" is not valid`);
    const { json } = await this.request(`list executors of ${app}`, 'GET', `${this.orgPath(org)}/apps/${encodeURIComponent(app)}/executors`, undefined, true);
    if (!Array.isArray(json)) throw new ConductorError('malformed', `list executors of ${app}`, undefined, 'expected an array of executors');
    return json.map((item) => {
      if (!isObject(item) || typeof item.executorId !== 'string' || typeof item.status !== 'string' || typeof item.appVersion !== 'string') {
        throw new ConductorError('malformed', `list executors of ${app}`, undefined, 'an executor has no executorId, status or appVersion');
      }
      return {
        executorId: item.executorId,
        status: item.status,
        appVersion: item.appVersion,
        hostname: typeof item.hostname === 'string' ? item.hostname : null,
        updatedAt: typeof item.updatedAt === 'string' ? item.updatedAt : null,
      };
    });
  }
}
