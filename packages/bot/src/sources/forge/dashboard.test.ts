import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGitHubFake, startRegistry, type GitHubFake, type GitHubFakeOptions, type TestRegistry } from '@dbos-gitops/testkit';
import type { FixtureImage } from '../../../testing/fixture-repo.ts';
import { createWorld, type World } from '../../../testing/world.ts';
import { DashboardStep, renderRunSummary } from './dashboard.ts';
import { GitHubForge } from './github.ts';
import { LOCAL_EDITOR, LocalForge } from './local.ts';
import { canWrite, DASHBOARD_MARKER, hasDashboard, type DashboardForge } from './types.ts';

/**
 * The forge side of the dashboard issue: found only when the bot opened it, created once, written only when its body
 * changes, and who ticked a box (edited the body since the bot's last write) with their repository role. The GitHub
 * forge against the OpenAPI- and GraphQL-checked fake; the local forge against a file.
 */
let fake: GitHubFake | null = null;
const dirs: string[] = [];
afterEach(async () => {
  await fake?.stop();
  fake = null;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function github(options: Partial<GitHubFakeOptions> = {}): Promise<DashboardForge> {
  fake = await startGitHubFake({ owner: 'o', repo: 'r', login: 'gitops-bot', ...options });
  const forge = new GitHubForge({ token: 'test-not-a-secret', owner: 'o', repo: 'r', baseUrl: fake.url, minWriteIntervalMs: 0, retryAfterBaseValue: 1 });
  expect(hasDashboard(forge)).toBe(true);
  return forge.dashboard;
}

const body = (checked: boolean) => `## Dashboard\n\n- [${checked ? 'x' : ' '}] promote now <!-- id: promote:dev:shop -->\n`;

describe('dashboard issue on GitHub', () => {
  it('is created once with the marker, found again on the next run, and written only when its body changes', async () => {
    const dashboard = await github();
    expect(await dashboard.findDashboard()).toBeNull();
    const created = await dashboard.createDashboard('GitOps bot dashboard', body(false));
    expect(created.body).toContain(DASHBOARD_MARKER);
    expect(fake!.issues.map((issue) => [issue.number, issue.author])).toEqual([[created.number, 'gitops-bot']]);

    const found = (await dashboard.findDashboard())!;
    expect(found).toMatchObject({ number: created.number, author: 'gitops-bot', state: 'open' });
    const writes = fake!.writeCount();
    expect(await dashboard.updateDashboard(found, body(false))).toBe(false);
    expect(fake!.writeCount()).toBe(writes);
    expect(await dashboard.updateDashboard(found, `${body(false)}\nmore\n`)).toBe(true);
    expect(fake!.writeCount()).toBe(writes + 1);
    expect(fake!.issues[0]!.body).toBe(`${body(false)}\nmore\n\n${DASHBOARD_MARKER}\n`);
    expect(await dashboard.updateDashboard(found, `${body(false)}\nmore\n`)).toBe(false);
    expect(fake!.writeCount()).toBe(writes + 1);
    expect(fake!.violations).toEqual([]);
  });

  it('an issue by someone else with the same title and marker is ignored', async () => {
    const dashboard = await github();
    fake!.openIssue({ title: 'GitOps bot dashboard', body: `${body(true)}\n${DASHBOARD_MARKER}`, author: 'mallory' });
    fake!.openIssue({ title: 'GitOps bot dashboard', body: body(true), author: 'gitops-bot' });
    expect(await dashboard.findDashboard()).toBeNull();
    const own = await dashboard.createDashboard('GitOps bot dashboard', body(false));
    expect((await dashboard.findDashboard())?.number).toBe(own.number);
    expect(fake!.violations).toEqual([]);
  });

  it("names who edited the body since the bot's last write; a read-only editor does not have write access, a maintainer does", async () => {
    // A clock the test moves, a minute per step: GitHub's edit times are whole seconds.
    let now = Date.parse('2026-03-01T12:00:00Z');
    const step = () => {
      now += 60_000;
    };
    const dashboard = await github({ roles: { maintainer: 'maintain', reader: 'read', admin: 'admin' }, clock: () => new Date(now) });
    const issue = await dashboard.createDashboard('GitOps bot dashboard', body(false));
    step();
    expect(await dashboard.tickedBy(issue)).toEqual({ editors: [], complete: true });

    fake!.editIssueBody(issue.number, `${body(true)}\n${DASHBOARD_MARKER}\n`, 'reader');
    const byReader = await dashboard.tickedBy(issue);
    expect(byReader).toEqual({ editors: ['reader'], complete: true });
    expect(await dashboard.permissionOf('reader')).toBe('read');
    expect(canWrite(await dashboard.permissionOf('reader'))).toBe(false);

    // The bot rewrites the body (unticked); from then on only later edits count.
    step();
    const current = (await dashboard.findDashboard())!;
    await dashboard.updateDashboard(current, `${body(false)}\nrun 2\n`);
    expect(await dashboard.tickedBy(current)).toEqual({ editors: [], complete: true });
    step();
    fake!.editIssueBody(issue.number, `${body(true)}\nrun 2\n\n${DASHBOARD_MARKER}\n`, 'maintainer');
    expect(await dashboard.tickedBy(current)).toEqual({ editors: ['maintainer'], complete: true });
    step();
    fake!.editIssueBody(issue.number, `${body(true)}\nrun 2 (typo)\n\n${DASHBOARD_MARKER}\n`, 'reader');
    expect(await dashboard.tickedBy(current)).toEqual({ editors: ['maintainer', 'reader'], complete: true });
    step();
    // An edit in the same second as the bot's write may have come after it: counted, so it can only make less count.
    await dashboard.updateDashboard(current, `${body(false)}\nrun 3\n`);
    fake!.editIssueBody(issue.number, `${body(true)}\nrun 3\n\n${DASHBOARD_MARKER}\n`, 'reader');
    expect(await dashboard.tickedBy(current)).toEqual({ editors: ['reader'], complete: true });
    expect(await dashboard.permissionOf('maintainer')).toBe('maintain');
    expect(canWrite('maintain') && canWrite('admin') && canWrite('write')).toBe(true);
    expect(canWrite('triage') || canWrite('read') || canWrite('none')).toBe(false);
    expect(fake!.violations).toEqual([]);
  });

  it('as a GitHub App: the dashboard is the one <slug>[bot] opened, not an older one by another identity', async () => {
    // An installation token cannot ask GET /user; the forge is told its login (the App's, or forge.botLogin).
    await github({ tokenKind: 'installation', login: 'helper[bot]' });
    fake!.openIssue({ title: 'GitOps bot dashboard', body: DASHBOARD_MARKER, author: 'gitops-bot' });
    const forge = new GitHubForge({ token: 'test-not-a-secret', owner: 'o', repo: 'r', baseUrl: fake!.url, minWriteIntervalMs: 0, botLogin: 'helper[bot]' });
    expect(await forge.dashboard.findDashboard()).toBeNull();
    const own = await forge.dashboard.createDashboard('GitOps bot dashboard', body(false));
    expect((await forge.dashboard.findDashboard())?.number).toBe(own.number);
    expect(fake!.issues.find((issue) => issue.number === own.number)?.author).toBe('helper[bot]');
    expect(fake!.calls.filter((call) => call.path === '/user')).toEqual([]);
  });
});

describe('the dashboard step', () => {
  it('does not overwrite an edit made during the run, and leaves a dashboard a person closed alone', async () => {
    const dashboard = await github({ roles: { maintainer: 'maintain' } });
    const step = new DashboardStep(dashboard, renderRunSummary, () => {});
    const model = { plans: [], skips: [{ task: 'image-update', env: 'dev', subject: 'dex', reason: 'held' }] };
    const print = () => {};
    expect(await step.publish(await step.read(), model, { dryRun: false, print })).toMatchObject({ outcome: 'created' });
    const number = fake!.issues[0]!.number;

    const state = await step.read();
    fake!.editIssueBody(number, `${fake!.issues[0]!.body}\n- [x] promote now\n`, 'maintainer');
    const writes = fake!.writeCount();
    const changed = { plans: [], skips: [] };
    expect(await step.publish(state, changed, { dryRun: false, print })).toMatchObject({
      outcome: 'left alone',
      reason: expect.stringMatching(/edited during the run/),
    });
    expect(fake!.writeCount()).toBe(writes);
    expect(fake!.issues[0]!.body).toContain('- [x] promote now');

    const next = await step.read();
    expect(next.ticks).toMatchObject({ honoured: true, editors: ['maintainer'] });
    expect(await step.publish(next, changed, { dryRun: true, print })).toEqual({ outcome: 'dry-run', wouldWrite: true });
    expect(fake!.writeCount()).toBe(writes);
    expect(await step.publish(next, changed, { dryRun: false, print })).toMatchObject({ outcome: 'updated' });

    fake!.issues[0]!.state = 'closed';
    expect(await step.publish(await step.read(), model, { dryRun: false, print })).toMatchObject({
      outcome: 'left alone',
      reason: expect.stringMatching(/closed/),
    });
    expect(fake!.issues).toHaveLength(1);
    expect(fake!.violations).toEqual([]);
  });
});

describe('dashboard on the local forge', () => {
  it("kept in a file: created once, rewritten only on change, edits in it are the operator's", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-dashboard-'));
    dirs.push(dir);
    const file = join(dir, 'dashboard.md');
    const printed: string[] = [];
    const forge = new LocalForge(
      async () => [],
      (text) => printed.push(text),
      file,
    );
    const dashboard = forge.dashboard;
    expect(await dashboard.findDashboard()).toBeNull();
    await dashboard.createDashboard('dashboard', body(false));
    expect(readFileSync(file, 'utf8')).toBe(`${body(false)}\n${DASHBOARD_MARKER}\n`);
    const found = (await dashboard.findDashboard())!;
    const writes = forge.stats.writes;
    expect(await dashboard.updateDashboard(found, body(false))).toBe(false);
    expect(forge.stats.writes).toBe(writes);
    writeFileSync(file, `${body(true)}\n${DASHBOARD_MARKER}\n`);
    const ticked = (await dashboard.findDashboard())!;
    expect(ticked.body).toContain('- [x] promote now');
    expect(await dashboard.tickedBy(ticked)).toEqual({ editors: [LOCAL_EDITOR], complete: true });
    expect(canWrite(await dashboard.permissionOf(LOCAL_EDITOR))).toBe(true);
    expect(printed).toEqual([]);
  });

  it('without a file: printed, and never found', async () => {
    const printed: string[] = [];
    const dashboard = new LocalForge(
      async () => [],
      (text) => printed.push(text),
    ).dashboard;
    await dashboard.createDashboard('dashboard', body(false));
    expect(printed.join('\n')).toContain('would open the dashboard issue "dashboard"');
    expect(await dashboard.findDashboard()).toBeNull();
    expect(await dashboard.tickedBy({ number: 0, title: '', body: '', state: 'open', url: '', author: '' })).toEqual({ editors: [], complete: true });
  });
});

describe('the dashboard step in a run (CLI, real registry and bare git remote, the GitHub fake)', () => {
  const DAY = 86_400_000;
  let registry: TestRegistry;
  const worlds: World[] = [];
  let counter = 0;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => registry?.stop());
  afterEach(async () => {
    for (const world of worlds.splice(0)) await world.dispose();
  });

  // GitHub's edit times are whole seconds and the bot counts an edit in the same second as its own write as after it
  // (fail closed), so the fake runs on a clock the test moves: every person's edit gets a second of its own.
  let virtualNow = Date.now();
  const later = () => {
    virtualNow += 5000;
  };

  async function dashboardWorld(dashboard: boolean): Promise<World> {
    const prefix = `dash${++counter}`;
    const { digest } = await registry.pushImage(`${prefix}/dex`, '1.0.0', { created: new Date(Date.now() - 60 * DAY) });
    await registry.pushImage(`${prefix}/dex`, '1.1.0', { created: new Date(Date.now() - 10 * DAY) });
    const images: FixtureImage[] = [{ id: 'dex', name: 'example/dex', repository: `${registry.host}/${prefix}/dex`, tag: '1.0.0', digest }];
    const world = await createWorld(
      { environments: ['dev'], images, dashboard },
      {},
      {},
      {
        roles: { maintainer: 'maintain', reader: 'read' },
        clock: () => new Date(virtualNow),
      },
    );
    worlds.push(world);
    return world;
  }

  it('creates the dashboard once, then a run with nothing new writes nothing; a read-only tick is not honoured and is rewritten away', async () => {
    const world = await dashboardWorld(true);
    const dry = await world.run('run', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json.dashboard).toEqual({ outcome: 'dry-run', wouldWrite: true });
    expect(world.github.writeCount()).toBe(0);
    const first = await world.run('run', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(first.json.dashboard).toEqual({ outcome: 'created', url: expect.stringMatching(/\/issues\/\d+$/) });
    expect(world.github.issues).toHaveLength(1);
    const issue = world.github.issues[0]!;
    expect(issue).toMatchObject({ author: 'gitops-bot', title: 'GitOps bot dashboard' });
    expect(issue.body).toContain('`bot/image-update/dev/dex`: dev: update dex 1.1.0');
    expect(issue.body).toContain(DASHBOARD_MARKER);
    const writes = world.github.writeCount();

    const second = await world.run('run', '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(second.json.dashboard).toEqual({ outcome: 'unchanged', url: expect.any(String) });
    expect(world.github.writeCount()).toBe(writes);

    // A box ticked by someone without write access: not acted on, and the rewritten body shows it unticked.
    const ROTATE = '- [ ] rotate the Conductor API keys of dev now <!-- gitops-bot:action rotate/dev -->';
    expect(issue.body).toContain(ROTATE);
    later();
    world.github.editIssueBody(issue.number, issue.body.replace(ROTATE, ROTATE.replace('[ ]', '[x]')), 'reader');
    later();
    const third = await world.run('run');
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).toContain('ticks not honoured: edited by @reader (read), without write access to the repository');
    expect(third.stderr).toContain('dashboard: 1 ticked box(es) not acted on: edited by @reader (read)');
    expect(third.stderr).not.toContain('acting on');
    expect(third.stdout).toMatch(/dashboard {11}updated: /);
    expect(world.github.issues[0]!.body).toBe(issue.body);
    expect(world.github.issues).toHaveLength(1);

    later();
    world.github.editIssueBody(issue.number, issue.body.replace(ROTATE, ROTATE.replace('[ ]', '[x]')), 'maintainer');
    later();
    const fourth = await world.run('run');
    expect(fourth.stderr).toContain('ticks honoured: edited by @maintainer, with write access');
    expect(fourth.stderr).toContain('dashboard: acting on "rotate/dev", ticked by @maintainer');
    expect(world.github.issues[0]!.body).toBe(issue.body);
    // Acted on once: the next run finds no tick and nobody's edit since the bot's write.
    const fifth = await world.run('run');
    expect(fifth.stderr).not.toContain('acting on');
    expect(fifth.stdout).toMatch(/dashboard {11}unchanged: /);
    expect(world.github.violations).toEqual([]);
  });

  it('with the local forge and a sandbox remote, the dashboard is a file inside the bare repository, written once', async () => {
    const world = await dashboardWorld(true);
    const run = await world.run('run', '--forge', 'local', '--remote', world.remote.url);
    expect(run.code, run.stderr).toBe(0);
    const file = join(world.remote.url, 'gitops-bot-dashboard.md');
    expect(run.stderr).toContain(`dashboard: the file ${file}`);
    expect(run.stdout).toContain(`dashboard           created: ${file}`);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('`bot/image-update/dev/dex`: dev: update dex 1.1.0');
    expect(text).toContain(DASHBOARD_MARKER);
    const again = await world.run('run', '--forge', 'local', '--remote', world.remote.url);
    expect(again.stdout).toContain(`dashboard           unchanged: ${file}`);
    // git does not see it: the remote's branches are only main and the bot's.
    expect([...(await world.remote.heads()).keys()].sort()).toEqual(['bot/image-update/dev/dex', 'main']);
    expect(world.github.calls).toEqual([]);
  });

  it('an issue by someone else with the marker is ignored: the bot opens its own; dashboard: false writes none', async () => {
    const world = await dashboardWorld(true);
    const forged = world.github.openIssue({ title: 'GitOps bot dashboard', body: `- [x] promote now\n${DASHBOARD_MARKER}`, author: 'mallory' });
    const run = await world.run('run', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.dashboard.outcome).toBe('created');
    expect(world.github.issues.map((issue) => [issue.number === forged, issue.author])).toEqual([
      [true, 'mallory'],
      [false, 'gitops-bot'],
    ]);
    expect(world.github.issues[0]!.body).toBe(`- [x] promote now\n${DASHBOARD_MARKER}`);

    // A run of one task (each job of the workflow) does not replace the dashboard with its own part of the picture.
    const writes = world.github.writeCount();
    const partial = await world.run('run', '--task', 'image-update', '--json');
    expect(partial.code, partial.stderr).toBe(0);
    expect(partial.json.dashboard).toBeNull();
    expect(partial.stderr).toContain('dashboard: left alone by a run of some tasks or environments only');
    expect(world.github.writeCount()).toBe(writes);

    const off = await dashboardWorld(false);
    const quiet = await off.run('run', '--json');
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.json.dashboard).toBeNull();
    expect(off.github.issues).toEqual([]);
    expect(off.github.calls.some((call) => call.path.includes('/issues') && !call.path.endsWith('/labels'))).toBe(false);
  });
});
