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

/**
 * The dashboard issue (Renovate's Dependency Dashboard convention): one issue per repository that the bot creates
 * once and edits in place. Like a bot PR it is trusted only when the bot's own identity opened it and its body
 * carries this hidden marker; an issue by anyone else is ignored, whatever its title or marker.
 */
export const DASHBOARD_MARKER = '<!-- gitops-bot: dashboard -->';

export interface DashboardIssue {
  number: number;
  title: string;
  /** Always carries DASHBOARD_MARKER. */
  body: string;
  state: 'open' | 'closed';
  url: string;
  author: string;
}

/** A repository role as GitHub names it (`role_name`); `none` for users without access to a private repository. */
export type RepositoryRole = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

/** Whose ticks count: people who could make the change themselves. */
export const canWrite = (role: RepositoryRole): boolean => role === 'admin' || role === 'maintain' || role === 'write';

/** Who edited the body since the bot last wrote it. */
export interface DashboardEditors {
  /** Distinct logins, oldest edit first; the bot's own edits are not listed. */
  editors: string[];
  /** False when the history was longer than what was read: then some editor may be missing, and nothing is honoured. */
  complete: boolean;
}

/** The forge's `dashboard` capability; absent on forges that cannot hold one. */
export interface DashboardForge {
  /** Where the dashboard lives, for the log. */
  readonly dashboardWhere: string;
  /** The bot's own dashboard issue (the newest, open or closed), or null. */
  findDashboard(): Promise<DashboardIssue | null>;
  createDashboard(title: string, body: string): Promise<DashboardIssue>;
  /** Writes the body only when it differs from the issue's; returns whether it wrote. */
  updateDashboard(issue: DashboardIssue, body: string): Promise<boolean>;
  /** The body as it is now (re-read), or null when the dashboard is gone: to not overwrite an edit made during the run. */
  currentBody(issue: DashboardIssue): Promise<string | null>;
  /** Who edited the body (ticking a checkbox is an edit) since the bot's last edit. */
  tickedBy(issue: DashboardIssue): Promise<DashboardEditors>;
  permissionOf(login: string): Promise<RepositoryRole>;
}

/** A forge with the dashboard capability. */
export interface ForgeWithDashboard extends Forge {
  readonly dashboard: DashboardForge;
}

export const hasDashboard = (forge: Forge): forge is ForgeWithDashboard => Boolean((forge as Partial<ForgeWithDashboard>).dashboard);

/** The body as the bot stores it: with the marker, once. */
export const withDashboardMarker = (body: string): string => (body.includes(DASHBOARD_MARKER) ? body : `${body.replace(/\n*$/, '')}\n\n${DASHBOARD_MARKER}\n`);
