import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kustomize, REPO_ROOT, versionFixtureFiles } from '../../../testing/version-fixture.ts';
import { fsTree } from '../../repo/tree.ts';
import type { FileEdit } from '../../plan.ts';
import {
  addListEntry,
  addVersionEdits,
  appVersionSlug,
  readAppVersionsTree,
  readPatchVersion,
  removeLatestComponent,
  removeListEntry,
  removeVersionEdits,
  renderVersionKustomization,
  renderVersionPatch,
  setServiceSelector,
} from './app-version-files.ts';

const ZERO = `sha256:${'0'.repeat(64)}`;
const DIGEST_3 = `sha256:${'3'.repeat(64)}`;
const DEV = 'overlays/dev/apps/dbos-app/versions';
const ORDERS = 'overlays/dev/apps/orders/versions';
const APP = { name: 'dbos-app', imageName: 'app' };
/** Rendered through the application directory, so components/app-identity fills the names as in the real tree. */
const APP_DIR = 'overlays/dev/apps/dbos-app';

async function committed(path: string): Promise<string> {
  return readFile(join(REPO_ROOT, path), 'utf8');
}

function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const a = before.split('\n');
  const b = after.split('\n');
  const removed = a.filter((line, i) => b.filter((x) => x === line).length < a.slice(0, i + 1).filter((x) => x === line).length);
  const added = b.filter((line, i) => a.filter((x) => x === line).length < b.slice(0, i + 1).filter((x) => x === line).length);
  return { removed, added };
}

describe('the version-directory template', () => {
  it('reproduces the hand-written dev directories of both applications byte for byte (one template for humans and the bot)', async () => {
    const image = { name: 'app', newName: 'ghcr.io/example-org/dbos-app', digest: ZERO };
    expect(renderVersionKustomization({ version: '0.1.0', slug: '0-1-0', latest: false, image: { ...image, tag: '0.1.0' } })).toBe(
      await committed(`${DEV}/0-1-0/kustomization.yaml`),
    );
    expect(renderVersionKustomization({ version: '0.2.0', slug: '0-2-0', latest: true, image: { ...image, tag: '0.2.0' } })).toBe(
      await committed(`${DEV}/0-2-0/kustomization.yaml`),
    );
    expect(renderVersionPatch('0.1.0')).toBe(await committed(`${DEV}/0-1-0/version.patch.yaml`));
    expect(renderVersionPatch('0.2.0')).toBe(await committed(`${DEV}/0-2-0/version.patch.yaml`));
    // The second application's directory is the same template with its own image: nothing in it names orders.
    expect(
      renderVersionKustomization({ version: '1.0.0', slug: '1-0-0', latest: true, image: { ...image, newName: 'ghcr.io/example-org/orders', tag: '1.0.0' } }),
    ).toBe(await committed(`${ORDERS}/1-0-0/kustomization.yaml`));
    expect(renderVersionPatch('1.0.0')).toBe(await committed(`${ORDERS}/1-0-0/version.patch.yaml`));
  });

  it('quotes tags so 1.10 stays a string, and reads the version back from the patch', () => {
    const text = renderVersionKustomization({
      version: '1.10',
      slug: '1-10',
      latest: false,
      image: { name: 'dbos-app', newName: 'r/app', tag: '1.10', digest: ZERO },
    });
    expect(text).toContain('newTag: "1.10"');
    expect(readPatchVersion(renderVersionPatch('1.10'), 'p')).toBe('1.10');
    expect(() => renderVersionPatch("1.0'x")).toThrow(/single quote/);
  });

  it('moving app-latest off a version leaves exactly the non-latest rendering', () => {
    const image = { name: 'dbos-app', newName: 'r/app', tag: '2.0.0', digest: ZERO };
    const latest = renderVersionKustomization({ version: '2.0.0', slug: '2-0-0', latest: true, image });
    expect(removeLatestComponent(latest, 'k')).toBe(renderVersionKustomization({ version: '2.0.0', slug: '2-0-0', latest: false, image }));
    const twoComponents = latest.replace(
      '  - ../../../../../../base/components/app-latest\n',
      '  - ../../../../../../base/components/app-latest\n  - ../../../../../../base/components/monitoring\n',
    );
    const stripped = removeLatestComponent(twoComponents, 'k');
    expect(stripped).toContain(
      '    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\ncomponents:\n  - ../../../../../../base/components/monitoring\npatches:\n',
    );
    expect(stripped).not.toContain('components/app-latest');
    expect(() => removeLatestComponent(stripped, 'k')).toThrow(/app-latest/);
  });
});

