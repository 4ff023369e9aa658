import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDbosSystemDatabase, startPostgres, type DbosSystemDatabase, type PostgresServer } from '@dbos-gitops/testkit';
import { createDrainReader } from '@dbos-gitops/drain/testing';
import { memoryTree, versionFixtureFiles, versionsDirOf, type FixtureVersion } from '../../testing/version-fixture.ts';
import { parseConfig } from '../config/load.ts';
import { defaultDrainSourceFor } from '../sources/drain/for-environment.ts';
import type { BotPullRequests, PullRequestRecord } from '../sources/forge/types.ts';
import type { KubeHealth } from '../sources/kube/health.ts';
import { holdListEntry } from '../tasks/shared/app-version-files.ts';
import { buildStatus, type StatusInputs } from './build.ts';
import { statusSchema, type StatusModel, type VersionStatus } from './model.ts';
import { renderStatusMarkdown, renderStatusTable } from './render.ts';

const HOUR = 3_600_000;
const digest = (n: number) => `sha256:${String(n).repeat(64)}`;
const PLACEHOLDER = `sha256:${'0'.repeat(64)}`;

/**
 * shop in dev: 1.0.0 drained with its retire PR open, 1.1.0 held (its own hold comment) with work in flight and a
 * dead letter, 1.2.0 the latest, 1.3.0 rolled back (held in the list above the latest), 1.4.0 newer than the latest
 * but never switched to (switch pending). staging runs 1.0.0 only; its drain reader has a wrong password.
 */
const DEV: FixtureVersion[] = [
  { version: '1.0.0', digest: digest(1) },
  { version: '1.1.0', digest: digest(2), hold: true },
  { version: '1.2.0', digest: digest(3), latest: true },
  { version: '1.3.0', digest: digest(4) },
  { version: '1.4.0', digest: PLACEHOLDER },
];

async function fixture(): Promise<{ files: Record<string, string>; config: ReturnType<typeof parseConfig> }> {
  const files = await versionFixtureFiles({
    environments: ['dev', 'staging'],
    apps: [{ name: 'shop', repository: 'ghcr.io/example-org/shop', versions: { dev: DEV, staging: [{ version: '1.0.0', digest: digest(1), latest: true }] } }],
    maxLive: 6,
  });
  const list = `${versionsDirOf('dev', 'shop')}/kustomization.yaml`;
  files[list] = holdListEntry(files[list]!, list, '1-3-0', 'gate failed 1.3.0 in dev (error ratio 30%)');
  // Cluster access for dev only: staging's replicas are "not read".
  const configText = files['.github/gitops-bot.yaml']!.replace('    overlay: overlays/dev\n', '    overlay: overlays/dev\n    kube:\n      context: test\n');
  files['.github/gitops-bot.yaml'] = configText;
  return { files, config: parseConfig(configText) };
}

function retirePr(slug: string, extra: Partial<PullRequestRecord> = {}): PullRequestRecord {
  return {
    number: 41,
    branch: `bot/version-retire/dev/shop/${slug}`,
    title: `Retire shop ${slug} in dev`,
    body: '',
    state: 'open',
    merged: false,
    labels: [],
    createdAt: new Date(0).toISOString(),
    url: 'https://github.example/org/repo/pull/41',
    author: 'bot',
    ...extra,
  };
}

/** Cluster fake: the latest's digest has run Ready since a fixed time; anything else is not running. */
const kube: KubeHealth = {
  async healthySince(env, namespace, pinned) {
    if (env !== 'dev' || namespace !== 'dbos') throw new Error(`unexpected cluster read ${env}/${namespace}`);
    return pinned === digest(3) ? new Date('2026-11-01T00:00:00Z') : null;
  },
};

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let readerUrl: string;
let wrongPasswordUrl: string;

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  const reader = await createDrainReader(pg, sys.database);
  readerUrl = reader.url;
  wrongPasswordUrl = pg.url({ database: sys.database, user: reader.role, password: randomBytes(12).toString('hex') });
  const now = Number((await pg.query<{ ms: string }>('SELECT (EXTRACT(EPOCH FROM now()) * 1000)::bigint AS ms', [], sys.database)).rows[0]!.ms);
  const rows: Array<[string, string, number]> = [
    ['SUCCESS', '1.0.0', now - 3 * HOUR],
    ['PENDING', '1.1.0', now],
    ['PENDING', '1.1.0', now],
    ['MAX_RECOVERY_ATTEMPTS_EXCEEDED', '1.1.0', now - 2 * HOUR],
    ['ENQUEUED', '1.2.0', now],
    ['SUCCESS', '1.3.0', now - 2 * HOUR],
  ];
  for (const [i, [status, version, at]] of rows.entries())
    await pg.query(
      `INSERT INTO dbos.workflow_status (workflow_uuid, status, name, application_version, application_name, executor_id, created_at, updated_at)
       VALUES ($1, $2, 'checkout', $3, 'shop', 'executor-a', $4, $4)`,
      [`wf-${i}`, status, version, at],
      sys.database,
    );
  for (const [version, ago] of [
    ['1.0.0', 30 * 24 * HOUR],
    ['1.1.0', 20 * 24 * HOUR],
    ['1.2.0', 10 * 24 * HOUR],
    ['1.3.0', 5 * 24 * HOUR],
  ] as const)
    await pg.query(
      'INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name) VALUES ($1, $2, $3, $4)',
      [`shop-${version}`, version, now - ago, 'shop'],
      sys.database,
    );
}, 120_000);

