import type { CommandIo } from '../index.ts';

/** Files in this repository are YAML, so `seal` writes YAML unless asked otherwise (kubeseal itself defaults to JSON). */
function withDefaultFormat(args: string[]): string[] {
  const hasFormat = args.some((arg) => arg === '--format' || arg === '-o' || arg.startsWith('--format=') || arg.startsWith('-o='));
  return hasFormat ? args : [...args, '--format', 'yaml'];
}

/** `pnpm bot seal`: delegates to @dbos-gitops/sealing, which parses its own kubeseal-compatible flags and help. */
export async function runArgv(argv: string[], io: CommandIo): Promise<number> {
  // The one convention: --version on every command, whatever flags the delegate knows.
  if (argv.includes('--version') && !argv.includes('--help') && !argv.includes('-h')) {
    const { version } = await import('../index.ts');
    io.stdout(version());
    return 0;
  }
  const { runSeal } = await import('@dbos-gitops/sealing/seal-command');
  // pnpm runs scripts from the repository root; relative paths mean what they meant where the user typed them.
  const cwd = io.env.INIT_CWD ?? process.cwd();
  const help = argv.includes('--help') || argv.includes('-h');
  return runSeal(help ? argv : withDefaultFormat(argv), { stdout: { write: io.stdout }, stderr: { write: io.stderr }, env: io.env, cwd });
}
