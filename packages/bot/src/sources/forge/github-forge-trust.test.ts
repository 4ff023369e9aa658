import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import { startGitHubFake, type GitHubFake, type GitHubFakeOptions } from '@dbos-gitops/testkit';
import { ExistingPullRequestError } from '../../errors.ts';
import { GitHubForge, type GitHubForgeOptions } from './github.ts';

/** The GitHub forge against the OpenAPI-checked fake: whose PRs it adopts, and how it meets a concurrent create. */
let fake: GitHubFake | null = null;
afterEach(async () => {
  await fake?.stop();
  fake = null;
});

const BRANCH = 'bot/image-update/dev/dex';
const draft = { branch: BRANCH, base: 'main', title: 'Update dex to 1.1.0 in dev', body: 'body', labels: ['gitops-bot'] };

async function forge(fakeOptions: Partial<GitHubFakeOptions> = {}, forgeOptions: Partial<GitHubForgeOptions> = {}): Promise<() => GitHubForge> {
  fake = await startGitHubFake({ owner: 'o', repo: 'r', branchExists: async () => true, ...fakeOptions });
  return () =>
    new GitHubForge({ token: 'test-not-a-secret', owner: 'o', repo: 'r', baseUrl: fake!.url, minWriteIntervalMs: 0, retryAfterBaseValue: 1, ...forgeOptions });
}

describe('GitHub forge: adopting an existing PR', () => {
  it('two concurrent creates return the same PR even when GitHub lists it late', async () => {
    const make = await forge({ listVisibilityDelayMs: 400 });
    const [a, b] = await Promise.all([make().createPullRequest(draft), make().createPullRequest(draft)]);
    expect(a.number).toBe(b.number);
    expect(fake!.pulls).toHaveLength(1);
    expect(fake!.violations).toEqual([]);
  });

  it('refuses to adopt an open PR on the branch that someone else opened, and leaves it untouched', async () => {
    const make = await forge();
    const theirs = fake!.openPull({ head: BRANCH, author: 'mallory', title: 'Add a cryptominer sidecar', body: 'x' });
    const error = await make()
      .createPullRequest(draft)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ExistingPullRequestError);
    expect((error as Error).message).toContain(`pull request #${theirs}, which the bot will not take over: opened by @mallory`);
    expect(fake!.pulls.map((pull) => [pull.number, pull.title, pull.body])).toEqual([[theirs, 'Add a cryptominer sidecar', 'x']]);
    expect(fake!.writeCount()).toBe(1);
  });

  it('gives up with ExistingPullRequestError when GitHub keeps not listing the PR it says exists', async () => {
    const make = await forge({ listVisibilityDelayMs: 60_000 }, { adoptRetryDelaysMs: [10, 10] });
    await make().createPullRequest(draft);
    const error = await make()
      .createPullRequest(draft)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ExistingPullRequestError);
    expect((error as Error).message).toMatch(/already exists, but does not list it/);
    expect(fake!.calls.filter((call) => call.method === 'GET' && call.path.endsWith('/pulls'))).toHaveLength(3);
  });
});

describe('GitHub forge: its own identity', () => {
  it('forge.botLogin is used as is, without asking GET /user', async () => {
    const make = await forge({ tokenKind: 'installation' }, { botLogin: 'my-app[bot]' });
    fake!.openPull({ head: BRANCH, author: 'my-app[bot]', title: 'own', body: '' });
    fake!.openPull({ head: 'bot/image-update/dev/conductor', author: 'github-actions[bot]', title: 'other', body: '' });
    const listing = await make().listBotPullRequests();
    expect(listing.own.map((pr) => pr.title)).toEqual(['own']);
    expect(listing.ignored.map((pr) => pr.author)).toEqual(['github-actions[bot]']);
    expect(fake!.calls.some((call) => call.path === '/user')).toBe(false);
  });

  it("logins compare case-insensitively, like GitHub; the bot's login on a fork's branch is not the bot's PR", async () => {
    const make = await forge({ login: 'Gitops-Bot' });
    fake!.openPull({ head: BRANCH, author: 'gitops-bot', title: 'own', body: '' });
    fake!.openPull({ head: 'bot/image-update/dev/conductor', author: 'Gitops-Bot', headRepo: 'gitops-bot/r', title: 'fork', body: '' });
    const listing = await make().listBotPullRequests();
    expect(listing.own.map((pr) => pr.title)).toEqual(['own']);
    expect(listing.ignored).toEqual([
      expect.objectContaining({ headRepo: 'gitops-bot/r', sameRepository: false, reason: 'its head branch is in gitops-bot/r, not in o/r' }),
    ]);
  });
});

describe('forge.botLogin in the config', () => {
  const repoConfig = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', '..', '.github', 'gitops-bot.yaml'), 'utf8');
  const withLogin = (login: string) => repoConfig.replace('  labels: [gitops-bot]\n', `  labels: [gitops-bot]\n  botLogin: ${JSON.stringify(login)}\n`);

  it('accepts a user or App login and names the field when it is not one', () => {
    expect(parseConfig(withLogin('my-app[bot]'), 'test').forge.botLogin).toBe('my-app[bot]');
    expect(parseConfig(withLogin('octocat'), 'test').forge.botLogin).toBe('octocat');
    for (const bad of ['', 'two words', 'a/b', '*']) {
      expect(() => parseConfig(withLogin(bad), 'test')).toThrow(/forge\.botLogin/);
    }
  });
});
