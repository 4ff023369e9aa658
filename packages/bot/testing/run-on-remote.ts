/**
 * Test-only: one bot run (`runPlans`) against a bare git remote with the local forge, the way `pnpm bot run` does it
 * (clone the base branch, plan, push branches, remove the clone), for the tests that drive tasks end to end.
 */
import type { BareRemote } from '@dbos-gitops/testkit';
import { parseConfig } from '../src/config/load.ts';
import { GitWorkspace } from '../src/git/workspace.ts';
import { runPlans, type RunResult } from '../src/runner.ts';
import { LocalForge } from '../src/sources/forge/local.ts';
import type { DrainSourceFor } from '../src/sources/drain/for-environment.ts';
import type { KubeHealth } from '../src/sources/kube/health.ts';
import type { RegistrySource } from '../src/sources/registry/types.ts';
import type { Task } from '../src/tasks/types.ts';

export const TEST_IDENTITY = { name: 'bot', email: 'bot@example.invalid' };

export interface RunOnRemoteOptions {
  remote: BareRemote;
  tasks: Task[];
  registry: RegistrySource;
  drain?: DrainSourceFor;
  /** Default null: every environment. */
  envFilter?: string | null;
  identity?: { name: string; email: string };
  /** The cluster's health source (a fake at the KubeHealth interface); default null: no cluster access. */
  kube?: KubeHealth | null;
}

export async function runOnRemote(options: RunOnRemoteOptions): Promise<RunResult> {
  const identity = options.identity ?? TEST_IDENTITY;
  const config = parseConfig((await options.remote.readFile('main', '.github/gitops-bot.yaml'))!);
  const workspace = await GitWorkspace.clone(options.remote.url, 'main', identity);
  try {
    const forge = new LocalForge(
      async () => [...(await workspace.botBranches()).keys()],
      () => undefined,
    );
    return await runPlans({
      config,
      tasks: options.tasks,
      workspace,
      forge,
      registry: options.registry,
      kube: options.kube ?? null,
      ...(options.drain ? { drain: options.drain } : {}),
      envFilter: options.envFilter ?? null,
      dryRun: false,
      now: new Date(),
      log: () => undefined,
      print: () => undefined,
      identity,
    });
  } finally {
    await workspace.dispose();
  }
}
