/**
 * A real DBOS executor for end-to-end tests: one application version, one executor id, one queue.
 * Configured by environment (never argv, so the database URL with its password stays out of `ps`):
 *   DBOS_SYSTEM_DATABASE_URL, WORKER_APP_NAME, WORKER_APP_VERSION, WORKER_EXECUTOR_ID,
 *   WORKER_ENQUEUE_MS   comma-separated durations; one workflow per entry is enqueued after launch,
 *   WORKER_HELD         number of workflows enqueued after those that wait (PENDING) until the test releases them,
 *   WORKER_CONCURRENCY  per-executor concurrency of the queue (default 2),
 *   WORKER_QUEUE        the queue's name (default `work`). Applications sharing a system database need distinct queue
 *                       names: DBOS 5.3 gives a queue row one owning application and refuses a second one's launch.
 *   WORKER_GATE         how this worker's gate workflow `gateCheck` ends when something enqueues it (the bot's
 *                       version-switch does, by name): `succeed` (default), `fail` (throws: ERROR) or `hang` (waits
 *                       for a message that never comes, so the enqueuer's timeout ends the wait).
 * A line `release` on stdin sends each held workflow its message; the worker answers {"event":"released"}.
 * Prints one JSON object per line on stdout: {"event":"ready","pid":...}, {"event":"enqueued","ids":[...],"held":[...]},
 * {"event":"done","id":...}, {"event":"released"}, {"event":"gate","id":...} when gateCheck starts.
 */
import { createInterface } from 'node:readline';
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

const RELEASE_TOPIC = 'release';
async function heldTaskBody(): Promise<string> {
  // In flight until the test says so, however slow the machine: the test decides when this work drains, not a clock.
  await DBOS.recv<string>(RELEASE_TOPIC, 3600);
  say({ event: 'done', id: DBOS.workflowID, version });
  return `released on ${version}`;
}
const heldTask = DBOS.registerWorkflow(heldTaskBody, { name: 'heldTask' });

const GATE_MODE = process.env.WORKER_GATE || 'succeed';
async function gateCheckBody(): Promise<string> {
  say({ event: 'gate', id: DBOS.workflowID, version });
  if (GATE_MODE === 'fail') throw new Error(`gate check failed on ${version}`);
  if (GATE_MODE === 'hang') await DBOS.recv<string>('never', 3600);
  return `gate passed on ${version}`;
}
// Registered by name only: nothing in this process starts it; an enqueuer names it (`workflowName: 'gateCheck'`).
DBOS.registerWorkflow(gateCheckBody, { name: 'gateCheck' });

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
const queueName = process.env.WORKER_QUEUE || 'work';
await DBOS.registerQueue(queueName, { workerConcurrency: Number(process.env.WORKER_CONCURRENCY ?? 2) });
say({ event: 'ready', version, pid: process.pid });

const durations = (process.env.WORKER_ENQUEUE_MS ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
  .map(Number);
const ids: string[] = [];
for (const ms of durations) {
  const handle = await DBOS.startWorkflow(longTask, { queueName })(ms);
  ids.push(handle.workflowID);
}
const held: string[] = [];
for (let i = 0; i < Number(process.env.WORKER_HELD ?? 0); i++) {
  const handle = await DBOS.startWorkflow(heldTask, { queueName })();
  held.push(handle.workflowID);
}
ids.push(...held);
say({ event: 'enqueued', ids, held, version });

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'release') return;
  void (async () => {
    for (const id of held) await DBOS.send(id, 'go', RELEASE_TOPIC);
    say({ event: 'released', version });
  })();
});
