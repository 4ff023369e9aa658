import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startConductorFake, type ConductorFake } from '@dbos-gitops/testkit';
import { startGitHubFake, type GitHubFake } from '@dbos-gitops/testkit';
import { createBareRemote, createFixture, runRotation } from '../../testing/rotation-fixture.ts';
import type { RunResult } from '../runner.ts';
import { GitHubForge } from '../sources/forge/github.ts';
import { TOKEN_ANNOTATION } from '../tasks/secret-rotation/index.ts';

/**
 * The forge side of rotation: a plan with actions (a Conductor key is created when its PR opens) whose labelling was
 * interrupted, and forged rotation PRs. Real runner, bare git remote, Conductor fake, OpenAPI-checked GitHub fake.
 */
const CONDUCTOR = { org: 'acme_org', permissions: ['websocket.connect'], tokenPrefix: 'gitops' };
const ROTATION_BRANCH = 'bot/secret-rotation/dev/dbos-app';

let conductor: ConductorFake;
let github: GitHubFake;
let remote: string;
const cleanups: Array<() => unknown> = [];

const heads = (): string => execFileSync('git', ['--git-dir', remote, 'for-each-ref', '--format=%(refname) %(objectname)'], { encoding: 'utf8' });

beforeEach(async () => {
  conductor = await startConductorFake({ org: 'acme_org' });
  cleanups.push(() => conductor.stop());
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(): Promise<{ oldName: string }> {
  const old = conductor.addToken({ tokenName: 'gitops-dev-old', appNames: ['shop-app'], permissions: ['websocket.connect'] });
  const fixture = await createFixture({
    oldApiKey: old.secret,
    apiKeyAnnotations: { 'dbos.dev/rotated-at': '2025-01-01T00:00:00.000Z', [TOKEN_ANNOTATION]: old.tokenName },
  });
  cleanups.push(() => fixture.dispose());
  const scratch = mkdtempSync(join(tmpdir(), 'forge-trust-rotation-'));
  cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
  remote = join(scratch, 'remote.git');
  createBareRemote(fixture.root, remote);
  github = await startGitHubFake({ owner: 'example-org', repo: 'gitops', branchExists: async (branch) => heads().includes(`refs/heads/${branch} `) });
  cleanups.push(() => github.stop());
  return { oldName: old.tokenName };
}

function runOnce(output: string[]): Promise<RunResult> {
  const forgeFor = () =>
    new GitHubForge({
      token: 'fake-token-not-a-secret',
      owner: 'example-org',
      repo: 'gitops',
      baseUrl: github.url,
      minWriteIntervalMs: 0,
      retryAfterBaseValue: 10,
      log: (line) => output.push(line),
    });
  return runRotation({ remote, conductor, settings: CONDUCTOR, forgeFor, output });
}

describe('rotation PRs and the forge', () => {
  it('a rotation PR whose labels failed keeps its branch and its new key, and the next run labels it without creating another key', async () => {
    const { oldName } = await world();
    github.injectFault({
      method: 'POST',
      path: /\/issues\/\d+\/labels$/,
      status: 422,
      body: {
        message: 'Validation Failed',
        errors: [{ resource: 'Label', code: 'invalid', field: 'name' }],
        documentation_url: 'https://docs.github.com/rest',
      },
      times: 1,
    });
    await expect(runOnce([])).rejects.toThrow(/label pull request #1/);
    expect(github.pulls.map((pull) => [pull.head, pull.state, pull.labels])).toEqual([[ROTATION_BRANCH, 'open', []]]);
    expect(heads()).toContain(`refs/heads/${ROTATION_BRANCH} `);
    const created = conductor.tokens().filter((token) => token.tokenName !== oldName);
    // The PR's key stays: the PR seals it.
    expect(created).toHaveLength(1);

    const repaired = await runOnce([]);
    expect(github.pulls[0]!.labels).toEqual(expect.arrayContaining(['gitops-bot', 'env/dev']));
    expect(repaired.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([]);
    expect(conductor.tokens().map((token) => token.tokenName)).toEqual([oldName, created[0]!.tokenName]);

    const writes = github.writeCount();
    const quiet = await runOnce([]);
    expect(quiet.pushes).toBe(0);
    expect(github.writeCount()).toBe(writes);
    expect(github.violations).toEqual([]);
  });

  it('a closed rotation PR by another author, whose marker names another key, is ignored: no key is touched', async () => {
    const { oldName } = await world();
    const victim = conductor.addToken({ tokenName: 'gitops-prod-live', appNames: ['shop-app'], permissions: ['websocket.connect'] });
    const body = `rotation\n\n<!-- gitops-bot: ${JSON.stringify({ task: 'secret-rotation', env: 'dev', subject: 'conductor-api-key', changes: [{ image: 'conductor-api-key', tag: victim.tokenName, digest: '' }] })} -->`;
    const forged = github.openPull({ head: ROTATION_BRANCH, author: 'mallory', title: 'Rotate the Conductor API key for dev', body, state: 'closed' });
    const result = await runOnce([]);
    expect(conductor.isValidKey(victim.secret)).toBe(true);
    expect(result.ignored).toEqual([expect.objectContaining({ what: 'pull request', number: forged, author: 'mallory' })]);
    expect(conductor.tokens().map((token) => token.tokenName)).toEqual(expect.arrayContaining([oldName, victim.tokenName]));
    expect(github.violations).toEqual([]);
  });
});
