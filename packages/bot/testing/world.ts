/**
 * A test world of real parts: a bare git remote seeded with a fixture GitOps repo, a user checkout of it, a GitHub
 * fake checked against the OpenAPI description, and the CLI entry point wired to them. Used by the bot's
 * integration tests.
 */
import { execFileSync } from 'node:child_process';
import { createBareRemote, type BareRemote } from '@dbos-gitops/testkit';
import { startGitHubFake, type GitHubFake, type GitHubFakeOptions } from '@dbos-gitops/testkit';
import { main } from '../src/cli.ts';
import { fixtureFiles, type FixtureOptions } from './fixture-repo.ts';

/** Not a credential: the fake accepts any token; the tests check this string never reaches the output. */
export const FAKE_TOKEN = `fake-token-${process.pid}-not-a-secret`;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

export interface World {
  remote: BareRemote;
  github: GitHubFake;
  userDir: string;
  run(...args: string[]): Promise<CliRun>;
  /** `git status --porcelain` of the user's checkout. */
  userStatus(): string;
  dispose(): Promise<void>;
}

export async function createWorld(
  fixture: FixtureOptions,
  extraEnv: Record<string, string> = {},
  files: Record<string, string> = {},
  githubOptions: Partial<GitHubFakeOptions> = {},
): Promise<World> {
  const remote = await createBareRemote({ ...fixtureFiles(fixture), ...files });
  const github = await startGitHubFake({
    owner: 'example-org',
    repo: 'gitops',
    branchExists: async (branch) => (await remote.heads()).has(branch),
    ...githubOptions,
  });
  const userDir = await remote.clone();
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_TOKEN: FAKE_TOKEN,
    GITHUB_API_URL: github.url,
    GITHUB_REPOSITORY: 'example-org/gitops',
    GITOPS_BOT_SOURCE: 'live',
    GITOPS_BOT_GITHUB_WRITE_INTERVAL_MS: '0',
    // Runs of one world push new tags between runs and expect to see them: no tag cache unless a test asks (--cache-dir).
    GITOPS_BOT_CACHE_DIR: 'off',
    ...extraEnv,
  } as NodeJS.ProcessEnv;
  return {
    remote,
    github,
    userDir,
    async run(...args) {
      let stdout = '';
      let stderr = '';
      const code = await main([...args, '--repo', userDir], { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env });
      let json: unknown = null;
      if (args.includes('--json') && code === 0) json = JSON.parse(stdout);
      return { code, stdout, stderr, json };
    },
    userStatus: () => execFileSync('git', ['status', '--porcelain'], { cwd: userDir, encoding: 'utf8' }),
    async dispose() {
      await github.stop();
      // Removes the user's checkout too: it is a clone inside the remote's temporary directory.
      await remote.cleanup();
    },
  };
}
