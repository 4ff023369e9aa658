/**
 * A loopback stand-in for the slice of the DBOS Conductor API the bot uses: API keys (list, create, delete) and an
 * application's executors. It keeps state (keys with their secrets, executors), checks bearer credentials the way
 * Conductor does (401 unknown key, 403 missing permission), injects faults, and validates every request body and
 * every response against openapi/conductor-subset.json; a mismatch is recorded in `violations` and answered with
 * a 500 so the test fails loudly.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { pathTemplateRegex } from './openapi-path.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const SPEC_PATH = fileURLToPath(new URL('../openapi/conductor-subset.json', import.meta.url));

type Schema = Record<string, unknown>;
interface Spec {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId: string;
        requestBody?: { content: Record<string, { schema: Schema }> };
        responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
      }
    >
  >;
  components: { schemas: Record<string, Schema>; parameters: Record<string, { name: string; schema: Schema }> };
}

export interface FakeToken {
  tokenName: string;
  secret: string;
  appNames: string[] | null;
  permissions: string[] | null;
  createdAt: string;
}

export interface FakeExecutor {
  executorId: string;
  status: string;
  appVersion: string;
  hostname?: string | null;
  language?: string | null;
  updatedAt?: string;
}

export interface ConductorFault {
  method?: string;
  /** Matched against the path without query. */
  path?: RegExp;
  status: number;
  /** Fail the nth matching request counted from injection (1 = the next one); earlier ones pass. Default 1. */
  nth?: number;
  /** How many matching requests, from the nth on, get the fault. Default 1. */
  times?: number;
}

export interface ConductorCall {
  method: string;
  path: string;
  status: number;
  operation: string | null;
}

export interface ConductorFake {
  readonly url: string;
  readonly org: string;
  /** The admin key the tests hand to the bot (all permissions). */
  readonly adminKey: string;
  readonly calls: ConductorCall[];
  readonly violations: string[];
  tokens(): FakeToken[];
  /** Whether a bearer secret currently authenticates (what an executor holding it would experience). */
  isValidKey(secret: string): boolean;
  /** Seeds a key as if created earlier (e.g. the key the environment runs with today). */
  addToken(token: Omit<FakeToken, 'createdAt' | 'secret'> & { secret?: string; createdAt?: string }): FakeToken;
  setExecutors(app: string, executors: FakeExecutor[]): void;
  injectFault(fault: ConductorFault): void;
  stop(): Promise<void>;
}

export interface ConductorFakeOptions {
  org?: string;
}

class SubsetValidator {
  readonly spec: Spec;
  private readonly ajv: Ajv;
  private readonly cache = new Map<string, ValidateFunction>();
  constructor() {
    this.spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as Spec;
    this.ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: 'conductor', components: this.spec.components });
  }
  check(key: string, schema: Schema, value: unknown): string | null {
    let validate = this.cache.get(key);
    if (!validate) {
      validate = this.ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', '"$ref":"conductor#/')) as Schema);
      this.cache.set(key, validate);
    }
    return validate(value) ? null : this.ajv.errorsText(validate.errors, { dataVar: key });
  }
}

interface Route {
  template: string;
  method: string;
  regex: RegExp;
  names: string[];
}

const ALL_PERMISSIONS = [
  'organization.read',
  'organization.write',
  'application.read',
  'application.write',
  'metric.read',
  'token.read',
  'token.write',
  'websocket.connect',
];
const REQUIRED_PERMISSION: Record<string, string> = {
  listTokens: 'token.read',
  createToken: 'token.write',
  deleteToken: 'token.write',
  listExecutors: 'application.read',
};

function newSecret(): string {
  return `dbos_${randomBytes(24).toString('base64url')}`;
}

