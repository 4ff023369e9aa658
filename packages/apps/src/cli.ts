/**
 * The process entry of `pnpm apps:add` / `pnpm apps:remove` (`tsx packages/apps/src/cli.ts add|remove ...`).
 * SIGINT/SIGTERM abort the command instead of killing it, so it stops before anything is moved into the repository
 * and removes its staging directory; it exits 130/143. A second signal exits at once.
 */
import { SecretInput } from '@dbos-gitops/sealing';
import { defaultRoot, main } from './cli/index.ts';
import { InterruptedError } from './errors.ts';

const interrupt = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupt.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    interrupt.abort(new InterruptedError(signal));
  });
}
process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  signal: interrupt.signal,
  stdinIsTTY: process.stdin.isTTY === true,
  secretInput: () => new SecretInput(process.stdin),
  now: () => new Date(),
  root: defaultRoot(process.cwd()),
});
// A pending stdin read would keep the process alive after an interrupt.
if (interrupt.signal.aborted) process.exit(process.exitCode);
