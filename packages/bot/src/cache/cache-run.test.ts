import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countRegistryRequests, startRegistry, startRegistryProxy, type RegistryProxy, type TestRegistry } from '@dbos-gitops/testkit';
import { createWorld, type World } from '../../testing/world.ts';

/*
 * `pnpm bot run --cache-dir` end to end: the real registry behind a Bearer-token proxy that logs every request, a bare
 * git remote and the OpenAPI-checked GitHub fake. Counts, not times.
 */
const DAY = 86_400_000;
let registry: TestRegistry;
let proxy: RegistryProxy;
let counter = 0;
const worlds: World[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startRegistryProxy(registry, { bearer: true });
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.dispose();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function cacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cache-run-test-'));
  dirs.push(dir);
  return dir;
}

/** dex and conductor, each with 1.1.0 newer than the pinned 1.0.0, for dev and prod. */
async function images() {
  const prefix = `r${++counter}`;
  const out = [];
  for (const id of ['dex', 'conductor']) {
    const { digest } = await registry.pushImage(`${prefix}/${id}`, '1.0.0', { created: new Date(Date.now() - 60 * DAY) });
    await registry.pushImage(`${prefix}/${id}`, '1.1.0', { created: new Date(Date.now() - 10 * DAY) });
    out.push({ id, name: `example/${id}`, repository: `${proxy.host}/${prefix}/${id}`, tag: '1.0.0', digest });
  }
  return out;
}

async function world(fixtureImages: Awaited<ReturnType<typeof images>>): Promise<World> {
  const created = await createWorld({ environments: ['dev', 'prod'], images: fixtureImages, registryHosts: [proxy.host] });
  worlds.push(created);
  return created;
}

const kinds = (calls: { tagListCalls: number; manifestHeadCalls: number; manifestGetCalls: number; blobCalls: number; tokenCalls: number }) => ({
  tags: calls.tagListCalls,
  manifestHead: calls.manifestHeadCalls,
  manifestGet: calls.manifestGetCalls,
  blob: calls.blobCalls,
  token: calls.tokenCalls,
});

describe('run with a cache directory', () => {
  it('cold: the same requests as without a cache; warm no-op: no registry request at all, then a 304 PR listing', async () => {
    const pinned = await images();
    const plain = await world(pinned);
    const from = proxy.requests.length;
    const uncached = await plain.run('run', '--json');
    expect(uncached.code, uncached.stderr).toBe(0);
    expect(uncached.json.cache).toBeNull();
    // The bot's counts are the proxy's access log, kind by kind.
    const seen = countRegistryRequests(proxy.requests.slice(from));
    expect(kinds(uncached.json.registryCalls)).toEqual({
      tags: seen.tags,
      manifestHead: seen.manifestHead,
      manifestGet: seen.manifestGet,
      blob: seen.blob,
      token: seen.token,
    });
    expect(uncached.json.registryCalls.challenges).toBe(seen.challenges);

    const cached = await world(pinned);
    const dir = cacheDir();
    const cold = await cached.run('run', '--json', '--cache-dir', dir);
    expect(cold.code, cold.stderr).toBe(0);
    expect(kinds(cold.json.registryCalls)).toEqual(kinds(uncached.json.registryCalls));
    expect(cold.json.applied.map((item: { branch: string }) => item.branch)).toEqual(uncached.json.applied.map((item: { branch: string }) => item.branch));
    expect(cold.json.cache.dir).toBe(dir);

    const pushes = await cached.remote.pushCount();
    const writes = cached.github.writeCount();
    const before = proxy.requests.length;
    const warm = await cached.run('run', '--json', '--cache-dir', dir);
    expect(warm.code, warm.stderr).toBe(0);
    expect(proxy.requests.length - before).toBe(0);
    expect(kinds(warm.json.registryCalls)).toEqual({ tags: 0, manifestHead: 0, manifestGet: 0, blob: 0, token: 0 });
    expect(warm.json.registryCalls.cacheHits).toBeGreaterThan(0);
    expect(warm.json.forgeCalls).toMatchObject({ writes: 0, notModified: 0 });
    // The cold run's listing was made before it opened PRs, so this one found a changed list; the next no-op run
    // finds it unchanged: a conditional request answered 304, which costs no rate limit.
    const again = await cached.run('run', '--json', '--cache-dir', dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.forgeCalls).toMatchObject({ writes: 0, notModified: 1 });
    // A 304 is the expected answer, not an error to log.
    expect(again.stderr).not.toMatch(/304/);
    expect(kinds(again.json.registryCalls)).toEqual({ tags: 0, manifestHead: 0, manifestGet: 0, blob: 0, token: 0 });
    expect(cached.github.calls.filter((call) => call.path.endsWith('/pulls') && call.method === 'GET').map((call) => call.status)).toEqual([200, 200, 304]);
    expect(await cached.remote.pushCount()).toBe(pushes);
    expect(cached.github.writeCount()).toBe(writes);
    expect(cached.github.violations).toEqual([]);
  });

  it('two concurrent runs on one cache directory both succeed; the directory then serves a warm run', async () => {
    const pinned = await images();
    const [a, b] = [await world(pinned), await world(pinned)];
    const dir = cacheDir();
    const [runA, runB] = await Promise.all([a.run('run', '--json', '--cache-dir', dir), b.run('run', '--json', '--cache-dir', dir)]);
    expect(runA.code, runA.stderr).toBe(0);
    expect(runB.code, runB.stderr).toBe(0);
    expect(runA.json.applied.map((item: { branch: string }) => item.branch)).toEqual(runB.json.applied.map((item: { branch: string }) => item.branch));
    expect(a.github.pulls).toHaveLength(runA.json.applied.length);
    const warm = await a.run('run', '--json', '--cache-dir', dir);
    expect(warm.code, warm.stderr).toBe(0);
    expect(kinds(warm.json.registryCalls)).toEqual({ tags: 0, manifestHead: 0, manifestGet: 0, blob: 0, token: 0 });
  });

  it('an unwritable --cache-dir costs one warning and the run goes on without a cache', async () => {
    const pinned = await images();
    const target = await world(pinned);
    const file = join(cacheDir(), 'not-a-dir');
    writeFileSync(file, '');
    const run = await target.run('run', '--json', '--cache-dir', join(file, 'cache'));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr.match(/cache: .* cannot be written/g)).toHaveLength(1);
    expect(run.json.cache).toBeNull();
    expect(run.json.registryCalls.tagListCalls).toBeGreaterThan(0);
  });

  it('--cache-dir must be a path', async () => {
    const target = await world(await images());
    const run = await target.run('run', '--cache-dir', '');
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('--cache-dir must be a directory path');
  });
});
