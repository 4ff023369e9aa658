import { JSDOM } from 'jsdom';
import { beforeAll, describe, expect, it } from 'vitest';
import { memoryTree, versionFixtureFiles } from '../../testing/version-fixture.ts';
import { parseConfig } from '../config/load.ts';
import { buildStatus } from './build.ts';
import { markClosedForHold, markerFor } from '../plan.ts';
import { pinsMemory } from '../tasks/shared/pins.ts';
import { DASHBOARD_MARKER, parseDashboardActions, renderDashboard, renderMermaid, retryableProposals } from './dashboard.ts';
import type { StatusModel } from './model.ts';

const digest = (n: number) => `sha256:${String(n).repeat(64)}`;

async function model(now = new Date('2026-11-30T10:00:00Z')): Promise<StatusModel> {
  const files = await versionFixtureFiles({
    environments: ['dev', 'staging'],
    apps: [
      {
        name: 'shop',
        repository: 'ghcr.io/example-org/shop',
        versions: {
          dev: [
            { version: '1.0.0', digest: digest(1) },
            { version: '1.1.0', digest: digest(2), latest: true },
          ],
          staging: [{ version: '1.0.0', digest: digest(1), latest: true }],
        },
      },
    ],
  });
  return buildStatus({
    config: parseConfig(files['.github/gitops-bot.yaml']!),
    tree: memoryTree(files),
    now,
    envFilter: null,
    appFilter: null,
    drain: null,
    kube: null,
    pullRequests: null,
    forgeDescribe: 'none',
  });
}

/** Mermaid's own parser, headless (jsdom gives it the DOM it expects). */
let mermaidParse: (text: string) => Promise<unknown>;
beforeAll(async () => {
  const dom = new JSDOM('<!doctype html><html><body></body></html>');
  Object.assign(globalThis, { window: dom.window, document: dom.window.document });
  Object.defineProperty(globalThis, 'navigator', { value: dom.window.navigator, configurable: true });
  const { default: mermaid } = await import('mermaid');
  mermaid.initialize({ startOnLoad: false });
  mermaidParse = (text) => mermaid.parse(text);
}, 60_000);

function tick(body: string, id: string): string {
  const lines = body.split('\n');
  const index = lines.findIndex((line) => line.includes(`gitops-bot:action ${id} -->`));
  if (index < 0) throw new Error(`no box for ${id}`);
  lines[index] = lines[index]!.replace('- [ ]', '- [x]');
  return lines.join('\n');
}

describe('renderDashboard', () => {
  it('holds the marker, the actions as unticked boxes with hidden ids, a Mermaid diagram per application and the status', async () => {
    const body = renderDashboard(await model());
    expect(body.startsWith(`${DASHBOARD_MARKER}\n`)).toBe(true);
    expect(body).toContain('- [ ] promote shop 1.1.0 into staging now (skip the soak) <!-- gitops-bot:action promote/staging/shop/1.1.0 -->');
    expect(body).toContain('- [ ] roll back shop in dev from 1.1.0 to 1.0.0 <!-- gitops-bot:action rollback/dev/shop -->');
    expect(body).toContain('<!-- gitops-bot:action rotate/dev -->');
    expect(body).toContain('<!-- gitops-bot:action rotate/staging -->');
    // staging's only version has nothing older to go back to; dev has nothing before it to promote from.
    expect(body).not.toContain('rollback/staging/shop');
    expect(body).not.toContain('promote/dev/');
    expect(body).not.toMatch(/- \[[xX]\]/);
    expect(body).toContain('```mermaid\nflowchart LR');
    expect(body).toMatch(/\| version \| dev \| staging \|/);
  });

  it('is the same text for the same status whenever it is rendered (no clock in it), so a no-op run writes nothing', async () => {
    const first = renderDashboard(await model(new Date('2026-11-30T10:00:00Z')));
    const later = renderDashboard(await model(new Date('2026-12-01T10:00:00Z')), first);
    expect(later).toBe(first);
  });

  it('keeps what people wrote outside its region, and clears ticks when it renders again', async () => {
    const status = await model();
    const edited = `${tick(renderDashboard(status), 'rotate/dev')}\n\nNotes: staging freeze until Friday.\n`;
    const next = renderDashboard(status, `Team notes above.\n${edited}`);
    expect(next).toContain('Team notes above.');
    expect(next).toContain('Notes: staging freeze until Friday.');
    expect(next).not.toMatch(/- \[[xX]\]/);
    expect(next.split(DASHBOARD_MARKER)).toHaveLength(2);
    expect(renderDashboard(status, next)).toBe(next);
  });

  it('renders Mermaid that Mermaid parses, for every application, even with a hostile version string', async () => {
    const status = await model();
    for (const app of status.apps) await expect(mermaidParse(renderMermaid(app))).resolves.toBeTruthy();
    const hostile = structuredClone(status);
    hostile.apps[0]!.environments[0]!.versions[0]!.version = '1.2.0"] --> evil["x';
    const source = renderMermaid(hostile.apps[0]!);
    expect(source).not.toContain('evil["');
    await expect(mermaidParse(source)).resolves.toBeTruthy();
    // Structure: one subgraph per environment, the shared version linked across them in promotion order.
    expect(source.match(/^\s+subgraph /gm)).toHaveLength(2);
    expect(source).toMatch(/env0v1 --> env1v0/);
  });
});

