import type { BotConfig } from '../config/schema.ts';
import type { MarkerPayload, TaskResult } from '../plan.ts';
import type { TreeReader } from '../repo/tree.ts';
import type { ConductorTokenApi } from '@dbos-gitops/conductor';
import type { DrainSourceFor } from '../sources/drain/for-environment.ts';
import type { KubeHealth } from '../sources/kube/health.ts';
import type { RegistrySource } from '../sources/registry/types.ts';

/**
 * What the bot proposed before, read back from the forge by the runner (the PR body's hidden marker plus the PR's
 * state). This is the bot's only memory: nothing is kept locally between runs.
 */
export interface PreviousProposal {
  branch: string;
  number: number;
  state: 'open' | 'closed';
  merged: boolean;
  /** The PR carries the `gitops-bot/hold` label. */
  held: boolean;
  /** The PR body as the forge has it, so a task can keep facts (e.g. a read time) stable when nothing changed. */
  body?: string;
  proposal: MarkerPayload;
}

/**
 * Everything a task may read. Tasks are pure planners: they read this context and return plans; they never import
 * git or the forge, and never write. Add new read-only sources here (e.g. a drain reader for version-retire).
 */
export interface TaskContext {
  config: BotConfig;
  /** The base branch of the GitOps repository (what is merged). */
  tree: TreeReader;
  registry: RegistrySource;
  /** Null unless cluster access is configured. */
  kube: KubeHealth | null;
  /** The Conductor admin client of an environment, for tasks whose effects write to Conductor; null: no access. */
  conductor: ConductorAccess;
  /** The drain reader of an environment (version-retire); null: none configured. */
  drain: DrainSourceFor | null;
  previous: PreviousProposal[];
  now: Date;
  /** Only plan for this environment (others are still read, e.g. the previous environment for promotion). */
  envFilter: string | null;
  /** Progress lines (stderr in the CLI). */
  log: (line: string) => void;
}

/**
 * A source a task reads, beside the repository tree and the config every task gets. `forge` stands for the bot's
 * previous proposals (read back from its PRs). The composition root builds only what the selected tasks need.
 */
export type TaskNeed = 'registry' | 'forge' | 'drain' | 'conductor' | 'kube';

export interface Task {
  /** Branch segment and `--task` value, e.g. `image-update`. */
  name: string;
  description: string;
  /** What the task reads besides the tree and the config. */
  needs: readonly TaskNeed[];
  plan(context: TaskContext): Promise<TaskResult>;
  /** Why this config does not enable the task (e.g. no `apps:` entries), or null when it does. Running every
   * task, a disabled one is reported as not proposed; asked for by name, its plan() says what is missing. */
  disabledBy?(config: BotConfig): string | null;
}

/** The Conductor admin client of an environment (built lazily: the admin key is read only when used); null: none. */
export type ConductorAccess = ((env: string) => ConductorTokenApi) | null;
