import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, startRegistryProxy, type RegistryProxy, type TestRegistry } from '@dbos-gitops/testkit';
import { main } from '../cli.ts';
import { imagePins, type FixtureImage, type FixtureOptions } from '../../testing/fixture-repo.ts';
import { createWorld, type CliRun, type World } from '../../testing/world.ts';

const DAY = 86_400_000;
let registry: TestRegistry;
let proxy: RegistryProxy;
let counter = 0;
const worlds: World[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startRegistryProxy(registry);
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});
afterEach(async () => {
  proxy.clearFaults();
  for (const world of worlds.splice(0)) await world.dispose();
});

/** One environment, dex only, with 1.1.0 available upstream (through the fault-injecting proxy). */
async function setup(overrides: Partial<FixtureOptions> = {}, files: Record<string, string> = {}): Promise<{ world: World; image: FixtureImage }> {
  const prefix = `f${++counter}`;
  const { digest } = await registry.pushImage(`${prefix}/dex`, '1.0.0', { created: new Date(Date.now() - 60 * DAY) });
  await registry.pushImage(`${prefix}/dex`, '1.1.0', { created: new Date(Date.now() - 10 * DAY) });
  const image = { id: 'dex', name: 'example/dex', repository: `${proxy.host}/${prefix}/dex`, tag: '1.0.0', digest };
  const world = await createWorld({ environments: ['dev', 'prod'], images: [image], ...overrides }, {}, files);
  worlds.push(world);
  return { world, image };
}

/** The failure contract: clear message, non-zero exit, no stack trace, user's tree clean, remote unchanged. */
async function expectCleanFailure(world: World, run: () => Promise<CliRun>, code: number, message: RegExp): Promise<CliRun> {
  const headsBefore = await world.remote.heads();
  const result = await run();
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).toMatch(/\n {2}what to do: \S/);
  expect(result.stderr).not.toMatch(/\n\s+at \S+ \(/);
  expect(world.userStatus()).toBe('');
  expect(await world.remote.heads()).toEqual(headsBefore);
  return result;
}

