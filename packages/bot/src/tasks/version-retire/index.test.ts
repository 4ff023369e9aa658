import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, type DbosSystemDatabase } from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createBareRemote, type BareRemote } from '@dbos-gitops/testkit';
import { startGitHubFake } from '@dbos-gitops/testkit';
import { GitHubForge } from '../../sources/forge/github.ts';
import { freePort, startPostgres, type PostgresServer } from '@dbos-gitops/testkit';
import { parseConfig } from '../../config/load.ts';
import { isBotError } from '../../errors.ts';
import { GitWorkspace } from '../../git/workspace.ts';
import { planAll, runPlans, type RunResult } from '../../runner.ts';
import { LocalForge } from '../../sources/forge/local.ts';
import { ConductorCheckedDrainSource, DatabaseDrainSource, DrainReadError, type DrainSource } from '../../sources/drain/source.ts';
import { memoryTree, NO_REGISTRY, versionFixtureFiles, versionsDirOf, type FixtureVersion } from '../../../testing/version-fixture.ts';
import { createVersionRetireTask, defaultDrainSourceFor } from './index.ts';
import type { PreviousProposal } from '../types.ts';

/*
 * version-retire against a real PostgreSQL with the real DBOS schema (created by the real `dbos` CLI) and the
 * product's drain-reader role; the full runner with a real bare git remote for the fail-closed paths.
 */
const HOUR = 3_600_000;
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const IDENTITY = { name: 'bot', email: 'bot@example.invalid' };

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let reader: { url: string; password: string };
let emptyDbUrl: string;
let appCounter = 0;

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  reader = await createDrainReader(pg, sys.database);
  await pg.createDatabase('not_dbos');
  emptyDbUrl = pg.url({ database: 'not_dbos' });
});
afterAll(async () => pg?.stop());

const sql = (text: string, params: unknown[] = []) => pg.query(text, params, sys.database);

async function dbNowMs(): Promise<number> {
  const { rows } = await sql('SELECT (EXTRACT(EPOCH FROM now()) * 1000)::bigint AS ms');
  return Number(rows[0]!.ms);
}

interface Row {
  status: string;
  version: string;
  /** How long ago the row last changed (DB clock). */
  agoMs: number;
  executor?: string;
}

/** A fresh application name per test keeps rows apart in the one shared system database. */
async function app(
  rows: Row[],
  registered: Array<{ version: string; agoMs: number }> = [
    { version: '1.0.0', agoMs: 30 * 24 * HOUR },
    { version: '2.0.0', agoMs: 7 * 24 * HOUR },
  ],
): Promise<string> {
  const name = `app-${++appCounter}`;
  // version_name is unique across apps in dbos.application_versions, so each test starts from empty tables.
  await sql('DELETE FROM dbos.workflow_status');
  await sql('DELETE FROM dbos.application_versions');
  const now = await dbNowMs();
  for (const [i, row] of rows.entries()) {
    await sql(
      `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, executor_id, created_at, updated_at)
       VALUES ($1, $2, 'checkout', $3, $4, $5, $6, $6)`,
      [`${name}-wf-${i}`, row.status, row.version, name, row.executor ?? 'executor-a', now - row.agoMs],
    );
  }
  for (const version of registered) {
    await sql('INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name) VALUES ($1, $2, $3, $4)', [
      `${name}-${version.version}`,
      version.version,
      now - version.agoMs,
      name,
    ]);
  }
  return name;
}

const VERSIONS: FixtureVersion[] = [
  { version: '1.0.0', digest: D1 },
  { version: '2.0.0', digest: D2, latest: true },
];

async function files(appName: string, versions: FixtureVersion[] = VERSIONS, quietPeriod = '1h') {
  return versionFixtureFiles({
    environments: ['dev', 'prod'],
    versions: { dev: versions, prod: versions },
    repository: 'ghcr.io/example-org/dbos-app',
    appName,
    quietPeriod,
  });
}

