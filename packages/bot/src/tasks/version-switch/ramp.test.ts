import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBareRemote, createDbosSystemDatabase, startPostgres, type DbosSystemDatabase, type PostgresServer } from '@dbos-gitops/testkit';
import { createDrainReader, seedFinishedWorkflows } from '@dbos-gitops/drain/testing';
import { parseConfig } from '../../config/load.ts';
import { isBotError } from '../../errors.ts';
import type { FileEdit } from '../../plan.ts';
import { planAll } from '../../runner.ts';
import { defaultDrainSourceFor } from '../../sources/drain/for-environment.ts';
import { versionPodsFromPods, type KubeHealth, type PodLike } from '../../sources/kube/health.ts';
import { kustomize, memoryTree, NO_REGISTRY, REPO_ROOT, versionFixtureFiles, versionsDirOf } from '../../../testing/version-fixture.ts';
import { readRampPatch, renderRampPatch } from '../shared/app-version-files.ts';
import { runOnRemote } from '../../../testing/run-on-remote.ts';
import { createVersionSwitchTask } from './index.ts';

/*
 * The traffic ramp of version-switch (`switch: gated` + `ramp: [10, 50]`) on a version fixture routed through the
 * real Gateway API component: each planned step is applied and rendered with real kustomize (weights, the per-version
 * Service), and each step after the first is gated on the version's evidence read from a real PostgreSQL with the
 * DBOS schema through the real drain reader. Kubernetes is faked at the KubeHealth interface (pods with Ready
 * conditions, judged by the real versionPodsFromPods).
 */
const HOUR = 3_600_000;
const APP_DIR = 'overlays/dev/apps/dbos-app';
const DIR = versionsDirOf('dev');
const ROUTE_COMPONENT = 'base/components/app-route-gateway';

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let reader: { url: string };
let dir: string;
beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  reader = await createDrainReader(pg, sys.database);
  dir = await mkdtemp(join(tmpdir(), 'ramp-'));
});
afterAll(async () => {
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const sql = (text: string, params: unknown[] = []) => pg.query(text, params, sys.database);

/** 2.0.0's workflows, finished an hour ago, and both versions registered (1.0.0 long ago, 2.0.0 three hours ago). */
const rows = (statuses: Record<string, number>) =>
  seedFinishedWorkflows(
    { query: sql },
    { app: 'dbos-app', registered: { '1.0.0': 30 * 24 * HOUR, '2.0.0': 3 * HOUR }, version: '2.0.0', statuses, finishedAgoMs: HOUR, startedAgoMs: 2 * HOUR },
  );

function pod(slug: string, ready: boolean): PodLike {
  return {
    metadata: { labels: { 'dbos.dev/app': 'dbos-app', 'dbos.dev/app-version': slug } },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: '2026-01-02T03:04:05Z' }] },
  };
}

function fakeKube(pods: PodLike[]): KubeHealth {
  return {
    healthySince: async () => null,
    async versionPods(_env, _namespace, app, slug) {
      return versionPodsFromPods(pods.filter((p) => p.metadata?.labels?.['dbos.dev/app'] === app && p.metadata.labels['dbos.dev/app-version'] === slug));
    },
  };
}

/** dev: 1.0.0 latest and selected, 2.0.0 added by a gated version-add (merged); the application routed through the
 * Gateway API component; `ramp: [10, 50]`, a gate of 3 successes and no soak. */
async function fixture(options: { gateway?: boolean; ramp?: string } = {}): Promise<Record<string, string>> {
  const files = await versionFixtureFiles({
    environments: ['dev'],
    versions: {
      dev: [
        { version: '1.0.0', digest: `sha256:${'1'.repeat(64)}`, latest: true },
        { version: '2.0.0', digest: `sha256:${'2'.repeat(64)}` },
      ],
    },
  });
  if (options.gateway !== false) {
    for (const name of ['kustomization.yaml', 'http-route.yaml'])
      files[`${ROUTE_COMPONENT}/${name}`] = await readFile(join(REPO_ROOT, ROUTE_COMPONENT, name), 'utf8');
    const app = files[`${APP_DIR}/kustomization.yaml`]!;
    const withRoute = app.replace('components:\n', `components:\n  - ../../../../${ROUTE_COMPONENT}\n`);
    expect(withRoute).not.toBe(app);
    files[`${APP_DIR}/kustomization.yaml`] = withRoute;
  }
  const config = files['.github/gitops-bot.yaml']!;
  const gated = config.replace(
    '  - name: dev\n    overlay: overlays/dev\n',
    `  - name: dev\n    overlay: overlays/dev\n    switch: gated\n    ramp: ${options.ramp ?? '[10, 50]'}\n    kube:\n      namespace: dbos\n    gate: { minSucceeded: 3, soak: 0s }\n`,
  );
  expect(gated).toContain('switch: gated');
  files['.github/gitops-bot.yaml'] = gated;
  return files;
}

