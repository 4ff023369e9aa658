/**
 * `pnpm demo [--verbose]`. The single catch of the demo: whatever happens (success, an error, SIGINT, SIGTERM) every
 * process it started is stopped before it exits, and it says where the sandbox is.
 *
 * A later signal does not cut the cleanup short: Ctrl-C reaches the whole process group, so the demo gets SIGINT
 * from the terminal and again relayed by pnpm and tsx, and exiting on the second would leave PostgreSQL's files and
 * maybe an executor behind. The cleanup is bounded anyway (an executor gets SIGKILL after 5 s, PostgreSQL after 10 s).
 */
import { EXIT, formatHelp, parseCommand, runReporting, type CommandSpec } from '@dbos-gitops/cli-kit';
import { runDemo, Running } from './demo.ts';

const spec = {
  usage: 'pnpm demo [--verbose]',
  summary:
    "Runs one application version's whole life in a sandbox directory under the OS temp dir, with nothing to install beyond `pnpm install`: embedded PostgreSQL with the DBOS system schema, real DBOS executors of two versions, a bare git remote holding a copy of this repository, the local forge, and the bot's example catalog as the registry. The bot proposes a version, a person merges it, the old version drains on its own executors while the bot refuses to retire it, then the bot proposes the retirement with its evidence and it is merged. Writes only inside the sandbox, which it keeps (and names) for you to read; leaves nothing running.",
  flags: {
    verbose: { type: 'boolean', description: "also print the bot's own output (each `pnpm bot` call); it is always saved in <sandbox>/logs" },
  },
  notes: ['Exit codes: 0 the story ran to its end, 1 a step did not happen (the message says which), 64 usage, 130/143 stopped by SIGINT/SIGTERM.'],
} satisfies CommandSpec;

class Interrupted extends Error {
  override readonly name = 'Interrupted';
  readonly exitCode: number;
  readonly hint = 'every process the demo started has been stopped; run `pnpm demo` again for a fresh sandbox';
  constructor(readonly signalName: 'SIGINT' | 'SIGTERM') {
    super(`stopped by ${signalName}`);
    this.exitCode = signalName === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
  }
}

const io = { stdout: (text: string) => process.stdout.write(text), stderr: (text: string) => process.stderr.write(text), env: process.env };
const print = (line: string) => io.stdout(`${line}\n`);
const running = new Running();
const interrupt = new AbortController();
for (const signalName of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signalName, () => {
    if (interrupt.signal.aborted) return;
    io.stderr(`received ${signalName}: stopping the demo's processes\n`);
    interrupt.abort(new Interrupted(signalName));
  });
}

let sandbox: string | null = null;
const started = Date.now();
const code = await runReporting(
  io,
  async () => {
    const parsed = parseCommand(spec, process.argv.slice(2));
    if (parsed.kind === 'help') {
      io.stdout(formatHelp(spec));
      return EXIT.ok;
    }
    if (parsed.kind === 'version') {
      io.stdout('dbos-gitops demo 0.1.0\n');
      return EXIT.ok;
    }
    print("dbos-gitops demo: one application version's whole life, in a sandbox on this machine");
    try {
      await runDemo(
        {
          verbose: parsed.values.verbose ?? false,
          print,
          signal: interrupt.signal,
          onSandbox: (dir) => {
            sandbox = dir;
            print(`sandbox: ${dir}`);
          },
        },
        running,
      );
    } catch (error) {
      // A step interrupted by the signal fails in its own way; report the signal.
      throw interrupt.signal.aborted ? interrupt.signal.reason : error;
    } finally {
      const stopped = await running.stopAll();
      if (stopped.length > 0) print(`\nstopped: ${stopped.join(', ')}`);
    }
    print(`\nDone in ${Math.round((Date.now() - started) / 1000)} s; nothing is left running.`);
    return EXIT.ok;
  },
  'demo',
);
if (sandbox) {
  print(`sandbox: ${sandbox}`);
  print('  remote.git/ the sandbox remote (git log main), checkout/ its clone, logs/ every bot call, demo.json the facts');
  print(`  remove it with: rm -rf ${sandbox}`);
}
process.exitCode = interrupt.signal.aborted ? (interrupt.signal.reason as Interrupted).exitCode : code;