describe('faults: clear message, non-zero exit, clean tree, unchanged remote', () => {
  for (const [status, code, message] of [
    [401, 3, /refused anonymous access \(401\)/],
    [404, 3, /not found on .* \(404\)/],
    [429, 5, /kept answering 429/],
    [503, 3, /answered 503 after 4 attempts/],
  ] as const) {
    it(`registry ${status}`, async () => {
      const { world } = await setup();
      proxy.inject({ path: /tags\/list/, status, headers: status === 429 ? { 'retry-after': '0' } : {}, times: 100 });
      await expectCleanFailure(world, () => world.run('run'), code, message);
      expect(world.github.writeCount()).toBe(0);
    });
  }

  it('GitHub 403 on create: the pushed branch is rolled back', async () => {
    const { world } = await setup();
    world.github.injectFault({
      method: 'POST',
      path: /\/pulls$/,
      status: 403,
      body: { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' },
      times: 5,
    });
    await expectCleanFailure(world, () => world.run('run'), 4, /GitHub refused to open a pull request .*\(403\)/);
    expect(world.github.violations.join('\n')).toBe('');
  });

  it('GitHub 422 validation failed', async () => {
    const { world } = await setup();
    world.github.injectFault({
      method: 'POST',
      path: /\/pulls$/,
      status: 422,
      body: {
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', code: 'invalid', field: 'base' }],
        documentation_url: 'https://docs.github.com/rest',
      },
      times: 1,
    });
    await expectCleanFailure(world, () => world.run('run'), 4, /422 Validation Failed/);
    expect(world.github.violations.join('\n')).toBe('');
  });

  it('GitHub secondary rate limit: retried after Retry-After, then succeeds', async () => {
    const { world } = await setup();
    const secondary = {
      message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
      documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
    };
    // POST, because GitHub's description declares 403 for creating a PR but not for listing them.
    world.github.injectFault({ method: 'POST', path: /\/pulls$/, status: 403, headers: { 'retry-after': '1' }, body: secondary, times: 1 });
    const run = await world.run('run');
    expect(run.code, run.stderr).toBe(0);
    expect(world.github.pulls).toHaveLength(1);
    expect(world.github.calls.filter((call) => call.method === 'POST' && call.status === 403)).toHaveLength(1);
    expect(world.github.violations.join('\n')).toBe('');
  });

  it('GitHub secondary rate limit that persists → RateLimitError', async () => {
    const { world } = await setup();
    const secondary = {
      message: 'You have exceeded a secondary rate limit.',
      documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
    };
    world.github.injectFault({ method: 'POST', path: /\/pulls$/, status: 403, headers: { 'retry-after': '1' }, body: secondary, times: 10 });
    await expectCleanFailure(world, () => world.run('run'), 5, /GitHub rate limit/);
  });

  it('rejected push', async () => {
    const { world } = await setup();
    const hook = join(world.remote.url, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\necho "protected: bot branches are frozen" >&2\nexit 1\n');
    chmodSync(hook, 0o755);
    await expectCleanFailure(world, () => world.run('run'), 6, /push of bot\/image-update\/dev\/dex was rejected/);
    expect(world.github.writeCount()).toBe(0);
  });

  it('malformed YAML in an overlay', async () => {
    const { world } = await setup({}, { 'overlays/dev/images/kustomization.yaml': 'images:\n  - name: example/dex\n   newTag: [\n' });
    await expectCleanFailure(world, () => world.run('run'), 7, /overlays\/dev\/images\/kustomization\.yaml: not valid YAML at line/);
  });

  it('an image configured but missing from an overlay', async () => {
    const { world } = await setup(
      {},
      { 'overlays/dev/images/kustomization.yaml': imagePins('dev', [{ name: 'example/other', tag: '1', digest: 'sha256:x' }]) },
    );
    await expectCleanFailure(
      world,
      () => world.run('run'),
      8,
      /image "example\/dex" is configured .* no entry in the images: list of overlays\/dev\/images\/kustomization\.yaml/,
    );
  });

  it('missing config', async () => {
    const { world } = await setup();
    await world.remote.commit('main', { '.github/gitops-bot.yaml': null }, 'drop config');
    await expectCleanFailure(world, () => world.run('run'), 2, /\.github\/gitops-bot\.yaml: not found on main/);
  });

  it('malformed config names the YAML path of the bad field', async () => {
    const { world } = await setup();
    await world.remote.commit(
      'main',
      { '.github/gitops-bot.yaml': 'version: 1\nenvironments:\n  - name: dev\n    overlay: overlays/dev\n  - name: prod\n    overlay: 5\n' },
      'break config',
    );
    await expectCleanFailure(world, () => world.run('run'), 2, /environments\[1\]\.overlay: /);
  });
});

describe('plan and help', () => {
  it('plan writes nothing and labels an offline catalog as such', async () => {
    const { world, image } = await setup();
    const catalog = join(world.userDir, '..', `catalog-${counter}.yaml`);
    writeFileSync(
      catalog,
      `description: test catalog\nrepositories:\n  "${image.repository}":\n    - { tag: "1.0.0", digest: "${image.digest}", created: "2026-01-01T00:00:00Z" }\n    - { tag: "1.2.0", digest: "sha256:${'c'.repeat(64)}", created: "2026-01-02T00:00:00Z" }\n`,
    );
    const run = await world.run('plan', '--source', 'catalog', '--catalog', catalog, '--forge', 'local');
    rmSync(catalog);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('NOT a live registry read');
    expect(run.stdout).toContain('bot/image-update/dev/dex: dev: update dex 1.2.0');
    expect(run.stdout).toContain(`+    digest: sha256:${'c'.repeat(64)}`);
    expect(world.userStatus()).toBe('');
    expect(await world.remote.pushCount()).toBe(0);
    expect(world.github.calls).toHaveLength(0);
  });

  it('plan --json reads the working tree and reports plans, skips and call counts', async () => {
    const { world } = await setup();
    const run = await world.run('plan', '--json', '--forge', 'local');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.plans.map((plan: { branch: string }) => plan.branch)).toEqual(['bot/image-update/dev/dex']);
    expect(run.json.registryCalls.tagListCalls).toBe(1);
  });

  it('plan runs on this repository with no credentials and no network (embedded catalog, local forge)', async () => {
    const repo = join(import.meta.dirname, '..', '..', '..', '..');
    let stdout = '';
    let stderr = '';
    const code = await main(['plan', '--repo', repo], {
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
      env: { PATH: process.env.PATH },
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/registry: offline catalog .*NOT a live registry read/);
    expect(stdout).toContain('forge: local forge');
  });

  it('--help on every command, and usage errors exit 64', async () => {
    for (const args of [['--help'], ['plan', '--help'], ['run', '--help']]) {
      let stdout = '';
      expect(await main(args, { stdout: (text) => (stdout += text), stderr: () => {}, env: {} })).toBe(0);
      expect(stdout).toMatch(/usage: pnpm bot/);
    }
    let stderr = '';
    expect(await main(['deploy'], { stdout: () => {}, stderr: (text) => (stderr += text), env: {} })).toBe(64);
    expect(stderr).toMatch(/unknown command "deploy"/);
    expect(await main(['plan', '--task', 'nope'], { stdout: () => {}, stderr: (text) => (stderr += text), env: {} })).toBe(64);
    expect(stderr).toMatch(/use one of: image-update/);
  });
});

describe('git workspace', () => {
  it('force-with-lease refuses to overwrite a branch someone else moved', async () => {
    const { GitWorkspace } = await import('../git/workspace.ts');
    const { PushRejectedError } = await import('../errors.ts');
    const { world } = await setup();
    const workspace = await GitWorkspace.clone(world.remote.url, 'main', { name: 'bot', email: 'bot@example.invalid' });
    try {
      const human = await world.remote.commit('bot/image-update/dev/dex', { 'notes.txt': 'mine' }, 'human work');
      const error = await workspace
        .commitAndPush('bot/image-update/dev/dex', [{ path: 'x.txt', before: null, after: 'bot' }], 'bot change', null)
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(PushRejectedError);
      expect((await world.remote.heads()).get('bot/image-update/dev/dex')).toBe(human);
    } finally {
      await workspace.dispose();
    }
  });
});
