import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import type { DiskCache } from '../../cache/disk-cache.ts';
import { ExistingPullRequestError, ForgeError, RateLimitError } from '../../errors.ts';
import { countingFetch } from '../http/counting-fetch.ts';
import type { BotPullRequests, Forge, ForgeCapabilities, ForgeStats, IgnoredPullRequest, PullRequestDraft, PullRequestRecord } from './types.ts';
import { DASHBOARD_MARKER, withDashboardMarker, type DashboardEditors, type DashboardForge, type DashboardIssue, type RepositoryRole } from './types.ts';

const ThrottledOctokit = Octokit.plugin(throttling, retry);

export interface GitHubForgeOptions {
  token: string;
  owner: string;
  repo: string;
  /** `GITHUB_API_URL` for GitHub Enterprise Server; defaults to https://api.github.com. */
  baseUrl?: string;
  /** Retries after a primary or secondary rate limit before giving up. */
  rateLimitRetries?: number;
  /** Scale of Retry-After waits in ms per second (1000 in production; tests shrink it). */
  retryAfterBaseValue?: number;
  /** Pages of 100 PRs read when listing (newest first); older bot PRs do not matter. */
  maxListPages?: number;
  log?: (line: string) => void;
  /** 0 removes the plugin's spacing of writes (1 s) and notifying writes (3 s); only for local fakes. */
  minWriteIntervalMs?: number;
  /** The login whose PRs are the bot's (`forge.botLogin`); without it the token's identity is asked from GitHub. */
  botLogin?: string;
  /** Running in GitHub Actions (`GITHUB_ACTIONS=true`): an installation token there is the workflow's GITHUB_TOKEN. */
  inActions?: boolean;
  /** Waits (ms) before re-listing when GitHub says a PR exists but does not list it yet (lists lag behind writes). */
  adoptRetryDelaysMs?: number[];
  /** Keeps the PR list and its ETag between runs, so an unchanged list is asked conditionally (a 304 costs no rate limit). */
  cache?: DiskCache | null;
  /** The transport under the counting wrapper (tests). */
  fetch?: typeof fetch;
}

/** Requests by kind, counted where they leave the process (retries and throttled repeats included). */
export interface GitHubStats extends ForgeStats {
  /** 304 answers to conditional reads (also counted in `reads`); GitHub does not charge them to the rate limit. */
  notModified: number;
}

/** Author of PRs opened with Actions' GITHUB_TOKEN, an installation token of the GitHub Actions app. */
export const ACTIONS_BOT_LOGIN = 'github-actions[bot]';

interface OctokitLikeError {
  status?: number;
  message: string;
  response?: { headers?: Record<string, string | undefined>; data?: unknown };
}

/** Settings from the GitHub Actions environment, overridden by nothing: the token is never read from config. */
export function githubSettingsFromEnv(env: NodeJS.ProcessEnv): { token?: string; owner?: string; repo?: string; baseUrl?: string; inActions: boolean } {
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  return {
    token: env.GITHUB_TOKEN || undefined,
    owner: owner || undefined,
    repo: repo || undefined,
    baseUrl: env.GITHUB_API_URL || undefined,
    inActions: env.GITHUB_ACTIONS === 'true',
  };
}

/** Stands in for the plugin's Bottleneck write group when no spacing is wanted (tests against a local fake). */
const immediateLimiterGroup = { key: () => ({ schedule: (_options: unknown, job: () => Promise<unknown>) => job() }) };

