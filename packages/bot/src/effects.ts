import type { Effect, EffectContext, Plan, TaskResult } from './plan.ts';

export interface EffectStepOptions {
  dryRun: boolean;
  /** Where dry-run descriptions go (the runner's `print`). */
  print: (text: string) => void;
}

/** What dry-run prints for a plan's effects; empty when it has none. */
export function describeEffects(plan: Pick<Plan, 'effects'>): string {
  const effects = plan.effects ?? [];
  if (effects.length === 0) return '';
  return ['actions at apply time:', ...effects.map((effect) => `  - ${effect.describe()}`)].join('\n');
}

/**
 * The runner's hook around one plan's write step (commit, push, PR). Plans without effects pass straight through.
 * Dry-run only describes the effects. Otherwise they are applied in order (e.g. a key created and sealed into the
 * plan's edits), `step` gets the completed plan, and if `step` (or a later effect) throws, everything already applied
 * is compensated, newest first, before the error goes on: nothing is left half-written.
 */
export async function withEffects<T>(plan: Plan, context: EffectContext, options: EffectStepOptions, step: (plan: Plan) => Promise<T>): Promise<T> {
  const effects = plan.effects ?? [];
  if (effects.length === 0) return step(plan);
  if (options.dryRun) {
    options.print(describeEffects(plan));
    return step(plan);
  }
  const applied: Effect[] = [];
  let edits = plan.edits;
  try {
    for (const effect of effects) {
      applied.push(effect);
      ({ edits } = await effect.apply(edits, context));
    }
    // Checked once the effects ran, so an interrupt that lands while a key is being created still undoes it.
    context.signal?.throwIfAborted();
    return await step({ ...plan, edits });
  } catch (error) {
    for (const effect of applied.reverse()) {
      for (const line of await effect.compensate(context)) context.log(line);
    }
    throw error;
  }
}

/**
 * Applies the effects a task result carries that need no PR (e.g. deleting an unused key), before any plan. Dry-run
 * only describes them. Returns one line per thing done or deliberately not done, for the run's output.
 */
export async function applyStandaloneEffects(
  results: ReadonlyArray<Pick<TaskResult, 'effects'>>,
  context: EffectContext,
  options: EffectStepOptions,
): Promise<string[]> {
  const report: string[] = [];
  for (const effect of results.flatMap((result) => result.effects ?? [])) {
    if (options.dryRun) {
      options.print(`would ${effect.describe()}`);
      continue;
    }
    context.signal?.throwIfAborted();
    report.push(...(await effect.apply([], context)).report);
  }
  return report;
}
