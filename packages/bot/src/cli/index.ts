import { readFileSync } from 'node:fs';
import { formatHelp, parseCommand, runReporting, type CommandSpec, type FlagValues } from '@dbos-gitops/cli-kit';
import { InterruptedError, UsageError } from '../errors.ts';
import { TASK_NAMES } from '../tasks/names.ts';

/**
 * The bot's command line, changesets-style: this file is the only catch and exit-code mapping (cli-kit's
 * `runReporting`); each command lives in `commands/<command>.ts` and is imported only when it runs, so `--help` and
 * `--version` load almost nothing.
 */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  now?: Date;
  /** Aborted with an InterruptedError on SIGINT/SIGTERM (see src/cli.ts). */
  signal?: AbortSignal;
  /** Whether stderr is a terminal: then long steps print progress lines. */
  stderrIsTTY?: boolean;
}

/** What a command gets: the CLI's streams and environment, plus a progress line for long steps. */
export interface CommandIo extends CliIo {
  progress: (line: string) => void;
}

/** A command that parses its flags with cli-kit. */
interface ParsedCommand {
  spec: CommandSpec;
  /** Refuses arguments before parsing (e.g. a flag that would carry a secret), so no value is ever echoed. */
  screen?(argv: readonly string[]): void;
  run(values: FlagValues<CommandSpec['flags']>, io: CommandIo): Promise<number>;
}

/** A command that parses its own arguments (seal keeps kubeseal-compatible flags). */
interface RawCommand {
  runArgv(argv: string[], io: CommandIo): Promise<number>;
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<ParsedCommand | RawCommand> }> = {
  plan: { summary: 'read everything, write nothing: print what the bot would change', load: () => import('./commands/plan.ts') as Promise<ParsedCommand> },
  run: { summary: 'apply the plans: push one branch per change and open or update its PR', load: () => import('./commands/run.ts') as Promise<ParsedCommand> },
  'drain-status': {
    summary: 'in-flight DBOS workflows per application version (what retirement waits for)',
    load: () => import('./commands/drain-status.ts') as Promise<ParsedCommand>,
  },
  evidence: {
    summary: "a version's DBOS evidence in an environment (finished workflows, error ratio) and the gate's verdict",
    load: () => import('./commands/evidence.ts'),
  },
  rollback: {
    summary: 'one PR that moves an application back to a live version and holds the bad one (which drains)',
    load: () => import('./commands/rollback.ts') as Promise<ParsedCommand>,
  },
  status: {
    summary: 'where every application version stands per environment, promotion positions, open PRs, secrets due (offline)',
    load: () => import('./commands/status.ts') as Promise<ParsedCommand>,
  },
  seal: { summary: "seal values into a SealedSecret for an environment's certificate (kubeseal-compatible flags)", load: () => import('./commands/seal.ts') },
};

const MAIN_HELP = `gitops-bot: proposes changes to this GitOps repository as pull requests

usage: pnpm bot <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(14)}${command.summary}`)
  .join('\n')}

options:
  -h, --help    show this help and exit
  --version     print the version and exit

Run \`pnpm bot <command> --help\` for the options of a command.

tasks: ${TASK_NAMES.join(', ')}
`;

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `gitops-bot ${pkg.version}\n`;
}

function withProgress(io: CliIo): CommandIo {
  return { ...io, progress: io.stderrIsTTY ? (line) => io.stderr(`… ${line}\n`) : () => {} };
}

/** Runs one command: `--help`, `--version` and a leading `--` are handled the same way for every command. */
export async function runCommand(command: ParsedCommand | RawCommand, argv: string[], io: CliIo, precedingArguments = 0): Promise<number> {
  const commandIo = withProgress(io);
  if ('runArgv' in command) return command.runArgv(argv[0] === '--' ? argv.slice(1) : argv, commandIo);
  command.screen?.(argv);
  const parsed = parseCommand(command.spec, argv, precedingArguments);
  if (parsed.kind === 'help') {
    io.stdout(formatHelp(command.spec));
    return 0;
  }
  if (parsed.kind === 'version') {
    io.stdout(version());
    return 0;
  }
  return command.run(parsed.values, commandIo);
}

/** Parses argv, runs the command, and maps every failure to a message and an exit code. The only catch in the bot. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  return runReporting(
    io,
    async () => {
      const args = argv[0] === '--' ? argv.slice(1) : argv;
      const name = args[0];
      try {
        if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
          io.stdout(MAIN_HELP);
          return name === undefined ? 64 : 0;
        }
        if (name === '--version') {
          io.stdout(version());
          return 0;
        }
        const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
        // Never echo an unknown first argument that looks like a value: it may be a secret that lost its flag.
        if (!entry) {
          const word = name.split('=')[0]!;
          const shown = /^-{0,2}[a-z][a-z-]{0,31}$/.test(word) ? word : '(not shown)';
          throw new UsageError(name.startsWith('-') ? `unknown option ${shown}` : `unknown command "${shown}"`);
        }
        // The command's name precedes its arguments: messages number arguments as the user typed them.
        return await runCommand(await entry.load(), args.slice(1), io, 1);
      } catch (error) {
        // Whatever the interrupted step threw, the process was asked to stop: report that, with the signal's exit code.
        const reason: unknown = io.signal?.aborted ? io.signal.reason : null;
        const thrown = reason instanceof InterruptedError && error !== reason ? reason : error;
        // In GitHub Actions the error also becomes an annotation on the file it is about (README "The bot").
        if (io.env.GITHUB_ACTIONS === 'true') {
          const { errorAnnotation, failureSummary } = await import('./github-actions.ts');
          const annotation = await errorAnnotation(thrown, io.env.GITHUB_WORKSPACE ?? process.cwd()).catch(() => null);
          if (annotation) io.stdout(`${annotation}\n`);
          await failureSummary(io.env, name ?? '', thrown).catch(() => {});
        }
        throw thrown;
      }
    },
    'gitops-bot',
  );
}
