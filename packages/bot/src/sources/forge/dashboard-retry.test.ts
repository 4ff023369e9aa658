import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, startPostgres, startRegistry, type PostgresServer, type TestRegistry } from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import { versionFixtureFiles } from '../../../testing/version-fixture.ts';
import { createWorld, type World } from '../../../testing/world.ts';

/*
 * The dashboard's "retry" box end to end: the CLI against a bare git remote, the real registry, real PostgreSQL with
 * the DBOS schema as dev's evidence, and the GitHub fake with roles and a clock the test moves. dev runs dbos-app
 * 1.0.0 and 1.1.0 (latest), staging 1.0.0, and dev's evidence of 1.1.0 passes its gate, so the first run proposes
 * 1.1.0 for staging. Closing that PR unmerged is a rejection the bot remembers; a maintainer's retry tick lifts it once.
 */
const DAY = 86_400_000;
const BRANCH = 'bot/version-add/staging/dbos-app/1-1-0';
const RETRY_ID = 'retry/version-add/staging/dbos-app/1-1-0';
const retryBox = (pr: number) =>
  `- [ ] retry version-add dbos-app/1-1-0 in staging (PR #${pr} was closed without merging) <!-- gitops-bot:action ${RETRY_ID} -->`;
const tick = (line: string) => line.replace('[ ]', '[x]');

let pg: PostgresServer;
let registry: TestRegistry;
let files: Record<string, string>;
/** dev's evidence: `good` passes the gate; `bad` passes until the test adds failures. */
const readers: Record<'good' | 'bad', { url: string; admin: (sql: string) => Promise<unknown> }> = {} as never;
const worlds: World[] = [];
let virtualNow = Date.now();
const later = () => {
  virtualNow += 5000;
};

/**
 * Fifty finished workflows of 1.1.0, `ago` ms before the earlier of the bot's clock and the real one: inside the
 * evidence window (which ends at the database clock, or the bot's when it is given), never in either one's future.
 */
const finished = (status: 'SUCCESS' | 'ERROR', from: number, ago: number) => `INSERT INTO dbos.workflow_status
    (workflow_uuid, status, name, application_version, application_name, created_at, updated_at, completed_at)
  SELECT 'wf-' || i, '${status}', 'wf', '1.1.0', 'dbos-app', t - 1000, t, t
    FROM generate_series(${from}, ${from + 49}) AS i, (SELECT ${Math.min(virtualNow, Date.now()) - ago}::bigint AS t) AS clock`;

beforeAll(async () => {
  virtualNow = Date.now();
  pg = await startPostgres();
  registry = await startRegistry();
  for (const [name, suffix] of [
    ['good', ''],
    ['bad', '_bad'],
  ] as const) {
    const sys = await createDbosSystemDatabase(pg, { database: `dbos_sys${suffix}`, appRole: `dbos_app${suffix}` });
    const reader = await createDrainReader(pg, sys.database, `dbos_drain_reader${suffix}`);
    const admin = (sql: string) => pg.query(sql, [], sys.database);
    await admin(
      `INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name)
       VALUES ('1.1.0', '1.1.0', ${virtualNow - 1_200_000}, 'dbos-app')`,
    );
    await admin(finished('SUCCESS', 1, 60_000));
    readers[name] = { url: reader.url, admin };
  }
  const digests: Record<string, string> = {};
  for (const tag of ['1.0.0', '1.1.0'])
    digests[tag] = (await registry.pushImage('retry/dbos-app', tag, { created: new Date(Date.now() - 30 * DAY), salt: tag })).digest;
  const v = (version: string, latest: boolean) => ({ version, digest: digests[version]!, latest });
  files = await versionFixtureFiles({
    environments: ['dev', 'staging'],
    versions: { dev: [v('1.0.0', false), v('1.1.0', true)], staging: [v('1.0.0', true)] },
    repository: `${registry.host}/retry/dbos-app`,
    registryHosts: [registry.host],
    quietPeriod: '30d',
  });
  // 1.1.0 registered twenty minutes ago: past a five-minute soak, whose window holds the workflows of a minute ago.
  files['.github/gitops-bot.yaml'] = `${files['.github/gitops-bot.yaml']!.replace('  type: local', '  type: github').replace(
    '    overlay: overlays/dev\n',
    '    overlay: overlays/dev\n    gate:\n      soak: 5m\n',
  )}dashboard: true\n`;
}, 180_000);

afterAll(async () => {
  await registry?.stop();
  await pg?.stop();
});
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.dispose();
});

async function world(evidence: 'good' | 'bad'): Promise<World> {
  const created = await createWorld(
    { environments: ['dev', 'staging'], images: [], dashboard: true },
    { DBOS_DRAIN_DATABASE_URL_DEV: readers[evidence].url },
    files,
    { roles: { maintainer: 'maintain', reader: 'read' }, clock: () => new Date(virtualNow) },
  );
  worlds.push(created);
  return created;
}

const onBranch = (w: World) => w.github.pulls.filter((pull) => pull.head === BRANCH);
const createdOn = (run: { json: { applied: Array<{ branch: string; outcome: string }> } }) =>
  run.json.applied.filter((item) => item.branch === BRANCH && item.outcome === 'created');

