import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ADD_BRANCH, NEW_EXECUTOR, NEW_VERSION, OLD_EXECUTOR, OLD_VERSION, RETIRE_BRANCH, type DemoFacts } from './demo.ts';
import { REPO_ROOT } from './sandbox.ts';

/*
 * The product's end-to-end story, run as a user runs it: `pnpm demo` as a child process, twice, then interrupted by
 * SIGINT and by SIGTERM. Every fact is read back from the sandbox it leaves (the bare remote's history, the bot's
 * saved output, the workflow rows it read from the real system database before stopping it), and every process it
 * started must be gone afterwards.
 */
const exec = promisify(execFile);
const sandboxes: string[] = [];

afterAll(async () => {
  for (const dir of sandboxes) await rm(dir, { recursive: true, force: true });
});

interface DemoRun {
  code: number | null;
  output: string;
  sandbox: string;
  facts: DemoFacts;
  /** With `interruptAt`: the sandbox's processes found just before the signal was sent. */
  runningAtSignal: string[];
}

/**
 * Runs `pnpm demo`; with `interruptAt`, once the output shows that line: `act` (default: send `signal` to the demo's
 * own process).
 */
function runDemo(options: { interruptAt?: RegExp; signal?: NodeJS.Signals; act?: (facts: DemoFacts) => Promise<void> } = {}): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('pnpm', ['demo'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let sent = false;
    let runningAtSignal: string[] = [];
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      if (options.interruptAt && !sent && options.interruptAt.test(output)) {
        sent = true;
        void readFacts(sandboxOf(output)).then(
          async (facts) => {
            runningAtSignal = leftoverProcesses(facts);
            if (options.act) await options.act(facts);
            else process.kill(facts.demoPid, options.signal ?? 'SIGINT');
          },
          (error: unknown) => reject(error),
        );
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.once('error', reject);
    child.once('close', (code) => {
      const sandbox = sandboxOf(output);
      sandboxes.push(sandbox);
      readFacts(sandbox).then((facts) => resolve({ code, output, sandbox, facts, runningAtSignal }), reject);
    });
  });
}

function sandboxOf(output: string): string {
  const dir = /^sandbox: (\S+)$/m.exec(output)?.[1];
  if (!dir) throw new Error(`the demo named no sandbox:\n${output}`);
  return dir;
}

async function readFacts(sandbox: string): Promise<DemoFacts> {
  return JSON.parse(await readFile(join(sandbox, 'demo.json'), 'utf8')) as DemoFacts;
}

const git = async (dir: string, ...args: string[]) => (await exec('git', args, { cwd: dir })).stdout;
const versionsList = 'overlays/dev/apps/orders/versions/kustomization.yaml';

/** The versions main listed after each of its commits, oldest first (first parent: what main was after each merge). */
async function versionsOnMainOverTime(remote: string): Promise<string[][]> {
  const commits = (await git(remote, 'rev-list', '--first-parent', '--reverse', 'main')).split('\n').filter(Boolean);
  const lists: string[][] = [];
  for (const commit of commits) {
    const text = await git(remote, 'show', `${commit}:${versionsList}`);
    lists.push([...text.matchAll(/^ {2}- (\d+-\d+-\d+)$/gm)].map((match) => match[1]!));
  }
  return lists;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Processes that still belong to this sandbox, found without trusting what the demo recorded: PostgreSQL's command
 * line names its data directory inside the sandbox, and an executor's environment holds its executor id and the
 * sandbox database's port (an executor interrupted before it reported its pid is found too).
 */
function leftoverProcesses(facts: DemoFacts): string[] {
  if (!existsSync('/proc')) return [];
  const executorIds = facts.workers.map((worker) => `WORKER_EXECUTOR_ID=${worker.executorId}`);
  const port = facts.postgres ? `127.0.0.1:${facts.postgres.port}/` : null;
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    const read = (file: string) => {
      try {
        return readFileSync(join('/proc', pid, file), 'utf8');
      } catch {
        return ''; // gone meanwhile, or not ours to read
      }
    };
    const cmdline = read('cmdline').split('\0').join(' ');
    if (cmdline.includes(facts.sandbox)) found.push(`${pid}: ${cmdline}`);
    else if (port) {
      const environ = read('environ').split('\0');
      if (
        environ.some((entry) => executorIds.includes(entry)) &&
        environ.some((entry) => entry.startsWith('DBOS_SYSTEM_DATABASE_URL=') && entry.includes(port))
      ) {
        found.push(`${pid}: ${cmdline}`);
      }
    }
  }
  return found;
}

/** Every process the demo started is gone, PostgreSQL's port is closed and its files removed. */
async function expectNothingRunning(facts: DemoFacts): Promise<void> {
  const pids = [facts.demoPid, ...(facts.postgres ? [facts.postgres.pid] : []), ...facts.workers.flatMap((worker) => worker.pids)];
  expect(pids.filter(processAlive)).toEqual([]);
  expect(leftoverProcesses(facts)).toEqual([]);
  if (facts.postgres) expect(await portAccepts(facts.postgres.port)).toBe(false);
  // Its data directory, and the copy of its binaries made when root's unprivileged user cannot reach node_modules.
  expect(readdirSync(facts.sandbox).filter((name) => name.startsWith('pg-test-') || name.startsWith('pg-bin-'))).toEqual([]);
}

