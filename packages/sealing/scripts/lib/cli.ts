/**
 * Shared plumbing of the people-facing scripts (`pnpm secrets:*`): cli-kit's convention through the package's
 * runCommand (--help explaining every flag, --version, a leading `--`, usage errors that never echo a value, typed
 * errors with a hint and the README's exit code), the environment name check, and the repository root.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { CliIo, CommandSpec, FlagSpecs, FlagValues } from '@dbos-gitops/cli-kit';
import { runCommand } from '../../src/command-line.ts';
import { UsageError } from '../../src/errors.ts';

const ENVIRONMENT = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function validateEnvironment(env: string | undefined): string {
  if (env === undefined || env === '') throw new UsageError('--env is required', 'name the environment, e.g. --env dev (its overlay is overlays/<env>)');
  if (!ENVIRONMENT.test(env) || env.length > 40) throw new UsageError(`"${env}" is not an environment name: use lower-case letters, digits and "-"`);
  return env;
}

/** --root, else the git work tree around the current directory, else the current directory. */
export async function repoRoot(flag: string | undefined): Promise<string> {
  if (flag) {
    const root = resolve(flag);
    if (!existsSync(root)) throw new UsageError(`--root ${flag} does not exist`, "pass the repository's top directory, or leave --root out inside a checkout");
    return root;
  }
  // node:child_process rather than zx here: this module is on every script's --help path, which stays light.
  try {
    const { stdout } = await promisify(execFile)('git', ['rev-parse', '--show-toplevel']);
    return stdout.trim();
  } catch {
    return process.cwd();
  }
}

/** Writes lines to stdout, each ending in a newline. */
export const printer =
  (io: CliIo) =>
  (text: string): void =>
    io.stdout(text.endsWith('\n') ? text : `${text}\n`);

/** Runs a script's main with the process's argv and streams, then exits with the code it maps to. */
export function runScript<F extends FlagSpecs>(
  spec: CommandSpec<F>,
  name: string,
  main: (values: FlagValues<F>, io: CliIo, positionals: string[]) => Promise<number | void>,
): void {
  const io: CliIo = { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text), env: process.env };
  void runCommand(spec, process.argv.slice(2), io, name, ({ values, positionals }) => main(values, io, positionals)).then((code) => process.exit(code));
}
