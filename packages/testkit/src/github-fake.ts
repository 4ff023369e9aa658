/**
 * A local stand-in for the slice of GitHub's REST API the bot uses (who the token is, pulls list/create/update, issue
 * labels and comments), bound to 127.0.0.1 on a free port. Every request and every response is validated against GitHub's
 * published OpenAPI description (openapi/github-subset.json, extracted by scripts/extract-github-openapi.ts); a shape
 * mismatch is recorded in `violations` and answered with a 500 so the test fails loudly.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { pathTemplateRegex } from './openapi-path.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = Record<string, unknown>;

const SPEC_PATH = fileURLToPath(new URL('../openapi/github-subset.json', import.meta.url));

interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, Schema>;
    responses?: Record<string, { content?: Record<string, { schema: Schema }> }>;
    parameters?: Record<string, Parameter>;
  };
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema: Schema;
}
interface Operation {
  operationId: string;
  parameters?: Array<Parameter | { $ref: string }>;
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: Schema }> }>;
}

function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([key, value]) => [key, key === '$ref' && typeof value === 'string' ? `github${value}` : rewriteRefs(value)]),
  );
}

/** Compiles validators for the subset; shared by all fakes in a process. */
class SpecValidator {
  readonly spec: Spec;
  private readonly ajv: Ajv;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor() {
    this.spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as Spec;
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    // GitHub's own format for "owner/name" strings.
    this.ajv.addFormat('repo.nwo', /^[^/]+\/[^/]+$/);
    this.ajv.addSchema({ $id: 'github', ...(rewriteRefs({ components: this.spec.components }) as object) });
  }

  private compile(key: string, schema: Schema): ValidateFunction {
    let validate = this.cache.get(key);
    if (!validate) {
      validate = this.ajv.compile(rewriteRefs(schema) as Schema);
      this.cache.set(key, validate);
    }
    return validate;
  }

  resolve<T>(node: T | { $ref: string }): T {
    const ref = (node as { $ref?: string }).$ref;
    if (!ref) return node as T;
    const [, , kind, name] = ref.split('/');
    return (this.spec.components as unknown as Record<string, Record<string, T>>)[kind!]![name!]!;
  }

  check(key: string, schema: Schema, value: unknown): string | null {
    const validate = this.compile(key, schema);
    if (validate(value)) return null;
    return this.ajv.errorsText(validate.errors, { dataVar: key });
  }

  /** A value with every required field of the schema, type-correct, for the fake to fill in meaningfully. */
  sample(schema: Schema, depth = 0): Json {
    const resolved = this.resolve<Schema>(schema as Schema | { $ref: string });
    if (depth > 30) return null;
    if (resolved.allOf) {
      const parts = (resolved.allOf as Schema[]).map((part) => this.sample(part, depth + 1));
      return Object.assign({}, ...parts.filter((part) => part && typeof part === 'object')) as Json;
    }
    if (resolved.anyOf || resolved.oneOf) return this.sample(((resolved.anyOf ?? resolved.oneOf) as Schema[])[0]!, depth + 1);
    if (resolved.nullable) return null;
    if (resolved.enum) return (resolved.enum as Json[])[0]!;
    const type = Array.isArray(resolved.type) ? (resolved.type as string[]).find((t) => t !== 'null') : (resolved.type as string | undefined);
    switch (type) {
      case 'object': {
        const out: Record<string, Json> = {};
        const properties = (resolved.properties ?? {}) as Record<string, Schema>;
        for (const name of (resolved.required ?? []) as string[]) out[name] = properties[name] ? this.sample(properties[name], depth + 1) : null;
        return out;
      }
      case 'array':
        return [];
      case 'integer':
      case 'number':
        return 1;
      case 'boolean':
        return false;
      case 'string':
        switch (resolved.format) {
          case 'uri':
            return 'https://github.example.invalid/x';
          case 'date-time':
            return '2026-01-01T00:00:00Z';
          case 'email':
            return 'bot@example.invalid';
          default:
            return 'x';
        }
      default:
        return null;
    }
  }
}

let sharedValidator: SpecValidator | null = null;
function validator(): SpecValidator {
  sharedValidator ??= new SpecValidator();
  return sharedValidator;
}

export interface FakePull {
  number: number;
  head: string;
  base: string;
  title: string;
  body: string;
  state: 'open' | 'closed';
  merged: boolean;
  labels: string[];
  comments: string[];
  createdAt: string;
  /** Login of the PR's author (`user.login`). PRs opened through the API belong to the token's identity. */
  author: string;
  /** `head.repo.full_name`: the repository the head branch lives in (a fork for fork PRs; null once a fork is deleted). */
  headRepo: string | null;
  /** Epoch ms from which `GET /pulls` lists it: GitHub's lists are eventually consistent with writes. */
  visibleAt: number;
}

