import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGitHubFake, type GitHubFake, type GitHubFakeOptions } from '@dbos-gitops/testkit';
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