describe('parseDashboardActions', () => {
  it('returns the ticked actions this status offers, once each', async () => {
    const status = await model();
    let body = renderDashboard(status);
    body = tick(tick(body, 'promote/staging/shop/1.1.0'), 'rollback/dev/shop');
    const parsed = parseDashboardActions(body, status);
    expect(parsed.actions).toEqual([
      { kind: 'promote', id: 'promote/staging/shop/1.1.0', env: 'staging', app: 'shop', version: '1.1.0' },
      { kind: 'rollback', id: 'rollback/dev/shop', env: 'dev', app: 'shop', from: '1.1.0', to: '1.0.0' },
    ]);
    expect(parsed.ignored).toEqual([]);
    expect(parseDashboardActions(renderDashboard(status), status).actions).toEqual([]);
  });

  it('ignores and reports ids it does not offer, malformed ids, duplicates and boxes inside code blocks', async () => {
    const status = await model();
    const body = [
      renderDashboard(status),
      '- [x] promote to prod <!-- gitops-bot:action promote/prod/shop/1.1.0 -->',
      '- [x] stale <!-- gitops-bot:action promote/staging/shop/0.9.0 -->',
      '- [x] injected <!-- gitops-bot:action promote/staging/shop/1.1.0; rm -rf -->',
      '- [x] twice <!-- gitops-bot:action rotate/dev -->',
      '- [x] again <!-- gitops-bot:action rotate/dev -->',
      '- [x] two ids <!-- gitops-bot:action rotate/dev --> <!-- gitops-bot:action rotate/staging -->',
      '- [x] no id at all',
      '```',
      '- [x] in a code block <!-- gitops-bot:action rotate/staging -->',
      '```',
    ].join('\n');
    const parsed = parseDashboardActions(body, status);
    expect(parsed.actions.map((action) => action.id)).toEqual(['rotate/dev']);
    expect(parsed.ignored.map((entry) => entry.reason)).toEqual([
      '"promote/prod/shop/1.1.0" is not an action the dashboard offers now (unknown or stale subject)',
      '"promote/staging/shop/0.9.0" is not an action the dashboard offers now (unknown or stale subject)',
      'malformed action id "promote/staging/shop/1.1.0; rm -rf"',
      '"rotate/dev" is ticked twice; honoured once',
      'a ticked box with more than one action id',
      'a ticked box without an action id',
    ]);
  });

  it('offers a retry for the newest closed-unmerged proposal of a branch, of a task that remembers rejections, in a known environment', async () => {
    const status = await model();
    const pr = (number: number, task: string, env: string, subject: string, state: 'open' | 'closed', merged = false, hold = false) => ({
      number,
      branch: `bot/${task}/${env}/${subject}`,
      title: 't',
      body: ((text: string) => (hold ? markClosedForHold(text)! : text))(
        `x\n${markerFor({ task, env, subject, memory: pinsMemory([{ image: 'app', tag: '1.1.0', digest: digest(2) }]) })}`,
      ),
      state,
      merged,
      labels: [],
      createdAt: '2026-11-30T09:00:00Z',
      url: `https://example.test/pull/${number}`,
    });
    const retryable = retryableProposals([
      pr(3, 'version-add', 'staging', 'shop/1-1-0', 'closed'),
      // Superseded: a newer PR on the same branch is the memory now.
      pr(4, 'image-update', 'staging', 'conductor', 'closed'),
      pr(9, 'image-update', 'staging', 'conductor', 'open'),
      pr(5, 'image-update', 'dev', 'dex', 'closed', true),
      pr(6, 'version-retire', 'dev', 'shop/1-0-0', 'closed'),
      pr(7, 'image-update', 'prod', 'dex', 'closed'),
      // Closed by the bot for a hold: not a rejection, it comes back once the hold is gone.
      pr(8, 'image-update', 'dev', 'conductor', 'closed', false, true),
    ]);
    expect(retryable.map((item) => item.number)).toEqual([7, 3]);
    const body = renderDashboard(status, null, { retryable });
    const box =
      '- [ ] retry version-add shop/1-1-0 in staging (PR #3 was closed without merging) <!-- gitops-bot:action retry/version-add/staging/shop/1-1-0 -->';
    expect(body).toContain(box);
    // prod is no environment of this repository.
    expect(body).not.toContain('retry/image-update/prod');
    expect(parseDashboardActions(tick(body, 'retry/version-add/staging/shop/1-1-0'), status, { retryable }).actions).toEqual([
      { kind: 'retry', id: 'retry/version-add/staging/shop/1-1-0', task: 'version-add', env: 'staging', subject: 'shop/1-1-0' },
    ]);
    // Without the closed PR, the same tick names nothing offered; before the PRs are listed it is taken for its form.
    expect(parseDashboardActions(tick(body, 'retry/version-add/staging/shop/1-1-0'), status, { retryable: [] }).actions).toEqual([]);
    expect(parseDashboardActions(tick(body, 'retry/version-add/staging/shop/1-1-0'), status).actions).toHaveLength(1);
    const forged = [
      '- [x] a <!-- gitops-bot:action retry/version-retire/dev/shop/1-0-0 -->',
      '- [x] b <!-- gitops-bot:action retry/version-add/prod/shop/1-1-0 -->',
      '- [x] c <!-- gitops-bot:action retry/version-add/dev/Shop/1-1-0 -->',
      '- [x] d <!-- gitops-bot:action retry/version-add/dev/a/b/c -->',
    ].join('\n');
    const parsed = parseDashboardActions(forged, status);
    expect(parsed.actions).toEqual([]);
    expect(parsed.ignored).toHaveLength(4);
  });
});

