import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, startPostgres, startRegistry, type DbosSystemDatabase, type PostgresServer, type TestRegistry } from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import { versionFixtureFiles } from '../../../testing/version-fixture.ts';
import { createWorld, type World } from '../../../testing/world.ts';

/*
 * The dashboard's ticks acting on a full run, end to end: the CLI against a bare git remote, the real registry, real
 * PostgreSQL with the DBOS schema as dev's evidence, and the GitHub fake with roles and a clock the test moves. dev
 * runs dbos-app 1.0.0 and 1.1.0 (latest), staging 1.0.0; dev's gate soaks for an hour and 1.1.0 started ten minutes
 * ago, so staging waits, and the dashboard offers to promote now and to roll dev back.
 */
const DAY = 86_400_000;
const STAGING_BRANCH = 'bot/version-add/staging/dbos-app/1-1-0';
const PROMOTE = '- [ ] promote dbos-app 1.1.0 into staging now (skip the soak) <!-- gitops-bot:action promote/staging/dbos-app/1.1.0 -->';
const ROLLBACK = '- [ ] roll back dbos-app in dev from 1.1.0 to 1.0.0 <!-- gitops-bot:action rollback/dev/dbos-app -->';
const tick = (line: string) => line.replace('[ ]', '[x]');

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let reader: { url: string };
let registry: TestRegistry;
let files: Record<string, string>;
const worlds: World[] = [];
let virtualNow = Date.now();
const later = () => {
  virtualNow += 5000;
};

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  reader = await createDrainReader(pg, sys.database);
  registry = await startRegistry();
  const digests: Record<string, string> = {};
  for (const tag of ['1.0.0', '1.1.0'])
    digests[tag] = (await registry.pushImage('ticks/dbos-app', tag, { created: new Date(Date.now() - 30 * DAY), salt: tag })).digest;
  const v = (version: string, latest: boolean) => ({ version, digest: digests[version]!, latest });
  files = await versionFixtureFiles({
    environments: ['dev', 'staging'],
    versions: { dev: [v('1.0.0', false), v('1.1.0', true)], staging: [v('1.0.0', true)] },
    repository: `${registry.host}/ticks/dbos-app`,
    registryHosts: [registry.host],
    quietPeriod: '30d',
  });
  files['.github/gitops-bot.yaml'] = `${files['.github/gitops-bot.yaml']!.replace('  type: local', '  type: github').replace(
    '    overlay: overlays/dev\n',
    '    overlay: overlays/dev\n    gate:\n      soak: 1h\n',
  )}dashboard: true\n`;
  const admin = (sql: string, params?: unknown[]) => pg.query(sql, params, sys.database);
  await admin(
    `INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name)
     VALUES ('1.1.0', '1.1.0', (EXTRACT(EPOCH FROM now()) * 1000)::bigint - 600000, 'dbos-app')`,
  );
  await admin(
    `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, created_at, updated_at, completed_at)
     SELECT 'wf-' || i, 'SUCCESS', 'wf', '1.1.0', 'dbos-app', t - 1000, t, t
       FROM generate_series(1, 50) AS i, (SELECT (EXTRACT(EPOCH FROM now()) * 1000)::bigint - 60000 AS t) AS clock`,
  );
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  await pg?.stop();
});
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.dispose();
});

async function world(): Promise<World> {
  const created = await createWorld({ environments: ['dev', 'staging'], images: [], dashboard: true }, { DBOS_DRAIN_DATABASE_URL_DEV: reader.url }, files, {
    roles: { maintainer: 'maintain', reader: 'read' },
    clock: () => new Date(virtualNow),
  });
  worlds.push(created);
  return created;
}

