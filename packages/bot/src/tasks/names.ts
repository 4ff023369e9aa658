/**
 * The task names, in run order, without loading any task: `--help` lists them and must start fast. tasks/index.ts
 * checks at load that its registry matches this list, so the two cannot drift.
 */
export const TASK_NAMES = ['image-update', 'version-add', 'version-retire', 'secret-rotation', 'rollback', 'version-switch'] as const;
