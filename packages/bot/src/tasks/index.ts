import { imageUpdateTask } from './image-update.ts';
import { versionAddTask } from './version-add.ts';
import { versionRetireTask } from './version-retire.ts';
import type { Task } from './types.ts';

export type { PreviousProposal, Task, TaskContext } from './types.ts';

/**
 * The task registry. To add a task (version-add, version-retire, secret-rotation): export a `Task` from
 * `src/tasks/<name>.ts` and list it here; the CLI, runner, branch naming and PR handling come for free.
 */
export const TASKS: readonly Task[] = [imageUpdateTask, versionAddTask, versionRetireTask];

export function findTask(name: string): Task | undefined {
  return TASKS.find((task) => task.name === name);
}
