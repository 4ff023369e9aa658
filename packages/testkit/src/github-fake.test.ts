import { afterEach, describe, expect, it } from 'vitest';
import { startGitHubFake, type GitHubFake } from './github-fake.ts';

let fake: GitHubFake | null = null;
afterEach(async () => {
  await fake?.stop();
  fake = null;
});

const call = (method: string, path: string, body?: unknown) =>
  fetch(`${fake!.url}${path}`, {
    method,
    headers: { authorization: 'token test-not-a-secret', 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

describe('GitHub fake checked against the OpenAPI description', () => {
  it('serves a valid create → list → update → label → comment sequence without violations', async () => {
    fake = await startGitHubFake({ owner: 'o', repo: 'r' });
    const created = await call('POST', '/repos/o/r/pulls', { head: 'bot/x/dev/y', base: 'main', title: 't', body: 'b' });
    expect(created.status).toBe(201);
    const pull = (await created.json()) as { number: number; head: { ref: string } };
    expect(pull.head.ref).toBe('bot/x/dev/y');
    expect((await call('GET', '/repos/o/r/pulls?state=all&per_page=100&page=1')).status).toBe(200);
    expect((await call('PATCH', `/repos/o/r/pulls/${pull.number}`, { title: 't2' })).status).toBe(200);
    expect((await call('POST', `/repos/o/r/issues/${pull.number}/labels`, { labels: ['gitops-bot'] })).status).toBe(200);
    expect((await call('POST', `/repos/o/r/issues/${pull.number}/comments`, { body: 'why' })).status).toBe(201);
    expect(fake.violations).toEqual([]);
    expect(fake.pulls[0]).toMatchObject({ title: 't2', labels: ['gitops-bot'], comments: ['why'] });
    expect(fake.writeCount()).toBe(4);
  });

  it('answers conditional requests as GitHub documents: an ETag on 200, 304 without a body while unchanged', async () => {
    fake = await startGitHubFake({ owner: 'o', repo: 'r' });
    const list = (etag?: string) =>
      fetch(`${fake!.url}/repos/o/r/pulls?state=all&per_page=100&page=1`, {
        headers: { authorization: 'token test-not-a-secret', ...(etag ? { 'if-none-match': etag } : {}) },
      });
    const first = await list();
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^W\/"[0-9a-f]{64}"$/);
    const unchanged = await list(etag);
    expect(unchanged.status).toBe(304);
    expect(await unchanged.text()).toBe('');
    await call('POST', '/repos/o/r/pulls', { head: 'bot/x/dev/y', base: 'main', title: 't', body: 'b' });
    const changed = await list(etag);
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(fake.countsByKind()).toEqual({ reads: 3, writes: 1, notModified: 1 });
    expect(fake.violations).toEqual([]);
  });

  it('records a request that does not match the description', async () => {
    fake = await startGitHubFake({ owner: 'o', repo: 'r' });
    const response = await call('POST', '/repos/o/r/pulls', { base: 'main', title: 't' });
    expect(response.status).toBe(500);
    expect(fake.violations.join('\n')).toMatch(/request: .*must have required property 'head'/);
    await call('GET', '/repos/o/r/pulls?state=everything');
    expect(fake.violations.join('\n')).toMatch(/must be equal to one of the allowed values/);
    await call('GET', '/repos/o/r/pulls?bogus=1');
    expect(fake.violations.join('\n')).toMatch(/unknown query parameter bogus/);
  });

  it('records a response that does not match the description (an injected wrong shape)', async () => {
    fake = await startGitHubFake({ owner: 'o', repo: 'r' });
    fake.injectFault({ method: 'POST', path: /\/pulls$/, status: 201, body: { number: 'one' }, times: 1 });
    await call('POST', '/repos/o/r/pulls', { head: 'h', base: 'main', title: 't' });
    expect(fake.violations.join('\n')).toMatch(/response 201: .*must have required property/);
  });

  it('answers a duplicate head with 422 Validation Failed, as GitHub does', async () => {
    fake = await startGitHubFake({ owner: 'o', repo: 'r' });
    await call('POST', '/repos/o/r/pulls', { head: 'h', base: 'main', title: 't' });
    const duplicate = await call('POST', '/repos/o/r/pulls', { head: 'h', base: 'main', title: 't' });
    expect(duplicate.status).toBe(422);
    expect(((await duplicate.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toMatch(/already exists/);
    expect(fake.violations).toEqual([]);
  });

  it('requires a token', async () => {
    fake = await startGitHubFake();
    expect((await fetch(`${fake.url}/repos/example-org/gitops/pulls`)).status).toBe(401);
  });
});

describe('GitHub fake: the semantics the bot relies on', () => {
  it('two concurrent creates for one head and base give one PR and one 422 "already exists", however slow the branch check', async () => {
    // The branch check is the slow part of a create (git on a loaded machine); GitHub's duplicate check is atomic.
    fake = await startGitHubFake({ owner: 'o', repo: 'r', branchExists: () => new Promise((resolve) => setTimeout(() => resolve(true), 50)) });
    const [a, b] = await Promise.all([
      call('POST', '/repos/o/r/pulls', { head: 'bot/x/dev/y', base: 'main', title: 'a' }),
      call('POST', '/repos/o/r/pulls', { head: 'bot/x/dev/y', base: 'main', title: 'b' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 422]);
    const refused = (await (a.status === 422 ? a : b).json()) as { errors: Array<{ message: string }> };
    expect(refused.errors[0]!.message).toBe('A pull request already exists for o:bot/x/dev/y.');
    expect(fake.pulls).toHaveLength(1);
    expect(fake.violations).toEqual([]);
  });

  it("lists a new PR only after listVisibilityDelayMs, and answers GET /user with the token's login (403 for an installation token)", async () => {
    fake = await startGitHubFake({ owner: 'o', repo: 'r', listVisibilityDelayMs: 300, login: 'the-bot' });
    expect((await call('POST', '/repos/o/r/pulls', { head: 'bot/x/dev/y', base: 'main', title: 'a' })).status).toBe(201);
    expect(await (await call('GET', '/repos/o/r/pulls?state=open&head=o:bot/x/dev/y')).json()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const listed = (await (await call('GET', '/repos/o/r/pulls?state=open&head=o:bot/x/dev/y')).json()) as Array<{
      user: { login: string };
      head: { repo: { full_name: string } };
    }>;
    expect(listed.map((pull) => [pull.user.login, pull.head.repo.full_name])).toEqual([['the-bot', 'o/r']]);
    expect(((await (await call('GET', '/user')).json()) as { login: string }).login).toBe('the-bot');
    await fake.stop();
    fake = await startGitHubFake({ owner: 'o', repo: 'r', tokenKind: 'installation' });
    expect((await call('GET', '/user')).status).toBe(403);
    expect(fake.violations).toEqual([]);
  });

  it('a fork PR carries its fork as head repository and does not match head=<owner>:<branch>', async () => {
    fake = await startGitHubFake({ owner: 'o', repo: 'r' });
    fake.openPull({ head: 'bot/x/dev/y', headRepo: 'mallory/r', author: 'mallory', title: 'forged', body: '' });
    expect(await (await call('GET', '/repos/o/r/pulls?state=open&head=o:bot/x/dev/y')).json()).toEqual([]);
    const all = (await (await call('GET', '/repos/o/r/pulls?state=all')).json()) as Array<{
      user: { login: string };
      head: { label: string; repo: { full_name: string; fork: boolean } };
    }>;
    expect(all.map((pull) => [pull.user.login, pull.head.label, pull.head.repo.full_name, pull.head.repo.fork])).toEqual([
      ['mallory', 'mallory:bot/x/dev/y', 'mallory/r', true],
    ]);
    // A fork's branch of the same name is another head: GitHub lets the bot open its own PR beside it.
    expect((await call('POST', '/repos/o/r/pulls', { head: 'bot/x/dev/y', base: 'main', title: 'own' })).status).toBe(201);
    expect(fake.violations).toEqual([]);
  });
});
