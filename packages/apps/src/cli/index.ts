/**
 * `pnpm apps:add` and `pnpm apps:remove`: one entry, one catch. A typed error prints `error:` and `what to do:` with
 * its exit code (cli-kit's runReporting); the command modules load only once their name is known, so `--help` is quick.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT, formatHelp, parseCommand, runReporting, type CliIo, type CommandSpec } from '@dbos-gitops/cli-kit';
import type { SecretInput } from '@dbos-gitops/sealing';
import { usageError } from '../errors.ts';

export interface AppsIo extends CliIo {
  /** Aborted with an InterruptedError on SIGINT/SIGTERM (src/cli.ts). */
  signal?: AbortSignal;
  stdinIsTTY: boolean;
  /** Where the secret values come from: hidden prompts on a terminal, else stdin lines. */
  secretInput: () => SecretInput;
  now: () => Date;
  /** --root, else the git work tree around the current directory, else the current directory. */
  root: (flag: string | undefined) => string;
}

const COMMANDS = {
  add: () => import('../commands/add.ts'),
  remove: () => import('../commands/remove.ts'),
} as const;

const USAGE = `usage: pnpm apps:add ... | pnpm apps:remove ...  (each with --help)

Adds a DBOS application to environments, or removes it from one once it has drained (README "Applications").
`;

export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export function defaultRoot(cwd: string): (flag: string | undefined) => string {
  return (flag) => {
    if (flag !== undefined) {
      const root = resolve(cwd, flag);
      if (!existsSync(root))
        throw usageError('--root names a directory that does not exist', "pass the repository's top directory, or leave --root out inside a checkout");
      return root;
    }
    try {
      return execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return cwd;
    }
  };
}

export async function main(argv: readonly string[], io: AppsIo): Promise<number> {
  return runReporting(
    io,
    async () => {
      const [name, ...rest] = argv;
      if (name === undefined || name === '--help' || name === '-h') {
        io.stdout(USAGE);
        return name === undefined ? EXIT.usage : EXIT.ok;
      }
      if (!(name in COMMANDS)) throw usageError('unknown command (not shown)', 'use pnpm apps:add or pnpm apps:remove');
      const command = await COMMANDS[name as keyof typeof COMMANDS]();
      const prepared = 'takeVersion' in command ? command.takeVersion(rest) : { argv: rest, values: {} };
      const parsed = parseCommand(command.spec as CommandSpec, prepared.argv, 1);
      if (parsed.kind === 'help') {
        io.stdout(formatHelp(command.spec));
        return EXIT.ok;
      }
      if (parsed.kind === 'version') {
        io.stdout(`${version()}\n`);
        return EXIT.ok;
      }
      return command.run({ ...parsed.values, ...prepared.values } as never, io);
    },
    'gitops-apps',
  );
}