async function plan(
  appName: string,
  source: DrainSource,
  options: { versions?: FixtureVersion[]; previous?: PreviousProposal[]; service?: string; retireDeadLettered?: boolean } = {},
) {
  const tree = await files(appName, options.versions);
  if (options.retireDeadLettered)
    tree['.github/gitops-bot.yaml'] = tree['.github/gitops-bot.yaml']!.replace(
      '      source: database\n',
      '      source: database\n      retireDeadLettered: true\n',
    );
  if (options.service)
    tree[`${versionsDirOf('dev', appName)}/service.yaml`] = tree[`${versionsDirOf('dev', appName)}/service.yaml`]!.replace(
      'dbos.dev/app-version: 2-0-0',
      `dbos.dev/app-version: ${options.service}`,
    );
  const config = parseConfig(tree['.github/gitops-bot.yaml']!);
  const task = createVersionRetireTask({ drainSourceFor: () => source });
  const pullRequests = (options.previous ?? []).map((previous) => ({
    number: previous.number,
    branch: previous.branch,
    title: '',
    body: `<!-- gitops-bot: ${JSON.stringify(previous.proposal)} -->`,
    state: previous.state,
    merged: previous.merged,
    labels: previous.held ? ['gitops-bot/hold'] : [],
    createdAt: new Date().toISOString(),
    url: '',
  }));
  return planAll({
    config,
    tasks: [task],
    tree: memoryTree(tree),
    registry: NO_REGISTRY,
    kube: null,
    pullRequests,
    envFilter: 'dev',
    now: new Date(),
    log: () => undefined,
  });
}

const database = (url = reader.url) => new DatabaseDrainSource({ databaseUrl: url, timeoutMs: 5_000 });

describe('version-retire refuses while anything of the version is in flight', () => {
  for (const status of ['PENDING', 'ENQUEUED', 'DELAYED'] as const) {
    it(`one ${status} workflow keeps 1.0.0, even with everything else long quiet`, async () => {
      const name = await app([
        { status: 'SUCCESS', version: '1.0.0', agoMs: 5 * HOUR },
        { status, version: '1.0.0', agoMs: 5 * HOUR },
      ]);
      const { plans, skips } = await plan(name, database());
      expect(plans).toEqual([]);
      const skip = skips.find((candidate) => candidate.subject === `${name}/1-0-0`)!;
      expect(skip.reason).toContain('1.0.0 has 1 workflow(s) in flight');
      expect(skip.reason).toContain(`${status.toLowerCase()} 1`);
    });
  }

  it('refuses when the quiet period has not passed: a workflow finished 10 minutes ago is not "one lucky reading"', async () => {
    const name = await app([{ status: 'SUCCESS', version: '1.0.0', agoMs: 10 * 60_000 }]);
    const { plans, skips } = await plan(name, database());
    expect(plans).toEqual([]);
    expect(skips.find((skip) => skip.subject === `${name}/1-0-0`)!.reason).toMatch(/has read zero for 10m.*the quiet period is 1h/);
  });

  it('proves the quiet period from the same read: a real status transition resets it', async () => {
    const name = await app([{ status: 'PENDING', version: '1.0.0', agoMs: 5 * HOUR }]);
    expect((await plan(name, database())).plans).toEqual([]);
    // The statement DBOS 5.3 runs when a workflow finishes (updateWorkflowStatus): updated_at from the DB clock.
    await sql(`UPDATE dbos.workflow_status SET status = 'SUCCESS', updated_at = (EXTRACT(EPOCH FROM now()) * 1000)::bigint WHERE workflow_uuid = $1`, [
      `${name}-wf-0`,
    ]);
    const { plans, skips } = await plan(name, database());
    expect(plans).toEqual([]);
    expect(skips.find((skip) => skip.subject === `${name}/1-0-0`)!.reason).toMatch(/has read zero for \d+s/);
  });

  it('never proposes the latest, the highest, or what the Service selects', async () => {
    const name = await app([]);
    const { plans, skips } = await plan(name, database(), { service: '1-0-0' });
    expect(plans).toEqual([]);
    expect(skips.find((skip) => skip.subject === `${name}/1-0-0`)!.reason).toContain(`the ${name} Service selects it`);
    expect(skips.find((skip) => skip.subject === `${name}/2-0-0`)!.reason).toContain('app-latest component');
  });

  it('refuses a version the database registered as the newest, even when git calls another one latest', async () => {
    const name = await app(
      [{ status: 'SUCCESS', version: '1.0.0', agoMs: 5 * HOUR }],
      [
        { version: '2.0.0', agoMs: 30 * 24 * HOUR },
        { version: '1.0.0', agoMs: 2 * HOUR },
      ],
    );
    const { plans, skips } = await plan(name, database());
    expect(plans).toEqual([]);
    expect(skips.find((skip) => skip.subject === `${name}/1-0-0`)!.reason).toContain('1.0.0 is the latest version');
  });

  it('refuses a version the database has never seen (DBOS__APPVERSION mismatch is unknown, not drained)', async () => {
    const name = await app([], [{ version: '2.0.0', agoMs: HOUR }]);
    const { plans, skips } = await plan(name, database());
    expect(plans).toEqual([]);
    expect(skips.find((skip) => skip.subject === `${name}/1-0-0`)!.reason).toMatch(/no workflow of 1.0.0 and never registered it/);
  });
});

