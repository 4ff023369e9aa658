import { compareTags } from '../sources/registry/tag-policy.ts';
import type { AppStatus, DrainCell, ImagePin, Promotion, ReplicasCell, StatusModel, VersionStatus } from './model.ts';

/**
 * The status as text: a terminal table (`pnpm bot status`, the demo) and Markdown (the Actions job summary, the
 * dashboard issue). Both render the same cell lines, so what a person reads in a terminal and on GitHub agrees.
 */

/** One line of untrusted text (PR titles, hold reasons, tags, reader errors): no control characters, bounded. */
export function oneLine(text: string, max = 160): string {
  const flat = text
    .replace(/\p{Cc}+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function pinText(pin: ImagePin | null): string {
  if (!pin) return '-';
  const digest = pin.placeholder ? 'placeholder digest' : (pin.shortDigest ?? 'no digest');
  return `${pin.tag ?? '(no tag)'} @ ${digest}`;
}

function when(iso: string | null): string {
  return iso === null ? 'never' : iso.replace(/:\d\d(\.\d+)?Z$/, 'Z').replace('T', ' ');
}

function drainLines(drain: DrainCell): string[] {
  if (drain.status === 'not-read') return ['in flight: not read', 'last activity: not read'];
  if (drain.status === 'unknown') return [`in flight: unknown: ${oneLine(drain.reason, 60)}`, 'last activity: unknown'];
  return [`in flight ${drain.inFlight}, dead-lettered ${drain.deadLettered}`, `last activity ${when(drain.lastActivity)}`];
}

function replicasLine(replicas: ReplicasCell): string {
  if (replicas.status === 'not-read') return 'replicas: not read';
  if (replicas.status === 'unknown') return `replicas: unknown: ${oneLine(replicas.reason, 60)}`;
  return replicas.readySince ? `replicas: all ready since ${when(replicas.readySince)}` : 'replicas: none ready';
}

export function stateText(version: VersionStatus): string {
  const states = version.states.map((state) => state.replaceAll('-', ' '));
  return states.length > 0 ? states.join(', ') : 'old';
}

/** The lines of one cell of an application's table. */
export function cellLines(version: VersionStatus): string[] {
  const lines = [stateText(version)];
  if (version.holdReason) lines.push(`hold: ${oneLine(version.holdReason, 60)}`);
  lines.push(...drainLines(version.drain), pinText(version.image), replicasLine(version.replicas));
  if (version.retirePullRequest) lines.push(`retire PR #${version.retirePullRequest.number}`);
  return lines;
}

/** Rows are versions (newest first), columns the environments the application runs in. */
export function appGrid(app: AppStatus): { header: string[]; rows: Array<{ version: string; cells: Array<VersionStatus | null> }> } {
  const header = app.environments.map((environment) => environment.env);
  const versions: string[] = [];
  for (const environment of app.environments)
    for (const version of environment.versions) if (!versions.includes(version.version)) versions.push(version.version);
  // Newest first across every environment (a version only some environments run still sorts by its number).
  versions.sort((a, b) => compareTags(b, a) || (a < b ? 1 : a > b ? -1 : 0));
  return {
    header,
    rows: versions.map((version) => ({
      version,
      cells: app.environments.map((environment) => environment.versions.find((candidate) => candidate.version === version) ?? null),
    })),
  };
}

/** A grid of multi-line cells, columns padded to their widest line. */
function textGrid(header: string[], rows: string[][][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => Math.max(...row[column]!.map((line) => line.length)))));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  const rule = `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`;
  const out = [line(header), rule];
  for (const row of rows) {
    const height = Math.max(...row.map((cell) => cell.length));
    for (let index = 0; index < height; index++) out.push(line(row.map((cell) => cell[index] ?? '')));
    out.push(rule);
  }
  return out.join('\n');
}

function promotionRows(promotion: Promotion[], environments: string[]): string[][][] {
  return promotion.map((entry) => [
    [`${entry.kind} ${entry.name}`],
    ...environments.map((env) => {
      const position = entry.positions.find((candidate) => candidate.env === env);
      if (!position) return ['(not here)'];
      return entry.kind === 'app' ? [position.version ?? '-', pinText(position.pin)] : [pinText(position.pin)];
    }),
  ]);
}

function readingNote(cell: StatusModel['pullRequests'] | StatusModel['secretsDue']): string | null {
  return cell.status === 'read' ? null : `${cell.status === 'not-read' ? 'not read' : 'unknown'}: ${oneLine(cell.reason, 300)}`;
}