/** What a human (or an attacker) opens on github.com; defaults: open, in the same repository, by `someone-else`. */
export interface ForeignPull {
  head: string;
  title: string;
  body: string;
  author?: string;
  headRepo?: string | null;
  state?: 'open' | 'closed';
  merged?: boolean;
  labels?: string[];
  base?: string;
}

export interface Fault {
  method: string;
  /** Matches the request path (without query). */
  path: RegExp;
  status: number;
  headers?: Record<string, string>;
  body?: Json;
  /** How many matching requests get the fault (then it is removed). */
  times: number;
}

export interface GitHubFake {
  readonly url: string;
  readonly owner: string;
  readonly repo: string;
  readonly pulls: FakePull[];
  readonly calls: Array<{ method: string; path: string; status: number }>;
  /** Requests by kind: reads (GET), writes (anything else), and reads answered 304 (which GitHub does not charge). */
  countsByKind(): { reads: number; writes: number; notModified: number };
  /** OpenAPI mismatches; a test that expects a clean run asserts this is empty. */
  readonly violations: string[];
  writeCount(): number;
  injectFault(fault: Fault): void;
  /** What a human does on github.com. */
  merge(number: number): void;
  close(number: number): void;
  label(number: number, label: string): void;
  /** A PR not opened by the bot's token: another user, possibly from a fork. Returns its number. */
  openPull(pull: ForeignPull): number;
  stop(): Promise<void>;
}

export interface GitHubFakeOptions {
  owner?: string;
  repo?: string;
  /** Checked on PR creation, like GitHub does ("head": invalid when the branch was not pushed). */
  branchExists?: (branch: string) => Promise<boolean>;
  /** The token's identity: who `GET /user` says it is and who authors the PRs it opens (default `gitops-bot`). */
  login?: string;
  /** `installation`: an App installation token (e.g. Actions' GITHUB_TOKEN), for which GitHub refuses `GET /user`. */
  tokenKind?: 'user' | 'installation';
  /** A PR opened through the API is listed by `GET /pulls` only this many ms later (default 0). */
  listVisibilityDelayMs?: number;
}

interface Route {
  template: string;
  method: string;
  regex: RegExp;
  names: string[];
}