afterAll(async () => {
  await pg?.stop();
});

async function status(overrides: Partial<StatusInputs> = {}): Promise<StatusModel> {
  const { files, config } = await fixture();
  const model = await buildStatus({
    config,
    tree: memoryTree(files),
    now: new Date(),
    envFilter: null,
    appFilter: null,
    drain: defaultDrainSourceFor({ DBOS_DRAIN_DATABASE_URL_DEV: readerUrl, DBOS_DRAIN_DATABASE_URL_STAGING: wrongPasswordUrl }),
    kube,
    pullRequests: async (): Promise<BotPullRequests> => ({ own: [retirePr('1-0-0')], ignored: [] }),
    forgeDescribe: 'test forge',
    ...overrides,
  });
  // Whatever else a test asserts, the model is the documented shape.
  statusSchema.parse(model);
  return model;
}

function cell(model: StatusModel, env: string, version: string): VersionStatus {
  const found = model.apps
    .find((app) => app.name === 'shop')
    ?.environments.find((candidate) => candidate.env === env)
    ?.versions.find((v) => v.version === version);
  if (!found) throw new Error(`no cell ${env} ${version}`);
  return found;
}

describe('status with the drain reader (real PostgreSQL, DBOS schema)', () => {
  it('gives every version the states git, the drain reading and the PRs give it', async () => {
    const model = await status();
    expect(cell(model, 'dev', '1.0.0').states).toEqual(['drained', 'retire-pr-open']);
    expect(cell(model, 'dev', '1.0.0').retirePullRequest).toEqual({ number: 41, url: 'https://github.example/org/repo/pull/41' });
    expect(cell(model, 'dev', '1.1.0').states).toEqual(['draining', 'held']);
    expect(cell(model, 'dev', '1.1.0').holdReason).toBe('(incident 42: keep until the audit export ran)');
    expect(cell(model, 'dev', '1.2.0').states).toEqual(['latest']);
    expect(cell(model, 'dev', '1.3.0').states).toEqual(['drained', 'rolled-back']);
    expect(cell(model, 'dev', '1.3.0').holdReason).toBe('gate failed 1.3.0 in dev (error ratio 30%)');
    // Never seen by DBOS: neither draining nor drained, but newer than the latest the Service selects.
    expect(cell(model, 'dev', '1.4.0').states).toEqual(['switch-pending']);
  });

  it('counts in-flight and dead-lettered workflows per version, with the last activity from the database', async () => {
    const model = await status();
    const held = cell(model, 'dev', '1.1.0').drain;
    expect(held).toMatchObject({ status: 'read', pending: 2, inFlight: 2, deadLettered: 1 });
    const latest = cell(model, 'dev', '1.2.0').drain;
    expect(latest).toMatchObject({ status: 'read', enqueued: 1, inFlight: 1, deadLettered: 0 });
    const drained = cell(model, 'dev', '1.0.0').drain;
    if (drained.status !== 'read') throw new Error('dev 1.0.0 was not read');
    expect(drained.inFlight).toBe(0);
    expect(Date.parse(drained.readAt) - Date.parse(drained.lastActivity!)).toBeGreaterThanOrEqual(3 * HOUR);
  });

  it('shows a failing reader as unknown with its reason, never as zero', async () => {
    const model = await status();
    const staging = cell(model, 'staging', '1.0.0');
    expect(staging.drain.status).toBe('unknown');
    if (staging.drain.status !== 'unknown') return;
    expect(staging.drain.reason).toMatch(/password|authentication/i);
    expect(staging.drain.reason).not.toContain(wrongPasswordUrl.split('@')[0]!.split(':').pop()!);
    expect(staging.states).toEqual(['latest']);
    const table = renderStatusTable(model);
    expect(table).toContain('in flight: unknown: ');
    // Rows are versions, newest first, whichever environments run them.
    expect([...table.matchAll(/^\| (\d+\.\d+\.\d+) +\|/gm)].map((match) => match[1])).toEqual(['1.4.0', '1.3.0', '1.2.0', '1.1.0', '1.0.0']);
  });

  it('reads replicas only where cluster access is configured', async () => {
    const model = await status();
    expect(cell(model, 'dev', '1.2.0').replicas).toEqual({ status: 'read', readySince: '2026-11-01T00:00:00.000Z' });
    expect(cell(model, 'dev', '1.0.0').replicas).toEqual({ status: 'read', readySince: null });
    expect(cell(model, 'dev', '1.4.0').replicas.status).toBe('unknown');
    expect(cell(model, 'staging', '1.0.0').replicas.status).toBe('not-read');
  });
});

