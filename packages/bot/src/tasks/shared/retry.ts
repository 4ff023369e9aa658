import type { PreviousProposal, TaskContext } from '../types.ts';

/**
 * "Retry" from the dashboard: a proposal the bot gave up on because its PR was closed without merging (by a person,
 * or by the bot on a gate's `fail`) is proposed again once, when someone with write access ticks it. The tick lifts
 * only that one closed PR's rejection; the proposal is planned through every other check as usual (a hold still
 * holds, a gate's `fail` still blocks). The PR it opens says so, and while it is open it is the memory: the closed
 * PR it retries no longer counts, and a later run keeps the retry line (the tick itself was honoured once).
 */

/** The tasks whose closed PRs are rejections a retry can lift (their `rejected proposal` checks read this). */
export const RETRYABLE_TASKS = ['image-update', 'version-add'] as const;

/** A maintainer's honoured "retry" tick: propose `subject` of `task` in `env` again despite its closed PR. */
export interface RetryTick {
  task: string;
  env: string;
  subject: string;
  /** Who edited the dashboard since the bot last wrote it (every one of them with write access). */
  by: string[];
}

/** The closed PR a retry lifts, and who asked for it. */
export interface Retry {
  pr: number;
  by: string[];
}

const RETRY_MARK = '- Retried from the dashboard: ';
const RETRY_LINE = /^- Retried from the dashboard: ((?:@[A-Za-z0-9[\]_-]+(?:, )?)+) ticked it, so PR #(\d{1,9}), closed without merging, /;

/** The PR body line of a retry: read back by {@link retryOf} while the PR is open. */
export function retryLine(retry: Retry): string {
  return `${RETRY_MARK}${retry.by.map((login) => `@${login}`).join(', ')} ticked it, so PR #${retry.pr}, closed without merging, no longer holds this proposal back (every other check still applied).`;
}

/** The newest of the bot's PRs on `branch`, by number (GitHub numbers grow), or undefined. */
function newestOn(context: TaskContext, branch: string): PreviousProposal | undefined {
  return context.previous.filter((previous) => previous.branch === branch).sort((a, b) => b.number - a.number)[0];
}

/**
 * The retry in force for the proposal on `branch`: this run's tick, when the newest PR on the branch is closed
 * unmerged (the rejection it lifts); else the bot's own open PR on the branch that says it is a retry. Null: none.
 */
export function retryOf(context: TaskContext, ticks: readonly RetryTick[], task: string, env: string, subject: string, branch: string): Retry | null {
  const newest = newestOn(context, branch);
  const tick = ticks.find((item) => item.task === task && item.env === env && item.subject === subject);
  if (tick && newest?.state === 'closed' && !newest.merged) return { pr: newest.number, by: tick.by };
  // A stale or hand-written tick: nothing the bot gave up on to bring back (the PR list is the only memory).
  if (tick)
    context.log(
      `dashboard: retry of ${task} ${subject} in ${env} not acted on: ${newest ? `its newest PR #${newest.number} is ${newest.merged ? 'merged' : newest.state}` : 'the bot has no PR of it in its listing window'}`,
    );
  if (newest?.state !== 'open' || newest.proposal.task !== task || newest.proposal.env !== env || newest.proposal.subject !== subject) return null;
  const line = newest.body?.split('\n').find((candidate) => candidate.startsWith(RETRY_MARK));
  const match = line ? RETRY_LINE.exec(line) : null;
  if (!match) return null;
  const pr = Number(match[2]);
  // Only a PR closed before this one can be the one it retries.
  if (!(pr < newest.number)) return null;
  return { pr, by: match[1]!.split(', ').map((login) => login.replace(/^@/, '')) };
}

/**
 * Whether a closed PR's rejection no longer counts: a retry lifts it, or a later PR of the bot on the same branch
 * proposed exactly the same change (only a retry re-proposes a rejected change, so that PR is the memory now: open,
 * merged, or closed again, and then it is the rejection).
 */
export function rejectionLifted(context: TaskContext, closed: PreviousProposal, retry: Retry | null): boolean {
  if (retry && retry.pr === closed.number) return true;
  const same = JSON.stringify(closed.proposal.memory);
  return context.previous.some((other) => other.branch === closed.branch && other.number > closed.number && JSON.stringify(other.proposal.memory) === same);
}