type PullRequests = Parameters<typeof planAll>[0]['pullRequests'];

function plan(files: Record<string, string>, options: { url?: string | null; ready?: boolean; pullRequests?: PullRequests } = {}) {
  const url = options.url === undefined ? reader.url : options.url;
  return planAll({
    config: parseConfig(files['.github/gitops-bot.yaml']!),
    tasks: [createVersionSwitchTask()],
    tree: memoryTree(files),
    registry: NO_REGISTRY,
    kube: fakeKube([pod('1-0-0', true), pod('2-0-0', options.ready ?? true)]),
    drain: defaultDrainSourceFor(url ? { DBOS_DRAIN_DATABASE_URL_DEV: url } : {}),
    pullRequests: options.pullRequests ?? [],
    envFilter: 'dev',
    now: new Date(),
    log: () => undefined,
  });
}

function applied(files: Record<string, string>, edits: FileEdit[]): Record<string, string> {
  const out = { ...files };
  for (const edit of edits) {
    expect(edit.before).toBe(files[edit.path] ?? null);
    if (edit.after === null) delete out[edit.path];
    else out[edit.path] = edit.after;
  }
  return out;
}

let renders = 0;
/** The application directory rendered by real kustomize: its HTTPRoute's backends and its Services' selectors. */
async function render(files: Record<string, string>) {
  const root = join(dir, `render-${renders++}`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  const objects = await kustomize(join(root, APP_DIR));
  const route = objects.find((o) => o.kind === 'HTTPRoute')!;
  const services = Object.fromEntries(
    objects.filter((o) => o.kind === 'Service').map((o) => [o.metadata.name as string, o.spec.selector as Record<string, string>]),
  );
  const latest = objects.filter((o) => o.kind === 'ScaledObject' && o.spec.minReplicaCount === 1).map((o) => o.metadata.name);
  return { backends: route.spec.rules[0].backendRefs as Array<{ name: string; port: number; weight?: number }>, services, latest };
}

function merged(plan: { branch: string; title: string; body: string }, number: number, open = false): PullRequests[number] {
  return {
    number,
    branch: plan.branch,
    title: plan.title,
    body: plan.body,
    state: open ? 'open' : 'closed',
    merged: !open,
    labels: [],
    createdAt: new Date().toISOString(),
    url: '',
  };
}

describe('the ramp patch', () => {
  it('reads back what it writes, and refuses weights the bot did not write', () => {
    expect(readRampPatch(renderRampPatch('dbos-app', '2-0-0', 10), 'p', 'dbos-app')).toEqual({ slug: '2-0-0', percent: 10 });
    expect(readRampPatch(renderRampPatch('dbos-app', '2-0-0', 99), 'p', 'dbos-app')).toEqual({ slug: '2-0-0', percent: 99 });
    const tampered = renderRampPatch('dbos-app', '2-0-0', 10).replace('weight: 90', 'weight: 80');
    expect(() => readRampPatch(tampered, 'p', 'dbos-app')).toThrow(/weights are not two integers summing to 100/);
    expect(() => readRampPatch(renderRampPatch('other', '2-0-0', 10), 'p', 'dbos-app')).toThrow(/first backendRef is not the Service dbos-app/);
    expect(() => renderRampPatch('dbos-app', '2-0-0', 100)).toThrow(/between 1 and 99/);
  });
});

describe('version-switch ramps traffic through HTTPRoute weights', () => {
  it('10% then 50% then the switch, each step one PR rendered by real kustomize, each later step gated on pass; a re-run writes nothing', async () => {
    const start = await fixture();
    const before = await render(start);
    expect(before.backends).toEqual([{ name: 'dbos-app', port: 8080 }]);
    expect(Object.keys(before.services)).toEqual(['dbos-app']);

    // Step 1: pods Ready is the gate (no traffic yet, so no evidence can exist).
    await rows({});
    const first = await plan(start);
    expect(first.plans.map((p) => p.branch)).toEqual(['bot/version-switch/dev/dbos-app/2-0-0.ramp-10']);
    expect(first.plans[0]!.title).toBe('dev: ramp dbos-app 2.0.0 to 10%');
    const at10 = applied(start, first.plans[0]!.edits);
    const r10 = await render(at10);
    expect(r10.backends).toEqual([
      { name: 'dbos-app', port: 8080, weight: 90 },
      { name: 'dbos-app-2-0-0', port: 8080, weight: 10 },
    ]);
    expect(r10.services).toEqual({
      'dbos-app': { app: 'dbos-app', 'dbos.dev/app-version': '1-0-0' },
      'dbos-app-2-0-0': { app: 'dbos-app', 'dbos.dev/app-version': '2-0-0' },
    });
    expect(r10.latest).toEqual(['dbos-app-1-0-0']);
    // While the step's PR is open: nothing new.
    const whileOpen = await plan(start, { pullRequests: [merged(first.plans[0]!, 1, true)] });
    expect(whileOpen.plans).toEqual([]);
    expect(whileOpen.skips.map((s) => s.reason)).toContain('ramp PR #1 for 2.0.0 is open; left as it is');

    // Step 2 waits for evidence: too few successes is unknown and says why.
    const history = [merged(first.plans[0]!, 1)];
    await rows({ SUCCESS: 2 });
    const waiting = await plan(at10, { pullRequests: history });
    expect(waiting.plans).toEqual([]);
    expect(waiting.skips.find((s) => s.subject === 'dbos-app/2-0-0')!.reason).toBe(
      'unknown: the gate reads unknown for 2.0.0 at 10% of the ramp (it stays there): Not enough data: 2 workflows succeeded in the window, the gate needs 3.; 2.0.0 is not switched to',
    );
    await rows({ SUCCESS: 3 });
    const second = await plan(at10, { pullRequests: history });
    expect(second.plans.map((p) => p.branch)).toEqual(['bot/version-switch/dev/dbos-app/2-0-0.ramp-50']);
    expect(second.plans[0]!.body).toContain('| SUCCESS | 3 |');
    expect(second.plans[0]!.edits.map((e) => e.path)).toEqual([`${APP_DIR}/ramp/route.patch.yaml`]);
    const at50 = applied(at10, second.plans[0]!.edits);
    const r50 = await render(at50);
    expect(r50.backends.map((b) => [b.name, b.weight])).toEqual([
      ['dbos-app', 50],
      ['dbos-app-2-0-0', 50],
    ]);

    // The last step is the switch PR: Service and app-latest move, the ramp component and its line go.
    history.push(merged(second.plans[0]!, 2));
    const last = await plan(at50, { pullRequests: history });
    expect(last.plans.map((p) => p.branch)).toEqual(['bot/version-switch/dev/dbos-app/2-0-0']);
    const switched = applied(at50, last.plans[0]!.edits);
    const rEnd = await render(switched);
    expect(rEnd.backends).toEqual([{ name: 'dbos-app', port: 8080 }]);
    expect(rEnd.services).toEqual({ 'dbos-app': { app: 'dbos-app', 'dbos.dev/app-version': '2-0-0' } });
    expect(rEnd.latest).toEqual(['dbos-app-2-0-0']);
    // The application directory is byte for byte what it was before the ramp; no ramp file is left.
    expect(switched[`${APP_DIR}/kustomization.yaml`]).toBe(start[`${APP_DIR}/kustomization.yaml`]);
    expect(Object.keys(switched).filter((path) => path.startsWith(`${APP_DIR}/ramp/`))).toEqual([]);

    // A re-run on the result writes nothing.
    history.push(merged(last.plans[0]!, 3));
    expect((await plan(switched, { pullRequests: history })).plans).toEqual([]);
  });

  it('fail mid-ramp proposes the ramp rollback (weights gone, version held) with the evidence; a re-run writes nothing', async () => {
    const start = await fixture();
    await rows({});
    const first = (await plan(start)).plans[0]!;
    const at10 = applied(start, first.edits);
    await rows({ SUCCESS: 3, ERROR: 2 });
    const failed = await plan(at10, { pullRequests: [merged(first, 1)] });
    expect(failed.plans.map((p) => p.branch)).toEqual(['bot/version-switch/dev/dbos-app/2-0-0.ramp-rollback']);
    const rollback = failed.plans[0]!;
    expect(rollback.body).toContain('| ERROR | 2 |');
    expect(rollback.body).toContain('2.0.0 keeps its Deployment');
    const back = applied(at10, rollback.edits);
    expect(back[`${DIR}/kustomization.yaml`]).toContain(
      '  # gitops-bot: hold version 2.0.0: gate failed 2.0.0 in dev at 10% of the ramp (error ratio 40.0% of 5 finished)\n  - 2-0-0\n',
    );
    const rendered = await render(back);
    expect(rendered.backends).toEqual([{ name: 'dbos-app', port: 8080 }]);
    expect(rendered.services).toEqual({ 'dbos-app': { app: 'dbos-app', 'dbos.dev/app-version': '1-0-0' } });
    // 2.0.0 still runs (its Deployment drains its own work).
    expect(back[`${DIR}/2-0-0/kustomization.yaml`]).toBe(start[`${DIR}/2-0-0/kustomization.yaml`]);
    // A version whose pods are not Ready (crashing) is rolled back all the same: fail needs no Readiness.
    const crashing = await plan(at10, { pullRequests: [merged(first, 1)], ready: false });
    expect(crashing.plans.map((p) => p.branch)).toEqual(['bot/version-switch/dev/dbos-app/2-0-0.ramp-rollback']);
    // Passing evidence with pods not Ready does not step.
    await rows({ SUCCESS: 5 });
    const notReady = await plan(at10, { pullRequests: [merged(first, 1)], ready: false });
    expect(notReady.plans).toEqual([]);
    expect(notReady.skips.find((s) => s.subject === 'dbos-app/2-0-0')!.reason).toMatch(/is not Ready in dev yet: 0\/1 pod\(s\) Ready/);
    const again = await plan(back, { pullRequests: [merged(first, 1), merged(rollback, 2)] });
    expect(again.plans).toEqual([]);
    // While the rollback PR is open, nothing else is proposed either.
    const open = await plan(at10, { pullRequests: [merged(first, 1), merged(rollback, 2, true)] });
    expect(open.plans).toEqual([]);
  });

  it('a ramping version held by hand (pnpm bot rollback, a hold line) gets its ramp ended: weights and Service go; a re-run writes nothing', async () => {
    const start = await fixture();
    const at10 = applied(start, (await plan(start)).plans[0]!.edits);
    const list = at10[`${DIR}/kustomization.yaml`]!;
    const held = { ...at10, [`${DIR}/kustomization.yaml`]: list.replace('  - 2-0-0\n', '  # gitops-bot: hold version 2.0.0: incident 9\n  - 2-0-0\n') };
    expect(held[`${DIR}/kustomization.yaml`]).not.toBe(list);
    const ended = await plan(held);
    expect(ended.plans.map((p) => p.branch)).toEqual(['bot/version-switch/dev/dbos-app/2-0-0.ramp-end']);
    expect(ended.plans[0]!.body).toContain('it is held in overlays/dev/apps/dbos-app/versions/kustomization.yaml (version 2.0.0: incident 9)');
    const after = applied(held, ended.plans[0]!.edits);
    const rendered = await render(after);
    expect(rendered.backends).toEqual([{ name: 'dbos-app', port: 8080 }]);
    expect(Object.keys(rendered.services)).toEqual(['dbos-app']);
    expect(after[`${APP_DIR}/kustomization.yaml`]).toBe(start[`${APP_DIR}/kustomization.yaml`]);
    expect((await plan(after, { pullRequests: [merged(ended.plans[0]!, 4)] })).plans).toEqual([]);
    // While it is open it is left as it is (not closed as stale).
    const open = await plan(held, { pullRequests: [merged(ended.plans[0]!, 4, true)] });
    expect(open.plans).toEqual([]);
    expect(open.skips.map((s) => s.reason)).toContain('ramp-end PR #4 is open; left as it is');
  });

  it('unknown never steps: no reader, pods not Ready; the first step waits for pods Ready', async () => {
    const start = await fixture();
    const notReady = await plan(start, { ready: false });
    expect(notReady.plans).toEqual([]);
    expect(notReady.skips.find((s) => s.subject === 'dbos-app/2-0-0')!.reason).toMatch(/is not Ready in dev yet: 0\/1 pod\(s\) Ready/);
    const at10 = applied(start, (await plan(start)).plans[0]!.edits);
    await rows({ SUCCESS: 10 });
    const noReader = await plan(at10, { url: null });
    expect(noReader.plans).toEqual([]);
    expect(noReader.skips.find((s) => s.subject === 'dbos-app/2-0-0')!.reason).toMatch(/^unknown: .*no evidence reader for dev/);
  });

  it('ramp on an application not routed through the Gateway API is refused with exit 2 naming the field', async () => {
    const files = await fixture({ gateway: false });
    const error = await plan(files).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isBotError(error)).toBe(true);
    expect((error as { exitCode: number }).exitCode).toBe(2);
    expect((error as Error).message).toContain('environments[0].ramp');
  });
});

