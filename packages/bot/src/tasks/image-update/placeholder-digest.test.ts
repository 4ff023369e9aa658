import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { memoryTree, versionFixtureFiles } from '../../../testing/version-fixture.ts';
import { planAll } from '../../runner.ts';
import { CatalogRegistry } from '../../sources/registry/catalog.ts';
import { fixtureFiles } from '../../../testing/fixture-repo.ts';
import { imageUpdateTask } from './index.ts';
import type { Task } from '../types.ts';
import { versionAddTask } from '../version-add/index.ts';
import { readPins } from '../shared/pins.ts';

/** Issue 8 item 9: an all-zero placeholder digest is never written, neither promoted nor taken from a source. */
const D = (c: string) => `sha256:${c.repeat(64)}`;
const ZERO = D('0');
const dir = mkdtempSync(join(tmpdir(), 'placeholder-digest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function catalog(repository: string, entries: Array<[string, string]>): CatalogRegistry {
  const file = join(dir, `catalog-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `repositories:\n  ${repository}:\n${entries.map(([tag, digest]) => `    - { tag: "${tag}", digest: "${digest}", created: "2026-01-01T00:00:00Z" }\n`).join('')}`,
  );
  return new CatalogRegistry(file);
}

function plan(files: Record<string, string>, task: Task, registry: CatalogRegistry, envFilter: string) {
  return planAll({
    config: parseConfig(files['.github/gitops-bot.yaml']!),
    tasks: [task],
    tree: memoryTree(files),
    registry,
    kube: null,
    pullRequests: [],
    envFilter,
    now: new Date('2026-02-01T00:00:00Z'),
    log: () => {},
  });
}

describe('image-update never writes a placeholder digest', () => {
  const image = { id: 'dex', name: 'example/dex', repository: 'example.invalid/dex', tag: '1.0.0', digest: D('a') };

  it('does not promote the all-zero digest merged in the previous environment', async () => {
    const files = fixtureFiles({ environments: ['dev', 'staging'], images: [image], pins: { dev: { dex: { tag: '1.1.0', digest: ZERO } } } });
    const result = await plan(files, imageUpdateTask, catalog(image.repository, [['1.1.0', D('b')]]), 'staging');
    expect(result.plans).toEqual([]);
    expect(result.skips).toEqual([
      expect.objectContaining({ env: 'staging', subject: 'dex', reason: expect.stringMatching(/merged in dev .* all-zero placeholder digest/) }),
    ]);
  });

  it('still promotes a real digest merged in the previous environment', async () => {
    const files = fixtureFiles({ environments: ['dev', 'staging'], images: [image], pins: { dev: { dex: { tag: '1.1.0', digest: D('b') } } } });
    const result = await plan(files, imageUpdateTask, catalog(image.repository, [['1.1.0', D('b')]]), 'staging');
    expect(result.plans.map((p) => readPins(p.memory).map(({ tag, digest }) => ({ tag, digest }))[0])).toEqual([{ tag: '1.1.0', digest: D('b') }]);
  });

  it('does not take an all-zero digest from the registry source (the example catalog is full of them)', async () => {
    const files = fixtureFiles({ environments: ['dev'], images: [image] });
    const result = await plan(
      files,
      imageUpdateTask,
      catalog(image.repository, [
        ['1.0.0', D('a')],
        ['1.2.0', ZERO],
      ]),
      'dev',
    );
    expect(result.plans).toEqual([]);
    expect(result.skips[0]!.reason).toMatch(/example\.invalid\/dex:1\.2\.0 is the all-zero placeholder digest/);
  });
});

describe('version-add never writes a placeholder digest', () => {
  const repository = 'example.invalid/dbos-app';

  it('does not promote a version whose merged digest is the placeholder', async () => {
    const files = await versionFixtureFiles({
      environments: ['dev', 'staging'],
      versions: {
        dev: [
          { version: '1.0.0', digest: D('a') },
          { version: '1.1.0', digest: ZERO, latest: true },
        ],
        staging: [{ version: '1.0.0', digest: D('a'), latest: true }],
      },
      repository,
    });
    const result = await plan(files, versionAddTask, catalog(repository, [['1.1.0', ZERO]]), 'staging');
    expect(result.plans).toEqual([]);
    expect(result.skips).toEqual([
      expect.objectContaining({ env: 'staging', reason: expect.stringMatching(/1\.1\.0 merged in dev .* all-zero placeholder digest/) }),
    ]);
  });

  it('does not add a version whose registry digest is the placeholder', async () => {
    const files = await versionFixtureFiles({ environments: ['dev'], versions: { dev: [{ version: '1.0.0', digest: D('a'), latest: true }] }, repository });
    const result = await plan(
      files,
      versionAddTask,
      catalog(repository, [
        ['1.0.0', D('a')],
        ['1.1.0', ZERO],
      ]),
      'dev',
    );
    expect(result.plans).toEqual([]);
    expect(result.skips[0]!.reason).toMatch(/dbos-app:1\.1\.0 is the all-zero placeholder digest/);
  });
});
