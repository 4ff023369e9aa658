/**
 * A real DBOS executor for end-to-end tests: one application version, one executor id, one queue.
 * Configured by environment (never argv, so the database URL with its password stays out of `ps`):
 *   DBOS_SYSTEM_DATABASE_URL, WORKER_APP_NAME, WORKER_APP_VERSION, WORKER_EXECUTOR_ID,
 *   WORKER_ENQUEUE_MS   comma-separated durations; one workflow per entry is enqueued after launch,
 *   WORKER_CONCURRENCY  per-executor concurrency of the `work` queue (default 2).
 * Prints one JSON object per line on stdout: {"event":"ready"}, {"event":"enqueued","ids":[...]}, {"event":"done","id":...}.
 */
import { DBOS } from '@dbos-inc/dbos-sdk';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`worker: ${name} is required\n`);
    process.exit(2);
  }
  return value;
};

const say = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`);
};

const version = env('WORKER_APP_VERSION');

async function longTaskBody(ms: number): Promise<string> {
  // A durable sleep: the workflow stays PENDING for `ms`, as a long-running business workflow would.
  await DBOS.sleep(ms);
  say({ event: 'done', id: DBOS.workflowID, version });
  return `slept ${ms} ms on ${version}`;
}
const longTask = DBOS.registerWorkflow(longTaskBody, { name: 'longTask' });

DBOS.setConfig({
  name: env('WORKER_APP_NAME'),
  systemDatabaseUrl: env('DBOS_SYSTEM_DATABASE_URL'),
  applicationVersion: version,
  executorID: env('WORKER_EXECUTOR_ID'),
  logLevel: 'warn',
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await DBOS.shutdown().catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

await DBOS.launch();
await DBOS.registerQueue('work', { workerConcurrency: Number(process.env.WORKER_CONCURRENCY ?? 2) });
say({ event: 'ready', version });

const durations = (process.env.WORKER_ENQUEUE_MS ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
  .map(Number);
const ids: string[] = [];
for (const ms of durations) {
  const handle = await DBOS.startWorkflow(longTask, { queueName: 'work' })(ms);
  ids.push(handle.workflowID);
}
say({ event: 'enqueued', ids, version });
