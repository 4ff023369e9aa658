import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { identityYaml, memoryTree, versionFixtureFiles } from '../../testing/version-fixture.ts';
import { fixtureFiles, imagePins } from '../../testing/fixture-repo.ts';
import { createWorld, type World } from '../../testing/world.ts';
import { parseConfig } from './load.ts';
import { checkConfigAgainstTree } from './tree-check.ts';

/** Issue 8 item 10: config mistakes that only the tree reveals exit 2 naming the field, instead of skipping work. */
const D = (c: string) => `sha256:${c.repeat(64)}`;
const dex = { id: 'dex', name: 'example/dex', repository: 'example.invalid/dex', tag: '1.0.0', digest: D('a') };
const worlds: World[] = [];
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.dispose();
});

async function checkError(files: Record<string, string>): Promise<ConfigError> {
  const error = await checkConfigAgainstTree(parseConfig(files['.github/gitops-bot.yaml']!), memoryTree(files), 'cfg.yaml').catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('checkConfigAgainstTree', () => {
  it('accepts a config whose overlays exist and whose images an overlay pins', async () => {
    const files = fixtureFiles({ environments: ['dev', 'prod'], images: [dex] });
    await expect(checkConfigAgainstTree(parseConfig(files['.github/gitops-bot.yaml']!), memoryTree(files), 'cfg.yaml')).resolves.toBeUndefined();
  });

  it('names the overlay of an environment that does not exist', async () => {
    const files = fixtureFiles({ environments: ['dev', 'prod'], images: [dex] });
    files['.github/gitops-bot.yaml'] = files['.github/gitops-bot.yaml']!.replace('overlay: overlays/prod', 'overlay: overlays/production');
    const error = await checkError(files);
    expect(error.message).toBe(
      'cfg.yaml: environments[1].overlay: overlay "overlays/production" of environment "prod" does not exist in in-memory fixture (no overlays/production/kustomization.yaml)',
    );
    expect(error.exitCode).toBe(2);
    expect(error.hint).toMatch(/set environments\[1\]\.overlay/);
  });

  it('names an image that no overlay pins', async () => {
    const files = fixtureFiles({ environments: ['dev', 'prod'], images: [dex, { ...dex, id: 'console', name: 'example/console' }] });
    for (const env of ['dev', 'prod']) files[`overlays/${env}/images/kustomization.yaml`] = imagePins(env, [dex]);
    const error = await checkError(files);
    expect(error.message).toMatch(/^cfg\.yaml: images\[1\]\.name: image "example\/console" is not in the images: list of any overlay/);
  });

  it("reads the pins from each overlay's pins file, and names those files when an image is pinned in none", async () => {
    const files = fixtureFiles({ environments: ['dev', 'prod'], images: [dex] });
    // Pinned in the overlay's own kustomization.yaml is no longer where the bot looks.
    for (const env of ['dev', 'prod']) {
      files[`overlays/${env}/kustomization.yaml`] += files[`overlays/${env}/images/kustomization.yaml`]!.split('\n').slice(3).join('\n');
      delete files[`overlays/${env}/images/kustomization.yaml`];
    }
    const error = await checkError(files);
    expect(error.message).toBe(
      'cfg.yaml: images[0].name: image "example/dex" is not in the images: list of any overlay (overlays/dev/images/kustomization.yaml, overlays/prod/images/kustomization.yaml)',
    );
  });

  it('accepts an overlay without a pins file when another overlay pins the image', async () => {
    const files = fixtureFiles({ environments: ['dev', 'prod'], images: [dex] });
    delete files['overlays/prod/images/kustomization.yaml'];
    await expect(checkConfigAgainstTree(parseConfig(files['.github/gitops-bot.yaml']!), memoryTree(files), 'cfg.yaml')).resolves.toBeUndefined();
  });
});

describe('applications against the tree', () => {
  const V1 = { version: '1.0.0', digest: D('1'), latest: true };
  async function twoApps(): Promise<Record<string, string>> {
    return versionFixtureFiles({
      environments: ['dev', 'prod'],
      apps: [
        { name: 'dbos-app', repository: 'example.invalid/dbos-app', versions: { dev: [V1], prod: [V1] } },
        { name: 'orders', repository: 'example.invalid/orders', environments: ['dev'], versions: { dev: [V1] } },
      ],
    });
  }

  it('accepts every application having its directory and an identity naming it where it runs', async () => {
    const files = await twoApps();
    await expect(checkConfigAgainstTree(parseConfig(files['.github/gitops-bot.yaml']!), memoryTree(files), 'cfg.yaml')).resolves.toBeUndefined();
  });

  it('names the directory of an application configured for an environment it has no directory in', async () => {
    const files = await twoApps();
    files['.github/gitops-bot.yaml'] = files['.github/gitops-bot.yaml']!.replace('environments: [dev]', 'environments: [dev, prod]');
    const error = await checkError(files);
    expect(error.message).toBe(
      'cfg.yaml: apps[1]: application "orders" runs in environment "prod" but overlays/prod/apps/orders/ does not exist in in-memory fixture (no overlays/prod/apps/orders/kustomization.yaml)',
    );
    expect(error.exitCode).toBe(2);
    expect(error.hint).toMatch(/set apps\[1\]\.environments/);
  });

  it('names a missing identity.yaml, and one that names another application', async () => {
    const files = await twoApps();
    delete files['overlays/dev/apps/orders/identity.yaml'];
    expect((await checkError(files)).message).toMatch(
      /apps\[1\]: application "orders" runs in environment "dev" but overlays\/dev\/apps\/orders\/identity\.yaml does not exist/,
    );
    files['overlays/dev/apps/orders/identity.yaml'] = identityYaml('dbos-app');
    const error = await checkError(files);
    expect(error.message).toMatch(/apps\[1\]: application "orders" in environment "dev": .*data\.name is "dbos-app" but the directory is apps\/orders/);
    expect(error.exitCode).toBe(2);
  });
});

describe('plan and run exit 2 on a config mistake, write nothing', () => {
  it('an application configured for an environment without its directory', async () => {
    const files = fixtureFiles({ environments: ['dev', 'prod'], images: [dex] });
    const app = await versionFixtureFiles({
      environments: ['dev'],
      apps: [{ name: 'orders', repository: 'example.invalid/orders', versions: { dev: [{ version: '1.0.0', digest: D('1') }] } }],
    });
    for (const [path, text] of Object.entries(app)) if (path.startsWith('overlays/dev/apps/') || path.startsWith('base/')) files[path] = text;
    // orders under apps: without environments: runs everywhere, but only dev has overlays/dev/apps/orders.
    files['.github/gitops-bot.yaml'] += 'apps:\n  - name: orders\n    repository: example.invalid/orders\n';
    const world = await createWorld({ environments: ['dev', 'prod'], images: [dex] }, {}, files);
    worlds.push(world);
    for (const args of [['plan', '--forge', 'local'], ['run']]) {
      const result = await world.run(...args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(
        /error: .*gitops-bot\.yaml( on main)?: apps\[0\]: application "orders" runs in environment "prod" but overlays\/prod\/apps\/orders\/ does not exist/,
      );
    }
    expect(await world.remote.pushCount()).toBe(0);
    expect(world.github.writeCount()).toBe(0);
  });

  it('a mistyped overlay path', async () => {
    const files = fixtureFiles({ environments: ['dev', 'prod'], images: [dex] });
    files['.github/gitops-bot.yaml'] = files['.github/gitops-bot.yaml']!.replace('overlay: overlays/prod', 'overlay: overlays/prd');
    const world = await createWorld({ environments: ['dev', 'prod'], images: [dex] }, {}, files);
    worlds.push(world);
    const heads = await world.remote.heads();
    for (const args of [['plan', '--forge', 'local'], ['run']]) {
      const result = await world.run(...args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/error: .*gitops-bot\.yaml.*: environments\[1\]\.overlay: overlay "overlays\/prd" of environment "prod" does not exist/);
      expect(result.stderr).toMatch(/\n {2}what to do: set environments\[1\]\.overlay/);
    }
    expect(await world.remote.heads()).toEqual(heads);
    expect(await world.remote.pushCount()).toBe(0);
    expect(world.github.writeCount()).toBe(0);
  });

  it('an image name no overlay uses', async () => {
    const files = fixtureFiles({ environments: ['dev'], images: [dex] });
    files['.github/gitops-bot.yaml'] = files['.github/gitops-bot.yaml']!.replace('  - name: example/dex\n', '  - name: example/dexx\n');
    const world = await createWorld({ environments: ['dev'], images: [dex] }, {}, files);
    worlds.push(world);
    for (const args of [['plan', '--forge', 'local'], ['run']]) {
      const result = await world.run(...args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/images\[0\]\.name: image "example\/dexx" is not in the images: list of any overlay/);
    }
    expect(await world.remote.pushCount()).toBe(0);
    expect(world.github.writeCount()).toBe(0);
  });
});
