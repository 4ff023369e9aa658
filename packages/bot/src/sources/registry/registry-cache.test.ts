import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countRegistryRequests, startRegistry, startRegistryProxy, type PushedImage, type RegistryProxy, type TestRegistry } from '@dbos-gitops/testkit';
import { DiskCache } from '../../cache/disk-cache.ts';
import { OciRegistryClient } from './oci-client.ts';
import { credentialEnvNames } from './reference.ts';
import type { RegistryStats } from './types.ts';

/*
 * The registry client's counts and its disk cache, against the real docker-registry behind a loopback proxy that
 * demands Bearer tokens (as Docker Hub and GHCR do) and logs every request it receives.
 */
const noWait = async () => {};
const TAGS = ['1.0.0', '1.1.0', '1.2.0'];
let registry: TestRegistry;
let proxy: RegistryProxy;
const pushed: Record<string, PushedImage> = {};
let annotated: PushedImage;
const dirs: string[] = [];
let counter = 0;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startRegistryProxy(registry, { bearer: true });
  for (const [index, tag] of TAGS.entries()) pushed[tag] = await registry.pushImage('cache/app', tag, { created: new Date(Date.UTC(2026, 0, 1 + index)) });
  annotated = await registry.pushImage('cache/annotated', '1.0.0', { created: new Date(Date.UTC(2026, 1, 1)), annotateCreated: true });
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});
afterEach(() => {
  proxy.clearFaults();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function cacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'registry-cache-test-'));
  dirs.push(dir);
  return dir;
}

async function client(dir: string | null, now: () => number = Date.now): Promise<OciRegistryClient> {
  return new OciRegistryClient({ sleep: noWait, backoffMs: 1, cache: dir ? await DiskCache.open(dir, () => {}) : null, now });
}

/** Everything the planner asks of a repository: its tags, each tag's digest and release time. */
async function readAll(bot: OciRegistryClient, repository: string): Promise<Array<[string, string, string | undefined]>> {
  const tags = [...(await bot.listTags(repository))].sort();
  return Promise.all(
    tags.map(async (tag) => {
      const digest = await bot.resolveDigest(repository, tag);
      return [tag, digest, (await bot.createdAt(repository, digest))?.toISOString()] as [string, string, string | undefined];
    }),
  );
}

/** The proxy's access log since `from`, counted by kind (testkit's counter, independent of the bot's). */
function seenSince(from: number) {
  const { tags, manifestHead, manifestGet, blob, token, challenges } = countRegistryRequests(proxy.requests.slice(from));
  return { tags, manifestHead, manifestGet, blob, token, challenges };
}

function botCounts(stats: RegistryStats) {
  return {
    tags: stats.tagListCalls,
    manifestHead: stats.manifestHeadCalls,
    manifestGet: stats.manifestGetCalls,
    blob: stats.blobCalls,
    token: stats.tokenCalls,
    challenges: stats.challenges,
  };
}

describe('exact request counts', () => {
  it("equal the registry's access log kind by kind: challenges, token requests and retries included", async () => {
    const from = proxy.requests.length;
    // One 503 on a manifest read: the retry is a request of its own.
    proxy.inject({ path: /\/manifests\/sha256:/, status: 503, times: 1 });
    const bot = await client(null);
    const repository = `${proxy.host}/cache/app`;
    const read = await readAll(bot, repository);
    expect(read.map(([tag, digest]) => [tag, digest])).toEqual(TAGS.map((tag) => [tag, pushed[tag]!.digest]));
    const seen = seenSince(from);
    expect(botCounts(bot.stats)).toEqual(seen);
    expect(countRegistryRequests(proxy.requests.slice(from)).other).toBe(0);
    // The first try of the repository is challenged (401), then one token; one tag page; a HEAD per tag; the index and
    // the amd64 manifest per digest, plus the retried one; a config blob per digest.
    expect(seen).toEqual({ tags: 2, manifestHead: 3, manifestGet: 7, blob: 3, token: 1, challenges: 1 });
    expect(bot.stats.retries).toBe(1);
    expect(bot.stats.manifestCalls).toBe(10);
  });
});

