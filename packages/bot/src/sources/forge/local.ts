import { readFile, rename, writeFile } from 'node:fs/promises';
import type { BotPullRequests, Forge, ForgeCapabilities, ForgeStats, PullRequestDraft, PullRequestRecord } from './types.ts';
import { DASHBOARD_MARKER, withDashboardMarker, type DashboardEditors, type DashboardForge, type DashboardIssue, type RepositoryRole } from './types.ts';

/** Who edits the local dashboard file: whoever can write it, which on this machine is the operator. */
export const LOCAL_EDITOR = 'local-operator';

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
    /** Where the dashboard is kept (beside a sandbox remote); null: it is printed, and none is ever found. */
    private readonly dashboardFile: string | null = null,
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

  /** The dashboard capability: a Markdown file when one is configured, else the body printed. */
  get dashboard(): DashboardForge {
    return this;
  }

  get dashboardWhere(): string {
    return this.dashboardFile ? `the file ${this.dashboardFile}` : 'printed (no dashboard file)';
  }

  async findDashboard(): Promise<DashboardIssue | null> {
    if (!this.dashboardFile) return null;
    this.stats.reads++;
    const body = await readFile(this.dashboardFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (body === null || !body.includes(DASHBOARD_MARKER)) return null;
    return { number: 0, title: 'dashboard', body, state: 'open', url: this.dashboardFile, author: LOCAL_EDITOR };
  }

  async createDashboard(title: string, body: string): Promise<DashboardIssue> {
    const text = withDashboardMarker(body);
    if (!this.dashboardFile) this.print(`would open the dashboard issue "${title}":\n${indent(text)}`);
    else await this.writeDashboard(text);
    return { number: 0, title, body: text, state: 'open', url: this.dashboardFile ?? 'printed', author: LOCAL_EDITOR };
  }

  async updateDashboard(issue: DashboardIssue, body: string): Promise<boolean> {
    const text = withDashboardMarker(body);
    if (text === issue.body) return false;
    if (!this.dashboardFile) this.print(`would update the dashboard issue:\n${indent(text)}`);
    else await this.writeDashboard(text);
    issue.body = text;
    return true;
  }

  /** The file has no history: whatever it holds was written by the bot or by the operator, who owns the sandbox. */
  async tickedBy(_issue: DashboardIssue): Promise<DashboardEditors> {
    return { editors: this.dashboardFile ? [LOCAL_EDITOR] : [], complete: true };
  }

  async currentBody(_issue: DashboardIssue): Promise<string | null> {
    return (await this.findDashboard())?.body ?? null;
  }

  async permissionOf(login: string): Promise<RepositoryRole> {
    return login === LOCAL_EDITOR ? 'admin' : 'none';
  }

  /** Written whole or not at all: a reader never sees half a dashboard. */
  private async writeDashboard(text: string): Promise<void> {
    this.stats.writes++;
    const temporary = `${this.dashboardFile}.${process.pid}.tmp`;
    await writeFile(temporary, text);
    await rename(temporary, this.dashboardFile!);
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
