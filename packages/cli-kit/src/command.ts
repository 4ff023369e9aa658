import { parseArgs } from 'node:util';
import { EXIT } from './exit-codes.ts';

export interface FlagSpec {
  type: 'string' | 'boolean';
  /** One line: what the flag does, and its default when it has one. */
  description: string;
  short?: string;
  /** Shown in help as `--flag VALUE`. */
  valueName?: string;
  multiple?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

type FlagValue<S extends FlagSpec> = S['type'] extends 'boolean'
  ? S['multiple'] extends true
    ? boolean[]
    : boolean
  : S['multiple'] extends true
    ? string[]
    : string;

export type FlagValues<F extends FlagSpecs> = { [K in keyof F]?: FlagValue<F[K]> };

export interface CommandSpec<F extends FlagSpecs = FlagSpecs> {
  /** As typed, e.g. `pnpm bot plan`. */
  usage: string;
  /** One paragraph: what the command does and what it never does. */
  summary: string;
  flags: F;
  /** Positional arguments the command takes; none unless named. */
  positionals?: { name: string; description: string; min?: number; max?: number };
  /** Extra paragraphs after the flags (environment variables, exit codes, examples). */
  notes?: string[];
}

/** A command line that cannot mean anything: exit 64, never echoing a value (it may be a secret that lost its flag). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = EXIT.usage;
  constructor(
    message: string,
    readonly hint = 'run the command with --help for its options',
  ) {
    super(message);
  }
}

export type Parsed<F extends FlagSpecs> = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; values: FlagValues<F>; positionals: string[] };

/**
 * Parses argv against the spec: `--help`/`-h` and `--version` anywhere win; a leading `--` (pnpm forwards it) is
 * dropped; an unknown flag or a missing value is a UsageError that names the flag but never the value.
 * `precedingArguments`: how many arguments the user typed before argv (e.g. 1 for a subcommand's name), so that an
 * argument's position in a message is the position the user sees.
 */
export function parseCommand<F extends FlagSpecs>(spec: CommandSpec<F>, argv: readonly string[], precedingArguments = 0): Parsed<F> {
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];
  const terminator = args.indexOf('--');
  const flagPart = terminator < 0 ? args : args.slice(0, terminator);
  if (flagPart.includes('--help') || flagPart.includes('-h')) return { kind: 'help' };
  if (flagPart.includes('--version')) return { kind: 'version' };
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, flag] of Object.entries(spec.flags)) {
    options[name] = { type: flag.type, ...(flag.short ? { short: flag.short } : {}), ...(flag.multiple ? { multiple: true } : {}) };
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    throw new UsageError(describeParseError(error as Error & { code?: string }));
  }
  const { min = 0, max = 0 } = spec.positionals ?? {};
  if (parsed.positionals.length > max) {
    throw new UsageError(
      `unexpected argument #${precedingArguments + args.indexOf(parsed.positionals[max]!) + 1} (not shown: it may be a value that lost its flag)`,
    );
  }
  if (parsed.positionals.length < min) throw new UsageError(`missing ${spec.positionals!.name}`);
  return { kind: 'run', values: parsed.values as FlagValues<F>, positionals: parsed.positionals };
}

/** node:util's messages quote the offending token, which may be a value; name only the flag. */
function describeParseError(error: Error & { code?: string }): string {
  const flag = /'(-{1,2}[A-Za-z0-9-]+)/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return flag ? `unknown option ${flag}` : 'unknown option';
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return flag ? `option ${flag} needs a value` : 'an option is missing its value';
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return 'unexpected argument (not shown)';
    default:
      return 'the command line could not be parsed';
  }
}

/** Help text: usage, summary, one line per flag (with its explanation), then notes. */
export function formatHelp(spec: CommandSpec): string {
  const rows = Object.entries(spec.flags).map(([name, flag]) => {
    const left = `${flag.short ? `-${flag.short}, ` : '    '}--${name}${flag.type === 'string' ? ` ${flag.valueName ?? 'VALUE'}` : ''}`;
    return [left, flag.description] as const;
  });
  rows.push(['-h, --help', 'show this help and exit'], ['    --version', 'print the version and exit']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = [`usage: ${spec.usage}`, '', spec.summary, ''];
  if (spec.positionals) lines.push(`${spec.positionals.name}: ${spec.positionals.description}`, '');
  lines.push('options:', ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`));
  for (const note of spec.notes ?? []) lines.push('', note);
  return `${lines.join('\n')}\n`;
}
