/**
 * The entry point of `pnpm bot` (and the container's). Kept tiny: the commands are imported only when they run.
 * SIGINT/SIGTERM abort the run instead of killing it, so the normal error path cleans up (a created Conductor key is
 * deleted, the temporary clone removed) before the process exits 130/143. A second signal exits at once.
 */
import { InterruptedError } from './errors.ts';
import { main } from './cli/index.ts';

export { main } from './cli/index.ts';

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/bot/src/cli.ts')) {
  const interrupt = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupt.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
      process.stderr.write(`received ${signal}: stopping at the next step and undoing this run's changes\n`);
      interrupt.abort(new InterruptedError(signal));
    });
  }
  const code = await main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    signal: interrupt.signal,
    stderrIsTTY: process.stderr.isTTY === true,
  });
  process.exitCode = interrupt.signal.aborted ? (interrupt.signal.reason as InterruptedError).exitCode : code;
}
