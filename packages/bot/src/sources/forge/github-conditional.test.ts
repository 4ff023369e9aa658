import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGitHubFake, type GitHubFake } from '@dbos-gitops/testkit';
import { DiskCache } from '../../cache/disk-cache.ts';
import { GitHubForge } from './github.ts';

/**
 * The PR listing as a conditional request, against the OpenAPI-checked fake (which answers If-None-Match with 304
 * as GitHub documents): an unchanged list costs a 304, which GitHub does not charge to the rate limit.
 */
let fake: GitHubFake | null = null;
const dirs: string[] = [];
afterEach(async () => {
  await fake?.stop();
  fake = null;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const BRANCH = 'bot/image-update/dev/dex';

async function setup(): Promise<{ make: (cache: DiskCache | null) => GitHubForge; dir: string }> {
  fake = await startGitHubFake({ owner: 'o', repo: 'r', branchExists: async () => true });
  const dir = mkdtempSync(join(tmpdir(), 'github-conditional-test-'));
  dirs.push(dir);
  const make = (cache: DiskCache | null) =>
    new GitHubForge({ token: 'test-not-a-secret', owner: 'o', repo: 'r', baseUrl: fake!.url, minWriteIntervalMs: 0, retryAfterBaseValue: 1, cache });
  return { make, dir };
}

const pullsCalls = () => fake!.calls.filter((call) => call.method === 'GET' && call.path === '/repos/o/r/pulls');

describe('GitHub forge: conditional PR listing', () => {
  it('an unchanged list is answered 304 from the cached page; a changed one is read again', async () => {
    const { make, dir } = await setup();
    await make(null).createPullRequest({ branch: BRANCH, base: 'main', title: 't', body: 'b', labels: [] });
    const first = await make(await DiskCache.open(dir, () => {})).listBotPullRequests();
    expect(first.own.map((pr) => pr.number)).toEqual([1]);

    const warm = make(await DiskCache.open(dir, () => {}));
    expect(await warm.listBotPullRequests()).toEqual(first);
    expect(pullsCalls().map((call) => call.status)).toEqual([200, 304]);
    expect(warm.stats).toEqual({ reads: 2, writes: 0, notModified: 1 }); // GET /user, then the 304
    expect(fake!.countsByKind().notModified).toBe(1);

    fake!.merge(1);
    const changed = await make(await DiskCache.open(dir, () => {})).listBotPullRequests();
    expect(changed.own[0]).toMatchObject({ number: 1, merged: true, state: 'closed' });
    expect(pullsCalls().map((call) => call.status)).toEqual([200, 304, 200]);
    expect(fake!.violations).toEqual([]);
  });

  it('without a cache every listing is unconditional; a cached page that fails its check is discarded', async () => {
    const { make, dir } = await setup();
    await make(null).createPullRequest({ branch: BRANCH, base: 'main', title: 't', body: 'b', labels: [] });
    await make(null).listBotPullRequests();
    await make(null).listBotPullRequests();
    expect(pullsCalls().map((call) => call.status)).toEqual([200, 200]);

    await make(await DiskCache.open(dir, () => {})).listBotPullRequests();
    const entries = join(dir, 'entries', 'github-pulls');
    for (const file of readdirSync(entries)) writeFileSync(join(entries, file), JSON.stringify({ key: 'x', storedAt: 0, value: { etag: 'W/"x"' } }));
    const cache = (await DiskCache.open(dir, () => {}))!;
    const listed = await make(cache).listBotPullRequests();
    expect(listed.own.map((pr) => pr.number)).toEqual([1]);
    expect(cache.stats.discarded).toBe(1);
    expect(pullsCalls().map((call) => call.status)).toEqual([200, 200, 200, 200]);
    expect(fake!.violations).toEqual([]);
  });
});
