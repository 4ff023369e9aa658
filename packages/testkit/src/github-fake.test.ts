import { afterEach, describe, expect, it } from 'vitest';
import { startGitHubFake, type GitHubFake } from './github-fake.ts';

let fake: GitHubFake | null = null;
afterEach(async () => {
  await fake?.stop();
  fake = null;
});

const call = (method: string, path: string, body?: unknown) =>
  fetch(`${fake!.url}${path}`, { method, headers: { authorization: 'token test-not-a-secret', 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });

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
