import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import { ForgeError, RateLimitError } from '../../errors.ts';
import type { Forge, ForgeStats, PullRequestDraft, PullRequestRecord } from './types.ts';

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
}

interface OctokitLikeError {
  status?: number;
  message: string;
  response?: { headers?: Record<string, string | undefined>; data?: unknown };
}

/** Settings from the GitHub Actions environment, overridden by nothing: the token is never read from config. */
export function githubSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): { token?: string; owner?: string; repo?: string; baseUrl?: string } {
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  return { token: env.GITHUB_TOKEN || undefined, owner: owner || undefined, repo: repo || undefined, baseUrl: env.GITHUB_API_URL || undefined };
}

/** Stands in for the plugin's Bottleneck write group when no spacing is wanted (tests against a local fake). */
const immediateLimiterGroup = { key: () => ({ schedule: (_options: unknown, job: () => Promise<unknown>) => job() }) };

/** An Octokit with throttling and retry, in the way changesets/action builds one. */
export function createThrottledOctokit(options: GitHubForgeOptions): InstanceType<typeof ThrottledOctokit> {
  const retries = options.rateLimitRetries ?? 2;
  const log = options.log ?? (() => {});
  return new ThrottledOctokit({
    auth: options.token,
    baseUrl: options.baseUrl ?? 'https://api.github.com',
    userAgent: 'dbos-gitops-bot',
    log: { debug: () => {}, info: () => {}, warn: (message: string) => log(`github: ${message}`), error: (message: string) => log(`github: ${message}`) },
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
    return new ForgeError(`GitHub refused to ${what} (403): ${e.message}`, status, 'give the token `contents: write` and `pull-requests: write` (see .github/workflows/gitops-bot.yaml), or check branch protection');
  }
  if (status === 401) return new ForgeError(`GitHub rejected the token while trying to ${what} (401)`, status, 'set GITHUB_TOKEN to a valid token');
  if (status === 404) return new ForgeError(`GitHub says the repository or PR does not exist while trying to ${what} (404)`, status, 'check forge.owner/forge.repo in .github/gitops-bot.yaml or GITHUB_REPOSITORY, and that the token can see the repository');
  if (status === 422) {
    const data = e.response?.data as { errors?: Array<{ message?: string; code?: string; field?: string }> } | undefined;
    const detail = (data?.errors ?? []).map((item) => item.message ?? `${item.field ?? ''} ${item.code ?? ''}`.trim()).join('; ');
    return new ForgeError(`GitHub rejected the request to ${what} (422 Validation Failed${detail ? `: ${detail}` : ''})`, status, 'check that the base branch exists and the branch was pushed; run again after fixing');
  }
  if (status && status >= 500) return new ForgeError(`GitHub failed while trying to ${what} (${status})`, status, 'GitHub is having trouble; the next scheduled run will retry');
  return new ForgeError(`cannot ${what}: ${e.message}`, status, 'check network access to the GitHub API (GITHUB_API_URL for Enterprise Server)');
}

function toRecord(pr: {
  number: number;
  head: { ref: string };
  title: string;
  body?: string | null;
  state: string;
  merged_at?: string | null;
  labels: Array<{ name?: string } | string>;
  created_at: string;
  html_url: string;
}): PullRequestRecord {
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
  };
}

export class GitHubForge implements Forge {
  readonly kind = 'github' as const;
  readonly stats: ForgeStats = { reads: 0, writes: 0 };
  readonly describe: string;
  private readonly octokit: ReturnType<typeof createThrottledOctokit>;

  constructor(private readonly options: GitHubForgeOptions) {
    this.octokit = createThrottledOctokit(options);
    this.describe = `GitHub ${options.owner}/${options.repo}${options.baseUrl ? ` at ${options.baseUrl}` : ''}`;
  }

  private get repoParams() {
    return { owner: this.options.owner, repo: this.options.repo };
  }

  async listBotPullRequests(): Promise<PullRequestRecord[]> {
    const out: PullRequestRecord[] = [];
    const pages = this.options.maxListPages ?? 3;
    try {
      for (let page = 1; page <= pages; page++) {
        this.stats.reads++;
        const { data } = await this.octokit.rest.pulls.list({ ...this.repoParams, state: 'all', sort: 'created', direction: 'desc', per_page: 100, page });
        out.push(...data.filter((pr) => pr.head.ref.startsWith('bot/')).map(toRecord));
        if (data.length < 100) break;
      }
    } catch (error) {
      throw translate(error, 'list pull requests');
    }
    return out;
  }

  async createPullRequest(draft: PullRequestDraft): Promise<PullRequestRecord> {
    let record: PullRequestRecord;
    try {
      this.stats.writes++;
      const { data } = await this.octokit.rest.pulls.create({ ...this.repoParams, head: draft.branch, base: draft.base, title: draft.title, body: draft.body });
      record = toRecord(data);
    } catch (error) {
      const e = error as OctokitLikeError;
      const data = e.response?.data as { errors?: Array<{ message?: string }> } | undefined;
      const exists = e.status === 422 && (data?.errors ?? []).some((item) => /already exists/i.test(item.message ?? ''));
      if (!exists) throw translate(error, `open a pull request for ${draft.branch}`);
      // A concurrent run opened it first: adopt that PR rather than fail or duplicate.
      this.stats.reads++;
      const { data: open } = await this.octokit.rest.pulls.list({ ...this.repoParams, state: 'open', head: `${this.options.owner}:${draft.branch}`, per_page: 1 }).catch((listError: unknown) => {
        throw translate(listError, `find the existing pull request for ${draft.branch}`);
      });
      if (!open[0]) throw translate(error, `open a pull request for ${draft.branch}`);
      record = toRecord(open[0]);
      await this.updatePullRequest(record, { title: draft.title, body: draft.body });
    }
    const missing = draft.labels.filter((label) => !record.labels.includes(label));
    if (missing.length > 0) await this.addLabels(record, missing);
    return record;
  }

  async updatePullRequest(pr: PullRequestRecord, change: { title: string; body: string }): Promise<void> {
    try {
      this.stats.writes++;
      await this.octokit.rest.pulls.update({ ...this.repoParams, pull_number: pr.number, title: change.title, body: change.body });
    } catch (error) {
      throw translate(error, `update pull request #${pr.number}`);
    }
  }

  async addLabels(pr: PullRequestRecord, labels: string[]): Promise<void> {
    try {
      this.stats.writes++;
      await this.octokit.rest.issues.addLabels({ ...this.repoParams, issue_number: pr.number, labels });
      pr.labels.push(...labels);
    } catch (error) {
      throw translate(error, `label pull request #${pr.number}`);
    }
  }

  async closePullRequest(pr: PullRequestRecord, comment: string): Promise<void> {
    try {
      this.stats.writes++;
      await this.octokit.rest.issues.createComment({ ...this.repoParams, issue_number: pr.number, body: comment });
      this.stats.writes++;
      await this.octokit.rest.pulls.update({ ...this.repoParams, pull_number: pr.number, state: 'closed' });
    } catch (error) {
      throw translate(error, `close pull request #${pr.number}`);
    }
  }
}
