import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskCache, defaultCacheDir } from './disk-cache.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'disk-cache-test-'));
  dirs.push(dir);
  return dir;
}

const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const isNumbers = (value: unknown): value is number[] => Array.isArray(value) && value.every((item) => typeof item === 'number');

describe('DiskCache', () => {
  it('stores content only under its own digest and reads it back verified', async () => {
    const cache = (await DiskCache.open(tempDir(), () => {}))!;
    const bytes = randomBytes(64);
    await cache.putContent(digestOf(bytes), bytes);
    expect(await cache.getContent(digestOf(bytes))).toEqual(bytes);
    // Bytes offered under a digest they do not hash to are not stored.
    const other = randomBytes(64);
    await cache.putContent(
      digestOf(bytes).replace(/.$/, (c) => (c === '0' ? '1' : '0')),
      other,
    );
    expect(readdirSync(join(cache.dir, 'content', 'sha256'))).toEqual([digestOf(bytes).slice(7)]);
  });

  it('discards a corrupt content entry (it no longer hashes to its name) and reports a miss', async () => {
    const cache = (await DiskCache.open(tempDir(), () => {}))!;
    const bytes = Buffer.from('{"created":"2026-01-01T00:00:00Z"}');
    const digest = digestOf(bytes);
    await cache.putContent(digest, bytes);
    writeFileSync(join(cache.dir, 'content', 'sha256', digest.slice(7)), '{"created":"2020-01-01T00:00:00Z"}');
    expect(await cache.getContent(digest)).toBeNull();
    expect(cache.stats.discarded).toBe(1);
    expect(readdirSync(join(cache.dir, 'content', 'sha256'))).toEqual([]);
  });

  it('keyed entries: the stored key and shape are checked; a wrong one is discarded', async () => {
    const cache = (await DiskCache.open(tempDir(), () => {}))!;
    await cache.putEntry('ns', 'a', [1, 2], 1000);
    expect(await cache.getEntry('ns', 'a', isNumbers)).toEqual({ storedAt: 1000, value: [1, 2] });
    expect(await cache.getEntry('ns', 'b', isNumbers)).toBeNull();
    const [file] = readdirSync(join(cache.dir, 'entries', 'ns'));
    writeFileSync(join(cache.dir, 'entries', 'ns', file!), JSON.stringify({ key: 'a', storedAt: 1000, value: ['x'] }));
    expect(await cache.getEntry('ns', 'a', isNumbers)).toBeNull();
    expect(cache.stats.discarded).toBe(1);
    writeFileSync(join(cache.dir, 'entries', 'ns', file!), '{"key":');
    await cache.putEntry('ns', 'a', [3], 2000);
    expect(await cache.getEntry('ns', 'a', isNumbers)).toEqual({ storedAt: 2000, value: [3] });
  });

  it('writes leave no temporary files behind, also when many writers race on one key', async () => {
    const dir = tempDir();
    const caches = await Promise.all([DiskCache.open(dir, () => {}), DiskCache.open(dir, () => {})]);
    await Promise.all(Array.from({ length: 40 }, (_, index) => caches[index % 2]!.putEntry('ns', 'k', [index], index)));
    const entry = await caches[0]!.getEntry('ns', 'k', isNumbers);
    expect(entry?.value).toEqual([entry?.storedAt]);
    expect(readdirSync(join(dir, 'entries', 'ns'))).toHaveLength(1);
    expect(readdirSync(dir).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('removes temporary files a killed run left behind, once they are old; a young one may be a write in progress', async () => {
    const dir = tempDir();
    await DiskCache.open(dir, () => {});
    const content = join(dir, 'content', 'sha256');
    const old = join(content, '.abc.1.x.tmp');
    const young = join(content, '.def.2.y.tmp');
    writeFileSync(old, 'partial');
    writeFileSync(young, 'partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(old, twoHoursAgo, twoHoursAgo);
    await DiskCache.open(dir, () => {});
    expect(readdirSync(content).sort()).toEqual(['.def.2.y.tmp']);
  });

  it('a directory that cannot be written means no cache and one warning, not a failure', async () => {
    const warnings: string[] = [];
    // A path below a regular file cannot be created, whoever runs the test (root ignores permission bits).
    const file = join(tempDir(), 'plain-file');
    writeFileSync(file, '');
    expect(await DiskCache.open(join(file, 'cache'), (line) => warnings.push(line))).toBeNull();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot be written \(ENOTDIR\); running without a cache/);
  });

  it('writes that start failing mid-run warn once and stop; reads and the run go on', async () => {
    const warnings: string[] = [];
    const cache = (await DiskCache.open(tempDir(), (line) => warnings.push(line)))!;
    rmSync(join(cache.dir, 'content'), { recursive: true });
    writeFileSync(join(cache.dir, 'content'), '');
    for (let index = 0; index < 3; index++) {
      const bytes = randomBytes(8);
      await cache.putContent(digestOf(bytes), bytes);
      expect(await cache.getContent(digestOf(bytes))).toBeNull();
    }
    await cache.putEntry('ns', 'k', [1], 1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/the rest of this run goes without the cache/);
  });

  it('defaults under XDG_CACHE_HOME (absolute only), else HOME/.cache; none without either', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' })).toBe('/x/cache/dbos-gitops-bot');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })).toBe('/home/u/.cache/dbos-gitops-bot');
    expect(defaultCacheDir({})).toBeNull();
  });
});
