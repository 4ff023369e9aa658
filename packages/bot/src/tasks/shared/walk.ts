import type { AppConfig, EnvironmentConfig } from '../../config/schema.ts';
import { appsInEnvironment } from '../../repo/apps.ts';
import { branchFor, type Effect, type Plan, type Skip, type TaskResult } from '../../plan.ts';
import { HOLD_LABEL } from '../../sources/forge/types.ts';
import type { TaskContext } from '../types.ts';

/** One environment as the walk hands it to a task's planner. */
export interface EnvironmentStep {
  env: EnvironmentConfig;
  /** The environment before this one in promotion order (the config's order); null for the first. */
  previousEnv: EnvironmentConfig | null;
  /** Records why `subject` is not proposed. `leaveOpenPullRequest`: the task's own PR is in progress, so the runner
   * must neither update nor close it. */
  skip(subject: string, reason: string, options?: { leaveOpenPullRequest: true }): void;
  /**
   * Whether `subject` is held, deciding every hold in one place: a `# gitops-bot: hold` comment the task found
   * (`comment` says where, e.g. `line in overlays/dev/apps/orders/versions/kustomization.yaml`; null: none), then the
   * hold label on the subject's open PR. A held subject is recorded as a skip that leaves its PR alone; a comment
   * hold also closes an open PR (it must not be merged while held).
   */
  held(subject: string, comment: string | null): boolean;
  propose(plan: Plan): void;
}

/**
 * Walks the configured environments for one task: applies the environment filter (other environments are still
 * visible as `previousEnv`, e.g. for promotion), and assembles the plans, skips and effects the planner records.
 */
export async function walkEnvironments(
  context: TaskContext,
  task: string,
  visit: (step: EnvironmentStep) => Promise<void>,
): Promise<TaskResult & { effects: Effect[] }> {
  const result: TaskResult & { effects: Effect[] } = { plans: [], skips: [], effects: [] };
  const environments = context.config.environments;
  for (let index = 0; index < environments.length; index++) {
    const env = environments[index]!;
    if (context.envFilter && context.envFilter !== env.name) continue;
    const record = (skip: Skip): void => {
      result.skips.push(skip);
    };
    await visit({
      env,
      previousEnv: index > 0 ? environments[index - 1]! : null,
      skip: (subject, reason, options) => record({ task, env: env.name, subject, reason, ...(options?.leaveOpenPullRequest ? { held: true } : {}) }),
      held: (subject, comment) => {
        if (comment !== null) {
          record({ task, env: env.name, subject, reason: `held by a "# gitops-bot: hold" ${comment}`, held: true, heldBy: 'comment' });
          return true;
        }
        const branch = branchFor(task, env.name, subject);
        const labelled = context.previous.find((previous) => previous.state === 'open' && previous.held && previous.branch === branch);
        if (!labelled) return false;
        record({ task, env: env.name, subject, reason: `held by the ${HOLD_LABEL} label on PR #${labelled.number}`, held: true });
        return true;
      },
      propose: (plan) => {
        result.plans.push(plan);
      },
    });
  }
  return result;
}

/** One application in one environment, as {@link walkApplications} hands it to a version task's planner. Subjects are
 * the application's own (a version slug); the walk prefixes them with the application, so branches, holds and skips
 * read `<app>/<slug>` and one application's proposals never stand for another's. */
export interface ApplicationStep extends Omit<EnvironmentStep, 'previousEnv'> {
  app: AppConfig;
  /** The environment before this one in promotion order among those the application runs in; null for its first. */
  previousEnv: EnvironmentConfig | null;
  /** `<app>/<subject>`: the plan subject (and branch tail) of one of this application's subjects. */
  subjectOf(subject: string): string;
  /** Records a skip about the whole application in this environment (subject `<app>/*`). */
  skipApp(reason: string): void;
}

/** The subject of a skip about a whole application: the runner keeps that application's open PRs, and only those. */
export function appWideSubject(app: string): string {
  return `${app}/*`;
}

/**
 * Walks environment x application for the version tasks: every configured application that runs in the environment
 * (`apps[].environments`), in the config's order. Promotion is per application: its previous environment is the
 * closest earlier one it runs in, so a version of an application only ever comes from that application's own tree.
 */
export async function walkApplications(
  context: TaskContext,
  task: string,
  visit: (step: ApplicationStep) => Promise<void>,
): Promise<TaskResult & { effects: Effect[] }> {
  const environments = context.config.environments;
  return walkEnvironments(context, task, async (step) => {
    const index = environments.findIndex((candidate) => candidate.name === step.env.name);
    for (const app of appsInEnvironment(context.config, step.env)) {
      const earlier = environments.slice(0, index).filter((candidate) => appsInEnvironment(context.config, candidate).includes(app));
      const subjectOf = (subject: string): string => `${app.name}/${subject}`;
      await visit({
        env: step.env,
        app,
        previousEnv: earlier.at(-1) ?? null,
        subjectOf,
        skip: (subject, reason, options) => step.skip(subjectOf(subject), reason, options),
        skipApp: (reason) => step.skip(appWideSubject(app.name), reason),
        held: (subject, comment) => step.held(subjectOf(subject), comment),
        propose: step.propose,
      });
    }
  });
}