describe('orphaned PENDING work', () => {
  it('is reported with the resume command when its executor is known to be gone, and the version is kept', async () => {
    const name = await app([{ status: 'PENDING', version: '1.0.0', agoMs: 3 * HOUR, executor: 'pod-gone' }]);
    const source = new DatabaseDrainSource({ databaseUrl: reader.url, liveExecutorIds: async () => ['pod-live'] });
    const { plans, skips } = await plan(name, source);
    expect(plans).toEqual([]);
    const reason = skips.find((skip) => skip.subject === `${name}/1-0-0`)!.reason;
    expect(reason).toContain('belong to executors that are gone');
    expect(reason).toContain(`dbos workflow resume ${name}-wf-0 --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"`);
  });

  it('without a live-executor list, PENDING work unchanged for a quiet period is reported as possibly stranded', async () => {
    const name = await app([{ status: 'PENDING', version: '1.0.0', agoMs: 3 * HOUR }]);
    const { skips } = await plan(name, database());
    const reason = skips.find((skip) => skip.subject === `${name}/1-0-0`)!.reason;
    expect(reason).toMatch(/1 PENDING workflow\(s\) of 1.0.0 have not changed for more than the quiet period \(oldest 3h/);
    expect(reason).toContain(`dbos workflow resume ${name}-wf-0`);
  });
});

describe('dead-lettered work (MAX_RECOVERY_ATTEMPTS_EXCEEDED)', () => {
  it('keeps a version whose only unfinished workflow is dead-lettered, listing it with resume and fork commands', async () => {
    const name = await app([
      { status: 'SUCCESS', version: '1.0.0', agoMs: 5 * HOUR },
      { status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '1.0.0', agoMs: 4 * HOUR },
      // Another version's dead letter does not keep 1.0.0.
      { status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '2.0.0', agoMs: 4 * HOUR },
    ]);
    const { plans, skips } = await plan(name, database());
    expect(plans).toEqual([]);
    const reason = skips.find((skip) => skip.subject === `${name}/1-0-0`)!.reason;
    expect(reason).toContain(
      '1 workflow(s) of 1.0.0 are dead-lettered (MAX_RECOVERY_ATTEMPTS_EXCEEDED) and only an executor of 1.0.0 can resume them, so 1.0.0 stays',
    );
    expect(reason).toContain(`resume on 1.0.0 with \`dbos workflow resume ${name}-wf-1 --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"\``);
    expect(reason).toContain(
      `restart it on 2.0.0 with \`dbos workflow fork ${name}-wf-1 --step 0 --application-version 2.0.0 --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"\``,
    );
    expect(reason).toContain(`set drain.retireDeadLettered: true on ${name} under apps:`);
    expect(reason).not.toContain(`${name}-wf-2`);
  });

  it('names how many more there are than it lists, with the command that lists them all', async () => {
    const rows = Array.from({ length: 23 }, (_, i) => ({ status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '1.0.0', agoMs: (5 + i) * HOUR }));
    const name = await app(rows);
    const reason = (await plan(name, database())).skips.find((skip) => skip.subject === `${name}/1-0-0`)!.reason;
    expect(reason).toContain('23 workflow(s) of 1.0.0 are dead-lettered');
    expect(reason.match(/dbos workflow resume /g)).toHaveLength(20);
    expect(reason).toContain(
      '- and 3 more; list them all with `dbos workflow list --status MAX_RECOVERY_ATTEMPTS_EXCEEDED --application-version 1.0.0 --limit 23',
    );
  });

  it('with drain.retireDeadLettered the version is retired and the PR names what it strands', async () => {
    const name = await app([{ status: 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', version: '1.0.0', agoMs: 4 * HOUR }]);
    const { plans } = await plan(name, database(), { retireDeadLettered: true });
    expect(plans.map((p) => p.branch)).toEqual([`bot/version-retire/dev/${name}/1-0-0`]);
    expect(plans[0]!.body).toContain('**1 dead-lettered workflow(s)** (MAX_RECOVERY_ATTEMPTS_EXCEEDED) of `1.0.0` are retired with it');
    expect(plans[0]!.body).toContain(`dbos workflow fork ${name}-wf-0 --step 0 --application-version 2.0.0`);
  });
});

describe('holds', () => {
  const name = 'held-app';
  it('a "# gitops-bot: hold" line in the version kustomization stops the bot without even reading the drain', async () => {
    const failing: DrainSource = { describe: 'must not be read', read: () => Promise.reject(new Error('read despite hold')) };
    const { plans, skips } = await plan(name, failing, { versions: [{ version: '1.0.0', digest: D1, hold: true }, VERSIONS[1]!] });
    expect(plans).toEqual([]);
    expect(skips.find((skip) => skip.subject === `${name}/1-0-0`)).toMatchObject({ held: true });
  });

  it('the gitops-bot/hold label on the open retire PR stops the bot', async () => {
    const failing: DrainSource = { describe: 'must not be read', read: () => Promise.reject(new Error('read despite hold')) };
    const previous: PreviousProposal = {
      branch: `bot/version-retire/dev/${name}/1-0-0`,
      number: 7,
      state: 'open',
      merged: false,
      held: true,
      proposal: { task: 'version-retire', env: 'dev', subject: `${name}/1-0-0`, memory: { pins: [] } },
    };
    const { plans, skips } = await plan(name, failing, { previous: [previous] });
    expect(plans).toEqual([]);
    expect(skips.find((skip) => skip.subject === `${name}/1-0-0`)!.reason).toContain('gitops-bot/hold label on PR #7');
  });
});

describe('the full run (real runner, real bare git remote)', () => {
  const remotes: BareRemote[] = [];
  afterAll(async () => {
    for (const remote of remotes) await remote.cleanup();
  });

  async function run(
    appName: string,
    source: DrainSource,
    existing?: BareRemote,
  ): Promise<{ remote: BareRemote; result: RunResult | null; error: unknown; printed: string[] }> {
    const remote = existing ?? (await createBareRemote(await files(appName)));
    if (!existing) remotes.push(remote);
    const config = parseConfig((await remote.readFile('main', '.github/gitops-bot.yaml'))!);
    const workspace = await GitWorkspace.clone(remote.url, 'main', IDENTITY);
    const printed: string[] = [];
    try {
      const forge = new LocalForge(
        async () => [...(await workspace.botBranches()).keys()],
        (text) => printed.push(text),
      );
      const result = await runPlans({
        config,
        tasks: [createVersionRetireTask({ drainSourceFor: () => source })],
        workspace,
        forge,
        registry: NO_REGISTRY,
        kube: null,
        envFilter: 'dev',
        dryRun: false,
        now: new Date(),
        log: (line) => printed.push(line),
        print: (text) => printed.push(text),
        identity: IDENTITY,
      });
      return { remote, result, error: null, printed };
    } catch (error) {
      return { remote, result: null, error, printed };
    } finally {
      await workspace.dispose();
    }
  }

  async function expectFailClosed(appName: string, source: DrainSource, pattern: RegExp): Promise<void> {
    const { remote, error, printed } = await run(appName, source);
    expect(error).toBeInstanceOf(DrainReadError);
    expect(isBotError(error) && error.exitCode).toBe(10);
    expect((error as Error).message).toMatch(pattern);
    for (const text of [(error as Error).message, (error as DrainReadError).hint, ...printed]) expect(text).not.toContain(reader.password);
    expect(await remote.pushCount()).toBe(0);
    expect([...(await remote.heads()).keys()]).toEqual(['main']);
  }

  it('fails closed when the database is down: no branch, no PR, exit code 10', async () => {
    const name = await app([]);
    const port = await freePort();
    await expectFailClosed(name, database(pg.url({ database: sys.database }).replace(`:${pg.port}/`, `:${port}/`)), /refused: PostgreSQL is not listening/);
  });

  it('fails closed on a wrong password, without printing it', async () => {
    const name = await app([]);
    const wrong = new URL(reader.url);
    wrong.password = 'not-the-password';
    await expectFailClosed(name, database(wrong.toString()), /rejected the credentials of user "dbos_drain_reader"/);
  });

  it('fails closed when the DBOS schema is missing', async () => {
    const name = await app([]);
    await expectFailClosed(name, database(emptyDbUrl), /DBOS system tables are missing/);
  });

  it('fails closed when Conductor answers 503, even though the database alone would say zero', async () => {
    const name = await app([{ status: 'SUCCESS', version: '1.0.0', agoMs: 5 * HOUR }]);
    const server: Server = createServer((_request, response) => {
      response.writeHead(503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ detail: 'no executor connected' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const conductor = new ConductorCheckedDrainSource(database(), {
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        org: 'acme_org',
        apiKey: 'test-key-generated-here',
      });
      await expectFailClosed(name, conductor, /Conductor answered 503.*unknown, not zero/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('proposes once the quiet period has passed: one commit removing the directory and its list line, evidence in the body; a re-run writes nothing', async () => {
    const name = await app([
      { status: 'SUCCESS', version: '1.0.0', agoMs: 3 * HOUR },
      { status: 'ERROR', version: '1.0.0', agoMs: 2 * HOUR },
      { status: 'PENDING', version: '2.0.0', agoMs: 60_000 },
    ]);
    const { remote, result, error, printed } = await run(name, database());
    expect(error).toBeNull();
    expect(result!.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[`bot/version-retire/dev/${name}/1-0-0`, 'created']]);
    const plan = result!.applied[0]!.plan;
    expect(plan.body).toContain('| PENDING | 0 |');
    expect(plan.body).toContain('| ENQUEUED | 0 |');
    expect(plan.body).toContain('| DELAYED | 0 |');
    expect(plan.body).toMatch(/Zero in flight since:\*\* \d{4}-\d\d-\d\dT/);
    expect(plan.body).toContain("(status IN ('PENDING', 'ENQUEUED') OR status = 'DELAYED')");
    expect(plan.body).toMatch(/Read at:\*\* \d{4}-/);
    // PR bodies name host and database, never the user or the password.
    expect(plan.body).toContain(`database postgresql://127.0.0.1:${pg.port}/${sys.database}`);
    expect(plan.body).not.toContain('dbos_drain_reader');
    expect(plan.body).not.toContain(reader.password);
    for (const text of printed) expect(text).not.toContain(reader.password);
    // One commit on top of main, deleting exactly the version's files and its list line.
    const branch = `bot/version-retire/dev/${name}/1-0-0`;
    expect(await remote.readFile(branch, `${versionsDirOf('dev', name)}/1-0-0/kustomization.yaml`)).toBeNull();
    expect(await remote.readFile(branch, `${versionsDirOf('dev', name)}/1-0-0/version.patch.yaml`)).toBeNull();
    const list = await remote.readFile(branch, `${versionsDirOf('dev', name)}/kustomization.yaml`);
    expect(list).toBe((await remote.readFile('main', `${versionsDirOf('dev', name)}/kustomization.yaml`))!.replace('  - 1-0-0\n', ''));
    expect(await remote.readFile(branch, `${versionsDirOf('prod', name)}/1-0-0/kustomization.yaml`)).not.toBeNull();
    expect(await remote.pushCount()).toBe(1);

    // Hourly re-runs with nothing new: the same branch content, no push (the local forge has no PR bodies to update).
    const again = await run(name, database(), remote);
    expect(again.error).toBeNull();
    expect(again.result!.applied.map((item) => item.outcome)).toEqual(['unchanged']);
    expect(await remote.pushCount()).toBe(1);
  });
});

describe('credentials in the drain URL never reach the remote or GitHub', () => {
  it('a password in the query string (password=, sslpassword=) is in no branch file, commit message or PR body', async () => {
    const name = await app([{ status: 'SUCCESS', version: '1.0.0', agoMs: 3 * HOUR }]);
    // libpq reads the password from the query as well as from userinfo; pg does the same, so this URL really connects.
    const url = `postgresql://dbos_drain_reader@127.0.0.1:${pg.port}/${sys.database}?sslmode=disable&password=${encodeURIComponent(reader.password)}&sslpassword=ssl-${reader.password}`;
    const remote = await createBareRemote(await files(name));
    const github = await startGitHubFake({ owner: 'example-org', repo: 'gitops', branchExists: async (branch) => (await remote.heads()).has(branch) });
    const printed: string[] = [];
    const workspace = await GitWorkspace.clone(remote.url, 'main', IDENTITY);
    try {
      const config = parseConfig((await remote.readFile('main', '.github/gitops-bot.yaml'))!);
      const forge = new GitHubForge({
        token: 'fake-token-not-a-secret',
        owner: 'example-org',
        repo: 'gitops',
        baseUrl: github.url,
        minWriteIntervalMs: 0,
        retryAfterBaseValue: 10,
        log: (line) => printed.push(line),
      });
      const result = await runPlans({
        config,
        tasks: [createVersionRetireTask({ drainSourceFor: () => database(url) })],
        workspace,
        forge,
        registry: NO_REGISTRY,
        kube: null,
        envFilter: 'dev',
        dryRun: false,
        now: new Date(),
        log: (line) => printed.push(line),
        print: (text) => printed.push(text),
        identity: IDENTITY,
      });
      expect(result.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([[`bot/version-retire/dev/${name}/1-0-0`, 'created']]);
      expect(github.pulls).toHaveLength(1);
      const body = github.pulls[0]!.body;
      expect(body).toContain(`database postgresql://127.0.0.1:${pg.port}/${sys.database}?sslmode=disable`);
      const git = (...args: string[]) =>
        promisify(execFile)('git', ['--git-dir', remote.url, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 }).then((out) => out.stdout);
      const message = await git('log', '-1', '--format=%B', `bot/version-retire/dev/${name}/1-0-0`);
      expect(message).toContain(`postgresql://127.0.0.1:${pg.port}/${sys.database}`);
      // Every object reachable from every ref: blobs, trees and commits of the pushed branch.
      const everything = await git('log', '--all', '-p', '--format=%H%n%B');
      for (const text of [body, message, everything, github.pulls[0]!.title, ...printed]) {
        expect(text).not.toContain(reader.password);
        expect(text).not.toContain(encodeURIComponent(reader.password));
        expect(text).not.toContain('dbos_drain_reader');
      }
      expect(github.violations).toEqual([]);
    } finally {
      await workspace.dispose();
      await github.stop();
      await remote.cleanup();
    }
  });
});

describe('PR body stability', () => {
  it('re-planning with nothing new reproduces the open PR body byte for byte (read time kept), so GitHub gets no update', async () => {
    const name = await app([{ status: 'SUCCESS', version: '1.0.0', agoMs: 3 * HOUR }]);
    const tree = await files(name);
    const config = parseConfig(tree['.github/gitops-bot.yaml']!);
    const task = createVersionRetireTask({ drainSourceFor: () => database() });
    const context = {
      config,
      tree: memoryTree(tree),
      registry: NO_REGISTRY,
      kube: null,
      conductor: null,
      drain: null,
      previous: [] as PreviousProposal[],
      now: new Date(),
      envFilter: 'dev',
      log: () => undefined,
    };
    const first = (await task.plan(context)).plans[0]!;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const open = {
      branch: first.branch,
      number: 9,
      state: 'open' as const,
      merged: false,
      held: false,
      proposal: { task: first.task, env: first.env, subject: first.subject, memory: { pins: [] } },
      body: first.body,
    };
    const second = (await task.plan({ ...context, previous: [open] })).plans[0]!;
    expect(second.body).toBe(first.body);
    // Without the previous body (or with changed evidence) the body carries this run's read time.
    const fresh = (await task.plan(context)).plans[0]!;
    expect(fresh.body).not.toBe(first.body);
    expect(fresh.body.replace(/Read at:\*\* \S+/, '')).toBe(first.body.replace(/Read at:\*\* \S+/, ''));
  });
});

describe('configuration', () => {
  it('without apps: the task refuses with a config error', async () => {
    const tree = await files('x');
    const config = parseConfig(tree['.github/gitops-bot.yaml']!.replace(/apps:[\s\S]*$/, ''));
    const task = createVersionRetireTask({ drainSourceFor: () => database() });
    await expect(
      planAll({
        config,
        tasks: [task],
        tree: memoryTree(tree),
        registry: NO_REGISTRY,
        kube: null,
        pullRequests: [],
        envFilter: 'dev',
        now: new Date(),
        log: () => undefined,
      }),
    ).rejects.toMatchObject({ name: 'ConfigError', exitCode: 2 });
  });

  it('reading connection settings from the environment: a missing variable is a DrainReadError naming it', async () => {
    const { drainSourceFromEnv } = await import('../../sources/drain/source.ts');
    const config = parseConfig((await files('x'))['.github/gitops-bot.yaml']!);
    expect(() => drainSourceFromEnv(config.apps[0]!, {})).toThrow(/DBOS_DRAIN_DATABASE_URL is not set/);
  });

  it('each environment has its own database: without --env the URL comes from <VAR>_<ENV>, never from the shared one', async () => {
    const name = await app([{ status: 'SUCCESS', version: '1.0.0', agoMs: 3 * HOUR }]);
    const tree = await files(name);
    const config = parseConfig(tree['.github/gitops-bot.yaml']!);
    const task = createVersionRetireTask({ drainSourceFor: defaultDrainSourceFor({ DBOS_DRAIN_DATABASE_URL: reader.url }) });
    const all = planAll({
      config,
      tasks: [task],
      tree: memoryTree(tree),
      registry: NO_REGISTRY,
      kube: null,
      pullRequests: [],
      envFilter: null,
      now: new Date(),
      log: () => undefined,
    });
    await expect(all).rejects.toThrow(/DBOS_DRAIN_DATABASE_URL_DEV is not set/);
    const perEnv = createVersionRetireTask({
      drainSourceFor: defaultDrainSourceFor({ DBOS_DRAIN_DATABASE_URL_DEV: reader.url, DBOS_DRAIN_DATABASE_URL_PROD: reader.url }),
    });
    const { plans } = await planAll({
      config,
      tasks: [perEnv],
      tree: memoryTree(tree),
      registry: NO_REGISTRY,
      kube: null,
      pullRequests: [],
      envFilter: null,
      now: new Date(),
      log: () => undefined,
    });
    expect(plans.map((plan) => plan.branch)).toEqual([`bot/version-retire/dev/${name}/1-0-0`, `bot/version-retire/prod/${name}/1-0-0`]);
  });
});

describe('two applications on one system database', () => {
  /*
   * dbos-app runs 1.0.0 and 2.0.0, orders runs 1.0.0 and 3.0.0: both have a 1.0.0. In the real DBOS schema
   * application_versions.version_name is UNIQUE (DBOS registers with ON CONFLICT DO NOTHING), so 1.0.0 is registered
   * once, by dbos-app; orders registers its own 3.0.0. Only the workflow rows say whose 1.0.0 work is whose.
   */
  async function rowsOfTwoApps(rows: Array<{ app: string | null; status: string; version: string; agoMs: number }>): Promise<void> {
    await sql('DELETE FROM dbos.workflow_status');
    await sql('DELETE FROM dbos.application_versions');
    const now = await dbNowMs();
    for (const [i, row] of rows.entries()) {
      await sql(
        `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, executor_id, created_at, updated_at)
         VALUES ($1, $2, 'checkout', $3, $4, 'executor-a', $5, $5)`,
        [`two-apps-wf-${i}`, row.status, row.version, row.app, now - row.agoMs],
      );
    }
    for (const [id, version, owner, agoMs] of [
      ['v1', '1.0.0', 'dbos-app', 30 * 24 * HOUR],
      ['v2', '2.0.0', 'dbos-app', 7 * 24 * HOUR],
      ['v3', '3.0.0', 'orders', 7 * 24 * HOUR],
    ] as const) {
      await sql(
        'INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
        [id, version, now - agoMs, owner],
      );
    }
  }

  async function planTwoApps() {
    const tree = await versionFixtureFiles({
      environments: ['dev'],
      apps: [
        { name: 'dbos-app', repository: 'ghcr.io/example-org/dbos-app', versions: { dev: VERSIONS } },
        {
          name: 'orders',
          repository: 'ghcr.io/example-org/orders',
          versions: {
            dev: [
              { version: '1.0.0', digest: D1 },
              { version: '3.0.0', digest: D2, latest: true },
            ],
          },
        },
      ],
    });
    const asked: string[] = [];
    const task = createVersionRetireTask({
      drainSourceFor: (_env, app) => {
        asked.push(app.name);
        return database();
      },
    });
    const result = await planAll({
      config: parseConfig(tree['.github/gitops-bot.yaml']!),
      tasks: [task],
      tree: memoryTree(tree),
      registry: NO_REGISTRY,
      kube: null,
      pullRequests: [],
      envFilter: 'dev',
      now: new Date(),
      log: () => undefined,
    });
    return { ...result, asked };
  }

  const quiet = (app: string) => ({ app, status: 'SUCCESS', version: '1.0.0', agoMs: 5 * HOUR });

  it("orders' 1.0.0 in flight neither blocks dbos-app's 1.0.0 retirement nor is retired itself", async () => {
    await rowsOfTwoApps([quiet('dbos-app'), quiet('orders'), { app: 'orders', status: 'PENDING', version: '1.0.0', agoMs: 5 * HOUR }]);
    const { plans, skips, asked } = await planTwoApps();
    expect(asked).toEqual(['dbos-app', 'orders']);
    expect(plans.map((plan) => plan.branch)).toEqual(['bot/version-retire/dev/dbos-app/1-0-0']);
    expect(plans[0]!.edits.every((edit) => edit.path.startsWith('overlays/dev/apps/dbos-app/versions/'))).toBe(true);
    expect(plans[0]!.title).toBe('dev: retire dbos-app version 1.0.0');
    expect(plans[0]!.body).toContain('the `dbos-app` Service selects `2-0-0`');
    expect(plans[0]!.body).toContain('| PENDING | 0 |');
    expect(skips.find((skip) => skip.subject === 'orders/1-0-0')!.reason).toContain('1.0.0 has 1 workflow(s) in flight');
    expect(skips.find((skip) => skip.subject === 'orders/3-0-0')!.reason).toContain('app-latest component');
  });

  it("and the reverse: dbos-app's 1.0.0 in flight neither blocks orders' 1.0.0 retirement nor is retired itself", async () => {
    await rowsOfTwoApps([quiet('dbos-app'), quiet('orders'), { app: 'dbos-app', status: 'ENQUEUED', version: '1.0.0', agoMs: 5 * HOUR }]);
    const { plans, skips } = await planTwoApps();
    expect(plans.map((plan) => plan.branch)).toEqual(['bot/version-retire/dev/orders/1-0-0']);
    expect(plans[0]!.edits.every((edit) => edit.path.startsWith('overlays/dev/apps/orders/versions/'))).toBe(true);
    expect(plans[0]!.body).toContain('the `orders` Service selects `3-0-0`');
    expect(plans[0]!.body).not.toContain('dbos-app');
    expect(skips.find((skip) => skip.subject === 'dbos-app/1-0-0')!.reason).toContain('1.0.0 has 1 workflow(s) in flight');
  });

  it('a workflow without an application name counts for both applications (fail closed): neither 1.0.0 is retired', async () => {
    await rowsOfTwoApps([quiet('dbos-app'), quiet('orders'), { app: null, status: 'PENDING', version: '1.0.0', agoMs: 5 * HOUR }]);
    const { plans, skips } = await planTwoApps();
    expect(plans).toEqual([]);
    for (const app of ['dbos-app', 'orders'])
      expect(skips.find((skip) => skip.subject === `${app}/1-0-0`)!.reason).toContain('1.0.0 has 1 workflow(s) in flight');
  });

  it('with nothing in flight for either, each retires its own 1.0.0 on its own branch', async () => {
    await rowsOfTwoApps([quiet('dbos-app'), quiet('orders')]);
    const { plans } = await planTwoApps();
    expect(plans.map((plan) => plan.branch)).toEqual(['bot/version-retire/dev/dbos-app/1-0-0', 'bot/version-retire/dev/orders/1-0-0']);
  });
});