describe('the disk cache', () => {
  it('a warm run within the tags TTL makes no request at all and answers the same', async () => {
    const dir = cacheDir();
    const repository = `${proxy.host}/cache/app`;
    const cold = await client(dir);
    const first = await readAll(cold, repository);
    // A cold run makes the same requests as a run without a cache.
    expect(botCounts(cold.stats)).toEqual({ tags: 2, manifestHead: 3, manifestGet: 6, blob: 3, token: 1, challenges: 1 });
    const from = proxy.requests.length;
    const warm = await client(dir);
    expect(await readAll(warm, repository)).toEqual(first);
    expect(proxy.requests.length - from).toBe(0);
    expect(botCounts(warm.stats)).toEqual({ tags: 0, manifestHead: 0, manifestGet: 0, blob: 0, token: 0, challenges: 0 });
    expect(warm.stats.cacheHits).toBe(1 + 3 + 3 * 3); // the list, three digests, three times index + manifest + config
  });

  it('after the TTL: the list is asked again and each digest revalidated by a conditional HEAD; no manifest or blob read', async () => {
    const dir = cacheDir();
    const repository = `${proxy.host}/cache/app`;
    await readAll(await client(dir), repository);
    const later = Date.now() + 31 * 60_000; // Renovate's (and our default) tag TTL is 30 minutes
    const from = proxy.requests.length;
    const revalidating = await client(dir, () => later);
    const read = await readAll(revalidating, repository);
    expect(read.map(([tag, digest]) => [tag, digest])).toEqual(TAGS.map((tag) => [tag, pushed[tag]!.digest]));
    expect(seenSince(from)).toEqual({ tags: 2, manifestHead: 3, manifestGet: 0, blob: 0, token: 1, challenges: 1 });
    expect(revalidating.stats.notModified).toBe(3);
  });

  it('where the registry sends an ETag for the tag list, it is revalidated with If-None-Match after the TTL (304 keeps the list)', async () => {
    const etagProxy = await startRegistryProxy(registry, { etagTags: true });
    try {
      const dir = cacheDir();
      const name = `cache/etag${++counter}`;
      await registry.pushImage(name, '1.0.0', { created: new Date(Date.UTC(2026, 0, 1)) });
      const repository = `${etagProxy.host}/${name}`;
      const first = await readAll(await client(dir), repository);
      const later = Date.now() + 31 * 60_000;
      const from = etagProxy.requests.length;
      const revalidating = await client(dir, () => later);
      expect(await readAll(revalidating, repository)).toEqual(first);
      const seen = etagProxy.requests.slice(from);
      expect(seen.filter((request) => request.path.endsWith('/tags/list')).map((request) => request.status)).toEqual([304]);
      expect(revalidating.stats.notModified).toBe(1 + 1); // the list, then the tag's digest
      // A new tag changes the list: the next revalidation reads it whole.
      await registry.pushImage(name, '1.1.0', { created: new Date(Date.UTC(2026, 0, 9)) });
      const evenLater = later + 31 * 60_000;
      const tags = await (await client(dir, () => evenLater)).listTags(repository);
      expect([...tags].sort()).toEqual(['1.0.0', '1.1.0']);
    } finally {
      await etagProxy.stop();
    }
  });

  it('a tag that moved is seen once the TTL has passed, with its new release time', async () => {
    const dir = cacheDir();
    const name = `cache/moving${++counter}`;
    const repository = `${proxy.host}/${name}`;
    const old = await registry.pushImage(name, '1.0.0', { created: new Date(Date.UTC(2026, 0, 1)) });
    await readAll(await client(dir), repository);
    const moved = await registry.pushImage(name, '1.0.0', { created: new Date(Date.UTC(2026, 2, 1)) });
    expect(moved.digest).not.toBe(old.digest);
    // Within the TTL the cached answer stands (as Renovate's would) ...
    expect((await readAll(await client(dir), repository))[0]![1]).toBe(old.digest);
    // ... after it, the conditional HEAD gets 200 with the new digest.
    const later = Date.now() + 31 * 60_000;
    expect(await readAll(await client(dir, () => later), repository)).toEqual([['1.0.0', moved.digest, '2026-03-01T00:00:00.000Z']]);
  });

  it('a corrupted entry is discarded and refetched, never trusted', async () => {
    const dir = cacheDir();
    const repository = `${proxy.host}/cache/app`;
    const first = await readAll(await client(dir), repository);
    const content = join(dir, 'content', 'sha256');
    // Rewrite every cached manifest and blob with other bytes; the tag list entry becomes garbage too.
    for (const file of readdirSync(content)) writeFileSync(join(content, file), '{"created":"1999-01-01T00:00:00Z","config":{}}');
    for (const file of readdirSync(join(dir, 'entries', 'registry-tags'))) writeFileSync(join(dir, 'entries', 'registry-tags', file), '{"not":"an entry"}');
    const from = proxy.requests.length;
    const again = await client(dir);
    expect(await readAll(again, repository)).toEqual(first);
    expect(seenSince(from)).toEqual({ tags: 2, manifestHead: 3, manifestGet: 6, blob: 3, token: 1, challenges: 1 });
    // Refetched content is stored again, verified: a third run is warm.
    const from2 = proxy.requests.length;
    expect(await readAll(await client(dir), repository)).toEqual(first);
    expect(proxy.requests.length - from2).toBe(0);
  });

  it('reads the release time from the index annotation when present: one manifest read, no blob', async () => {
    const bot = await client(null);
    const repository = `${proxy.host}/cache/annotated`;
    expect(await readAll(bot, repository)).toEqual([['1.0.0', annotated.digest, '2026-02-01T00:00:00.000Z']]);
    expect(bot.stats.manifestGetCalls).toBe(1);
    expect(bot.stats.blobCalls).toBe(0);
  });

  it('holds no credentials: neither the password nor the Authorization value is in any cache file', async () => {
    const secured = await startRegistry({ auth: true });
    try {
      await secured.pushImage('private/app', '1.0.0', { created: new Date(Date.UTC(2026, 0, 1)) });
      const dir = cacheDir();
      const { username, password } = secured.credentials!;
      const names = credentialEnvNames(secured.host);
      const bot = new OciRegistryClient({
        sleep: noWait,
        env: { [names.username]: username, [names.password]: password },
        cache: await DiskCache.open(dir, () => {}),
      });
      expect(await readAll(bot, `${secured.host}/private/app`)).toHaveLength(1);
      const basic = Buffer.from(`${username}:${password}`).toString('base64');
      const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
      expect(files.length).toBeGreaterThan(3);
      for (const file of files) {
        const text = readFileSync(join(file.parentPath, file.name), 'utf8');
        expect(text).not.toContain(password);
        expect(text).not.toContain(basic);
      }
    } finally {
      await secured.stop();
    }
  });

  it('two clients filling one cache directory at the same time both succeed, and leave it whole', async () => {
    const dir = cacheDir();
    const repository = `${proxy.host}/cache/app`;
    const [a, b] = await Promise.all([client(dir), client(dir)]);
    const [readA, readB] = await Promise.all([readAll(a!, repository), readAll(b!, repository)]);
    expect(readA).toEqual(readB);
    expect(readdirSync(join(dir, 'content', 'sha256')).filter((name) => name.includes('.tmp'))).toEqual([]);
    const from = proxy.requests.length;
    expect(await readAll(await client(dir), repository)).toEqual(readA);
    expect(proxy.requests.length - from).toBe(0);
  });
});
