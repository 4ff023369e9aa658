import { randomBytes } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { CONFIG_PATH } from '../config/load.ts';
import { ConfigError, YamlEditError, isBotError, type BotError } from '../errors.ts';

/**
 * What `run` adds when it runs in GitHub Actions (`GITHUB_ACTIONS=true`): a job summary, a log group per task and an
 * error annotation naming the file and the fix. The runner reads workflow commands from any output line that starts
 * with `::` once leading whitespace is trimmed (actions/runner ActionCommand.TryParseV2), and the legacy `##[` form;
 * the bot prints text others wrote (PR titles, tags, hold reasons), so every line of it is neutralised and every
 * command value is escaped as the runner unescapes it (actions/toolkit command.ts: `%`, CR and LF in data; also `:`
 * and `,` in properties).
 */

export function inGitHubActions(env: NodeJS.ProcessEnv): boolean {
  return env.GITHUB_ACTIONS === 'true';
}

/** A command's message: `%`, CR and LF escaped, so the message stays on its line and decodes to what was meant. */
export function escapeData(text: string): string {
  return text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

/** A command's property value: as data, plus `:` and `,`, which would end the value or the property list. */
export function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(':', '%3A').replaceAll(',', '%2C');
}

export function workflowCommand(command: string, properties: Record<string, string | number>, message: string): string {
  const props = Object.entries(properties)
    .map(([key, value]) => `${key}=${escapeProperty(String(value))}`)
    .join(',');
  return `::${command}${props ? ` ${props}` : ''}::${escapeData(message)}`;
}

/**
 * One line of output that is never a workflow command: a line that would start with `::` once trimmed, or that holds
 * the legacy `##[`, gets a visible prefix. Newlines inside were already split by the caller.
 */
export function inertLine(line: string): string {
  const flat = line.replace(/[\r\n]/g, ' ');
  return /^\s*::/.test(flat) || flat.includes('##[') ? `| ${flat.replaceAll('##[', '#\u200b#[')}` : flat;
}

/**
 * A task's output in a collapsible group. Inside, command processing is also stopped with a token nobody can guess
 * (`::stop-commands::`), so even a line that slipped past {@link inertLine} could not end the group or set anything.
 */
export function groupOutput(title: string, lines: readonly string[], token = randomBytes(16).toString('hex')): string {
  const body = lines.flatMap((line) => line.split(/\r\n|\r|\n/)).map(inertLine);
  return [workflowCommand('group', {}, title), `::stop-commands::${token}`, ...body, `::${token}::`, '::endgroup::', ''].join('\n');
}

