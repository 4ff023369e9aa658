/**
 * A local stand-in for the slice of GitHub's REST API the bot uses (who the token is, pulls list/create/update, issue
 * labels and comments), bound to 127.0.0.1 on a free port. Every request and every response is validated against GitHub's
 * published OpenAPI description (openapi/github-subset.json, extracted by scripts/extract-github-openapi.ts); a shape
 * mismatch is recorded in `violations` and answered with a 500 so the test fails loudly.
 */
import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { pathTemplateRegex } from './openapi-path.ts';
import { executeGraphql } from './github-fake-graphql.ts';

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
  // OpenAPI 3.0's `nullable` beside oneOf/anyOf (no `type`), which Ajv refuses: the same meaning in JSON Schema.
  const { nullable, ...rest } = node as Record<string, unknown>;
  if (nullable === true && !('type' in rest)) return { anyOf: [rewriteRefs(rest), { type: 'null' }] };
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

/** A sample of a schema that is nullable as a whole (GitHub's `integration`), as the object it is when present. */
function sampleObject(spec: SpecValidator, ref: string): Record<string, Json> {
  return spec.sample({ ...spec.resolve<Schema>({ $ref: ref }), nullable: false }) as Record<string, Json>;
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

/** An issue (the bot's dashboard, or one a human opened); numbered with the PRs, as on GitHub. */
export interface FakeIssue {
  number: number;
  title: string;
  body: string;
  author: string;
  state: 'open' | 'closed';
  createdAt: string;
  updatedAt: string;
  /** Every edit of the body after creation, oldest first: who, when, and the body it left (GraphQL `userContentEdits`). */
  edits: Array<{ editor: string; editedAt: string; body: string }>;
}

/** A GitHub App whose JWTs the fake verifies (RS256 with `publicKey`, `iss` = `id`, `exp` at most 10 minutes ahead). */
export interface FakeApp {
  id: number;
  slug: string;
  /** PEM or KeyObject of the App's public key; the matching private key stays with the test. */
  publicKey: string | KeyObject;
  /** The installation on this repository (default 1); null: the App is not installed here (404). */
  installationId?: number | null;
  /** Makes the installation tokens (default: `ghs_` + random), e.g. for a git server that must know the token. */
  issueToken?: () => string;
}

export type FakeRole = 'admin' | 'maintain' | 'write' | 'triage' | 'read';

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
  readonly issues: FakeIssue[];
  /** Installation tokens the fake issued (to check that one run asks for one). */
  readonly installationTokens: string[];
  /** An issue opened by someone on github.com (default author `someone-else`). Returns its number. */
  openIssue(issue: { title: string; body: string; author?: string }): number;
  /** Someone edits an issue's body on github.com (ticking a checkbox is such an edit). */
  editIssueBody(number: number, body: string, editor: string): void;
  /** Sets a user's role on the repository (`GET …/collaborators/{username}/permission`); others read, as on a public repository. */
  setRole(login: string, role: FakeRole): void;
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
  /**
   * A GitHub App: `/app` routes then need its JWT, and only the installation tokens the fake issued (for which GitHub
   * refuses `GET /user`) act on the repository, as `<slug>[bot]`; any other token is refused (401 Bad credentials).
   */
  app?: FakeApp;
  /** Repository roles by login (see `setRole`). */
  roles?: Record<string, FakeRole>;
  /** The clock issue timestamps come from (GitHub's are whole seconds, so edits in one second tie); default: now. */
  clock?: () => Date;
}

/** Who a request acts as: a user, an installation (an App's bot user), or the App itself (a JWT). */
interface Caller {
  login: string;
  installation: boolean;
  app: boolean;
}

/** Routes that take the App's JWT and nothing else (GitHub's docs: "You must use a JWT to access this endpoint"). */
const JWT_ROUTES = new Set(['GET /app', 'GET /repos/{owner}/{repo}/installation', 'POST /app/installations/{installation_id}/access_tokens']);

/**
 * Verifies an App JWT as GitHub documents it: RS256 signed by the App's key, `iss` the App's id, `iat` in the past
 * (60 s of clock drift allowed), `exp` in the future and no more than 10 minutes ahead. Returns the refusal, or null.
 */