/** An Octokit with throttling and retry, in the way changesets/action builds one. */
export function createThrottledOctokit(options: GitHubForgeOptions, stats?: GitHubStats): InstanceType<typeof ThrottledOctokit> {
  const retries = options.rateLimitRetries ?? 2;
  const log = options.log ?? (() => {});
  const transport = options.fetch ?? fetch;
  return new ThrottledOctokit({
    auth: options.token,
    request: {
      fetch: stats
        ? countingFetch(transport, {
            request: ({ method, url }) => {
              // The bot's only GraphQL request is a query (the dashboard's edit history): a read, though it is a POST.
              if (method === 'GET' || method === 'HEAD' || url.pathname.endsWith('/graphql')) stats.reads++;
              else stats.writes++;
            },
            response: (_request, status) => {
              if (status === 304) stats.notModified++;
            },
          })
        : transport,
    },
    baseUrl: options.baseUrl ?? 'https://api.github.com',
    userAgent: 'dbos-gitops-bot',
    log: {
      debug: () => {},
      info: () => {},
      warn: (message: string) => log(`github: ${message}`),
      // Octokit's request log reports a 304 as an error; for a conditional read it is the good outcome.
      error: (message: string) => {
        if (!/ - 304 with id /.test(message)) log(`github: ${message}`);
      },
    },
    throttle: {
      // The plugin types want a Bottleneck Group; it only calls key().schedule(), which the stand-in provides.
      // Production keeps the plugin's spacing: 1 s between writes, 3 s between writes that notify (PRs, comments).
      ...(options.minWriteIntervalMs === 0 ? { write: immediateLimiterGroup as never, notifications: immediateLimiterGroup as never } : {}),
      retryAfterBaseValue: options.retryAfterBaseValue ?? 1000,
      onRateLimit: (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
        log(`github: rate limit on ${request.method} ${request.url}, retry ${retryCount + 1}/${retries} in ${retryAfter}s`);
        return retryCount < retries;
      },
      onSecondaryRateLimit: (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
        log(`github: secondary rate limit on ${request.method} ${request.url}, retry ${retryCount + 1}/${retries} in ${retryAfter}s`);
        return retryCount < retries;
      },
    },
    retry: { retries: 2, doNotRetry: [400, 401, 403, 404, 410, 422, 451] },
  });
}

function translate(error: unknown, what: string): Error {
  const e = error as OctokitLikeError;
  const status = e.status;
  const headers = e.response?.headers ?? {};
  if (status === 403 || status === 429) {
    if (/secondary rate/i.test(e.message) || headers['x-ratelimit-remaining'] === '0' || status === 429) {
      const after = Number(headers['retry-after'] ?? NaN);
      return new RateLimitError(`GitHub rate limit while trying to ${what}`, Number.isFinite(after) ? after : undefined);
    }
    return new ForgeError(
      `GitHub refused to ${what} (403): ${e.message}`,
      status,
      'give the token `contents: write` and `pull-requests: write` (see .github/workflows/gitops-bot.yaml), or check branch protection',
    );
  }
  if (status === 401) return new ForgeError(`GitHub rejected the token while trying to ${what} (401)`, status, 'set GITHUB_TOKEN to a valid token');
  if (status === 404)
    return new ForgeError(
      `GitHub says the repository or PR does not exist while trying to ${what} (404)`,
      status,
      'check forge.owner/forge.repo in .github/gitops-bot.yaml or GITHUB_REPOSITORY, and that the token can see the repository',
    );
  if (status === 422) {
    const data = e.response?.data as { errors?: Array<{ message?: string; code?: string; field?: string }> } | undefined;
    const detail = (data?.errors ?? []).map((item) => item.message ?? `${item.field ?? ''} ${item.code ?? ''}`.trim()).join('; ');
    return new ForgeError(
      `GitHub rejected the request to ${what} (422 Validation Failed${detail ? `: ${detail}` : ''})`,
      status,
      'check that the base branch exists and the branch was pushed; run again after fixing',
    );
  }
  if (status && status >= 500)
    return new ForgeError(`GitHub failed while trying to ${what} (${status})`, status, 'GitHub is having trouble; the next scheduled run will retry');
  return new ForgeError(`cannot ${what}: ${e.message}`, status, 'check network access to the GitHub API (GITHUB_API_URL for Enterprise Server)');
}

interface PullLike {
  number: number;
  head: { ref: string; repo?: { full_name?: string } | null };
  user?: { login?: string } | null;
  title: string;
  body?: string | null;
  state: string;
  merged_at?: string | null;
  labels: Array<{ name?: string } | string>;
  created_at: string;
  html_url: string;
}

function toRecord(pr: PullLike): PullRequestRecord {
  return {
    number: pr.number,
    branch: pr.head.ref,
    title: pr.title,
    body: pr.body ?? '',
    state: pr.state === 'open' ? 'open' : 'closed',
    merged: Boolean(pr.merged_at),
    labels: pr.labels.map((label) => (typeof label === 'string' ? label : (label.name ?? ''))).filter(Boolean),
    createdAt: pr.created_at,
    url: pr.html_url,
    author: pr.user?.login ?? '',
  };
}

