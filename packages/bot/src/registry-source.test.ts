import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, startRegistryProxy, type RegistryProxy, type TestRegistry } from '@dbos-gitops/testkit';
import type { FixtureImage } from '../testing/fixture-repo.ts';
import { createWorld, type World } from '../testing/world.ts';

/**
 * Issue 8 item 9: example data is never written. The default registry source is live; `plan` falls back to the
 * offline catalog, labelled, only when no registry answers at all; `run` uses the catalog only with --dry-run or
 * into a local bare repository named by --remote.
 */
const DAY = 86_400_000;
const D = (c: string) => `sha256:${c.repeat(64)}`;
let registry: TestRegistry;
let proxy: RegistryProxy;
let counter = 0;
const worlds: World[] = [];
const files: string[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startRegistryProxy(registry);
});
afterAll(async () => {
  for (const file of files) rmSync(file, { force: true });
  await proxy?.stop();
  await registry?.stop();
});
afterEach(async () => {
  proxy.clearFaults();
  for (const world of worlds.splice(0)) await world.dispose();
});

/** dev + prod pin dex 1.0.0; the live registry also has 1.1.0. The environment sets no source: the default applies. */
async function setup(env: Record<string, string> = {}, repositoryHost?: string): Promise<{ world: World; image: FixtureImage; live: string; catalog: string }> {
  const prefix = `s${++counter}`;
  const { digest } = await registry.pushImage(`${prefix}/dex`, '1.0.0', { created: new Date(Date.now() - 60 * DAY) });
  const live = (await registry.pushImage(`${prefix}/dex`, '1.1.0', { created: new Date(Date.now() - 10 * DAY) })).digest;
  const image = { id: 'dex', name: 'example/dex', repository: `${repositoryHost ?? proxy.host}/${prefix}/dex`, tag: '1.0.0', digest };
  const world = await createWorld({ environments: ['dev', 'prod'], images: [image] }, { GITOPS_BOT_SOURCE: '', ...env });
  worlds.push(world);
  const catalog = join(world.userDir, '..', `catalog-${prefix}.yaml`);
  files.push(catalog);
  writeFileSync(
    catalog,
    `description: test example data\nrepositories:\n  "${image.repository}":\n    - { tag: "1.0.0", digest: "${digest}", created: "2026-01-01T00:00:00Z" }\n    - { tag: "1.2.0", digest: "${D('c')}", created: "2026-01-02T00:00:00Z" }\n`,
  );
  return { world, image, live, catalog };
}

describe('registry source', () => {
  it('run reads the live registries by default outside GitHub Actions', async () => {
    const { world, live } = await setup();
    const result = await world.run('run');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('registry source: live OCI registries');
    expect(await world.remote.readFile('bot/image-update/dev/dex', 'overlays/dev/images/kustomization.yaml')).toContain(
      `newTag: "1.1.0"\n    digest: ${live}\n`,
    );
  });

  it('run refuses the catalog against the origin remote or a URL, and writes nothing', async () => {
    const { world, catalog } = await setup();
    const attempts: Array<{ args: string[]; env?: Record<string, string> }> = [
      { args: ['run', '--source', 'catalog', '--catalog', catalog] },
      { args: ['run', '--source', 'catalog', '--catalog', catalog, '--remote', `file://${world.remote.url}`] },
      // A checkout is not a sandbox: it has an origin of its own that the branches would reach next.
      { args: ['run', '--source', 'catalog', '--catalog', catalog, '--remote', world.userDir] },
    ];
    for (const { args } of attempts) {
      const result = await world.run(...args);
      expect(result.code, result.stderr).toBe(64);
      expect(result.stderr).toMatch(/error: run with the offline catalog would push its example data \(placeholder digests\) to /);
      expect(result.stderr).toMatch(/what to do: use the live registries/);
    }
    const fromEnv = await createWorld({ environments: ['dev'], images: [] }, { GITOPS_BOT_SOURCE: 'catalog' });
    worlds.push(fromEnv);
    expect((await fromEnv.run('run')).code).toBe(64);
    expect(await world.remote.pushCount()).toBe(0);
    expect(await fromEnv.remote.pushCount()).toBe(0);
    expect(world.github.writeCount()).toBe(0);
    expect(fromEnv.github.writeCount()).toBe(0);
  });

  it('run may use the catalog with --dry-run, or into a local bare repository named by --remote', async () => {
    const { world, catalog } = await setup();
    const dry = await world.run('run', '--source', 'catalog', '--catalog', catalog, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`+    digest: ${D('c')}`);
    expect(await world.remote.pushCount()).toBe(0);
    const sandbox = await world.run('run', '--source', 'catalog', '--catalog', catalog, '--remote', world.remote.url);
    expect(sandbox.code, sandbox.stderr).toBe(0);
    expect(sandbox.stderr).toContain('NOT a live registry read');
    expect(await world.remote.readFile('bot/image-update/dev/dex', 'overlays/dev/images/kustomization.yaml')).toContain(`digest: ${D('c')}\n`);
  });

  it('plan reads live by default and falls back to the labelled catalog only when no registry answers', async () => {
    const reachable = await setup();
    const live = await reachable.world.run('plan', '--forge', 'local', '--catalog', reachable.catalog);
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).toMatch(/registry: live OCI registries/);
    expect(live.stdout).not.toContain('NOT a live registry read');
    expect(live.stdout).toContain(`+    digest: ${reachable.live}`);

    // A registry that answers with an error is not "unreachable": the error stands (exit 3), no example data.
    proxy.inject({ path: /tags\/list/, status: 503, times: 100 });
    const failing = await reachable.world.run('plan', '--forge', 'local', '--catalog', reachable.catalog);
    expect(failing.code, failing.stderr).toBe(3);
    expect(failing.stdout).not.toContain('NOT a live registry read');
    proxy.clearFaults();

    // Nothing listens on port 1: the registry cannot be reached, so plan shows the catalog, loudly labelled.
    const offline = await setup({}, '127.0.0.1:1');
    const fallback = await offline.world.run('plan', '--forge', 'local', '--catalog', offline.catalog);
    expect(fallback.code, fallback.stderr).toBe(0);
    expect(fallback.stdout).toMatch(
      /registry: offline catalog .*NOT a live registry read \(fallback: the live registries could not be reached: .*cannot reach 127\.0\.0\.1:1/,
    );
    expect(fallback.stdout).toContain(`+    digest: ${D('c')}`);
    // An explicit live source never falls back.
    const explicit = await offline.world.run('plan', '--forge', 'local', '--source', 'live');
    expect(explicit.code).toBe(3);
  });
});