describe('slugs', () => {
  it('are DNS-safe, trimmed and at most 40 characters', () => {
    expect(appVersionSlug('1.5.0')).toBe('1-5-0');
    expect(appVersionSlug('V1.5.0+Build.7')).toBe('v1-5-0-build-7');
    expect(appVersionSlug('--1.0.0--')).toBe('1-0-0');
    const long = appVersionSlug(`1.0.0-${'rc.'.repeat(30)}1`);
    expect(long.length).toBeLessThanOrEqual(40);
    expect(long).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
    expect(() => appVersionSlug('...')).toThrow(/no letters or digits/);
  });

  it('never collide with a directory of another version, deterministically', () => {
    const taken = new Map([['1-5-0', '1.5.0']]);
    expect(appVersionSlug('1.5.0', taken)).toBe('1-5-0');
    const other = appVersionSlug('1_5_0', taken);
    expect(other).not.toBe('1-5-0');
    expect(other).toBe(appVersionSlug('1_5_0', taken));
    expect(other).toMatch(/^1-5-0-[0-9a-f]{6}$/);
  });
});

describe('list and Service edits', () => {
  it('append and remove exactly one list line, keeping every other byte', async () => {
    const list = await committed(`${DEV}/kustomization.yaml`);
    const added = addListEntry(list, 'list', '0-3-0');
    expect(added).toBe(`${list}  - 0-3-0\n`);
    expect(removeListEntry(added, 'list', '0-3-0')).toBe(list);
    expect(removeListEntry(list, 'list', '0-1-0')).toBe(list.replace('  - 0-1-0\n', ''));
    expect(() => addListEntry(list, 'list', '0-2-0')).toThrow(/already lists/);
    expect(() => addListEntry('resources: [a, b]\n', 'list', 'c')).toThrow(/flow list/);
  });

  it('change only the Service selector scalar', async () => {
    const service = await committed(`${DEV}/service.yaml`);
    const after = setServiceSelector(service, 'service.yaml', '0-3-0');
    expect(changedLines(service, after)).toEqual({ removed: ['    dbos.dev/app-version: 0-2-0'], added: ['    dbos.dev/app-version: 0-3-0'] });
  });
});

