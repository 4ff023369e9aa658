import { describe, expect, it } from 'vitest';
import { EXIT } from './exit-codes.ts';
import { formatHelp, parseCommand, UsageError, type CommandSpec } from './command.ts';
import { runReporting } from './run.ts';

const spec = {
  usage: 'pnpm example [--env ENV] [--json]',
  summary: 'An example command.',
  flags: {
    env: { type: 'string', valueName: 'ENV', description: 'only this environment' },
    json: { type: 'boolean', description: 'machine-readable output' },
  },
} satisfies CommandSpec;

describe('parseCommand', () => {
  it('reads flags, and drops the leading -- pnpm forwards', () => {
    expect(parseCommand(spec, ['--', '--env', 'dev', '--json'])).toEqual({ kind: 'run', values: { env: 'dev', json: true }, positionals: [] });
  });

  it('--help and --version win wherever they stand, but not after a terminating --', () => {
    expect(parseCommand(spec, ['--env', 'dev', '-h'])).toEqual({ kind: 'help' });
    expect(parseCommand(spec, ['--version'])).toEqual({ kind: 'version' });
    expect(() => parseCommand(spec, ['--env', 'dev', '--', '--help'])).toThrow(UsageError);
  });

  it('names an unknown flag but never echoes a value, and exits 64', () => {
    const secret = 'hunter2-value';
    for (const argv of [['--token', secret], ['--env'], [secret], ['--env', 'dev', secret]]) {
      let error: unknown = null;
      try {
        parseCommand(spec, argv);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(UsageError);
      expect((error as UsageError).exitCode).toBe(EXIT.usage);
      expect((error as Error).message).not.toContain(secret);
    }
  });

  it('numbers a stray argument as the user typed it, counting the arguments before argv (a subcommand name)', () => {
    expect(() => parseCommand(spec, ['--env', 'dev', 'stray'])).toThrow(/unexpected argument #3 \(not shown/);
    expect(() => parseCommand(spec, ['stray'], 1)).toThrow(/unexpected argument #2 \(not shown/);
  });

  it('help explains every flag, plus --help and --version', () => {
    const help = formatHelp(spec);
    expect(help).toMatch(/^usage: pnpm example/);
    expect(help).toMatch(/--env ENV\s+only this environment/);
    expect(help).toMatch(/--json\s+machine-readable output/);
    expect(help).toMatch(/--version\s+print the version/);
  });
});

describe('runReporting', () => {
  it('maps a typed error to its code and hint; anything else is a bug (1)', async () => {
    const out: string[] = [];
    const io = { stdout: () => {}, stderr: (text: string) => out.push(text), env: {} };
    expect(
      await runReporting(io, async () => {
        throw new UsageError('bad flag', 'try --help');
      }),
    ).toBe(64);
    expect(out.join('')).toBe('error: bad flag\n  what to do: try --help\n');
    expect(
      await runReporting(io, async () => {
        throw new TypeError('boom');
      }),
    ).toBe(EXIT.failure);
    expect(await runReporting(io, async () => 0)).toBe(0);
  });
});
