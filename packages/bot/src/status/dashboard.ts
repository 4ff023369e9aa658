import { parseBranch, readMarker } from '../plan.ts';
import type { PullRequestRecord } from '../sources/forge/types.ts';
import { RETRYABLE_TASKS } from '../tasks/shared/retry.ts';
import { compareTags } from '../sources/registry/tag-policy.ts';
import type { AppStatus, ReplicasCell, StatusModel, VersionState, VersionStatus } from './model.ts';
import { appGrid, markdownText, pinText, renderStatusMarkdown, stateText } from './render.ts';

/**
 * The dashboard issue's body (Renovate's Dependency Dashboard convention), pure: no forge call here. The forge side
 * creates the issue once, updates it only when this text changed (it is deterministic: no clock, no read time), and
 * before rendering reads the ticked boxes with {@link parseDashboardActions}; rendering clears every tick, so an
 * action is honoured once. Anyone who can edit an issue can write any text into it, so a tick counts only when its
 * hidden id names an action this very model offers (and the forge side checks the editor's write access).
 */

// One marker for the renderer and the forge that finds the issue by it.
import { DASHBOARD_MARKER } from '../sources/forge/types.ts';

export { DASHBOARD_MARKER };
const START = '<!-- gitops-bot:dashboard:start -->';
const END = '<!-- gitops-bot:dashboard:end -->';

export type DashboardAction =
  /** Promote `version` of `app` into `env` now, skipping the soak (never the gate's fail verdict). */
  | { kind: 'promote'; id: string; env: string; app: string; version: string }
  /** Rotate the Conductor API keys of `env` now (`--rotate-now --env`). */
  | { kind: 'rotate'; id: string; env: string }
  /** Propose `subject` of `task` in `env` again, despite the PR of it that was closed without merging. */
  | { kind: 'retry'; id: string; task: string; env: string; subject: string }
  /** Propose the rollback PR of `app` in `env` (to `to`, the newest older live version). */
  | { kind: 'rollback'; id: string; env: string; app: string; from: string; to: string };

/** A proposal the bot gave up on: the newest PR of its branch was closed without merging. */
export interface RetryableProposal {
  task: string;
  env: string;
  subject: string;
  number: number;
}

export interface DashboardOptions {
  /**
   * The proposals offered for retry (see {@link retryableProposals}). Absent: the PRs are not known where the ticks are
   * read (before the run lists them), so a well-formed retry id of a retryable task in a known environment is taken,
   * and the task lifts a rejection only when the newest PR of that proposal's branch is closed unmerged.
   */
  retryable?: readonly RetryableProposal[];
}

/**
 * The bot's proposals a retry can bring back: per branch, the newest of the bot's PRs (the listing window the run
 * read), when it was closed without merging by a person or on a gate's `fail` (a close for a hold is not a rejection:
 * the change comes back by itself once the hold is gone), for the tasks that remember rejections.
 */