export function renderStatusTable(model: StatusModel): string {
  const out: string[] = [`Status of ${model.tree} at ${model.generatedAt}`, ''];
  if (model.apps.length === 0) out.push('No application runs in the selected environments.', '');
  for (const app of model.apps) {
    const grid = appGrid(app);
    out.push(`application ${app.name}`);
    out.push(
      textGrid(
        ['version', ...grid.header],
        grid.rows.map((row) => [[row.version], ...row.cells.map((cell) => (cell ? cellLines(cell) : ['(not live)']))]),
      ),
    );
    for (const environment of app.environments) out.push(`  ${environment.env}: drain ${oneLine(environment.drainSource, 300)}`);
    out.push('');
  }
  out.push('Promotion (tag @ digest per environment)');
  out.push(textGrid(['image', ...model.environments], promotionRows(model.promotion, model.environments)), '');
  out.push('Open bot PRs');
  const prNote = readingNote(model.pullRequests);
  if (prNote) out.push(`  ${prNote}`);
  else if (model.pullRequests.status === 'read' && model.pullRequests.open.length === 0) out.push('  none');
  else if (model.pullRequests.status === 'read')
    for (const pr of model.pullRequests.open)
      out.push(
        `  ${pr.number > 0 ? `#${pr.number} ` : ''}${pr.branch}${pr.title ? `: ${oneLine(pr.title)}` : ''}${pr.held ? ' (held)' : ''}  ${oneLine(pr.url)}`,
      );
  out.push('', 'Secrets due');
  const secretNote = readingNote(model.secretsDue);
  if (secretNote) out.push(`  ${secretNote}`);
  else if (model.secretsDue.status === 'read' && model.secretsDue.items.length === 0) out.push('  none');
  else if (model.secretsDue.status === 'read')
    for (const item of model.secretsDue.items) out.push(`  ${item.env} ${item.subject}: ${oneLine(item.reason, 400)}`);
  out.push('', 'Placeholder pins (all-zero digests)');
  if (model.placeholderPins.length === 0) out.push('  none');
  for (const pin of model.placeholderPins) out.push(`  ${pin.env} ${pin.image} in ${pin.file}`);
  return `${out.join('\n')}\n`;
}

/**
 * Untrusted text inside a Markdown table cell: one line, `|` escaped, HTML neutralised (so a PR title cannot open a
 * tag or an HTML comment that would pass for one of the dashboard's hidden ids), `@` so nobody is pinged.
 */
export function markdownText(text: string, max = 160): string {
  return oneLine(text, max)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('|', '\\|')
    .replace(/@(?=[A-Za-z0-9])/g, '&#64;')
    .replaceAll('[', '\\[')
    .replaceAll(']', '\\]')
    .replaceAll('`', '\\`');
}

function markdownGrid(header: string[], rows: string[][][]): string {
  return [
    `| ${header.map((title) => markdownText(title)).join(' | ')} |`,
    `|${header.map(() => ' --- ').join('|')}|`,
    ...rows.map((row) => `| ${row.map((cell) => cell.map((line) => markdownText(line, 200)).join('<br>')).join(' | ')} |`),
  ].join('\n');
}

/** The link of a PR, only when it is an http(s) URL (the local forge's "branch …" is shown as text). */
function prLink(url: string, text: string): string {
  return /^https?:\/\/[^\s()<>]+$/.test(url) ? `[${text}](${url})` : text;
}

/** The status as Markdown; `headingLevel` lets the dashboard nest it. */
export function renderStatusMarkdown(model: StatusModel, headingLevel = 3): string {
  const h = '#'.repeat(headingLevel);
  const out: string[] = [];
  for (const app of model.apps) {
    const grid = appGrid(app);
    out.push(`${h} ${markdownText(app.name)}`, '');
    out.push(
      markdownGrid(
        ['version', ...grid.header],
        grid.rows.map((row) => [[row.version], ...row.cells.map((cell) => (cell ? cellLines(cell) : ['(not live)']))]),
      ),
    );
    out.push('', ...app.environments.map((environment) => `- ${markdownText(environment.env)}: drain ${markdownText(environment.drainSource, 300)}`), '');
  }
  out.push(`${h} Promotion`, '', markdownGrid(['image', ...model.environments], promotionRows(model.promotion, model.environments)), '');
  out.push(`${h} Open bot PRs`, '');
  const prNote = readingNote(model.pullRequests);
  if (prNote) out.push(markdownText(prNote, 300));
  else if (model.pullRequests.status === 'read' && model.pullRequests.open.length === 0) out.push('none');
  else if (model.pullRequests.status === 'read')
    for (const pr of model.pullRequests.open)
      out.push(
        `- ${prLink(pr.url, pr.number > 0 ? `#${pr.number}` : markdownText(pr.branch))} \`${pr.branch.replaceAll('`', '')}\`${pr.title ? `: ${markdownText(pr.title)}` : ''}${pr.held ? ' (held)' : ''}`,
      );
  out.push('', `${h} Secrets due`, '');
  const secretNote = readingNote(model.secretsDue);
  if (secretNote) out.push(markdownText(secretNote, 300));
  else if (model.secretsDue.status === 'read' && model.secretsDue.items.length === 0) out.push('none');
  else if (model.secretsDue.status === 'read')
    for (const item of model.secretsDue.items) out.push(`- ${markdownText(`${item.env} ${item.subject}: ${item.reason}`, 400)}`);
  out.push('', `${h} Placeholder pins`, '');
  if (model.placeholderPins.length === 0) out.push('none');
  for (const pin of model.placeholderPins) out.push(`- ${markdownText(`${pin.env} ${pin.image} in ${pin.file}`)}`);
  return `${out.join('\n')}\n`;
}