describe('adding and removing a version directory, rendered with real kustomize', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'version-files-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  async function materialize(root: string, files: Record<string, string>, edits: FileEdit[] = []): Promise<void> {
    const all = { ...files };
    for (const edit of edits) {
      if (edit.after === null) delete all[edit.path];
      else all[edit.path] = edit.after;
    }
    await rm(root, { recursive: true, force: true });
    for (const [path, content] of Object.entries(all)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
  }

  /** One version's objects with its slug, version and digest replaced by placeholders: its "shape". */
  function shape(objects: Array<Record<string, any>>, slug: string, version: string, digest: string): string[] {
    return objects
      .filter((object) => JSON.stringify(object).includes(`-${slug}`) && object.kind !== 'Service')
      .map((object) => JSON.stringify(object).replaceAll(slug, '<slug>').replaceAll(version, '<version>').replaceAll(digest, '<digest>'))
      .sort();
  }

  it('adds 0.3.0 as the latest: kustomize renders it in the same shape as the hand-written latest, and moves app-latest and the Service', async () => {
    // The real dev directories (hand-written) are the "before" state.
    const files = await versionFixtureFiles({ environments: ['dev'], versions: {}, repository: 'ghcr.io/example-org/dbos-app' });
    for (const name of [
      'kustomization.yaml',
      'service.yaml',
      '0-1-0/kustomization.yaml',
      '0-1-0/version.patch.yaml',
      '0-2-0/kustomization.yaml',
      '0-2-0/version.patch.yaml',
    ]) {
      files[`${DEV}/${name}`] = await committed(`${DEV}/${name}`);
    }
    const before = join(dir, 'before');
    await materialize(before, files);
    const tree = (await readAppVersionsTree(fsTree(before), 'dev', 'overlays/dev', APP))!;
    expect(tree.versions.map((live) => [live.slug, live.version, live.latestComponent])).toEqual([
      ['0-1-0', '0.1.0', false],
      ['0-2-0', '0.2.0', true],
    ]);
    const edits = addVersionEdits(tree, {
      version: '0.3.0',
      slug: '0-3-0',
      image: { name: 'app', newName: 'ghcr.io/example-org/dbos-app', tag: '0.3.0', digest: DIGEST_3 },
    });
    expect(edits.map((edit) => edit.path).sort()).toEqual([
      `${DEV}/0-2-0/kustomization.yaml`,
      `${DEV}/0-3-0/kustomization.yaml`,
      `${DEV}/0-3-0/version.patch.yaml`,
      `${DEV}/kustomization.yaml`,
      `${DEV}/service.yaml`,
    ]);
    // Older versions: only the component lines of the previous latest change; 0-1-0 is untouched.
    const previous = edits.find((edit) => edit.path === `${DEV}/0-2-0/kustomization.yaml`)!;
    expect(changedLines(previous.before!, previous.after!)).toEqual({
      removed: ['# Only the latest version: warm minimum and the queue-length trigger.', 'components:', '  - ../../../../../../base/components/app-latest'],
      added: [],
    });

    const after = join(dir, 'after');
    await materialize(after, files, edits);
    const rendered = await kustomize(join(after, APP_DIR));
    const renderedBefore = await kustomize(join(before, APP_DIR));
    // Same shape as the hand-written latest version before the change.
    expect(shape(rendered, '0-3-0', '0.3.0', DIGEST_3)).toEqual(shape(renderedBefore, '0-2-0', '0.2.0', ZERO));
    // The previous latest now renders like the hand-written non-latest 0-1-0.
    expect(shape(rendered, '0-2-0', '0.2.0', ZERO)).toEqual(shape(renderedBefore, '0-1-0', '0.1.0', ZERO));
    // And 0-1-0 renders exactly as before.
    expect(shape(rendered, '0-1-0', '0.1.0', ZERO)).toEqual(shape(renderedBefore, '0-1-0', '0.1.0', ZERO));
    const deployment = rendered.find((object) => object.kind === 'Deployment' && object.metadata.name === 'dbos-app-0-3-0')!;
    expect(deployment.spec.template.spec.containers[0].image).toBe(`ghcr.io/example-org/dbos-app:0.3.0@${DIGEST_3}`);
    expect(deployment.spec.template.spec.containers[0].env.find((env: { name: string }) => env.name === 'DBOS__APPVERSION').value).toBe('0.3.0');
    const scaled = rendered.find((object) => object.kind === 'ScaledObject' && object.metadata.name === 'dbos-app-0-3-0')!;
    expect(scaled.spec.triggers.map((trigger: { type: string }) => trigger.type)).toEqual(['postgresql', 'metrics-api']);
    expect(scaled.spec.triggers[0].metadata.query).toContain("application_version = '0.3.0'");
    const oldScaled = rendered.find((object) => object.kind === 'ScaledObject' && object.metadata.name === 'dbos-app-0-2-0')!;
    expect(oldScaled.spec.minReplicaCount).toBe(0);
    expect(oldScaled.spec.triggers.map((trigger: { type: string }) => trigger.type)).toEqual(['postgresql']);
    expect(rendered.find((object) => object.kind === 'Service')!.spec.selector['dbos.dev/app-version']).toBe('0-3-0');
  });

  it('removes a version: its files and its list line, nothing else; kustomize renders the rest unchanged', async () => {
    const files = await versionFixtureFiles({
      environments: ['dev'],
      repository: 'ghcr.io/example-org/dbos-app',
      versions: {
        dev: [
          { version: '0.1.0', digest: ZERO },
          { version: '0.2.0', digest: ZERO, latest: true },
        ],
      },
    });
    const root = join(dir, 'remove');
    await materialize(root, files);
    const tree = (await readAppVersionsTree(fsTree(root), 'dev', 'overlays/dev', APP))!;
    const edits = await removeVersionEdits(fsTree(root), tree, tree.versions[0]!);
    expect(edits.map((edit) => [edit.path, edit.after === null])).toEqual([
      [`${DEV}/0-1-0/kustomization.yaml`, true],
      [`${DEV}/0-1-0/version.patch.yaml`, true],
      [`${DEV}/kustomization.yaml`, false],
    ]);
    const renderedBefore = await kustomize(join(root, APP_DIR));
    const after = join(dir, 'removed');
    await materialize(after, files, edits);
    const rendered = await kustomize(join(after, APP_DIR));
    expect(rendered.some((object) => JSON.stringify(object).includes('0-1-0'))).toBe(false);
    expect(rendered.map((object) => JSON.stringify(object)).sort()).toEqual(
      renderedBefore
        .filter((object) => !JSON.stringify(object).includes('0-1-0'))
        .map((object) => JSON.stringify(object))
        .sort(),
    );
  });
});