describe('the ramp through the real runner on a bare git remote', () => {
  it('each step is pushed once; a re-run with nothing new pushes nothing; merged steps lead to the switch', async () => {
    const remote = await createBareRemote(await fixture());
    try {
      const run = () =>
        runOnRemote({
          remote,
          tasks: [createVersionSwitchTask()],
          registry: NO_REGISTRY,
          kube: fakeKube([pod('1-0-0', true), pod('2-0-0', true)]),
          drain: defaultDrainSourceFor({ DBOS_DRAIN_DATABASE_URL_DEV: reader.url }),
          envFilter: 'dev',
        });
      const outcomes = (result: Awaited<ReturnType<typeof run>>) => result.applied.map((item) => [item.plan.branch, item.outcome]);
      await rows({});
      const step10 = 'bot/version-switch/dev/dbos-app/2-0-0.ramp-10';
      expect(outcomes(await run())).toEqual([[step10, 'created']]);
      const pushes = await remote.pushCount();
      const again = await run();
      expect(again.forgeWrites).toBe(0);
      expect(await remote.pushCount()).toBe(pushes);
      await remote.mergeInto('main', step10);
      expect(await remote.readFile('main', `${APP_DIR}/ramp/route.patch.yaml`)).toContain('weight: 10');

      await rows({ SUCCESS: 3 });
      const step50 = 'bot/version-switch/dev/dbos-app/2-0-0.ramp-50';
      expect(outcomes(await run())).toEqual([[step50, 'created']]);
      await remote.mergeInto('main', step50);
      const last = 'bot/version-switch/dev/dbos-app/2-0-0';
      expect(outcomes(await run())).toEqual([[last, 'created']]);
      await remote.mergeInto('main', last);
      expect(await remote.readFile('main', `${APP_DIR}/ramp/route.patch.yaml`)).toBeNull();
      expect(await remote.readFile('main', `${DIR}/service.yaml`)).toContain('dbos.dev/app-version: 2-0-0');
      const pushesAfter = await remote.pushCount();
      const done = await run();
      expect(outcomes(done)).toEqual([]);
      expect(done.forgeWrites).toBe(0);
      expect(await remote.pushCount()).toBe(pushesAfter);
    } finally {
      await remote.cleanup();
    }
  });
});

describe('ramp: in the config', () => {
  it('accepts strictly increasing whole percents 1..99 with switch: gated, and refuses the rest naming the field', async () => {
    const files = await fixture();
    const config = files['.github/gitops-bot.yaml']!;
    expect(parseConfig(config).environments[0]!.ramp).toEqual([10, 50]);
    for (const [bad, message] of [
      ['[50, 10]', 'strictly increasing'],
      ['[10, 10]', 'strictly increasing'],
      ['[10, 100]', 'at most 99'],
      ['[0, 50]', 'at least 1'],
      ['[12.5]', 'whole percents'],
      ['[]', 'at least one step'],
    ]) {
      const text = config.replace('ramp: [10, 50]', `ramp: ${bad}`);
      expect(() => parseConfig(text), bad).toThrow(message);
      expect(() => parseConfig(text), bad).toThrow('ramp');
    }
    expect(() => parseConfig(config.replace('    switch: gated\n', ''))).toThrow(/ramp.*only used with switch: gated/s);
  });
});
