import type { Plan } from '../plan.ts';
import { ActionError, applyActions, type ActionDeps } from './apply.ts';
import { actionsOf, describeActions } from './types.ts';

export interface ActionStepOptions {
  dryRun: boolean;
  /** Where dry-run descriptions go (the runner's `print`). */
  print: (text: string) => void;
  log: (line: string) => void;
  /** Checked once the actions ran, so an interrupt that lands while a key is being created still deletes it. */
  signal?: AbortSignal;
}

/**
 * The runner's hook around one plan's write step (commit, push, PR). Plans without actions pass straight through.
 * Dry-run only describes the actions. Otherwise the actions run first (keys created and sealed into the plan's edits),
 * `step` gets the completed plan, and if `step` throws, everything the actions created is undone before the error
 * goes on. The runner change is one call:
 *
 *   await withPlanActions(plan, actionDeps, { dryRun, print, log }, async (completed) => { ...push completed.edits, open the PR... });
 */
export async function withPlanActions<T>(plan: Plan, deps: ActionDeps | null, options: ActionStepOptions, step: (plan: Plan) => Promise<T>): Promise<T> {
  if (actionsOf(plan).length === 0) return step(plan);
  if (options.dryRun) {
    options.print(describeActions(plan));
    return step(plan);
  }
  if (!deps) {
    throw new ActionError(
      `${plan.branch} needs Conductor access to run its actions, but none is configured`,
      'set the Conductor URL and the admin key variable for this environment in .github/gitops-bot.yaml, or run with --dry-run',
      true,
    );
  }
  const prepared = await applyActions(plan, deps);
  try {
    options.signal?.throwIfAborted();
    return await step(prepared.plan);
  } catch (error) {
    const undone = await prepared.compensate();
    for (const record of undone.failed) options.log(`could not delete the new Conductor API key ${record.tokenName} (${record.env}): ${record.reason}; delete it in the DBOS Console`);
    throw error;
  }
}
