import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PostgresServer } from './postgres.ts';

/** The real `dbos` CLI shipped by @dbos-inc/dbos-sdk (a testkit devDependency). */
export const DBOS_CLI = fileURLToPath(new URL('../node_modules/.bin/dbos', import.meta.url));

export interface DbosSystemDatabase {
  database: string;
  appRole: string;
  appPassword: string;
  /** URL for the application role (what executors use). */
  appUrl: string;
  /** Superuser URL of the system database. */
  adminUrl: string;
}

export class DbosHarnessError extends Error {
  override readonly name = 'DbosHarnessError';
}

function runCli(args: string[], secrets: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(DBOS_CLI, args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      let text = `${stdout}\n${stderr}`;
      for (const s of secrets) text = text.split(s).join('***');
      reject(new DbosHarnessError(`dbos ${args[0]} failed: ${text.slice(-2000)}`));
    });
  });
}

/**
 * Creates the DBOS system database with the real CLI (`dbos schema <admin-url> --app-role <role>`), i.e. the exact
 * tables, indexes and grants an application gets in production.
 */
export async function createDbosSystemDatabase(server: PostgresServer, options: { database?: string; appRole?: string } = {}): Promise<DbosSystemDatabase> {
  const database = options.database ?? 'dbos_sys';
  const appRole = options.appRole ?? 'dbos_app';
  const appPassword = await server.createRole(appRole);
  const adminUrl = server.url({ database });
  const superPassword = new URL(adminUrl).password;
  await runCli(['schema', adminUrl, '--app-role', appRole], [superPassword, encodeURIComponent(superPassword)]);
  return { database, appRole, appPassword, appUrl: server.url({ database, user: appRole, password: appPassword }), adminUrl };
}

export interface DbosWorkerOptions {
  systemDatabaseUrl: string;
  appName: string;
  version: string;
  executorId: string;
  /** One workflow per entry is enqueued on the worker's queue after launch; each sleeps durably for that long. */
  enqueueMs?: readonly number[];
  /** Workflows enqueued after those of `enqueueMs` that stay in flight until `release()`. */
  held?: number;
  concurrency?: number;
  /** The queue's name (default `work`). Applications sharing one system database need distinct queue names: DBOS
   * 5.3 records one owning application per queue and refuses to launch a second application declaring it. */
  queue?: string;
  /** How the worker's gate workflow `gateCheck` ends: `succeed` (default), `fail` (ERROR) or `hang` (never finishes). */
  gate?: 'succeed' | 'fail' | 'hang';
}

export interface DbosWorker {
  readonly version: string;
  readonly executorId: string;
  /** Process ids to prove gone after stop(): tsx's launcher and, once ready, the DBOS process it runs. */
  readonly pids: number[];
  /** Workflow ids this worker enqueued (after `enqueued`). */
  readonly enqueued: string[];
  /** Workflow ids this worker finished. */
  readonly finished: string[];
  /** Ids of the gate workflows (`gateCheck`) this worker started. */
  readonly gates: string[];
  /** The ids among `enqueued` that wait for `release()`. */
  readonly held: string[];
  /** Resolves on the first event of that kind; rejects if the process exits first or after `timeoutMs`. */
  waitFor(event: 'ready' | 'enqueued' | 'gate', timeoutMs?: number): Promise<void>;
  /** Sends every held workflow its release message; resolves once all are sent (they then finish on their own). */
  release(timeoutMs?: number): Promise<void>;
  /** SIGTERM (DBOS.shutdown), then SIGKILL after a grace period. */
  stop(): Promise<void>;
}

const WORKER_SCRIPT = fileURLToPath(new URL('./dbos-worker/worker.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));

/** Spawns a real DBOS executor (TS SDK) as a child process with `tsx`. */
export function startDbosWorker(options: DbosWorkerOptions): DbosWorker {
  const password = new URL(options.systemDatabaseUrl).password;
  const child = spawn(TSX, [WORKER_SCRIPT], {
    // stdin carries the `release` command of held workflows.
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DBOS_SYSTEM_DATABASE_URL: options.systemDatabaseUrl,
      WORKER_APP_NAME: options.appName,
      WORKER_APP_VERSION: options.version,
      WORKER_EXECUTOR_ID: options.executorId,
      WORKER_ENQUEUE_MS: (options.enqueueMs ?? []).join(','),
      WORKER_CONCURRENCY: String(options.concurrency ?? 2),
      WORKER_HELD: String(options.held ?? 0),
      WORKER_QUEUE: options.queue ?? 'work',
      WORKER_GATE: options.gate ?? 'succeed',
    },
  });
  const seen = new Set<string>();
  const waiters: Array<{ event: string; resolve: () => void; reject: (e: Error) => void }> = [];
  const enqueued: string[] = [];
  const finished: string[] = [];
  const held: string[] = [];
  const pids: number[] = child.pid ? [child.pid] : [];
  const gates: string[] = [];
  let log = '';
  let exited = false;
  const scrubbed = (text: string): string => (password ? text.split(password).join('***') : text);
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let msg: { event?: string; ids?: string[]; held?: string[]; id?: string; pid?: number } | undefined;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        log = `${log + line}\n`.slice(-4000);
        continue;
      }
      if (!msg?.event) continue;
      if (msg.event === 'enqueued' && msg.ids) enqueued.push(...msg.ids);
      if (msg.event === 'enqueued' && msg.held) held.push(...msg.held);
      if (msg.event === 'done' && msg.id) finished.push(msg.id);
      if (msg.event === 'ready' && Number.isInteger(msg.pid) && !pids.includes(msg.pid!)) pids.push(msg.pid!);
      if (msg.event === 'gate' && msg.id) gates.push(msg.id);
      seen.add(msg.event);
      for (const w of waiters.filter((w) => w.event === msg!.event)) w.resolve();
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      for (const w of waiters) {
        w.reject(new DbosHarnessError(`DBOS worker ${options.executorId} exited (${code ?? signal}) before "${w.event}":\n${scrubbed(log)}`));
      }
      resolve();
    }),
  );
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const waitForEvent = (event: string, timeoutMs: number): Promise<void> => {
    if (seen.has(event)) return Promise.resolve();
    if (exited) return Promise.reject(new DbosHarnessError(`DBOS worker ${options.executorId} has exited:\n${scrubbed(log)}`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new DbosHarnessError(`DBOS worker ${options.executorId} sent no "${event}" in ${timeoutMs} ms:\n${scrubbed(log)}`)),
        timeoutMs,
      );
      waiters.push({
        event,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  };

  return {
    version: options.version,
    executorId: options.executorId,
    pids,
    enqueued,
    finished,
    held,
    gates,
    waitFor(event, timeoutMs = 30_000) {
      return waitForEvent(event, timeoutMs);
    },
    async release(timeoutMs = 30_000) {
      const released = waitForEvent('released', timeoutMs);
      child.stdin.write('release\n');
      await released;
    },
    async stop() {
      process.removeListener('exit', killOnExit);
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}
