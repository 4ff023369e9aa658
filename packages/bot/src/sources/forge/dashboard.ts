/**
 * The dashboard step: after the tasks, the run renders the dashboard and writes it to the forge's dashboard issue,
 * created once and rewritten only when its body changed. At the start of the run it reads the issue and decides
 * whether the boxes ticked in it may be acted on: only when every person who edited the body since the bot's last
 * write has write access to the repository (fail closed: an unknown or incomplete edit history honours nothing).
 *
 * What the body says is the renderer's business, behind `RenderDashboard`: the run renders the platform's status
 * (src/status/dashboard.ts, wired in the composition root); `renderRunSummary`, a plain summary of the run's plans,
 * is what tests of the step itself use.
 */
import { canWrite, withDashboardMarker, type DashboardForge, type DashboardIssue, type PullRequestRecord, type RepositoryRole } from './types.ts';

export const DASHBOARD_TITLE = 'GitOps bot dashboard';

/** Whether the ticks in the dashboard's body count, and why. */
export interface TickTrust {
  honoured: boolean;
  /** Who edited the body since the bot's last write. */
  editors: string[];
  /** Editors without write access (or whose role could not be read), with their role. */
  refused: Array<{ login: string; role: RepositoryRole }>;
  reason: string;
}

/** What the run knows that a dashboard shows; the status renderer adds the repository's own state. */
export interface DashboardModel {
  /** The body as the run found it (with whatever boxes people ticked), or null when there is no dashboard yet. */
  previousBody: string | null;
  ticks: TickTrust;
  plans: Array<{ task: string; env: string; subject: string; branch: string; title: string; pr: { number: number; url: string } | null; outcome: string }>;
  skips: Array<{ task: string; env: string; subject: string; reason: string }>;
  /** The bot's own PRs as this run left them (the listing it read, with the PRs it opened and closed). */
  pullRequests?: PullRequestRecord[];
}

export type RenderDashboard = (model: DashboardModel) => string | Promise<string>;

export interface DashboardState {
  issue: DashboardIssue | null;
  ticks: TickTrust;
}

export type DashboardOutcome =
  | { outcome: 'created' | 'updated' | 'unchanged'; url: string }
  | { outcome: 'dry-run'; wouldWrite: boolean }
  | { outcome: 'left alone'; url: string; reason: string };

const NO_TICKS: TickTrust = { honoured: false, editors: [], refused: [], reason: 'no dashboard yet' };

/** Decides whether the dashboard's ticks count: everyone who edited it since the bot's last write can write. */
export async function trustTicks(forge: DashboardForge, issue: DashboardIssue): Promise<TickTrust> {
  const { editors, complete } = await forge.tickedBy(issue);
  if (!complete) return { honoured: false, editors, refused: [], reason: 'its edit history is longer than the bot reads, so not every editor is known' };
  if (editors.length === 0) return { honoured: false, editors, refused: [], reason: 'nobody edited it since the bot last wrote it' };
  const refused: TickTrust['refused'] = [];
  for (const login of editors) {
    const role = await forge.permissionOf(login);
    if (!canWrite(role)) refused.push({ login, role });
  }
  if (refused.length > 0)
    return {
      honoured: false,
      editors,
      refused,
      reason: `edited by ${refused.map((item) => `@${item.login} (${item.role})`).join(', ')}, without write access to the repository`,
    };
  return { honoured: true, editors, refused, reason: `edited by ${editors.map((login) => `@${login}`).join(', ')}, with write access` };
}

export class DashboardStep {
  constructor(
    private readonly forge: DashboardForge,
    private readonly render: RenderDashboard,
    private readonly log: (line: string) => void,
  ) {}

  get where(): string {
    return this.forge.dashboardWhere;
  }

  async read(): Promise<DashboardState> {
    const issue = await this.forge.findDashboard();
    if (!issue) return { issue: null, ticks: NO_TICKS };
    const ticks = await trustTicks(this.forge, issue);
    this.log(`dashboard ${issue.url}: ticks ${ticks.honoured ? 'honoured' : 'not honoured'}: ${ticks.reason}`);
    return { issue, ticks };
  }

  async publish(
    state: DashboardState,
    model: Omit<DashboardModel, 'previousBody' | 'ticks'>,
    options: { dryRun: boolean; print: (text: string) => void },
  ): Promise<DashboardOutcome> {
    const body = withDashboardMarker(await this.render({ ...model, previousBody: state.issue?.body ?? null, ticks: state.ticks }));
    const { issue } = state;
    if (options.dryRun) {
      const wouldWrite = !issue || (issue.state === 'open' && issue.body !== body);
      if (wouldWrite) options.print(`would ${issue ? 'update' : 'open'} the dashboard (${this.where})`);
      return { outcome: 'dry-run', wouldWrite };
    }
    if (!issue) {
      const created = await this.forge.createDashboard(DASHBOARD_TITLE, body);
      return { outcome: 'created', url: created.url };
    }
    // A person closed it: they do not want it; opening another would be spam.
    if (issue.state === 'closed')
      return { outcome: 'left alone', url: issue.url, reason: 'it was closed; reopen it to have it updated, or set dashboard: false' };
    if (issue.body === body) return { outcome: 'unchanged', url: issue.url };
    // Someone may have ticked a box while the run went on: writing now would erase it unseen.
    const now = await this.forge.currentBody(issue);
    if (now !== issue.body) return { outcome: 'left alone', url: issue.url, reason: 'it was edited during the run; the next run reads the edit' };
    await this.forge.updateDashboard(issue, body);
    return { outcome: 'updated', url: issue.url };
  }
}

/**
 * Stands in for the status renderer: the bot's plans and what it did not propose, without timestamps or anything else
 * that changes when nothing happened, so an unchanged repository gives an unchanged body (and no write).
 */
export const renderRunSummary: RenderDashboard = (model) => {
  const lines = [`# ${DASHBOARD_TITLE}`, '', 'What the bot proposes, as of its last run.', ''];
  const plans = [...model.plans].sort((a, b) => a.branch.localeCompare(b.branch));
  lines.push('## Proposed changes', '');
  if (plans.length === 0) lines.push('Nothing to propose.');
  for (const plan of plans) lines.push(`- ${plan.pr ? `[#${plan.pr.number}](${plan.pr.url}) ` : ''}${plan.title} (\`${plan.branch}\`)`);
  const skips = [...model.skips].sort((a, b) => `${a.task}/${a.env}/${a.subject}`.localeCompare(`${b.task}/${b.env}/${b.subject}`));
  if (skips.length > 0) {
    lines.push('', '## Not proposed', '');
    for (const skip of skips) lines.push(`- ${skip.task} ${skip.env} ${skip.subject}: ${skip.reason}`);
  }
  return `${lines.join('\n')}\n`;
};
