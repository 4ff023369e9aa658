/**
 * Shared plumbing of the people-facing scripts: typed failures printed as one line (never a stack trace, never a
 * value), the repository root, and flag parsing that refuses unknown flags instead of ignoring them.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { $ } from 'zx';
import { SealingError } from '../../src/errors.ts';

/** A failure the user can act on. exitCode 2 is a usage error, as in the seal CLI. */
export class ScriptError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'ScriptError';
  }
}

export const usageError = (message: string): ScriptError => new ScriptError(message, 2);

const ENVIRONMENT = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function validateEnvironment(env: string | undefined, usage: string): string {
  if (env === undefined || env === '') throw usageError(`--env is required\n${usage}`);
  if (!ENVIRONMENT.test(env) || env.length > 40) throw usageError(`"${env}" is not an environment name: use lower-case letters, digits and "-"`);
  return env;
}

export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // node's message names the flag, never a value (values only follow known flags).
    throw usageError(`${(error as Error).message.split('\n')[0]}\n${usage}`);
  }
}

/** --root, else the git work tree around the current directory, else the current directory. */
export async function repoRoot(flag: string | undefined): Promise<string> {
  if (flag) {
    const root = resolve(flag);
    if (!existsSync(root)) throw usageError(`--root ${flag} does not exist`);
    return root;
  }
  const result = await $({ quiet: true, nothrow: true })`git rev-parse --show-toplevel`;
  return result.exitCode === 0 ? result.stdout.trim() : process.cwd();
}

/** Runs a script's main and exits: 0, the ScriptError's code, or 1 with the message of any other failure. */
export function runScript(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      if (error instanceof ScriptError) {
        process.stderr.write(`error: ${error.message}\n`);
        process.exit(error.exitCode);
      }
      if (error instanceof SealingError) {
        process.stderr.write(`error: ${error.message}\n`);
        process.exit(error.code === 'USAGE' ? 2 : 1);
      }
      // Unknown failures: the message only; stack traces are for bugs, and this path never holds a value.
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