function compileRoutes(spec: Spec): Route[] {
  const routes: Route[] = [];
  for (const [template, methods] of Object.entries(spec.paths)) {
    const { regex, names } = pathTemplateRegex(template);
    for (const method of Object.keys(methods)) routes.push({ template, method: method.toUpperCase(), regex, names });
  }
  return routes;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startGitHubFake(options: GitHubFakeOptions = {}): Promise<GitHubFake> {
  const spec = validator();
  const routes = compileRoutes(spec.spec);
  const owner = options.owner ?? 'example-org';
  const repo = options.repo ?? 'gitops';
  const pulls: FakePull[] = [];
  const calls: GitHubFake['calls'] = [];
  const violations: string[] = [];
  const faults: Fault[] = [];
  let nextNumber = 1;
  let nextId = 1000;
  const labelIds = new Map<string, number>();
  let url = '';
  const login = options.login ?? 'gitops-bot';
  const thisRepo = `${owner}/${repo}`;

  const userObject = (name: string): Json => {
    const base = spec.sample({ $ref: '#/components/schemas/simple-user' }) as Record<string, Json>;
    // A bot's page is its App's, /apps/<slug>: `[bot]` is not valid in a URL.
    const bot = /^(.*)\[bot\]$/.exec(name);
    return {
      ...base,
      login: name,
      type: bot ? 'Bot' : 'User',
      html_url: bot ? `https://github.example.invalid/apps/${bot[1]}` : `https://github.example.invalid/${name}`,
    };
  };

  const repoObject = (fullName: string): Json => {
    const base = spec.sample({ $ref: '#/components/schemas/repository' }) as Record<string, Json>;
    const [repoOwner, name] = fullName.split('/');
    return { ...base, full_name: fullName, name: name!, fork: fullName !== thisRepo, owner: userObject(repoOwner!) };
  };

  const labelObject = (name: string): Json => {
    if (!labelIds.has(name)) labelIds.set(name, labelIds.size + 1);
    const id = labelIds.get(name)!;
    return {
      id,
      node_id: `LA_${id}`,
      url: `${url}/repos/${owner}/${repo}/labels/${encodeURIComponent(name)}`,
      name,
      description: '',
      color: 'ededed',
      default: false,
    };
  };

  const pullObject = (pull: FakePull, schemaName: 'pull-request' | 'pull-request-simple'): Json => {
    const base = spec.sample({ $ref: `#/components/schemas/${schemaName}` }) as Record<string, Json>;
    const html = `https://github.example.invalid/${owner}/${repo}/pull/${pull.number}`;
    const ref = (name: string, fullName: string | null) => ({
      ...((base.head as Record<string, Json>) ?? {}),
      label: `${(fullName ?? thisRepo).split('/')[0]}:${name}`,
      ref: name,
      sha: '0'.repeat(40),
      repo: fullName === null ? null : repoObject(fullName),
      user: userObject((fullName ?? thisRepo).split('/')[0]!),
    });
    return {
      ...base,
      id: nextId + pull.number,
      number: pull.number,
      url: `${url}/repos/${owner}/${repo}/pulls/${pull.number}`,
      html_url: html,
      state: pull.state,
      title: pull.title,
      body: pull.body,
      labels: pull.labels.map(labelObject),
      user: userObject(pull.author),
      head: ref(pull.head, pull.headRepo),
      base: ref(pull.base, thisRepo),
      created_at: pull.createdAt,
      updated_at: pull.createdAt,
      closed_at: pull.state === 'closed' ? pull.createdAt : null,
      merged_at: pull.merged ? pull.createdAt : null,
      ...(schemaName === 'pull-request' ? { merged: pull.merged, mergeable: true, draft: false } : {}),
    };
  };

  const rateHeaders = (): Record<string, string> => ({
    'x-ratelimit-limit': '5000',
    'x-ratelimit-remaining': '4999',
    'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
    'x-ratelimit-used': '1',
    'x-ratelimit-resource': 'core',
  });

  const validationFailed = (message: string, field: string): [number, Json] => [
    422,
    {
      message: 'Validation Failed',
      errors: [{ resource: 'PullRequest', code: 'custom', field, message }],
      documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
    },
  ];

  async function handle(route: Route, params: Record<string, string>, query: URLSearchParams, body: Record<string, Json> | null): Promise<[number, Json]> {
    const key = `${route.method} ${route.template}`;
    const number = Number(params.pull_number ?? params.issue_number);
    const find = () => pulls.find((pull) => pull.number === number);
    switch (key) {
      case 'GET /repos/{owner}/{repo}/pulls': {
        const state = query.get('state') ?? 'open';
        const head = query.get('head');
        const perPage = Number(query.get('per_page') ?? 30);
        const page = Number(query.get('page') ?? 1);
        const now = Date.now();
        let list = pulls.filter((pull) => pull.visibleAt <= now && (state === 'all' || pull.state === state));
        // `head` is `user:ref-name`, the owner of the repository the branch lives in (GitHub's docs for pulls/list).
        if (head) list = list.filter((pull) => pull.headRepo !== null && `${pull.headRepo.split('/')[0]}:${pull.head}` === head);
        const base = query.get('base');
        if (base) list = list.filter((pull) => pull.base === base);
        list = [...list].sort((a, b) => (query.get('direction') === 'asc' ? a.number - b.number : b.number - a.number));
        return [200, list.slice((page - 1) * perPage, page * perPage).map((pull) => pullObject(pull, 'pull-request-simple'))];
      }
      case 'POST /repos/{owner}/{repo}/pulls': {
        const head = String(body!.head).replace(`${owner}:`, '');
        const base = String(body!.base);
        if (options.branchExists && !(await options.branchExists(head))) return validationFailed('head invalid', 'head');
        // No await between this check and the insert: like GitHub, two concurrent creates for one head and base
        // give one PR and one 422, whatever the interleaving.
        if (pulls.some((pull) => pull.headRepo === thisRepo && pull.head === head && pull.base === base && pull.state === 'open'))
          return validationFailed(`A pull request already exists for ${owner}:${head}.`, 'head');
        const pull: FakePull = {
          number: nextNumber++,
          head,
          base,
          title: String(body!.title),
          body: String(body!.body ?? ''),
          state: 'open',
          merged: false,
          labels: [],
          comments: [],
          createdAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          author: login,
          headRepo: thisRepo,
          visibleAt: Date.now() + (options.listVisibilityDelayMs ?? 0),
        };
        pulls.push(pull);
        return [201, pullObject(pull, 'pull-request')];
      }
      case 'PATCH /repos/{owner}/{repo}/pulls/{pull_number}': {
        const pull = find();
        if (!pull) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }];
        if (typeof body!.title === 'string') pull.title = body!.title;
        if (typeof body!.body === 'string') pull.body = body!.body;
        if (body!.state === 'closed' || body!.state === 'open') pull.state = body!.state;
        return [200, pullObject(pull, 'pull-request')];
      }
      case 'POST /repos/{owner}/{repo}/issues/{issue_number}/labels': {
        const pull = find();
        if (!pull) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }];
        const labels = (Array.isArray(body) ? body : (body!.labels as Json[])) as string[];
        for (const label of labels) if (!pull.labels.includes(label)) pull.labels.push(label);
        return [200, pull.labels.map(labelObject)];
      }
      case 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': {
        const pull = find();
        if (!pull) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }];
        pull.comments.push(String(body!.body));
        const comment = spec.sample({ $ref: '#/components/schemas/issue-comment' }) as Record<string, Json>;
        return [
          201,
          {
            ...comment,
            id: nextId++,
            body: String(body!.body),
            html_url: `https://github.example.invalid/${owner}/${repo}/pull/${pull.number}#c`,
            issue_url: `${url}/repos/${owner}/${repo}/issues/${pull.number}`,
          },
        ];
      }
      case 'GET /user': {
        // An installation token is not a user; GitHub answers 403 "Resource not accessible by integration".
        if (options.tokenKind === 'installation')
          return [
            403,
            {
              message: 'Resource not accessible by integration',
              documentation_url: 'https://docs.github.com/rest/users/users#get-the-authenticated-user',
              status: '403',
            },
          ];
        const user = spec.sample({ $ref: '#/components/schemas/private-user' }) as Record<string, Json>;
        return [200, { ...user, ...(userObject(login) as Record<string, Json>), user_view_type: 'private' }];
      }
      default:
        return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }];
    }
  }

  function validateRequest(
    route: Route,
    operation: Operation,
    params: Record<string, string>,
    query: URLSearchParams,
    rawBody: string,
  ): { body: Record<string, Json> | null; problems: string[] } {
    const problems: string[] = [];
    for (const parameter of (operation.parameters ?? []).map((p) => spec.resolve<Parameter>(p))) {
      const raw = parameter.in === 'path' ? params[parameter.name] : parameter.in === 'query' ? query.get(parameter.name) : undefined;
      if (parameter.in === 'header') continue;
      if (raw === undefined || raw === null) {
        if (parameter.required) problems.push(`missing ${parameter.in} parameter ${parameter.name}`);
        continue;
      }
      const type = parameter.schema.type;
      const value = type === 'integer' || type === 'number' ? Number(raw) : type === 'boolean' ? raw === 'true' : decodeURIComponent(raw);
      const problem = spec.check(`${operation.operationId}.${parameter.name}`, parameter.schema, value);
      if (problem) problems.push(problem);
    }
    const known = new Set(
      (operation.parameters ?? [])
        .map((p) => spec.resolve<Parameter>(p))
        .filter((p) => p.in === 'query')
        .map((p) => p.name),
    );
    for (const name of query.keys()) if (!known.has(name)) problems.push(`unknown query parameter ${name}`);
    let body: Record<string, Json> | null = null;
    if (operation.requestBody) {
      const schema = operation.requestBody.content['application/json']?.schema;
      try {
        body = rawBody ? (JSON.parse(rawBody) as Record<string, Json>) : null;
      } catch {
        problems.push('request body is not JSON');
      }
      if (body === null && operation.requestBody.required) problems.push('request body is required');
      if (body !== null && schema) {
        const problem = spec.check(`${operation.operationId}.requestBody`, schema, body);
        if (problem) problems.push(problem);
      }
    }
    return { body, problems };
  }

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      const requestUrl = new URL(request.url ?? '/', 'http://127.0.0.1');
      const method = request.method ?? 'GET';
      const rawBody = await readBody(request);
      const send = (status: number, payload: Json, headers: Record<string, string> = {}) => {
        calls.push({ method, path: requestUrl.pathname, status });
        // A 304 has no body (RFC 9110) and GitHub sends no content-type with it.
        if (status === 304) {
          response.writeHead(status, { ...rateHeaders(), ...headers }).end();
          return;
        }
        response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...rateHeaders(), ...headers });
        response.end(payload === null ? '' : JSON.stringify(payload));
      };
      if (!/^(token|Bearer) \S+$/.test(request.headers.authorization ?? '')) {
        send(401, { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest' });
        return;
      }
      const route = routes.find((candidate) => candidate.method === method && candidate.regex.test(requestUrl.pathname));
      if (!route) {
        violations.push(`${method} ${requestUrl.pathname} is not an operation of the vendored GitHub API subset`);
        send(500, { message: 'fake: unknown operation' });
        return;
      }
      const match = route.regex.exec(requestUrl.pathname)!;
      const params = Object.fromEntries(route.names.map((name, index) => [name, match[index + 1]!]));
      const operation = spec.spec.paths[route.template]![route.method.toLowerCase()]!;
      if (route.names.includes('owner') && (params.owner !== owner || params.repo !== repo)) {
        send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
        return;
      }
      const { body, problems } = validateRequest(route, operation, params, requestUrl.searchParams, rawBody);
      if (problems.length > 0) {
        violations.push(...problems.map((problem) => `${method} ${requestUrl.pathname} request: ${problem}`));
        send(500, { message: `fake: request does not match GitHub's OpenAPI description: ${problems.join('; ')}` });
        return;
      }
      const faultIndex = faults.findIndex((fault) => fault.method === method && fault.path.test(requestUrl.pathname));
      let status: number;
      let payload: Json;
      let headers: Record<string, string> = {};
      if (faultIndex >= 0) {
        const fault = faults[faultIndex]!;
        if (--fault.times <= 0) faults.splice(faultIndex, 1);
        status = fault.status;
        payload = fault.body ?? { message: `fault ${fault.status}`, documentation_url: 'https://docs.github.com/rest' };
        headers = fault.headers ?? {};
      } else {
        [status, payload] = await handle(route, params, requestUrl.searchParams, body);
        // Conditional requests as GitHub documents them: every 200 GET carries an ETag of its content, and a request
        // whose If-None-Match names it gets 304 Not Modified (with no body), where the operation declares one.
        if (method === 'GET' && status === 200) {
          const etag = `W/"${createHash('sha256').update(JSON.stringify(payload)).digest('hex')}"`;
          headers = { ...headers, etag };
          const ifNoneMatch = request.headers['if-none-match'];
          const matches = typeof ifNoneMatch === 'string' && ifNoneMatch.split(',').some((value) => value.trim() === etag || value.trim() === '*');
          if (matches && operation.responses['304']) {
            status = 304;
            payload = null;
          }
        }
      }
      const declared = operation.responses[String(status)];
      if (status === 304 && declared) {
        send(status, null, headers);
        return;
      }
      if (!declared) {
        violations.push(`${method} ${route.template} answered ${status}, which GitHub's description does not declare for ${operation.operationId}`);
      } else {
        const schema = spec.resolve<{ content?: Record<string, { schema: Schema }> }>(declared as { $ref: string }).content?.['application/json']?.schema;
        const problem = schema ? spec.check(`${operation.operationId}.${status}`, schema, payload) : null;
        if (problem) violations.push(`${method} ${route.template} response ${status}: ${problem}`);
      }
      send(status, payload, headers);
    })().catch((error: unknown) => {
      violations.push(`fake crashed: ${(error as Error).message}`);
      response.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const byNumber = (number: number) => {
    const pull = pulls.find((candidate) => candidate.number === number);
    if (!pull) throw new Error(`no PR #${number}`);
    return pull;
  };

  return {
    url,
    owner,
    repo,
    pulls,
    calls,
    violations,
    writeCount: () => calls.filter((call) => call.method !== 'GET' && call.method !== 'HEAD').length,
    countsByKind: () => ({
      reads: calls.filter((call) => call.method === 'GET' || call.method === 'HEAD').length,
      writes: calls.filter((call) => call.method !== 'GET' && call.method !== 'HEAD').length,
      notModified: calls.filter((call) => call.status === 304).length,
    }),
    injectFault: (fault) => faults.push({ ...fault }),
    merge: (number) => Object.assign(byNumber(number), { state: 'closed', merged: true }),
    close: (number) => Object.assign(byNumber(number), { state: 'closed', merged: false }),
    label: (number, label) => void byNumber(number).labels.push(label),
    openPull: (pull) => {
      const number = nextNumber++;
      const createdAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      pulls.push({
        number,
        head: pull.head,
        base: pull.base ?? 'main',
        title: pull.title,
        body: pull.body,
        state: pull.state ?? 'open',
        merged: pull.merged ?? false,
        labels: [...(pull.labels ?? [])],
        comments: [],
        createdAt,
        author: pull.author ?? 'someone-else',
        headRepo: pull.headRepo === undefined ? thisRepo : pull.headRepo,
        visibleAt: 0,
      });
      return number;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