const sameLogin = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** What the cache keeps of a listed PR: the fields the bot reads, nothing else. */
function slim(pr: PullLike): PullLike {
  return {
    number: pr.number,
    head: { ref: pr.head.ref, repo: pr.head.repo ? { full_name: pr.head.repo.full_name } : null },
    user: pr.user ? { login: pr.user.login } : null,
    title: pr.title,
    body: pr.body ?? null,
    state: pr.state,
    merged_at: pr.merged_at ?? null,
    labels: pr.labels.map((label) => (typeof label === 'string' ? label : { name: label.name })),
    created_at: pr.created_at,
    html_url: pr.html_url,
  };
}

interface PullsPage {
  etag: string;
  pulls: PullLike[];
}

const optionalString = (value: unknown) => value === undefined || value === null || typeof value === 'string';

/** A cached page is read back as untrusted as GitHub's answer: every field the bot uses is checked. */
function isPullsPage(value: unknown): value is PullsPage {
  if (!value || typeof value !== 'object') return false;
  const page = value as Partial<PullsPage>;
  return (
    typeof page.etag === 'string' &&
    page.etag.length <= 256 &&
    Array.isArray(page.pulls) &&
    page.pulls.every(
      (pr) =>
        !!pr &&
        Number.isInteger(pr.number) &&
        typeof pr.head?.ref === 'string' &&
        (pr.head.repo === null || optionalString(pr.head.repo?.full_name)) &&
        (pr.user === null || optionalString(pr.user?.login)) &&
        typeof pr.title === 'string' &&
        optionalString(pr.body) &&
        typeof pr.state === 'string' &&
        optionalString(pr.merged_at) &&
        Array.isArray(pr.labels) &&
        pr.labels.every((label) => typeof label === 'string' || (!!label && optionalString(label.name))) &&
        typeof pr.created_at === 'string' &&
        typeof pr.html_url === 'string',
    )
  );
}

export class GitHubForge implements Forge {
  readonly stats: GitHubStats = { reads: 0, writes: 0, notModified: 0 };
  readonly describe: string;
  readonly capabilities: ForgeCapabilities = { labels: true, pullRequestBodies: true };
  private readonly octokit: ReturnType<typeof createThrottledOctokit>;
  private login: Promise<string> | null = null;

  constructor(private readonly options: GitHubForgeOptions) {
    this.octokit = createThrottledOctokit(options, this.stats);
    this.describe = `GitHub ${options.owner}/${options.repo}${options.baseUrl ? ` at ${options.baseUrl}` : ''}`;
  }

  private get repoParams() {
    return { owner: this.options.owner, repo: this.options.repo };
  }

  private get fullName(): string {
    return `${this.options.owner}/${this.options.repo}`;
  }

  /**
   * Whose PRs are the bot's. `forge.botLogin` wins; else GitHub says who the token is. An installation token cannot
   * ask (`GET /user` is refused); in Actions that token is the workflow's GITHUB_TOKEN, whose PRs GitHub authors as
   * github-actions[bot]. Anywhere else the identity is unknown, and guessing would trust the wrong PRs: error.
   */
  identity(): Promise<string> {
    this.login ??= (async () => {
      if (this.options.botLogin) return this.options.botLogin;
      try {
        const { data } = await this.octokit.rest.users.getAuthenticated();
        if (typeof data.login !== 'string' || data.login === '')
          throw new ForgeError(
            'GitHub answered GET /user without a login',
            200,
            "set forge.botLogin in .github/gitops-bot.yaml to the login that opens the bot's PRs",
          );
        return data.login;
      } catch (error) {
        if (error instanceof ForgeError) throw error;
        const status = (error as OctokitLikeError).status;
        if (status === 403 && this.options.inActions) {
          this.options.log?.(
            `github: the token is an installation token (GET /user refused); in GitHub Actions that is GITHUB_TOKEN, so the bot's PRs are those by ${ACTIONS_BOT_LOGIN} (set forge.botLogin for a GitHub App token)`,
          );
          return ACTIONS_BOT_LOGIN;
        }
        if (status === 403) {
          throw new ForgeError(
            "cannot tell which pull requests are the bot's: GitHub refused GET /user (403), as it does for GitHub App installation tokens",
            status,
            'set forge.botLogin in .github/gitops-bot.yaml to the login that opens the bot\'s PRs (a GitHub App: "<app-slug>[bot]"; Actions\' GITHUB_TOKEN: "github-actions[bot]")',
          );
        }
        throw translate(error, 'find out which user the token belongs to (GET /user)');
      }
    })();
    return this.login;
  }