export function retryableProposals(pullRequests: readonly PullRequestRecord[]): RetryableProposal[] {
  const newest = new Map<string, PullRequestRecord>();
  for (const pr of pullRequests) if ((newest.get(pr.branch)?.number ?? -1) < pr.number) newest.set(pr.branch, pr);
  const out: RetryableProposal[] = [];
  for (const pr of newest.values()) {
    if (pr.state !== 'closed' || pr.merged) continue;
    const marker = readMarker(pr.body);
    const branch = parseBranch(pr.branch);
    if (!marker || marker.closedFor === 'hold' || !(RETRYABLE_TASKS as readonly string[]).includes(marker.task)) continue;
    // The marker must name the branch it sits on (a copied body names another).
    if (!branch || branch.task !== marker.task || branch.env !== marker.env || branch.subject !== marker.subject) continue;
    out.push({ task: marker.task, env: marker.env, subject: marker.subject, number: pr.number });
  }
  return out.sort((a, b) => `${a.task}/${a.env}/${a.subject}`.localeCompare(`${b.task}/${b.env}/${b.subject}`));
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const ID = /^(promote|rotate|retry|rollback)(\/[A-Za-z0-9._+-]{1,128}){1,4}$/;
// A proposal's subject as branches carry it: one or two DNS-safe segments (`conductor`, `dbos-app/1-1-0`).
const SUBJECT = /^[a-z0-9][a-z0-9._-]{0,62}(\/[a-z0-9][a-z0-9._-]{0,62})?$/;

/** A retry action, when its task, environment and subject are well formed and known to `model`; else null. */
function retryAction(model: StatusModel, task: string, env: string, subject: string): Extract<DashboardAction, { kind: 'retry' }> | null {
  if (!(RETRYABLE_TASKS as readonly string[]).includes(task) || !NAME.test(env) || !model.environments.includes(env) || !SUBJECT.test(subject)) return null;
  return { kind: 'retry', id: `retry/${task}/${env}/${subject}`, task, env, subject };
}

function latestOf(app: AppStatus, env: string): string | null {
  return app.environments.find((environment) => environment.env === env)?.versions.find((version) => version.states.includes('latest'))?.version ?? null;
}

/** Every action this model offers, with its label: the only ids a tick may name. */
export function offeredActions(model: StatusModel, options: DashboardOptions = {}): Array<{ action: DashboardAction; label: string }> {
  const out: Array<{ action: DashboardAction; label: string }> = [];
  for (const app of model.apps) {
    if (!NAME.test(app.name)) continue;
    for (const [index, environment] of app.environments.entries()) {
      if (!NAME.test(environment.env)) continue;
      // Promote: the previous environment's latest, when it is newer than this environment's.
      const previous = index > 0 ? latestOf(app, app.environments[index - 1]!.env) : null;
      const here = latestOf(app, environment.env);
      if (previous && VERSION.test(previous) && (here === null || compareTags(previous, here) > 0)) {
        const id = `promote/${environment.env}/${app.name}/${previous}`;
        out.push({
          action: { kind: 'promote', id, env: environment.env, app: app.name, version: previous },
          label: `promote ${app.name} ${previous} into ${environment.env} now (skip the soak)`,
        });
      }
      // Roll back: the latest to the newest older live version that is not itself rolled back.
      const older = environment.versions
        .filter((version) => here !== null && compareTags(version.version, here) < 0 && !version.states.includes('rolled-back'))
        .sort((a, b) => compareTags(b.version, a.version))[0];
      if (here && older && VERSION.test(here) && VERSION.test(older.version)) {
        const id = `rollback/${environment.env}/${app.name}`;
        out.push({
          action: { kind: 'rollback', id, env: environment.env, app: app.name, from: here, to: older.version },
          label: `roll back ${app.name} in ${environment.env} from ${here} to ${older.version}`,
        });
      }
    }
  }
  for (const env of model.environments.filter((name) => NAME.test(name)))
    out.push({ action: { kind: 'rotate', id: `rotate/${env}`, env }, label: `rotate the Conductor API keys of ${env} now` });
  for (const proposal of options.retryable ?? []) {
    const action = retryAction(model, proposal.task, proposal.env, proposal.subject);
    if (!action || out.some((entry) => entry.action.id === action.id)) continue;
    out.push({ action, label: `retry ${proposal.task} ${proposal.subject} in ${proposal.env} (PR #${proposal.number} was closed without merging)` });
  }
  return out;
}

/** A Mermaid-safe label: the characters versions, names and states use; anything else becomes `_` (no quote can end it). */
function mermaidLabel(text: string): string {
  return text.replace(/[^A-Za-z0-9._+, -]/g, '_').slice(0, 60);
}

const STATE_CLASS: Partial<Record<VersionState, string>> = {
  'rolled-back': 'rolledBack',
  held: 'held',
  latest: 'latest',
  'switch-pending': 'switchPending',
  draining: 'draining',
  drained: 'drained',
};

/** One flowchart per application: a subgraph per environment, a node per live version, the same version linked across
 * environments in promotion order. */
export function renderMermaid(app: AppStatus): string {
  const lines = ['flowchart LR'];
  const nodes = new Map<string, string[]>();
  const classes: string[] = [];
  for (const [e, environment] of app.environments.entries()) {
    lines.push(`  subgraph env${e}["${mermaidLabel(environment.env)}"]`);
    if (environment.versions.length === 0) lines.push(`    env${e}none["no live version"]`);
    for (const [v, version] of environment.versions.entries()) {
      const node = `env${e}v${v}`;
      const states = version.states.length > 0 ? version.states.map((state) => state.replaceAll('-', ' ')).join(', ') : 'old';
      lines.push(`    ${node}["${mermaidLabel(version.version)}<br/>${mermaidLabel(states)}"]`);
      if (!nodes.has(version.version)) nodes.set(version.version, []);
      nodes.get(version.version)!.push(node);
      // The strongest state colours the node (rolled back and held before latest).
      const state = (Object.keys(STATE_CLASS) as VersionState[]).find((candidate) => version.states.includes(candidate));
      if (state) classes.push(`  class ${node} ${STATE_CLASS[state]}`);
    }
    lines.push('  end');
  }
  for (const chain of nodes.values()) for (let index = 1; index < chain.length; index++) lines.push(`  ${chain[index - 1]} --> ${chain[index]}`);
  lines.push(...classes);
  lines.push(
    '  classDef latest fill:#d4f7d4,stroke:#2a7a2a,stroke-width:2px',
    '  classDef draining fill:#fff1c9,stroke:#a87b00',
    '  classDef drained fill:#eeeeee,stroke:#888888',
    '  classDef rolledBack fill:#ffd6d6,stroke:#b00020',
    '  classDef held fill:#e8dcff,stroke:#5b2bb5',
    '  classDef switchPending fill:#d6e8ff,stroke:#1f5fbf',
  );
  return lines.join('\n');
}

function managedRegion(model: StatusModel, options: DashboardOptions): string {
  const out = [
    '# gitops-bot dashboard',
    '',
    'Kept up to date by the bot. Tick a box to act on the next run; only ticks by people with write access count, and each is honoured once.',
    '',
    '## Actions',
    '',
  ];
  const offered = offeredActions(model, options);
  const sections: Array<[DashboardAction['kind'], string]> = [
    ['promote', 'Promote now (skip the soak)'],
    ['rollback', 'Roll back an environment'],
    ['rotate', 'Rotate keys now'],
    ['retry', 'Retry a proposal closed without merging'],
  ];
  for (const [kind, title] of sections) {
    const entries = offered.filter((entry) => entry.action.kind === kind);
    if (entries.length === 0) continue;
    out.push(`### ${title}`, '');
    for (const entry of entries) out.push(`- [ ] ${entry.label} <!-- gitops-bot:action ${entry.action.id} -->`);
    out.push('');
  }
  out.push('## Applications', '');
  for (const app of model.apps) out.push(`### ${app.name}`, '', '```mermaid', renderMermaid(app), '```', '');
  out.push('## Status', '', dashboardStatusMarkdown(model).trimEnd());
  return out.join('\n');
}

/**
 * The replicas as a state: whether every pod of the version is Ready, not since when (a restart would rewrite the body).
 */
function replicasState(replicas: ReplicasCell): string {
  if (replicas.status === 'not-read') return 'replicas: not read';
  if (replicas.status === 'unknown') return 'replicas: unknown';
  return replicas.readySince ? 'replicas: all ready' : 'replicas: none ready';
}

/** A dashboard cell: states, hold, pin, replicas and retire PR; no live counts or times (see dashboardStatusMarkdown). */
function dashboardCell(version: VersionStatus): string[] {
  const lines = [stateText(version)];
  if (version.holdReason) lines.push(`hold: ${version.holdReason}`);
  lines.push(pinText(version.image), replicasState(version.replicas));
  if (version.retirePullRequest) lines.push(`retire PR #${version.retirePullRequest.number}`);
  return lines;
}

/**
 * The status as the dashboard shows it: the same tables as the job summary, coarser. In-flight counts, last activity
 * and read times change on every run of a busy platform, and a body that changes every run is a write every run (and
 * a notification for every watcher); the states they decide (draining, drained) are shown instead, and only a changed
 * state, pin, hold or PR changes the body. `pnpm bot status` has the live numbers.
 */
export function dashboardStatusMarkdown(model: StatusModel): string {
  const out: string[] = [];
  for (const app of model.apps) {
    const grid = appGrid(app);
    out.push(`### ${markdownText(app.name)}`, '');
    out.push(
      `| ${['version', ...grid.header].map((title) => markdownText(title)).join(' | ')} |`,
      `|${['version', ...grid.header].map(() => ' --- ').join('|')}|`,
    );
    for (const row of grid.rows)
      out.push(
        `| ${[[row.version], ...row.cells.map((cell) => (cell ? dashboardCell(cell) : ['(not live)']))].map((cell) => cell.map((line) => markdownText(line, 200)).join('<br>')).join(' | ')} |`,
      );
    const unread = app.environments.filter((environment) => environment.versions.some((version) => version.drain.status !== 'read'));
    if (unread.length > 0)
      out.push('', `Drain not read in ${unread.map((environment) => markdownText(environment.env)).join(', ')}: draining and drained are not decided there.`);
    out.push('');
  }
  // Due secrets by name only: the reason carries a key's age, which grows every run.
  const secretsDue: StatusModel['secretsDue'] =
    model.secretsDue.status === 'read'
      ? { ...model.secretsDue, items: model.secretsDue.items.map((item) => ({ ...item, reason: /placeholder/.test(item.reason) ? 'placeholder' : 'due' })) }
      : model.secretsDue.status === 'unknown'
        ? { status: 'unknown', reason: 'the rotation check failed (see the run log)' }
        : model.secretsDue;
  out.push(renderStatusMarkdown({ ...model, apps: [], secretsDue }, 3));
  return out.join('\n');
}

/**
 * The body: the marker the forge finds the issue by, then the bot's region. Text people wrote outside the region of
 * `previousBody` (notes above or below it) is kept; the region is always rendered anew, without ticks.
 */
export function renderDashboard(model: StatusModel, previousBody?: string | null, options: DashboardOptions = {}): string {
  const region = `${START}\n${managedRegion(model, options)}\n${END}`;
  const previous = previousBody ?? '';
  const start = previous.indexOf(START);
  const end = previous.indexOf(END, start);
  if (start < 0 || end < 0) return `${DASHBOARD_MARKER}\n${region}\n`;
  const before = previous.slice(0, start).replace(DASHBOARD_MARKER, '').trim();
  const after = previous.slice(end + END.length).trim();
  return `${DASHBOARD_MARKER}\n${before ? `${before}\n\n` : ''}${region}\n${after ? `\n${after}\n` : ''}`;
}

export interface ParsedDashboard {
  /** Ticked boxes whose id this model offers, once each. */
  actions: DashboardAction[];
  /** Ticked boxes that were not honoured, and why (unknown subject, malformed id, duplicate). */
  ignored: Array<{ line: number; reason: string }>;
}

/**
 * The ticked actions of a dashboard body, validated strictly against what `model` offers now: an id the model does not
 * offer (a version since retired, an environment that does not exist, a hand-written line) is ignored and reported,
 * never guessed at. Lines inside code blocks never count.
 */
export function parseDashboardActions(body: string, model: StatusModel, options: DashboardOptions = {}): ParsedDashboard {
  const offered = new Map(offeredActions(model, options).map((entry) => [entry.action.id, entry.action]));
  const actions: DashboardAction[] = [];
  const ignored: ParsedDashboard['ignored'] = [];
  let fence: string | null = null;
  for (const [index, line] of body.split(/\r\n|\r|\n/).entries()) {
    const number = index + 1;
    const fenceMatch = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fenceMatch) {
      if (fence === null) fence = fenceMatch[1]![0]!;
      else if (fenceMatch[1]![0] === fence) fence = null;
      continue;
    }
    if (fence !== null) continue;
    const box = /^\s*[-*+]\s+\[([ xX])\]\s/.exec(line);
    if (!box || box[1] === ' ') continue;
    const markers = [...line.matchAll(/<!--\s*gitops-bot:action\s+(.*?)\s*-->/g)];
    if (markers.length !== 1) {
      ignored.push({ line: number, reason: markers.length === 0 ? 'a ticked box without an action id' : 'a ticked box with more than one action id' });
      continue;
    }
    const id = markers[0]![1]!;
    if (!ID.test(id)) {
      ignored.push({ line: number, reason: `malformed action id "${id.slice(0, 80).replace(/[^\x20-\x7e]/g, '?')}"` });
      continue;
    }
    // Before the run lists its PRs, a retry is checked for form here and against the closed PR by its task.
    const retry = options.retryable === undefined && id.startsWith('retry/') ? /^retry\/([^/]+)\/([^/]+)\/(.+)$/.exec(id) : null;
    const action = offered.get(id) ?? (retry ? retryAction(model, retry[1]!, retry[2]!, retry[3]!) : undefined) ?? undefined;
    if (!action) {
      ignored.push({ line: number, reason: `"${id}" is not an action the dashboard offers now (unknown or stale subject)` });
      continue;
    }
    if (actions.some((candidate) => candidate.id === id)) {
      ignored.push({ line: number, reason: `"${id}" is ticked twice; honoured once` });
      continue;
    }
    actions.push(action);
  }
  return { actions, ignored };
}
