import type { CommandSpec, FlagValues } from '@dbos-gitops/cli-kit';
import { UsageError } from '../../errors.ts';
import type { CommandIo } from '../index.ts';
import { CREDENTIAL_NOTES, RUN_FLAGS, toOptions } from '../options.ts';

const { task: _task, 'rotate-now': _rotateNow, env: _env, ...SHARED_FLAGS } = RUN_FLAGS;

export const spec = {
  usage: 'pnpm bot rollback --env ENV [--app APP] [--to VERSION] [--reason TEXT] [--dry-run] [--json] [options]',
  summary:
    "Proposes ONE pull request that moves an application's Service selector and app-latest component back to a version that is still live, and holds the bad version (# gitops-bot: hold <reason> above its line in the list of versions) so version-add does not propose it again. The bad version keeps its Deployment until its own workflows drain; version-retire then removes it. Runs like `pnpm bot run --task rollback` (branch bot/rollback/<env>/<app>/<bad-slug>).",
  flags: {
    env: { type: 'string', valueName: 'ENV', description: 'the environment (an entry of environments: in the bot config); required' },
    app: { type: 'string', valueName: 'APP', description: 'the application (an entry of apps:); default: the only application of the environment' },
    to: {
      type: 'string',
      valueName: 'VERSION',
      description: 'the live version to go back to (version or directory name); default: the newest live version older than the current latest',
    },
    reason: {
      type: 'string',
      valueName: 'TEXT',
      description: 'why, written into the hold line and the PR body (one line; default: "rolled back from X to Y")',
    },
    ...SHARED_FLAGS,
  },
  notes: [
    'Exit codes: 0 planned (or nothing new to do), 2 the rollback cannot be planned as asked (unknown environment or application, --to not live, no older live version), 64 usage.',
    ...CREDENTIAL_NOTES,
  ],
} satisfies CommandSpec;

/** A name we print back and put in a branch: what environment, application and version names look like. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export async function run(values: FlagValues<typeof spec.flags>, io: CommandIo): Promise<number> {
  if (!values.env) throw new UsageError('--env is required', 'pass --env <environment>');
  for (const [flag, value] of [
    ['--env', values.env],
    ['--app', values.app],
    ['--to', values.to],
  ] as const) {
    if (value !== undefined && !NAME.test(value))
      throw new UsageError(`${flag} is not a valid name (the value is not shown)`, 'use letters, digits, ".", "_", "+" or "-"');
  }
  const options = toOptions({ ...values, task: 'rollback' });
  // The runner's own --env filter would refuse an unknown environment as usage (64); the task refuses it as a
  // request that cannot be planned (2), and leaves the other environments' rollback PRs alone by itself.
  const { runWithOptions } = await import('./run.ts');
  return runWithOptions(
    { ...options, env: null, rollback: { env: values.env, app: values.app ?? null, to: values.to ?? null, reason: values.reason ?? null } },
    io,
  );
}