  /** Own: opened by the bot's identity from a branch of this repository. A fork or another author can pick any branch name and marker. */
  private classify(pr: PullLike, login: string): IgnoredPullRequest | null {
    const author = pr.user?.login ?? '';
    const headRepo = pr.head.repo?.full_name ?? null;
    const sameRepository = headRepo !== null && sameLogin(headRepo, this.fullName);
    const reasons: string[] = [];
    if (!sameLogin(author, login)) reasons.push(`opened by ${author ? `@${author}` : 'an unknown user'}, not by the bot (@${login})`);
    if (!sameRepository) reasons.push(`its head branch is in ${headRepo ?? 'a deleted repository'}, not in ${this.fullName}`);
    if (reasons.length === 0) return null;
    return {
      number: pr.number,
      branch: pr.head.ref,
      state: pr.state === 'open' ? 'open' : 'closed',
      author,
      headRepo,
      sameRepository,
      url: pr.html_url,
      reason: reasons.join('; '),
    };
  }

  async listBotPullRequests(): Promise<BotPullRequests> {
    const login = await this.identity();
    const out: BotPullRequests = { own: [], ignored: [] };
    const pages = this.options.maxListPages ?? 3;
    try {
      for (let page = 1; page <= pages; page++) {
        const data = await this.listPage(page);
        for (const pr of data) {
          if (typeof pr.head?.ref !== 'string' || !pr.head.ref.startsWith('bot/')) continue;
          const ignored = this.classify(pr, login);
          if (ignored) out.ignored.push(ignored);
          else out.own.push(toRecord(pr));
        }
        if (data.length < 100) break;
      }
    } catch (error) {
      throw translate(error, 'list pull requests');
    }
    return out;
  }

  /**
   * One page of the PR list. With a cached page and its ETag the request is conditional: GitHub answers 304 when the
   * page is unchanged, and a 304 does not count against the rate limit; the cached page is used then.
   */
  private async listPage(page: number): Promise<PullLike[]> {
    const cache = this.options.cache ?? null;
    const key = `${this.options.baseUrl ?? 'https://api.github.com'}/repos/${this.fullName}/pulls?state=all&sort=created&direction=desc&per_page=100&page=${page}`;
    const cached = cache ? await cache.getEntry('github-pulls', key, isPullsPage) : null;
    try {
      const response = await this.octokit.rest.pulls.list({
        ...this.repoParams,
        state: 'all',
        sort: 'created',
        direction: 'desc',
        per_page: 100,
        page,
        ...(cached ? { headers: { 'if-none-match': cached.value.etag } } : {}),
      });
      const etag = response.headers.etag;
      if (cache && typeof etag === 'string' && etag.length <= 256) {
        await cache.putEntry('github-pulls', key, { etag, pulls: response.data.map(slim) } satisfies PullsPage, Date.now());
      }
      return response.data;
    } catch (error) {
      if ((error as OctokitLikeError).status === 304 && cached) return cached.value.pulls;
      throw error;
    }
  }

  /**
   * GitHub said a PR exists for the branch (a concurrent run opened it): find it. Lists lag behind writes, so a PR
   * created a moment ago may not be listed yet; wait and look again a bounded number of times.
   */
  private async findExisting(draft: PullRequestDraft, login: string): Promise<PullRequestRecord> {
    const delays = this.options.adoptRetryDelaysMs ?? [250, 500, 1000, 2000, 4000];
    for (let attempt = 0; ; attempt++) {
      const { data: open } = await this.octokit.rest.pulls
        .list({ ...this.repoParams, state: 'open', head: `${this.options.owner}:${draft.branch}`, base: draft.base, per_page: 10 })
        .catch((listError: unknown) => {
          throw translate(listError, `find the existing pull request for ${draft.branch}`);
        });
      const found = open.find((pr) => pr.head.ref === draft.branch);
      if (found) {
        const ignored = this.classify(found, login);
        if (ignored) {
          throw new ExistingPullRequestError(
            `${draft.branch} already has pull request #${found.number}, which the bot will not take over: ${ignored.reason}`,
            `review PR #${found.number}; close it (and delete its branch) if it is not wanted, then run again`,
          );
        }
        return toRecord(found);
      }
      if (attempt >= delays.length) {
        throw new ExistingPullRequestError(
          `GitHub says a pull request for ${draft.branch} already exists, but does not list it`,
          'run again in a minute; GitHub lists new pull requests with a delay',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delays[attempt]));
    }
  }

