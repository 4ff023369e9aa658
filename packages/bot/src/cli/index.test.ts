import { describe, expect, it } from 'vitest';
import { main } from './index.ts';
import { RUN_FLAGS } from './options.ts';

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env: {} });
  return { code, stdout, stderr };
}

describe('one convention for every command', () => {
  it('--version on the bot and on every command prints the version and exits 0', async () => {
    for (const args of [['--version'], ['plan', '--version'], ['run', '--version'], ['drain-status', '--version'], ['seal', '--version']]) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout).toMatch(/^gitops-bot \d+\.\d+\.\d+\n$/);
    }
  });

  it('a leading -- (as pnpm forwards it) is accepted before the command and before its flags', async () => {
    expect((await cli(['--', 'plan', '--help'])).stdout).toMatch(/^usage: pnpm bot plan/);
    expect((await cli(['drain-status', '--', '--help'])).stdout).toMatch(/^usage: pnpm bot drain-status/);
  });

  it('run --help explains every flag it accepts', async () => {
    const { code, stdout } = await cli(['run', '--help']);
    expect(code).toBe(0);
    for (const [name, flag] of Object.entries(RUN_FLAGS)) {
      const line = stdout.split('\n').find((candidate) => new RegExp(`^ +(-[a-z], )? *--${name}\\b`).test(candidate));
      expect(line, name).toBeDefined();
      expect(line).toContain(flag.description.slice(0, 30));
    }
  });

  it('plan refuses the write flags of run and says where they belong', async () => {
    const run = await cli(['plan', '--dry-run']);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('--dry-run and --remote belong to `run`');
  });

  it('an unknown flag or command exits 64 and never echoes a value', async () => {
    const secret = 'ghp_not-a-real-token-0123456789';
    for (const args of [['plan', `--token=${secret}`], ['run', '--dry-run', secret], [secret], [`--${secret}`]]) {
      const run = await cli(args);
      expect(run.code, args[0]).toBe(64);
      expect(run.stdout + run.stderr).not.toContain(secret);
      expect(run.stderr).toMatch(/^error: .*\n {2}what to do: /);
    }
  });
});
