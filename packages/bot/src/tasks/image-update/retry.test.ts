import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { readMarker, type Plan } from '../../plan.ts';
import { fsTree } from '../../repo/tree.ts';
import { CatalogRegistry } from '../../sources/registry/catalog.ts';
import { fixtureFiles } from '../../../testing/fixture-repo.ts';
import { createImageUpdateTask, imageUpdateTask } from './index.ts';
import type { PreviousProposal, TaskContext } from '../types.ts';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const root = mkdtempSync(join(tmpdir(), 'image-update-retry-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** dev runs dex 1.1.0 (digest b), staging 1.0.0: staging is due the promotion of 1.1.0. */
function context(previous: PreviousProposal[], log: string[] = []): TaskContext {
  const dir = mkdtempSync(join(root, 'repo-'));
  const files = fixtureFiles({
    environments: ['dev', 'staging'],
    images: [{ id: 'dex', name: 'example/dex', repository: 'example.invalid/dex', tag: '1.0.0', digest: D('a') }],
    pins: { dev: { dex: { tag: '1.1.0', digest: D('b') } } },
  });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const catalog = join(dir, 'catalog.yaml');
  writeFileSync(catalog, `repositories:\n  example.invalid/dex:\n    - { tag: "1.1.0", digest: "${D('b')}", created: "2026-01-01T00:00:00Z" }\n`);
  return {
    config: parseConfig(files['.github/gitops-bot.yaml']!),
    tree: fsTree(dir),
    registry: new CatalogRegistry(catalog),
    kube: null,
    conductor: null,
    drain: null,
    previous,
    now: new Date('2026-02-01T00:00:00Z'),
    envFilter: 'staging',
    log: (line) => log.push(line),
  };
}

/** A PR of the bot as the runner reads it back: the plan's body and marker, in the given state. */
function pr(plan: Plan, number: number, state: 'open' | 'closed', merged = false): PreviousProposal {
  return { branch: plan.branch, number, state, merged, held: false, body: plan.body, proposal: readMarker(plan.body)! };
}

describe('image-update: a retry ticked on the dashboard lifts one closed PR rejection', () => {
  it('a closed PR blocks; the tick proposes again once, naming who; the open retry PR keeps it; closed again, it blocks again', async () => {
    const [original] = (await imageUpdateTask.plan(context([]))).plans;
    expect(original).toBeDefined();
    const closed = pr(original!, 3, 'closed');
    const tick = { task: 'image-update', env: 'staging', subject: original!.subject, by: ['maintainer'] };

    const control = await imageUpdateTask.plan(context([closed]));
    expect(control.plans).toEqual([]);
    expect(control.skips.map((skip) => skip.reason)).toContain(
      'dex 1.1.0 was proposed in PR #3, which was closed without merging; waiting for a newer version',
    );

    // A tick for another environment, or another subject, lifts nothing.
    const elsewhere = await createImageUpdateTask({
      retry: [
        { ...tick, env: 'dev' },
        { ...tick, subject: 'conductor' },
      ],
    }).plan(context([closed]));
    expect(elsewhere.plans).toEqual([]);
    // A tick with no closed PR behind it (hand-written, or the PR fell out of the listing) is logged and says nothing.
    const log: string[] = [];
    const stale = await createImageUpdateTask({ retry: [tick] }).plan(context([], log));
    expect(stale.plans.map((item) => item.body)).toEqual([original!.body]);
    expect(log).toContain(`dashboard: retry of image-update ${original!.subject} in staging not acted on: the bot has no PR of it in its listing window`);

    const retried = await createImageUpdateTask({ retry: [tick] }).plan(context([closed]));
    expect(retried.plans).toHaveLength(1);
    const plan = retried.plans[0]!;
    expect(plan.branch).toBe(original!.branch);
    expect(plan.memory).toEqual(original!.memory);
    expect(plan.body).toContain('- Retried from the dashboard: @maintainer ticked it, so PR #3, closed without merging, no longer holds this proposal back');

    // The next run, without the tick: the open retry PR is the memory, and its body is planned unchanged (no write).
    const next = await imageUpdateTask.plan(context([closed, pr(plan, 5, 'open')]));
    expect(next.plans.map((item) => item.body)).toEqual([plan.body]);

    // The retry PR closed unmerged too: it is a rejection of its own, and a second tick would be needed.
    const again = await imageUpdateTask.plan(context([closed, pr(plan, 5, 'closed')]));
    expect(again.plans).toEqual([]);
    expect(again.skips.map((skip) => skip.reason)).toContain('dex 1.1.0 was proposed in PR #5, which was closed without merging; waiting for a newer version');
  });
});
