/**
 * The forge is where pull requests live. The runner is its only user; tasks never see it.
 * Implementations: GitHub (REST via Octokit) and local (branches on the git remote, PR text printed).
 */
export interface PullRequestRecord {
  number: number;
  branch: string;
  title: string;
  body: string;
  state: 'open' | 'closed';
  merged: boolean;
  labels: string[];
  createdAt: string;
  url: string;
}

export interface PullRequestDraft {
  branch: string;
  base: string;
  title: string;
  body: string;
  labels: string[];
}

export interface ForgeStats {
  reads: number;
  writes: number;
}

export interface Forge {
  readonly kind: 'github' | 'local';
  readonly describe: string;
  readonly stats: ForgeStats;
  /** The bot's pull requests (branches `bot/…`), open and recently closed, newest first. Called once per run. */
  listBotPullRequests(): Promise<PullRequestRecord[]>;
  /** Opens a PR; if one already exists for the branch (a concurrent run), returns that one instead of failing. */
  createPullRequest(draft: PullRequestDraft): Promise<PullRequestRecord>;
  updatePullRequest(pr: PullRequestRecord, change: { title: string; body: string }): Promise<void>;
  addLabels(pr: PullRequestRecord, labels: string[]): Promise<void>;
  /** Closes the bot's own PR with a comment saying why. */
  closePullRequest(pr: PullRequestRecord, comment: string): Promise<void>;
}

export const HOLD_LABEL = 'gitops-bot/hold';