describe('dashboard ticks act on the next full run, once, and only from people with write access', () => {
  it('promote now: a read-only tick does nothing; a maintainer tick opens the promotion PR (soak skipped, who ticked it), once', async () => {
    const w = await world();
    const first = await w.run('run', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(first.json.dashboard.outcome).toBe('created');
    expect(first.json.skips.find((skip: { env: string; task: string }) => skip.env === 'staging' && skip.task === 'version-add')?.reason).toMatch(
      /gate there reads unknown .*of its 1h soak/,
    );
    const issue = w.github.issues[0]!;
    expect(issue.body).toContain(PROMOTE);
    expect(issue.body).toContain(ROLLBACK);

    later();
    w.github.editIssueBody(issue.number, issue.body.replace(PROMOTE, tick(PROMOTE)), 'reader');
    later();
    const byReader = await w.run('run', '--json');
    expect(byReader.code, byReader.stderr).toBe(0);
    expect(byReader.stderr).toContain('dashboard: 1 ticked box(es) not acted on: edited by @reader (read)');
    expect(byReader.json.applied.map((item: { branch: string }) => item.branch)).not.toContain(STAGING_BRANCH);
    expect(byReader.json.dashboard.outcome).toBe('updated');
    expect(w.github.issues[0]!.body).toBe(issue.body);

    later();
    w.github.editIssueBody(issue.number, issue.body.replace(PROMOTE, tick(PROMOTE)), 'maintainer');
    later();
    // A dry run with a maintainer's tick: it plans the promotion and writes nothing anywhere.
    const writes = w.github.writeCount();
    const dry = await w.run('run', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json.applied.find((item: { branch: string }) => item.branch === STAGING_BRANCH)?.outcome).toBe('dry-run');
    expect(dry.json.dashboard).toEqual({ outcome: 'dry-run', wouldWrite: true });
    expect(w.github.writeCount()).toBe(writes);
    expect((await w.remote.heads()).has(STAGING_BRANCH)).toBe(false);

    const byMaintainer = await w.run('run', '--json');
    expect(byMaintainer.code, byMaintainer.stderr).toBe(0);
    expect(byMaintainer.stderr).toContain('dashboard: acting on "promote/staging/dbos-app/1.1.0", ticked by @maintainer');
    expect(byMaintainer.json.applied.find((item: { branch: string }) => item.branch === STAGING_BRANCH)?.outcome).toBe('created');
    const pr = w.github.pulls.find((candidate) => candidate.head === STAGING_BRANCH)!;
    expect(pr.body).toContain('- Promoted now from the dashboard: @maintainer ticked it, so the soak was skipped for `1.1.0`');
    expect(pr.body).toContain('| verdict | **pass** |');
    // The box is shown unticked, and the open PR is listed.
    const after = w.github.issues[0]!.body;
    expect(after).toContain(`#${pr.number}`);
    expect(after).not.toContain('[x]');

    // The next run: no tick, nothing acted on again, the PR stays open, and nothing is written at all.
    const quiet = w.github.writeCount();
    const next = await w.run('run', '--json');
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).not.toContain('acting on');
    expect(next.json.closed).toEqual([]);
    expect(next.json.dashboard.outcome).toBe('unchanged');
    expect(next.json.pushes).toBe(0);
    // The edit-history query is a POST to /graphql, counted as the read it is.
    expect(next.json.forgeCalls.writes).toBe(0);
    expect(w.github.writeCount()).toBe(quiet);
    expect(w.github.pulls.find((candidate) => candidate.head === STAGING_BRANCH)?.state).toBe('open');
    expect(w.github.violations).toEqual([]);
  });

  it('roll back: a maintainer tick opens the rollback PR naming who ticked it, once; a malformed id is ignored and reported', async () => {
    const w = await world();
    expect((await w.run('run')).code).toBe(0);
    const issue = w.github.issues[0]!;
    later();
    const forged = '- [x] promote everything <!-- gitops-bot:action promote/prod/dbos-app/9.9.9 -->';
    w.github.editIssueBody(issue.number, `${issue.body.replace(ROLLBACK, tick(ROLLBACK))}\n${forged}\n`, 'maintainer');
    later();
    const run = await w.run('run', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('dashboard: acting on "rollback/dev/dbos-app", ticked by @maintainer');
    expect(run.stderr).toMatch(/dashboard: line \d+ not acted on: "promote\/prod\/dbos-app\/9\.9\.9" is not an action the dashboard offers now/);
    const created = run.json.applied.filter(
      (item: { branch: string; outcome: string }) => item.branch.startsWith('bot/rollback/dev/') && item.outcome === 'created',
    );
    expect(created).toHaveLength(1);
    const pr = w.github.pulls.find((candidate) => candidate.head === created[0].branch)!;
    expect(pr.body).toContain('ticked on the dashboard by @maintainer');
    // The hand-written line outside the bot's region stays (people's notes are kept); the box is unticked.
    expect(w.github.issues[0]!.body).toContain(ROLLBACK);

    const quiet = w.github.writeCount();
    const next = await w.run('run', '--json');
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).not.toContain('acting on');
    expect(w.github.writeCount()).toBe(quiet);
    expect(w.github.violations).toEqual([]);
  });
});