describe('status without the drain reader', () => {
  it('says "not read" instead of counting, and keeps what git and the PRs say', async () => {
    const model = await status({ drain: defaultDrainSourceFor({}), kube: null });
    for (const version of ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0']) {
      const drain = cell(model, 'dev', version).drain;
      expect(drain.status).toBe('not-read');
      if (drain.status === 'not-read') expect(drain.reason).toContain('DBOS_DRAIN_DATABASE_URL_DEV');
      expect(cell(model, 'dev', version).replicas.status).toBe('not-read');
      expect(cell(model, 'dev', version).states).not.toContain('drained');
      expect(cell(model, 'dev', version).states).not.toContain('draining');
    }
    expect(cell(model, 'dev', '1.0.0').states).toEqual(['retire-pr-open']);
    expect(cell(model, 'dev', '1.1.0').states).toEqual(['held']);
    expect(cell(model, 'dev', '1.3.0').states).toEqual(['rolled-back']);
    const table = renderStatusTable(model);
    expect(table).toContain('in flight: not read');
    expect(table).not.toMatch(/in flight 0/);
  });

  it('marks a version held when its open retire PR carries the hold label', async () => {
    const model = await status({ drain: null, pullRequests: async () => ({ own: [retirePr('1-0-0', { labels: ['gitops-bot/hold'] })], ignored: [] }) });
    expect(cell(model, 'dev', '1.0.0').states).toEqual(['retire-pr-open', 'held']);
  });

  it('without a forge, the open PRs are not read and no retire PR is claimed', async () => {
    const model = await status({ drain: null, pullRequests: null });
    expect(model.pullRequests.status).toBe('not-read');
    expect(cell(model, 'dev', '1.0.0').states).toEqual([]);
    const failing = await status({
      drain: null,
      pullRequests: async () => {
        throw new Error('socket hang up');
      },
    });
    expect(failing.pullRequests).toEqual({ status: 'unknown', reason: 'test forge: unexpected Error' });
  });

  it('lists promotion positions, placeholder pins and open PRs, and filters by environment and application', async () => {
    const model = await status({ drain: null });
    const shop = model.promotion.find((entry) => entry.kind === 'app' && entry.name === 'shop')!;
    expect(shop.positions.map((position) => [position.env, position.version, position.pin?.shortDigest])).toEqual([
      ['dev', '1.2.0', '333333333333'],
      ['staging', '1.0.0', '111111111111'],
    ]);
    expect(model.placeholderPins).toEqual([{ env: 'dev', file: 'overlays/dev/apps/shop/versions/1-4-0/kustomization.yaml', image: 'shop 1.4.0' }]);
    expect(model.pullRequests.status === 'read' && model.pullRequests.open.map((pr) => [pr.number, pr.task, pr.env, pr.subject])).toEqual([
      [41, 'version-retire', 'dev', 'shop/1-0-0'],
    ]);
    const staging = await status({ drain: null, envFilter: 'staging' });
    expect(staging.environments).toEqual(['staging']);
    expect(staging.apps[0]!.environments.map((environment) => environment.env)).toEqual(['staging']);
    expect((await status({ drain: null, appFilter: 'other' })).apps).toEqual([]);
  });

  it('escapes untrusted text in Markdown: a PR title cannot break the table or open an HTML comment', async () => {
    const title = 'x | y <!-- gitops-bot:action promote/dev/shop/9.9.9 --> @admin';
    const model = await status({ drain: null, pullRequests: async () => ({ own: [retirePr('1-0-0', { title })], ignored: [] }) });
    const markdown = renderStatusMarkdown(model);
    expect(markdown).not.toContain('<!--');
    expect(markdown).not.toContain('@admin');
    expect(markdown).toContain('x \\| y &lt;!-- gitops-bot:action');
  });
});