async function expectTheStory(run: DemoRun): Promise<void> {
  const { facts } = run;
  expect(run.code, run.output).toBe(0);
  expect(facts.finished).toBe(true);
  expect(run.sandbox.startsWith(tmpdir())).toBe(true);

  // main went from the old version, to both, to the new one alone; the branches were merged and deleted.
  const lists = await versionsOnMainOverTime(facts.remote);
  expect(lists[0]).toEqual(['1-0-0']);
  expect(lists).toContainEqual(['1-0-0', '1-1-0']);
  expect(lists.at(-1)).toEqual(['1-1-0']);
  expect(lists.findIndex((list) => list.length === 2)).toBeLessThan(lists.length - 1);
  const tree = await git(facts.remote, 'ls-tree', '-d', '--name-only', 'main', 'overlays/dev/apps/orders/versions/');
  expect(tree.split('\n').filter(Boolean).sort()).toEqual(['overlays/dev/apps/orders/versions/1-1-0']);
  expect(await git(facts.remote, 'for-each-ref', 'refs/heads/bot/')).toBe('');
  expect(facts.versionAdd).toEqual({ branch: ADD_BRANCH, outcome: 'created' });

  // The registry was the example catalog, and the bot said so.
  const logs = join(facts.sandbox, 'logs');
  const addLog = await readFile(join(logs, '01-version-add.txt'), 'utf8');
  expect(addLog).toContain('NOT a live registry read');

  // The retirement was refused while old work was in flight, with nothing pushed.
  expect(facts.refusedWhileInFlight).toMatch(new RegExp(`^${OLD_VERSION.replace(/\./g, '\\.')} has [1-9]\\d* workflow\\(s\\) in flight`));
  const refusedLog = await readFile(join(logs, '02-version-retire-in-flight.txt'), 'utf8');
  expect(refusedLog).toContain(`not proposed        version-retire dev orders/1-0-0: ${facts.refusedWhileInFlight}`);
  expect(refusedLog).toMatch(/^0 push\(es\)/m);

  // Then proposed with its evidence: zero counts, since when, the queries.
  expect(facts.retire?.branch).toBe(RETIRE_BRANCH);
  expect(facts.retire?.outcome).toBe('created');
  expect(facts.retire?.body).toContain('| PENDING | 0 |');
  expect(facts.retire?.body).toMatch(/\*\*Zero in flight since:\*\* \d{4}-/);
  expect(facts.retire?.body).toContain('FROM dbos.workflow_status');

  // Every workflow of the old version ended SUCCESS on the old version's executor; the new one ran only its own.
  const old = facts.workflows.filter((row) => row.version === OLD_VERSION);
  const fresh = facts.workflows.filter((row) => row.version === NEW_VERSION);
  expect(old.length).toBe(4);
  expect(old.every((row) => row.status === 'SUCCESS' && row.executorId === OLD_EXECUTOR && row.applicationName === 'orders')).toBe(true);
  expect(fresh.length).toBe(3);
  expect(fresh.every((row) => row.status === 'SUCCESS' && row.executorId === NEW_EXECUTOR)).toBe(true);
  expect(facts.workflows.length).toBe(7);

  expect(run.output).toMatch(/nothing is left running/);
  await expectNothingRunning(facts);
}

describe('pnpm demo', () => {
  it('refuses an unknown option with exit 64 before it starts anything', async () => {
    const result = await exec('pnpm', ['demo', '--no-such-flag'], { cwd: REPO_ROOT }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
    );
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('--no-such-flag');
    expect(result.stderr).not.toMatch(/sandbox:/);
  });

  it('runs a version through add, drain, refused retirement and retirement; a second run works after the first', async () => {
    const first = await runDemo();
    await expectTheStory(first);
    const second = await runDemo();
    await expectTheStory(second);
    expect(second.sandbox).not.toBe(first.sandbox);
    expect(existsSync(first.facts.remote)).toBe(true);
  }, 900_000);

  it('stops PostgreSQL and the executor when a step fails mid-story, and exits 1 naming it', async () => {
    // While the old version's executor starts, the sandbox's git remote disappears: the next step that needs it, the
    // bot's version-add run, fails (the bot refuses to push example data anywhere but a local bare repository).
    const run = await runDemo({ interruptAt: /^3\. /m, act: (facts) => rm(facts.remote, { recursive: true, force: true }) });
    expect(run.code, run.output).toBe(1);
    expect(run.output).toMatch(/^error: pnpm bot run \(version-add\) exited 64: .*example data/m);
    expect(run.output).toMatch(/^stopped: .*PostgreSQL/m);
    expect(run.facts.finished).toBe(false);
    expect(run.runningAtSignal.some((line) => line.includes('pg-test-'))).toBe(true);
    await expectNothingRunning(run.facts);
  }, 600_000);

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    'stops PostgreSQL and both executors when it gets %s mid-story, and exits %i',
    async (signal, code) => {
      // Step 7 starts once both versions' executors and PostgreSQL run, and the bot is working.
      const run = await runDemo({ interruptAt: /^7\. /m, signal });
      expect(run.code, run.output).toBe(code);
      expect(run.output).toContain(`stopped by ${signal}`);
      expect(run.facts.workers.map((worker) => worker.executorId)).toEqual([OLD_EXECUTOR, NEW_EXECUTOR]);
      expect(run.facts.finished).toBe(false);
      // The search for leftovers sees the demo's processes while they run (PostgreSQL, both executors)...
      expect(run.runningAtSignal.some((line) => line.includes('pg-test-'))).toBe(true);
      expect(run.runningAtSignal.length).toBeGreaterThanOrEqual(3);
      // ...and none of them after it stopped.
      await expectNothingRunning(run.facts);
    },
    600_000,
  );
});
