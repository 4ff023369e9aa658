/**
 * The part of cli-kit's convention every sealing entry point repeats (`pnpm bot seal`, `secrets:seal`,
 * `secrets:fetch-cert`, `secrets:bootstrap`): parse against the spec, answer --help and --version, run the body
 * inside the single catch. Kept here rather than in cli-kit until a second package needs the same shape.
 */
import { readFileSync } from 'node:fs';
import { formatHelp, parseCommand, runReporting, type CliIo, type CommandSpec, type FlagSpecs, type FlagValues } from '@dbos-gitops/cli-kit';

/** Read once, lazily: `--version` is the only reader. */
export function sealingVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

export interface ParsedCommand<F extends FlagSpecs> {
  values: FlagValues<F>;
  positionals: string[];
}

/**
 * Runs `body` for a command line: help and version print to stdout and return 0; a usage error (cli-kit's or this
 * package's) is 64 with its hint; every other typed error its own exit code. `name` is what --version prints before
 * the version.
 */
export function runCommand<F extends FlagSpecs>(
  spec: CommandSpec<F>,
  argv: readonly string[],
  io: CliIo,
  name: string,
  body: (parsed: ParsedCommand<F>) => Promise<number | void>,
  /** Refusals that must come before parsing, e.g. a value-carrying flag named with its own reason. */
  precheck?: (argv: readonly string[]) => void,
): Promise<number> {
  return runReporting(
    io,
    async () => {
      precheck?.(argv);
      const parsed = parseCommand(spec, argv);
      if (parsed.kind === 'help') {
        io.stdout(formatHelp(spec));
        return 0;
      }
      if (parsed.kind === 'version') {
        io.stdout(`${name} ${sealingVersion()}\n`);
        return 0;
      }
      return (await body({ values: parsed.values, positionals: parsed.positionals })) ?? 0;
    },
    'sealing',
  );
}