describe('retry from the dashboard: a proposal closed unmerged is proposed again once, ticked by someone with write access', () => {
  it('a closed PR is not re-proposed; a read-only tick does nothing; a maintainer tick opens it again once; the next run writes nothing', async () => {
    const w = await world('good');
    const first = await w.run('run', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(createdOn(first)).toHaveLength(1);
    const closed = onBranch(w)[0]!;
    later();
    w.github.close(closed.number);
    later();

    // Control: the rejection holds, and the dashboard offers to lift it.
    const control = await w.run('run', '--json');
    expect(control.code, control.stderr).toBe(0);
    expect(createdOn(control)).toEqual([]);
    expect(control.json.skips.find((skip: { env: string; task: string }) => skip.env === 'staging' && skip.task === 'version-add')?.reason).toBe(
      `1.1.0 was proposed in PR #${closed.number}, which was closed without merging; waiting for a newer version`,
    );
    const issue = w.github.issues[0]!;
    expect(issue.body).toContain(retryBox(closed.number));

    later();
    w.github.editIssueBody(issue.number, issue.body.replace(retryBox(closed.number), tick(retryBox(closed.number))), 'reader');
    later();
    const byReader = await w.run('run', '--json');
    expect(byReader.code, byReader.stderr).toBe(0);
    expect(byReader.stderr).toContain('dashboard: 1 ticked box(es) not acted on: edited by @reader (read)');
    expect(createdOn(byReader)).toEqual([]);
    expect(onBranch(w)).toHaveLength(1);
    expect(w.github.issues[0]!.body).toBe(issue.body);

    later();
    w.github.editIssueBody(issue.number, issue.body.replace(retryBox(closed.number), tick(retryBox(closed.number))), 'maintainer');
    later();
    // A dry run with the maintainer's tick plans the retry and writes nothing anywhere.
    const writes = w.github.writeCount();
    const dry = await w.run('run', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json.applied.find((item: { branch: string }) => item.branch === BRANCH)?.outcome).toBe('dry-run');
    expect(w.github.writeCount()).toBe(writes);
    expect(onBranch(w)).toHaveLength(1);

    const byMaintainer = await w.run('run', '--json');
    expect(byMaintainer.code, byMaintainer.stderr).toBe(0);
    expect(byMaintainer.stderr).toContain(`dashboard: acting on "${RETRY_ID}", ticked by @maintainer`);
    expect(createdOn(byMaintainer)).toHaveLength(1);
    const pulls = onBranch(w);
    expect(pulls.map((pull) => pull.state)).toEqual(['closed', 'open']);
    const retried = pulls[1]!;
    expect(retried.body).toContain(`- Retried from the dashboard: @maintainer ticked it, so PR #${closed.number}, closed without merging, no longer holds`);
    // Every other check still ran: the gate's evidence is in the body.
    expect(retried.body).toContain('| verdict | **pass** |');
    // The box is gone (the open PR is the memory now), nothing is left ticked, and the new PR is listed.
    const after = w.github.issues[0]!.body;
    expect(after).not.toContain(RETRY_ID);
    expect(after).not.toContain('[x]');
    expect(after).toContain(`#${retried.number}`);

    // The next run: the closed PR no longer blocks, the open one stays as it is, and nothing is written.
    const quiet = w.github.writeCount();
    const next = await w.run('run', '--json');
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).not.toContain('acting on');
    expect(next.json.closed).toEqual([]);
    expect(next.json.pushes).toBe(0);
    expect(next.json.dashboard.outcome).toBe('unchanged');
    expect(next.json.forgeCalls.writes).toBe(0);
    expect(w.github.writeCount()).toBe(quiet);
    expect(onBranch(w).map((pull) => pull.state)).toEqual(['closed', 'open']);
    expect(w.github.violations).toEqual([]);
  });

  it('a retry of a proposal the bot closed on its gate reading fail stays blocked while the gate still fails', async () => {
    const w = await world('bad');
    const first = await w.run('run', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(createdOn(first)).toHaveLength(1);
    const opened = onBranch(w)[0]!;

    // 1.1.0 starts failing in dev: the bot closes its staging PR with the evidence.
    await readers.bad.admin(finished('ERROR', 1000, 1000));
    later();
    const failing = await w.run('run', '--json');
    expect(failing.code, failing.stderr).toBe(0);
    expect(failing.json.closed.map((item: { number: number }) => item.number)).toEqual([opened.number]);
    const issue = w.github.issues[0]!;
    expect(issue.body).toContain(retryBox(opened.number));

    later();
    w.github.editIssueBody(issue.number, issue.body.replace(retryBox(opened.number), tick(retryBox(opened.number))), 'maintainer');
    later();
    const retry = await w.run('run', '--json');
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stderr).toContain(`dashboard: acting on "${RETRY_ID}", ticked by @maintainer`);
    expect(createdOn(retry)).toEqual([]);
    expect(retry.json.skips.find((skip: { env: string; task: string }) => skip.env === 'staging' && skip.task === 'version-add')?.reason).toMatch(
      /^1\.1\.0 is not promoted from dev: its gate there reads fail/,
    );
    expect(onBranch(w).map((pull) => pull.state)).toEqual(['closed']);
    // Still offered (the proposal is still closed), and unticked: the tick was honoured once.
    expect(w.github.issues[0]!.body).toContain(retryBox(opened.number));
    expect(w.github.violations).toEqual([]);
  });
});