export async function startConductorFake(options: ConductorFakeOptions = {}): Promise<ConductorFake> {
  const validator = new SubsetValidator();
  const org = options.org ?? 'test_org';
  const adminKey = newSecret();
  const tokens = new Map<string, FakeToken>();
  const executors = new Map<string, FakeExecutor[]>();
  const faults: Array<Required<ConductorFault> & { seen: number }> = [];
  const calls: ConductorCall[] = [];
  const violations: string[] = [];
  const routes: Route[] = [];
  for (const [template, methods] of Object.entries(validator.spec.paths)) {
    const { regex, names } = pathTemplateRegex(template);
    for (const method of Object.keys(methods)) routes.push({ template, method: method.toUpperCase(), regex, names });
  }

  const problem = (status: number, title: string, detail: string) => ({ status, title, detail, type: 'about:blank' });

  function send(response: ServerResponse, call: ConductorCall, status: number, body: unknown, schema?: Schema, key?: string): void {
    let finalStatus = status;
    let finalBody = body;
    let contentType = status >= 400 ? 'application/problem+json' : 'application/json';
    if (schema && key) {
      const error = validator.check(key, schema, body);
      if (error) {
        violations.push(`response ${call.method} ${call.path} ${status}: ${error}`);
        finalStatus = 500;
        finalBody = problem(500, 'Internal Server Error', 'response failed schema validation');
        contentType = 'application/problem+json';
      }
    }
    call.status = finalStatus;
    calls.push(call);
    if (finalBody === undefined) {
      response.writeHead(finalStatus).end();
    } else {
      response.writeHead(finalStatus, { 'content-type': contentType }).end(JSON.stringify(finalBody));
    }
  }

  function authorize(header: string | undefined, operation: string, app: string | null): 401 | 403 | null {
    const match = /^Bearer (\S+)$/.exec(header ?? '');
    if (!match) return 401;
    const secret = match[1]!;
    if (secret === adminKey) return null;
    const token = [...tokens.values()].find((candidate) => candidate.secret === secret);
    if (!token) return 401;
    const permissions = token.permissions ?? ALL_PERMISSIONS;
    if (!permissions.includes(REQUIRED_PERMISSION[operation]!)) return 403;
    if (app && token.appNames && !token.appNames.includes(app)) return 403;
    return null;
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const method = request.method ?? 'GET';
    const call: ConductorCall = { method, path: url.pathname, status: 0, operation: null };
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');

    const route = routes.find((candidate) => candidate.method === method && candidate.regex.test(url.pathname));
    if (!route) return send(response, call, 404, problem(404, 'Not Found', `no operation ${method} ${url.pathname}`));
    const operation = validator.spec.paths[route.template]![method.toLowerCase()]!;
    call.operation = operation.operationId;
    const values = route.regex
      .exec(url.pathname)!
      .slice(1)
      .map((value) => decodeURIComponent(value));
    const params = Object.fromEntries(route.names.map((name, index) => [name, values[index]!]));
    for (const [name, value] of Object.entries(params)) {
      const error = validator.check(`path.${name}`, validator.spec.components.parameters[name]!.schema, value);
      if (error)
        return send(response, call, 422, {
          ...problem(422, 'Unprocessable Entity', 'validation failed'),
          errors: [{ location: `path.${name}`, message: error, value }],
        });
    }

    for (const fault of faults) {
      if ((fault.method && fault.method !== method) || !fault.path.test(url.pathname)) continue;
      fault.seen++;
      if (fault.seen >= fault.nth && fault.seen < fault.nth + fault.times) {
        return send(response, call, fault.status, problem(fault.status, 'Injected fault', `injected ${fault.status}`));
      }
    }

    const denied = authorize(request.headers.authorization, operation.operationId, params.appName ?? null);
    if (denied === 401) return send(response, call, 401, problem(401, 'Unauthorized', 'missing or invalid credentials'));
    if (denied === 403) return send(response, call, 403, problem(403, 'Forbidden', `requires ${REQUIRED_PERMISSION[operation.operationId]}`));
    if (params.orgName !== org) return send(response, call, 404, problem(404, 'Not Found', `organization ${params.orgName} not found`));

    const ok = operation.responses[Object.keys(operation.responses)[0]!]!;
    const okSchema = ok.content?.['application/json']?.schema;
    switch (operation.operationId) {
      case 'listTokens': {
        const body = [...tokens.values()].map((token) => ({
          tokenName: token.tokenName,
          appIds: token.appNames,
          permissions: token.permissions ?? ALL_PERMISSIONS,
          createdAt: token.createdAt,
        }));
        return send(response, call, 200, body, okSchema, 'listTokens.200');
      }
      case 'createToken': {
        let body: unknown = {};
        if (raw !== '') {
          if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) {
            violations.push(`request ${method} ${url.pathname}: content-type ${request.headers['content-type'] ?? '(none)'}`);
            return send(response, call, 415, problem(415, 'Unsupported Media Type', 'send application/json'));
          }
          try {
            body = JSON.parse(raw);
          } catch {
            return send(response, call, 400, problem(400, 'Bad Request', 'body is not JSON'));
          }
        }
        const error = validator.check('createToken.body', operation.requestBody!.content['application/json']!.schema, body);
        if (error) {
          violations.push(`request ${method} ${url.pathname}: ${error}`);
          return send(response, call, 422, { ...problem(422, 'Unprocessable Entity', 'validation failed'), errors: [{ location: 'body', message: error }] });
        }
        const tokenName = params.tokenName!;
        if (tokens.has(tokenName)) return send(response, call, 409, problem(409, 'Conflict', `API key ${tokenName} already exists`));
        const request_ = body as { appNames?: string[]; permissions?: string[] };
        const token: FakeToken = {
          tokenName,
          secret: newSecret(),
          appNames: request_.appNames ?? null,
          permissions: request_.permissions ?? null,
          createdAt: new Date().toISOString(),
        };
        tokens.set(tokenName, token);
        return send(response, call, 201, { tokenName, token: token.secret }, okSchema, 'createToken.201');
      }
      case 'deleteToken': {
        if (!tokens.delete(params.tokenName!)) return send(response, call, 404, problem(404, 'Not Found', `API key ${params.tokenName} not found`));
        return send(response, call, 204, undefined);
      }
      case 'listExecutors':
        return send(response, call, 200, executors.get(params.appName!) ?? [], okSchema, 'listExecutors.200');
      default:
        return send(response, call, 501, problem(501, 'Not Implemented', operation.operationId));
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: Error) => {
      violations.push(`fake crashed: ${error.message}`);
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    org,
    adminKey,
    calls,
    violations,
    tokens: () => [...tokens.values()].map((token) => ({ ...token })),
    isValidKey: (secret) => secret === adminKey || [...tokens.values()].some((token) => token.secret === secret),
    addToken(seed) {
      const token: FakeToken = {
        tokenName: seed.tokenName,
        secret: seed.secret ?? newSecret(),
        appNames: seed.appNames,
        permissions: seed.permissions,
        createdAt: seed.createdAt ?? new Date().toISOString(),
      };
      tokens.set(token.tokenName, token);
      return { ...token };
    },
    setExecutors(app, list) {
      executors.set(
        app,
        list.map((executor) => ({ ...executor })),
      );
    },
    injectFault(fault) {
      faults.push({ method: fault.method ?? '', path: fault.path ?? /.*/, status: fault.status, nth: fault.nth ?? 1, times: fault.times ?? 1, seen: 0 });
    },
    stop: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