describe('the dashboard shows states, not live numbers', () => {
  it('drain counts, last activity, read times, ready-since times and key ages do not change the body; a changed state does', async () => {
    const read = (inFlight: number, last: string, readAt: string) => ({
      status: 'read' as const,
      pending: inFlight,
      enqueued: 0,
      delayed: 0,
      inFlight,
      deadLettered: 0,
      lastActivity: last,
      readAt,
    });
    const base = await model();
    const at = (inFlight: number, minute: number, items: string) => {
      const m = structuredClone(base);
      m.generatedAt = `2026-11-30T10:${minute}:00.000Z`;
      for (const environment of m.apps[0]!.environments)
        for (const version of environment.versions) {
          version.drain = read(inFlight, `2026-11-30T10:${minute - 1}:00.000Z`, `2026-11-30T10:${minute}:00.000Z`);
          version.replicas = { status: 'read', readySince: `2026-11-30T09:${minute}:00.000Z` };
          if (!version.states.includes('latest')) version.states = ['draining'];
        }
      m.secretsDue = { status: 'read', items: [{ env: 'dev', subject: 'shop', reason: `the key is ${items} old, due after 90d` }] };
      return m;
    };
    const first = renderDashboard(at(3, 10, '91d'));
    const later = renderDashboard(at(7, 40, '92d'), first);
    expect(later).toBe(first);
    expect(first).toContain('draining<br>');
    expect(first).toContain('replicas: all ready');
    expect(first).not.toMatch(/in flight|last activity|10:39|91d/);
    const drained = at(0, 50, '92d');
    drained.apps[0]!.environments[0]!.versions.find((version) => !version.states.includes('latest'))!.states = ['drained'];
    expect(renderDashboard(drained, first)).not.toBe(first);
  });
});