/** Appends Markdown to the job summary file (`$GITHUB_STEP_SUMMARY`); false when there is none. */
export async function appendJobSummary(env: NodeJS.ProcessEnv, markdown: string): Promise<boolean> {
  const file = env.GITHUB_STEP_SUMMARY;
  if (!file) return false;
  await appendFile(file, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  return true;
}

/** `environments[1].overlay` → ['environments', 1, 'overlay']. */
function pathSegments(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const match of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(match[2] !== undefined ? Number(match[2]) : match[1]!);
  return out;
}

/** The 1-based line of a config field (the deepest part of its path that exists), or null. */
export function lineOfPath(text: string, path: string): number | null {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  if (document.errors.length > 0) return null;
  const segments = pathSegments(path);
  for (let length = segments.length; length > 0; length--) {
    const node = document.getIn(segments.slice(0, length), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lineCounter.linePos(node.range[0]).line;
  }
  return null;
}

export interface AnnotationTarget {
  file: string;
  line: number | null;
}

/** The repository file an error is about, relative to the workspace: config fields map to the bot config. */
export async function annotationTarget(error: BotError, workspace: string): Promise<AnnotationTarget | null> {
  let file: string | null = null;
  if (error instanceof ConfigError) file = error.file;
  else if (error instanceof YamlEditError) file = error.file;
  else if ('file' in error && typeof (error as { file?: unknown }).file === 'string') file = (error as unknown as { file: string }).file;
  if (file === null || file === '' || file === 'environment') return null;
  // `.github/gitops-bot.yaml on main`, an absolute path to it, or a --config file elsewhere: the committed config.
  const relativeFile = file.includes(CONFIG_PATH) ? CONFIG_PATH : isAbsolute(file) ? relative(workspace, file) : file;
  if (relativeFile.startsWith('..') || isAbsolute(relativeFile)) return null;
  const fromMessage = /\bline (\d+)\b/.exec(error.message);
  if (fromMessage) return { file: relativeFile, line: Number(fromMessage[1]) };
  if (error instanceof ConfigError && error.path) {
    // The file the error names when it is on disk (a --config file, the checkout's config), else the checkout's copy.
    const text = await readFile(isAbsolute(file) ? file : resolve(workspace, relativeFile), 'utf8').catch(() => null);
    return { file: relativeFile, line: text === null ? null : lineOfPath(text, error.path) };
  }
  return { file: relativeFile, line: null };
}

/** `::error file=…,line=…::<message> — <hint>` for a BotError (a bare `::error::` when it knows no file); null otherwise. */
export async function errorAnnotation(error: unknown, workspace: string): Promise<string | null> {
  if (!isBotError(error)) return null;
  const target = await annotationTarget(error, workspace);
  const properties: Record<string, string | number> = {};
  if (target) {
    properties.file = target.file;
    if (target.line !== null) properties.line = target.line;
  }
  properties.title = `gitops-bot: exit ${error.exitCode}`;
  return workflowCommand('error', properties, `${error.message} — ${error.hint}`);
}

export interface RunSummaryInputs {
  env: NodeJS.ProcessEnv;
  config: import('../config/schema.ts').BotConfig;
  /** The base branch the run planned against. */
  tree: import('../repo/tree.ts').TreeReader;
  forge: import('../sources/forge/types.ts').Forge;
  drain: import('../sources/drain/for-environment.ts').DrainSourceFor;
  kube: import('../sources/kube/health.ts').KubeHealth | null;
  envFilter: string | null;
  now: Date;
  report: { groups: Array<{ task: string; lines: string[] }>; totals: string };
  log: (line: string) => void;
}

/**
 * The job summary of a run: what it did, per task, then the status of the platform as Markdown. A status that cannot
 * be built is said in the summary; it never fails the run, which has already done its work.
 */
export async function writeRunSummary(inputs: RunSummaryInputs): Promise<void> {
  if (!inputs.env.GITHUB_STEP_SUMMARY) return;
  const [{ buildStatus }, { markdownText, renderStatusMarkdown }] = await Promise.all([import('../status/build.ts'), import('../status/render.ts')]);
  const out: string[] = ['## gitops-bot run', '', `**${markdownText(inputs.report.totals)}**`, ''];
  for (const group of inputs.report.groups) {
    out.push(`<details><summary>${markdownText(group.task)} (${group.lines.length})</summary>`, '');
    for (const line of group.lines) out.push(`- ${markdownText(line, 400)}`);
    out.push('', '</details>', '');
  }
  out.push('## Status', '');
  try {
    const model = await buildStatus({
      config: inputs.config,
      tree: inputs.tree,
      now: inputs.now,
      envFilter: inputs.envFilter,
      appFilter: null,
      drain: inputs.drain,
      kube: inputs.kube,
      pullRequests: () => inputs.forge.listBotPullRequests(),
      forgeDescribe: inputs.forge.describe,
    });
    out.push(renderStatusMarkdown(model));
  } catch (error) {
    out.push(markdownText(`the status could not be built: ${isBotError(error) ? error.message : ((error as Error)?.name ?? 'error')}`, 400));
  }
  try {
    await appendJobSummary(inputs.env, `${out.join('\n')}\n`);
  } catch (error) {
    inputs.log(`could not write the job summary: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** A failed `run` in Actions still leaves a job summary: the error the bot explains, or only that it failed. */
export async function failureSummary(env: NodeJS.ProcessEnv, command: string, error: unknown): Promise<void> {
  if (command !== 'run' || !env.GITHUB_STEP_SUMMARY) return;
  const { markdownText } = await import('../status/render.ts');
  const what = isBotError(error) ? `${error.message} — ${error.hint} (exit ${error.exitCode})` : 'an unexpected error (see the log)';
  await appendJobSummary(env, `## gitops-bot run failed\n\n${markdownText(what, 1000)}\n`);
}
