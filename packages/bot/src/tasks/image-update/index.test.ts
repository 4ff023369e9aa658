import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { fsTree } from '../../repo/tree.ts';
import { healthySinceFromPods, type KubeHealth } from '../../sources/kube/health.ts';
import { CatalogRegistry } from '../../sources/registry/catalog.ts';
import { fixtureFiles } from '../../../testing/fixture-repo.ts';
import { imageUpdateTask } from './index.ts';
import { readPins } from '../shared/pins.ts';
import type { TaskContext } from '../types.ts';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const root = mkdtempSync(join(tmpdir(), 'image-update-task-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** dev already runs 1.1.0 (digest b); staging is at 1.0.0 (digest a); the catalog also knows 1.2.0 (c). */
function context(kube: KubeHealth | null, soak: string, missing: string[] = [], dexEnvironments?: string): TaskContext {
  const dir = mkdtempSync(join(root, 'repo-'));
  const files = fixtureFiles({
    environments: ['dev', 'staging'],
    images: [{ id: 'dex', name: 'example/dex', repository: 'example.invalid/dex', tag: '1.0.0', digest: D('a') }],
    pins: { dev: { dex: { tag: '1.1.0', digest: D('b') } } },
  });
  files['.github/gitops-bot.yaml'] = files['.github/gitops-bot.yaml']!.replace(
    '    overlay: overlays/dev\n',
    '    overlay: overlays/dev\n    kube: { context: dev-cluster }\n',
  ).replace('    overlay: overlays/staging\n', `    overlay: overlays/staging\n    promotionSoak: ${soak}\n`);
  if (dexEnvironments)
    files['.github/gitops-bot.yaml'] = files['.github/gitops-bot.yaml']!.replace(
      /( {4}repository: example\.invalid\/dex\n)/,
      `$1    environments: ${dexEnvironments}\n`,
    );
  for (const path of missing) delete files[path];
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const catalog = join(dir, 'catalog.yaml');
  writeFileSync(
    catalog,
    `repositories:\n  example.invalid/dex:\n    - { tag: "1.1.0", digest: "${D('b')}", created: "2026-01-01T00:00:00Z" }\n    - { tag: "1.2.0", digest: "${D('c')}", created: "2026-01-05T00:00:00Z" }\n`,
  );
  return {
    config: parseConfig(files['.github/gitops-bot.yaml']!),
    tree: fsTree(dir),
    registry: new CatalogRegistry(catalog),
    kube,
    conductor: null,
    drain: null,
    previous: [],
    now: new Date('2026-02-01T00:00:00Z'),
    envFilter: 'staging',
    log: () => {},
  };
}

describe('promotion gate with cluster access', () => {
  it('promotes only after the exact digest ran healthy in the previous environment for the soak time', async () => {
    const asked: string[] = [];
    const healthyFor = (hours: number): KubeHealth => ({
      healthySince: async (env, namespace, digest) => {
        asked.push(`${env}/${namespace}/${digest}`);
        return new Date(Date.parse('2026-02-01T00:00:00Z') - hours * 3_600_000);
      },
    });
    const early = await imageUpdateTask.plan(context(healthyFor(2), '1d'));
    expect(early.plans).toHaveLength(0);
    expect(early.skips[0]!.reason).toMatch(/has not run healthy in dev/);
    expect(asked).toEqual([`dev/dbos/${D('b')}`]);

    const late = await imageUpdateTask.plan(context(healthyFor(30), '1d'));
    expect(late.plans).toHaveLength(1);
    expect(readPins(late.plans[0]!.memory)[0]).toEqual({ image: 'dex', tag: '1.1.0', digest: D('b') });
  });

  it('not running anywhere means no promotion (fails closed)', async () => {
    const result = await imageUpdateTask.plan(context({ healthySince: async () => null }, '1h'));
    expect(result.plans).toHaveLength(0);
  });

  it('without cluster access the merged state of the previous environment is enough', async () => {
    const result = await imageUpdateTask.plan(context(null, '1d'));
    expect(result.plans.map((plan) => plan.branch)).toEqual(['bot/image-update/staging/dex']);
  });
});

describe('where the pins are read and written', () => {
  it("a promotion edits only the next environment's pins file, and only its tag and digest lines", async () => {
    const result = await imageUpdateTask.plan(context(null, '1d'));
    const edits = result.plans[0]!.edits;
    expect(edits.map((edit) => edit.path)).toEqual(['overlays/staging/images/kustomization.yaml']);
    const before = edits[0]!.before!.split('\n');
    const after = edits[0]!.after!.split('\n');
    const changed = after.filter((line, index) => line !== before[index]);
    expect(changed).toEqual(['    newTag: "1.1.0"', `    digest: ${D('b')}`]);
  });

  it('an environment without a pins file is skipped, naming the file', async () => {
    const result = await imageUpdateTask.plan(context(null, '1d', ['overlays/staging/images/kustomization.yaml']));
    expect(result.plans).toHaveLength(0);
    expect(result.skips.map((skip) => skip.reason)).toEqual([
      'overlay overlays/staging has no image pins file (overlays/staging/images/kustomization.yaml) on the base branch',
    ]);
  });

  it('a previous environment without a pins file stops the promotion, naming the file', async () => {
    const result = await imageUpdateTask.plan(context(null, '1d', ['overlays/dev/images/kustomization.yaml']));
    expect(result.plans).toHaveLength(0);
    expect(result.skips.map((skip) => skip.reason)).toEqual(['the image pins of dev (overlays/dev/images/kustomization.yaml) are missing on the base branch']);
  });
});

describe('an image configured for some environments only', () => {
  it('is neither read nor proposed where it is not pinned (an application running only there), and is no unknown image', async () => {
    const result = await imageUpdateTask.plan(context(null, '1d', [], '[dev]'));
    expect(result.plans).toHaveLength(0);
    expect(result.skips).toHaveLength(0);
  });

  it('takes new versions from the registry in the first environment it runs in, not by promotion from one where it does not', async () => {
    const result = await imageUpdateTask.plan(context(null, '1d', [], '[staging]'));
    expect(result.plans.map((plan) => plan.branch)).toEqual(['bot/image-update/staging/dex']);
    expect(readPins(result.plans[0]!.memory)[0]).toEqual({ image: 'dex', tag: '1.2.0', digest: D('c') });
  });

  it('must name configured environments', () => {
    expect(() =>
      parseConfig('version: 1\nenvironments:\n  - name: dev\n    overlay: overlays/dev\nimages:\n  - name: a\n    repository: r\n    environments: [qa]\n'),
    ).toThrow(/images\[0\]\.environments\[0\]: "qa" is not the name/);
  });
});

describe('healthySinceFromPods', () => {
  const pod = (image: string, ready: boolean, since: string) => ({
    spec: { containers: [{ image }] },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: since }] },
  });
  it('is the latest Ready transition among pods running the digest', () => {
    const pods = [
      pod(`x@${D('b')}`, true, '2026-01-01T00:00:00Z'),
      pod(`x@${D('b')}`, true, '2026-01-03T00:00:00Z'),
      pod(`x@${D('a')}`, false, '2026-01-04T00:00:00Z'),
    ];
    expect(healthySinceFromPods(pods, D('b'))?.toISOString()).toBe('2026-01-03T00:00:00.000Z');
  });
  it('is null when a pod running the digest is not Ready, or none runs it', () => {
    expect(healthySinceFromPods([pod(`x@${D('b')}`, true, '2026-01-01T00:00:00Z'), pod(`x@${D('b')}`, false, '2026-01-02T00:00:00Z')], D('b'))).toBeNull();
    expect(healthySinceFromPods([pod(`x@${D('a')}`, true, '2026-01-01T00:00:00Z')], D('b'))).toBeNull();
  });
});
