import type { BotConfig } from '../config/schema.ts';
import { createImageUpdateTask, imageUpdateTask } from './image-update/index.ts';
import type { RetryTick } from './shared/retry.ts';
import { TASK_NAMES } from './names.ts';
import { createSecretRotationTask, secretRotationTask, type RolloutCheck } from './secret-rotation/index.ts';
import type { Task } from './types.ts';
import type { TokenInfo } from '@dbos-gitops/conductor';
import { createVersionAddTask, versionAddTask, type PromoteNow } from './version-add/index.ts';
import { versionRetireTask } from './version-retire/index.ts';
import { createRollbackTask, rollbackTask, type RollbackRequest } from './rollback/index.ts';
import { createVersionSwitchTask, versionSwitchTask } from './version-switch/index.ts';
import type { GateRunner } from '../sources/dbos-gate/index.ts';

export type { PreviousProposal, Task, TaskContext } from './types.ts';

/**
 * The task registry. To add a task: export a `Task` from `src/tasks/<name>/index.ts`, list it here and in names.ts; the CLI, runner,
 * branch naming and PR handling come for free. Tasks that need settings from the config are built by
 * {@link configuredTasks}; the entries here are their defaults (help text, tests).
 */
export const TASKS: readonly Task[] = [imageUpdateTask, versionAddTask, versionRetireTask, secretRotationTask, rollbackTask, versionSwitchTask];
if (TASKS.map((task) => task.name).join() !== TASK_NAMES.join()) throw new Error('internal: tasks/names.ts does not list the registered tasks in order');

export function findTask(name: string): Task | undefined {
  return TASKS.find((task) => task.name === name);
}

export interface TaskSettings {
  /** Rotate the Conductor API key now, whatever its age (`--rotate-now`): every environment, or only `envFilter`. */
  rotateNow: boolean;
  envFilter: string | null;
  /** Conductor's key list per environment (read-only), the second witness for every key the task deletes. */
  conductorKeys?: ((env: string) => Promise<TokenInfo[]>) | null;
  /** The cluster's rollout check (built by the composition root from the environments' kube contexts); null: none. */
  rollout?: RolloutCheck | null;
  /** The rollback `pnpm bot rollback` asks for; absent: the rollback task plans only what `rollback: propose` wants. */
  rollback?: RollbackRequest | null;
  /** Runs version-switch's gate workflows (never enqueues in a run that writes nothing); null: none. */
  gate?: GateRunner | null;
  /** Honoured "promote now" ticks of the dashboard (version-add skips the soaks of exactly these). */
  promoteNow?: readonly PromoteNow[];
  /** Honoured "rotate now" ticks of the dashboard: rotate these environments' keys whatever their age. */
  rotateNowFromDashboard?: ReadonlyArray<{ env: string; by: readonly string[] }>;
  /** Honoured "retry" ticks of the dashboard: image-update and version-add lift exactly these closed PRs' rejections. */
  retry?: readonly RetryTick[];
}

/** The registry with each task configured from the bot config (today: secret-rotation's Conductor access). */
export function configuredTasks(config: BotConfig, settings: TaskSettings): readonly Task[] {
  const rotation = config.secretRotation;
  const configuredRotation = createSecretRotationTask({
    conductor: rotation?.conductor
      ? {
          org: rotation.conductor.org,
          permissions: rotation.conductor.permissions,
          tokenPrefix: rotation.conductor.tokenPrefix,
        }
      : null,
    ...(rotation ? { maxAgeSeconds: rotation.maxAge, revokeGraceSeconds: rotation.revokeGrace } : {}),
    force: settings.rotateNow
      ? settings.envFilter
        ? [settings.envFilter]
        : true
      : (settings.rotateNowFromDashboard ?? []).length > 0
        ? settings.rotateNowFromDashboard!.map((tick) => tick.env)
        : false,
    forcedBy: Object.fromEntries(
      (settings.rotateNowFromDashboard ?? []).map((tick) => [
        tick.env,
        `rotation was asked for on the dashboard: ${tick.by.map((login) => `@${login}`).join(', ')} ticked it`,
      ]),
    ),
    rollout: settings.rollout ?? null,
    keyList: settings.conductorKeys ?? null,
  });
  const configuredRollback = createRollbackTask(settings.rollback ?? null);
  const configuredSwitch = createVersionSwitchTask({ gate: settings.gate ?? null });
  const configuredAdd = createVersionAddTask({ promoteNow: settings.promoteNow ?? [], retry: settings.retry ?? [] });
  const configuredUpdate = createImageUpdateTask({ retry: settings.retry ?? [] });
  const configured = new Map([configuredUpdate, configuredAdd, configuredRotation, configuredRollback, configuredSwitch].map((task) => [task.name, task]));
  return TASKS.map((task) => configured.get(task.name) ?? task);
}
