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
  /** Login of the PR's author (empty for the local forge); only the bot's own PRs become records. */
  author?: string;
}

/** A `bot/…` PR the bot does not count as its own: reported, never read, updated, labelled or closed. */
export interface IgnoredPullRequest {
  number: number;
  branch: string;
  state: 'open' | 'closed';
  author: string;
  /** `owner/name` the head branch lives in; null when GitHub no longer knows (a deleted fork). */
  headRepo: string | null;
  /** True when the head branch is the branch of the same name in this repository (so a push would rewrite it). */
  sameRepository: boolean;
  url: string;
  reason: string;
}

export interface BotPullRequests {
  own: PullRequestRecord[];
  ignored: IgnoredPullRequest[];
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

/** What a forge can do; the runner asks these instead of which forge it is. */
export interface ForgeCapabilities {
  /** `labels` of listed PRs are real, so missing ones can be repaired (the local forge cannot see labels). */
  readonly labels: boolean;
  /** PR titles and bodies are stored and can be updated when a plan's text changes (the local forge only prints). */
  readonly pullRequestBodies: boolean;
}

export interface Forge {
  readonly describe: string;
  readonly stats: ForgeStats;
  readonly capabilities: ForgeCapabilities;
  /**
   * The PRs on `bot/…` branches, open and recently closed, newest first, split into the bot's own (opened by the
   * bot's identity from a branch of this repository) and the rest, which anyone can forge. Called once per run.
   */
  listBotPullRequests(): Promise<BotPullRequests>;
  /**
   * Opens a PR, without labels (the runner adds them, so a run interrupted in between is repaired by the next);
   * if the bot's own PR already exists for the branch (a concurrent run), returns that one instead of failing.
   */
  createPullRequest(draft: PullRequestDraft): Promise<PullRequestRecord>;
  updatePullRequest(pr: PullRequestRecord, change: { title: string; body: string }): Promise<void>;
  addLabels(pr: PullRequestRecord, labels: string[]): Promise<void>;
  /** Closes the bot's own PR with a comment saying why. */
  closePullRequest(pr: PullRequestRecord, comment: string): Promise<void>;
}

export const HOLD_LABEL = 'gitops-bot/hold';
