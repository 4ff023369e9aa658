import type { BotPullRequests, Forge, ForgeCapabilities, ForgeStats, PullRequestDraft, PullRequestRecord } from './types.ts';

/**
 * No GitHub: the runner still pushes branches to the git remote, and this forge prints the PR it would open.
 * An "open PR" is a `bot/…` branch on the remote; nothing else is remembered.
 */
export class LocalForge implements Forge {
  readonly stats: ForgeStats = { reads: 0, writes: 0 };
  readonly describe = 'local forge (no GitHub: branches on the git remote, PR text printed)';
  readonly capabilities: ForgeCapabilities = { labels: false, pullRequestBodies: false };

  constructor(
    private readonly listBranches: () => Promise<string[]>,
    private readonly print: (text: string) => void,
  ) {}

  /** Every `bot/…` branch counts as the bot's: whoever can push to the remote is trusted with it anyway. */
  async listBotPullRequests(): Promise<BotPullRequests> {
    this.stats.reads++;
    const own = (await this.listBranches()).map((branch) => ({
      number: 0,
      branch,
      title: '',
      body: '',
      state: 'open' as const,
      merged: false,
      labels: [],
      createdAt: new Date(0).toISOString(),
      url: `branch ${branch}`,
      author: '',
    }));
    return { own, ignored: [] };
  }

  async createPullRequest(draft: PullRequestDraft): Promise<PullRequestRecord> {
    this.print(`would open PR ${draft.branch} → ${draft.base}: ${draft.title}\n  labels: ${draft.labels.join(', ')}\n${indent(draft.body)}`);
    return {
      number: 0,
      branch: draft.branch,
      title: draft.title,
      body: draft.body,
      state: 'open',
      merged: false,
      labels: draft.labels,
      createdAt: new Date().toISOString(),
      url: `branch ${draft.branch}`,
      author: '',
    };
  }

  async updatePullRequest(pr: PullRequestRecord, change: { title: string; body: string }): Promise<void> {
    this.print(`would update PR ${pr.branch}: ${change.title}`);
  }

  async addLabels(pr: PullRequestRecord, labels: string[]): Promise<void> {
    this.print(`would label PR ${pr.branch}: ${labels.join(', ')}`);
  }

  async closePullRequest(pr: PullRequestRecord, comment: string): Promise<void> {
    this.print(`would close PR ${pr.branch}: ${comment}`);
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