export function verifyAppJwt(jwt: string, app: { id: number }, publicKey: KeyObject, nowSeconds = Math.floor(Date.now() / 1000)): string | null {
  const parts = jwt.split('.');
  if (parts.length !== 3) return 'A JSON web token could not be decoded';
  let header: { alg?: unknown };
  let claims: { iss?: unknown; iat?: unknown; exp?: unknown };
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as typeof header;
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    return 'A JSON web token could not be decoded';
  }
  if (header.alg !== 'RS256') return "The JWT's algorithm must be RS256";
  if (!verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2]!, 'base64url')))
    return "A JSON web token could not be decoded (the signature does not match the App's public key)";
  if (String(claims.iss) !== String(app.id)) return "'Issuer' claim ('iss') must be the App's id";
  if (typeof claims.iat !== 'number' || !Number.isInteger(claims.iat) || claims.iat > nowSeconds + 60)
    return "'Issued at' claim ('iat') must be an Integer representing a time in the past";
  if (typeof claims.exp !== 'number' || !Number.isInteger(claims.exp) || claims.exp <= nowSeconds)
    return "'Expiration time' claim ('exp') must be in the future (the JWT has expired)";
  if (claims.exp > nowSeconds + 600) return "'Expiration time' claim ('exp') is too far in the future (at most 10 minutes)";
  return null;
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
  const issues: FakeIssue[] = [];
  const installationTokens: string[] = [];
  const tokenExpiry = new Map<string, number>();
  const roles = new Map<string, FakeRole>(Object.entries(options.roles ?? {}).map(([name, role]) => [name.toLowerCase(), role]));
  const appKey = options.app ? (typeof options.app.publicKey === 'string' ? createPublicKey(options.app.publicKey) : options.app.publicKey) : null;
  const appInstallation = options.app ? (options.app.installationId === undefined ? 1 : options.app.installationId) : null;
  const timestamp = () => (options.clock?.() ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z');

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

  const issueObject = (issue: FakeIssue): Json => {
    const base = spec.sample({ $ref: '#/components/schemas/issue' }) as Record<string, Json>;
    const api = `${url}/repos/${owner}/${repo}/issues/${issue.number}`;
    return {
      ...base,
      id: nextId + issue.number,
      node_id: `I_${issue.number}`,
      url: api,
      repository_url: `${url}/repos/${owner}/${repo}`,
      labels_url: `${api}/labels{/name}`,
      comments_url: `${api}/comments`,
      events_url: `${api}/events`,
      html_url: `https://github.example.invalid/${owner}/${repo}/issues/${issue.number}`,
      number: issue.number,
      state: issue.state,
      title: issue.title,
      body: issue.body,
      user: userObject(issue.author),
      labels: [],
      assignee: null,
      milestone: null,
      locked: false,
      comments: 0,
      closed_at: null,
      created_at: issue.createdAt,
      updated_at: issue.updatedAt,
    };
  };

  const recordEdit = (issue: FakeIssue, body: string, editor: string) => {
    const now = timestamp();
    // GitHub keeps the original as the first revision once content is first edited.
    if (issue.edits.length === 0) issue.edits.push({ editor: issue.author, editedAt: issue.createdAt, body: issue.body });
    issue.edits.push({ editor, editedAt: now, body });
    issue.body = body;
    issue.updatedAt = now;
  };

  /** The caller behind an Authorization header, or why GitHub would refuse it. */
  const authenticate = (authorization: string): Caller | string => {
    const match = /^(token|bearer) (\S+)$/i.exec(authorization);
    if (!match) return 'Requires authentication';
    const credential = match[2]!;
    if (!options.app) return { login, installation: options.tokenKind === 'installation', app: false };
    const bot = `${options.app.slug}[bot]`;
    if (credential.split('.').length === 3) {
      const refusal = verifyAppJwt(credential, options.app, appKey!);
      return refusal ?? { login: bot, installation: false, app: true };
    }
    const expiry = tokenExpiry.get(credential);
    if (expiry === undefined || expiry <= Date.now()) return 'Bad credentials';
    return { login: bot, installation: true, app: false };
  };

  /** A strong validator over what the issue's representation depends on, for conditional GETs. */
  const issueEtag = (issue: FakeIssue): string =>
    `"${createHash('sha256')
      .update(JSON.stringify([issue.title, issue.body, issue.state, issue.updatedAt, issue.edits.length]))
      .digest('hex')}"`;

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

  async function handle(
    route: Route,
    params: Record<string, string>,
    query: URLSearchParams,
    body: Record<string, Json> | null,
    who: Caller,
    headers: IncomingMessage['headers'] = {},
  ): Promise<[number, Json, Record<string, string>?]> {
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
          author: who.login,
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
        if (who.installation)
          return [
            403,
            {
              message: 'Resource not accessible by integration',
              documentation_url: 'https://docs.github.com/rest/users/users#get-the-authenticated-user',
              status: '403',
            },
          ];
        const user = spec.sample({ $ref: '#/components/schemas/private-user' }) as Record<string, Json>;
        return [200, { ...user, ...(userObject(who.login) as Record<string, Json>), user_view_type: 'private' }];
      }
      case 'GET /app': {
        const app = options.app!;
        const integration = sampleObject(spec, '#/components/schemas/integration');
        return [
          200,
          { ...integration, id: app.id, slug: app.slug, name: app.slug, html_url: `https://github.example.invalid/apps/${app.slug}`, owner: userObject(owner) },
        ];
      }
      case 'GET /repos/{owner}/{repo}/installation': {
        if (appInstallation === null)
          return [
            404,
            { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app' },
          ];
        const installation = spec.sample({ $ref: '#/components/schemas/installation' }) as Record<string, Json>;
        return [
          200,
          {
            ...installation,
            id: appInstallation,
            app_id: options.app!.id,
            app_slug: options.app!.slug,
            account: userObject(owner),
            access_tokens_url: `${url}/app/installations/${appInstallation}/access_tokens`,
            html_url: `https://github.example.invalid/organizations/${owner}/settings/installations/${appInstallation}`,
            repositories_url: `${url}/installation/repositories`,
          },
        ];
      }
      case 'POST /app/installations/{installation_id}/access_tokens': {
        if (appInstallation === null || Number(params.installation_id) !== appInstallation)
          return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app' }];
        // Installation tokens are `ghs_` + random, valid for one hour (GitHub's docs for this endpoint).
        const token = options.app!.issueToken?.() ?? `ghs_${randomBytes(27).toString('base64url')}`;
        installationTokens.push(token);
        tokenExpiry.set(token, Date.now() + 3_600_000);
        return [
          201,
          {
            token,
            expires_at: new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
            permissions: { contents: 'write', pull_requests: 'write', issues: 'write' },
            repository_selection: 'selected',
          },
        ];
      }
      case 'GET /repos/{owner}/{repo}/issues': {
        const state = query.get('state') ?? 'open';
        const creator = query.get('creator');
        const perPage = Number(query.get('per_page') ?? 30);
        const page = Number(query.get('page') ?? 1);
        // GitHub lists PRs among issues (with a `pull_request` key); only the issues are modelled here.
        let list = issues.filter((issue) => state === 'all' || issue.state === state);
        if (creator) list = list.filter((issue) => issue.author.toLowerCase() === creator.toLowerCase());
        list = [...list].sort((a, b) => (query.get('direction') === 'asc' ? a.number - b.number : b.number - a.number));
        return [200, list.slice((page - 1) * perPage, page * perPage).map(issueObject)];
      }
      case 'POST /repos/{owner}/{repo}/issues': {
        const now = timestamp();
        const issue: FakeIssue = {
          number: nextNumber++,
          title: String(body!.title),
          body: String(body!.body ?? ''),
          author: who.login,
          state: 'open',
          createdAt: now,
          updatedAt: now,
          edits: [],
        };
        issues.push(issue);
        return [201, issueObject(issue)];
      }
      case 'GET /repos/{owner}/{repo}/issues/{issue_number}': {
        const issue = issues.find((candidate) => candidate.number === number);
        if (!issue) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }];
        const etag = issueEtag(issue);
        if (headers['if-none-match'] === etag) return [304, null, { etag }];
        return [200, issueObject(issue), { etag }];
      }
      case 'PATCH /repos/{owner}/{repo}/issues/{issue_number}': {
        const issue = issues.find((candidate) => candidate.number === number);
        if (!issue) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }];
        if (typeof body!.title === 'string') issue.title = body!.title;
        if (body!.state === 'closed' || body!.state === 'open') issue.state = body!.state;
        if (typeof body!.body === 'string' && body!.body !== issue.body) recordEdit(issue, body!.body, who.login);
        issue.updatedAt = timestamp();
        return [200, issueObject(issue)];
      }
      case 'GET /repos/{owner}/{repo}/collaborators/{username}/permission': {
        const username = decodeURIComponent(params.username!);
        const role = roles.get(username.toLowerCase()) ?? 'read';
        // `permission` is the legacy name: maintain reads as write, triage as read (GitHub's docs for this endpoint).
        const permission = role === 'maintain' ? 'write' : role === 'triage' ? 'read' : role;
        const collaborator = sampleObject(spec, '#/components/schemas/nullable-collaborator');
        return [
          200,
          {
            permission,
            role_name: role,
            user: {
              ...collaborator,
              ...(userObject(username) as Record<string, Json>),
              permissions: {
                admin: role === 'admin',
                maintain: role === 'admin' || role === 'maintain',
                push: role !== 'read' && role !== 'triage',
                triage: role !== 'read',
                pull: true,
              },
              role_name: role,
            },
          },
        ];
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
      const who = authenticate(request.headers.authorization ?? '');
      if (typeof who === 'string') {
        send(401, { message: who, documentation_url: 'https://docs.github.com/rest' });
        return;
      }
      if (method === 'POST' && requestUrl.pathname === '/graphql') {
        // GraphQL is not in the REST description: the query is checked against GitHub's GraphQL schema instead.
        const result = await executeGraphql(rawBody, { who: who.login, owner, repo, issues, violations });
        send(200, result as Json);
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
      const jwtRoute = JWT_ROUTES.has(`${route.method} ${route.template}`);
      if (jwtRoute && (!options.app || !who.app)) {
        send(401, { message: 'A JSON web token could not be decoded', documentation_url: 'https://docs.github.com/rest' });
        return;
      }
      if (!jwtRoute && who.app) {
        // A JWT only acts as the App itself; the repository needs an installation token.
        send(403, { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' });
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
        let extra: Record<string, string> | undefined;
        [status, payload, extra] = await handle(route, params, requestUrl.searchParams, body, who, request.headers);
        headers = extra ?? {};
        // Conditional requests as GitHub documents them: every 200 GET carries an ETag of its content, and a request
        // whose If-None-Match names it gets 304 Not Modified (with no body), where the operation declares one.
        if (method === 'GET' && status === 200 && !headers.etag) {
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
    // GraphQL is POSTed but the fake answers queries only (it has no mutations): reads.
    writeCount: () => calls.filter((call) => call.method !== 'GET' && call.method !== 'HEAD' && call.path !== '/graphql').length,
    countsByKind: () => ({
      reads: calls.filter((call) => call.method === 'GET' || call.method === 'HEAD' || call.path === '/graphql').length,
      writes: calls.filter((call) => call.method !== 'GET' && call.method !== 'HEAD' && call.path !== '/graphql').length,
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
    issues,
    installationTokens,
    openIssue: (issue) => {
      const now = timestamp();
      const number = nextNumber++;
      issues.push({
        number,
        title: issue.title,
        body: issue.body,
        author: issue.author ?? 'someone-else',
        state: 'open',
        createdAt: now,
        updatedAt: now,
        edits: [],
      });
      return number;
    },
    editIssueBody: (number, body, editor) => {
      const issue = issues.find((candidate) => candidate.number === number);
      if (!issue) throw new Error(`no issue #${number}`);
      recordEdit(issue, body, editor);
    },
    setRole: (name, role) => void roles.set(name.toLowerCase(), role),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