  async createPullRequest(draft: PullRequestDraft): Promise<PullRequestRecord> {
    const login = await this.identity();
    let record: PullRequestRecord;
    try {
      const { data } = await this.octokit.rest.pulls.create({ ...this.repoParams, head: draft.branch, base: draft.base, title: draft.title, body: draft.body });
      record = toRecord(data);
    } catch (error) {
      const e = error as OctokitLikeError;
      const data = e.response?.data as { errors?: Array<{ message?: string }> } | undefined;
      const exists = e.status === 422 && (data?.errors ?? []).some((item) => /already exists/i.test(item.message ?? ''));
      if (!exists) throw translate(error, `open a pull request for ${draft.branch}`);
      // A concurrent run opened it first: adopt that PR (only if it is the bot's own) rather than fail or duplicate.
      record = await this.findExisting(draft, login);
      if (record.title !== draft.title || record.body !== draft.body) {
        await this.updatePullRequest(record, { title: draft.title, body: draft.body });
        Object.assign(record, { title: draft.title, body: draft.body });
      }
    }
    return record;
  }

  async updatePullRequest(pr: PullRequestRecord, change: { title: string; body: string }): Promise<void> {
    try {
      await this.octokit.rest.pulls.update({ ...this.repoParams, pull_number: pr.number, title: change.title, body: change.body });
    } catch (error) {
      throw translate(error, `update pull request #${pr.number}`);
    }
  }

  async addLabels(pr: PullRequestRecord, labels: string[]): Promise<void> {
    try {
      await this.octokit.rest.issues.addLabels({ ...this.repoParams, issue_number: pr.number, labels });
      pr.labels.push(...labels);
    } catch (error) {
      throw translate(error, `label pull request #${pr.number}`);
    }
  }

  async closePullRequest(pr: PullRequestRecord, comment: string): Promise<void> {
    try {
      await this.octokit.rest.issues.createComment({ ...this.repoParams, issue_number: pr.number, body: comment });
      await this.octokit.rest.pulls.update({ ...this.repoParams, pull_number: pr.number, state: 'closed' });
    } catch (error) {
      throw translate(error, `close pull request #${pr.number}`);
    }
  }

  /** The dashboard capability: this forge keeps the dashboard as an issue of the repository. */
  get dashboard(): DashboardForge {
    return this;
  }

  get dashboardWhere(): string {
    return `an issue of ${this.fullName}`;
  }

  /** The newest issue the bot itself opened with the marker; issues by anyone else are never taken for it. */
  async findDashboard(): Promise<DashboardIssue | null> {
    const login = await this.identity();
    const pages = this.options.maxListPages ?? 3;
    try {
      for (let page = 1; page <= pages; page++) {
        this.stats.reads++;
        // `creator` narrows the list on GitHub's side; the author is checked again here, as for PRs.
        const { data } = await this.octokit.rest.issues.listForRepo({
          ...this.repoParams,
          state: 'all',
          creator: login,
          sort: 'created',
          direction: 'desc',
          per_page: 100,
          page,
        });
        for (const issue of data) {
          if (issue.pull_request) continue;
          const body = issue.body ?? '';
          if (!sameLogin(issue.user?.login ?? '', login) || !body.includes(DASHBOARD_MARKER)) continue;
          return {
            number: issue.number,
            title: issue.title,
            body,
            state: issue.state === 'open' ? 'open' : 'closed',
            url: issue.html_url,
            author: issue.user?.login ?? '',
          };
        }
        if (data.length < 100) break;
      }
    } catch (error) {
      throw translate(error, 'list issues to find the dashboard');
    }
    return null;
  }

  async createDashboard(title: string, body: string): Promise<DashboardIssue> {
    try {
      this.stats.writes++;
      const { data } = await this.octokit.rest.issues.create({ ...this.repoParams, title, body: withDashboardMarker(body) });
      return { number: data.number, title: data.title, body: data.body ?? '', state: 'open', url: data.html_url, author: data.user?.login ?? '' };
    } catch (error) {
      throw translate(error, 'open the dashboard issue (the token needs `issues: write`)');
    }
  }

  async updateDashboard(issue: DashboardIssue, body: string): Promise<boolean> {
    const next = withDashboardMarker(body);
    // Nothing new, nothing written: a re-run with the same state makes no request at all.
    if (next === issue.body) return false;
    try {
      this.stats.writes++;
      await this.octokit.rest.issues.update({ ...this.repoParams, issue_number: issue.number, body: next });
      issue.body = next;
      return true;
    } catch (error) {
      throw translate(error, `update the dashboard issue #${issue.number} (the token needs \`issues: write\`)`);
    }
  }

  /**
   * Who edited the body since the bot's own last edit, from GraphQL `Issue.userContentEdits` (REST has no edit
   * history). The order GitHub lists edits in is not relied on: they are sorted by `editedAt`. A history longer than
   * one page is reported incomplete, so the caller honours nothing rather than miss an editor.
   */
  async tickedBy(issue: DashboardIssue): Promise<DashboardEditors> {
    const login = await this.identity();
    type Edits = {
      repository: {
        issue: { userContentEdits: { totalCount: number; nodes: Array<{ editedAt: string; editor: { login: string } | null } | null> } | null } | null;
      } | null;
    };
    let data: Edits;
    try {
      this.stats.reads++;
      data = await this.octokit.graphql<Edits>(
        `query dashboardEdits($owner: String!, $name: String!, $number: Int!) {
          repository(owner: $owner, name: $name) {
            issue(number: $number) {
              userContentEdits(first: 100) { totalCount nodes { editedAt editor { login } } }
            }
          }
        }`,
        { owner: this.options.owner, name: this.options.repo, number: issue.number },
      );
    } catch (error) {
      throw translate(error, `read the edit history of the dashboard issue #${issue.number}`);
    }
    const history = data.repository?.issue?.userContentEdits;
    if (!history) return { editors: [], complete: false };
    const edits = history.nodes
      .filter((node): node is NonNullable<typeof node> => node !== null)
      // A deleted account shows as no editor: GitHub's "ghost", who has no access.
      .map((node) => ({ at: Date.parse(node.editedAt), login: node.editor?.login ?? 'ghost' }))
      .sort((a, b) => a.at - b.at);
    // GitHub's timestamps are whole seconds: an edit in the same second as the bot's last write may have come before
    // or after it, and is counted as after (an editor too many can only make the caller honour less).
    const lastOwn = Math.max(-Infinity, ...edits.filter((edit) => sameLogin(edit.login, login)).map((edit) => edit.at));
    const editors: string[] = [];
    for (const edit of edits)
      if (edit.at >= lastOwn && !sameLogin(edit.login, login) && !editors.some((known) => sameLogin(known, edit.login))) editors.push(edit.login);
    return { editors, complete: history.totalCount <= history.nodes.length };
  }

  async currentBody(issue: DashboardIssue): Promise<string | null> {
    try {
      this.stats.reads++;
      const { data } = await this.octokit.rest.issues.get({ ...this.repoParams, issue_number: issue.number });
      return data.body ?? '';
    } catch (error) {
      const status = (error as OctokitLikeError).status;
      if (status === 404 || status === 410) return null;
      throw translate(error, `read the dashboard issue #${issue.number}`);
    }
  }

  async permissionOf(login: string): Promise<RepositoryRole> {
    try {
      this.stats.reads++;
      const { data } = await this.octokit.rest.repos.getCollaboratorPermissionLevel({ ...this.repoParams, username: login });
      const role = String(data.role_name ?? '');
      if (['admin', 'maintain', 'write', 'triage', 'read'].includes(role)) return role as RepositoryRole;
      // Custom roles carry their own name; the legacy `permission` says what they amount to.
      return data.permission === 'admin' ? 'admin' : data.permission === 'write' ? 'write' : data.permission === 'read' ? 'read' : 'none';
    } catch (error) {
      if ((error as OctokitLikeError).status === 404) return 'none';
      throw translate(error, `read the repository permission of @${login}`);
    }
  }
}
