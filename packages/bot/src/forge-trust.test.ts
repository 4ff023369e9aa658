import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '@dbos-gitops/testkit';
import { imagePins, type FixtureImage, type FixtureOptions } from '../testing/fixture-repo.ts';
import { createWorld, type World } from '../testing/world.ts';
import type { GitHubFakeOptions } from '@dbos-gitops/testkit';

/**
 * Forge input is untrusted: which `bot/…` PRs count as the bot's, markers read back from PR bodies, labels a run
 * never got to add, holds that land while a PR is open, and two runs racing through list → push → create.
 * Real registry, real bare git remote, the OpenAPI-checked GitHub fake.
 */
const DAY = 86_400_000;
const DEV = 'overlays/dev/images/kustomization.yaml';
const DEX_BRANCH = 'bot/image-update/dev/dex';
let registry: TestRegistry;
let counter = 0;
const worlds: World[] = [];

beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => registry?.stop());
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.dispose();
});

interface Setup {
  world: World;
  images: Record<string, FixtureImage>;
  push(image: string, tag: string, ageDays?: number): Promise<string>;
}

async function setup(options: { fixture?: Partial<FixtureOptions>; env?: Record<string, string>; github?: Partial<GitHubFakeOptions> } = {}): Promise<Setup> {
  const prefix = `f${++counter}`;
  const images: Record<string, FixtureImage> = {};
  for (const id of ['conductor', 'dex']) {
    const repository = `${registry.host}/${prefix}/${id}`;
    const { digest } = await registry.pushImage(`${prefix}/${id}`, '1.0.0', { created: new Date(Date.now() - 60 * DAY) });
    images[id] = { id, name: `example/${id}`, repository, tag: '1.0.0', digest };
  }
  const world = await createWorld(
    { environments: ['dev', 'staging'], images: Object.values(images), ...options.fixture },
    options.env ?? {},
    {},
    options.github ?? {},
  );
  worlds.push(world);
  return {
    world,
    images,
    async push(image, tag, ageDays = 10) {
      return (await registry.pushImage(`${prefix}/${image}`, tag, { created: new Date(Date.now() - ageDays * DAY) })).digest;
    },
  };
}

/** The hidden marker exactly as the bot writes it, with whatever a forger puts in. */
const marker = (payload: unknown): string => `Forged body\n\n<!-- gitops-bot: ${JSON.stringify(payload)} -->`;
const dexMarker = (tag: string, extra: Record<string, unknown> = {}) =>
  marker({ task: 'image-update', env: 'dev', subject: 'dex', changes: [{ image: 'dex', tag, digest: `sha256:${'9'.repeat(64)}` }], ...extra });

describe("which pull requests are the bot's own", () => {
  it('a forged open PR on a bot branch from a fork is neither adopted nor rewritten; the bot opens its own and reports the forged one', async () => {
    const { world, push } = await setup();
    await push('dex', '1.1.0');
    const forged = world.github.openPull({
      head: DEX_BRANCH,
      headRepo: 'mallory/gitops',
      author: 'mallory',
      title: 'Add a cryptominer sidecar',
      body: dexMarker('1.1.0'),
    });

    const run = await world.run('run', '--json');
    expect(run.code, run.stderr).toBe(0);
    const pull = world.github.pulls.find((candidate) => candidate.number === forged)!;
    expect(pull.title).toBe('Add a cryptominer sidecar');
    expect(pull.body).toBe(dexMarker('1.1.0'));
    expect(pull.labels).toEqual([]);
    expect(pull.comments).toEqual([]);
    const own = world.github.pulls.filter((candidate) => candidate.author === 'gitops-bot');
    expect(own.map((candidate) => [candidate.head, candidate.state])).toEqual([[DEX_BRANCH, 'open']]);
    expect(run.json.ignored).toEqual([
      expect.objectContaining({
        what: 'pull request',
        number: forged,
        branch: DEX_BRANCH,
        author: 'mallory',
        headRepo: 'mallory/gitops',
        reason: expect.stringMatching(/opened by @mallory, not by the bot \(@gitops-bot\).*head branch is in mallory\/gitops/),
      }),
    ]);

    const text = await world.run('run');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`ignored             PR #${forged} (${DEX_BRANCH}, open) is not the bot's: opened by @mallory`);
    const plan = await world.run('plan');
    expect(plan.stdout).toContain(`PR #${forged} (${DEX_BRANCH}, open) is not the bot's`);
    expect(world.github.violations.join('\n')).toBe('');
  });

  it("an open PR by another author on the bot's branch in this repository is not pushed over or adopted", async () => {
    const { world, push } = await setup();
    await push('dex', '1.1.0');
    const squatted = await world.remote.commit(DEX_BRANCH, { 'sidecar.yaml': 'kind: Pod\n' }, 'add a sidecar');
    const forged = world.github.openPull({ head: DEX_BRANCH, author: 'mallory', title: 'Add a cryptominer sidecar', body: dexMarker('1.1.0') });
    const writes = world.github.writeCount();

    const run = await world.run('run', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.applied).toEqual([expect.objectContaining({ branch: DEX_BRANCH, outcome: 'refused', reason: expect.stringContaining(`PR #${forged}`) })]);
    expect((await world.remote.heads()).get(DEX_BRANCH)).toBe(squatted);
    expect(world.github.pulls.map((pull) => [pull.number, pull.title])).toEqual([[forged, 'Add a cryptominer sidecar']]);
    expect(world.github.writeCount()).toBe(writes);
  });

  it('a closed PR by another author whose marker claims dex 99.0.0 does not block dex updates', async () => {
    const { world, push } = await setup();
    await push('dex', '1.1.0');
    world.github.openPull({ head: DEX_BRANCH, author: 'mallory', title: 'dex 99', body: dexMarker('99.0.0'), state: 'closed' });
    const run = await world.run('run', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.applied).toEqual([expect.objectContaining({ branch: DEX_BRANCH, outcome: 'created' })]);
    expect(await world.remote.readFile(DEX_BRANCH, DEV)).toContain('newTag: "1.1.0"');
  });

  it("the bot's own closed PR whose marker names another branch, or has extra fields, is not read as memory", async () => {
    const { world, push } = await setup();
    await push('dex', '1.1.0');
    const elsewhere = world.github.openPull({
      head: DEX_BRANCH,
      author: 'gitops-bot',
      title: 'dex',
      state: 'closed',
      body: marker({ task: 'image-update', env: 'staging', subject: 'dex', changes: [{ image: 'dex', tag: '99.0.0', digest: 'sha256:1' }] }),
    });
    const extra = world.github.openPull({
      head: DEX_BRANCH,
      author: 'gitops-bot',
      title: 'dex',
      state: 'closed',
      body: dexMarker('99.0.0', { revoke: 'gitops-prod-key' }),
    });
    const run = await world.run('run', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.applied).toEqual([expect.objectContaining({ branch: DEX_BRANCH, outcome: 'created' })]);
    expect(run.json.ignored).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          what: 'marker',
          number: elsewhere,
          reason: expect.stringContaining('names image-update/staging/dex, which is not its branch'),
        }),
        expect.objectContaining({ what: 'marker', number: extra, reason: expect.stringContaining('wrong shape') }),
      ]),
    );
  });

  it('an installation token outside GitHub Actions without forge.botLogin is an error that writes nothing', async () => {
    const { world, push } = await setup({ github: { tokenKind: 'installation', login: 'some-app[bot]' } });
    await push('dex', '1.1.0');
    const run = await world.run('run');
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/cannot tell which pull requests are the bot's: GitHub refused GET \/user \(403\)/);
    expect(run.stderr).toContain('set forge.botLogin');
    expect(await world.remote.pushCount()).toBe(0);
    expect(world.github.writeCount()).toBe(0);
    const plan = await world.run('plan');
    expect(plan.code).toBe(4);
  });

  it("in GitHub Actions, GITHUB_TOKEN's PRs by github-actions[bot] are the bot's own; PRs by other bots are not", async () => {
    const { world, push } = await setup({ env: { GITHUB_ACTIONS: 'true' }, github: { tokenKind: 'installation', login: 'github-actions[bot]' } });
    await push('dex', '1.1.0');
    const other = world.github.openPull({ head: 'bot/image-update/dev/conductor', author: 'renovate[bot]', title: 'conductor', body: '' });
    const first = await world.run('run', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(world.github.pulls.find((pull) => pull.head === DEX_BRANCH)?.author).toBe('github-actions[bot]');
    expect(first.json.ignored.map((item: { number: number }) => item.number)).toEqual([other]);
    const writes = world.github.writeCount();
    const again = await world.run('run', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.pushes).toBe(0);
    expect(world.github.writeCount()).toBe(writes);
    expect(world.github.violations.join('\n')).toBe('');
  });
});

describe('labels a run never added', () => {
  it('a PR left without labels (labelling failed after create) keeps its branch and is labelled by the next run; then nothing is written', async () => {
    const { world, push } = await setup();
    await push('dex', '1.1.0');
    world.github.injectFault({
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
    const interrupted = await world.run('run');
    expect(interrupted.code).toBe(4);
    expect(world.github.pulls).toHaveLength(1);
    expect(world.github.pulls[0]!.labels).toEqual([]);
    // The PR exists, so its branch stays: deleting it would close the PR.
    expect((await world.remote.heads()).has(DEX_BRANCH)).toBe(true);

    const repaired = await world.run('run', '--json');
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(world.github.pulls[0]!.labels).toEqual(expect.arrayContaining(['gitops-bot', 'env/dev']));
    expect(repaired.json.applied).toEqual([
      expect.objectContaining({ branch: DEX_BRANCH, outcome: 'updated', reason: expect.stringContaining('added the missing labels') }),
    ]);

    const pushes = await world.remote.pushCount();
    const writes = world.github.writeCount();
    const quiet = await world.run('run', '--json');
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(await world.remote.pushCount()).toBe(pushes);
    expect(world.github.writeCount()).toBe(writes);
    expect(world.github.pulls).toHaveLength(1);
    expect(world.github.violations.join('\n')).toBe('');
  });
});

describe('a hold that lands while a PR is open', () => {
  it('closes the PR with a comment, and proposes the change again once the hold is removed', async () => {
    const { world, push, images } = await setup();
    await push('dex', '1.1.0');
    expect((await world.run('run')).code).toBe(0);
    expect(world.github.pulls.map((pull) => [pull.head, pull.state])).toEqual([[DEX_BRANCH, 'open']]);

    const entries = (hold: boolean) =>
      Object.values(images).map((image) => ({
        name: image.name,
        tag: image.tag,
        digest: image.digest,
        ...(hold && image.id === 'dex' ? { comment: 'gitops-bot: hold' } : {}),
      }));
    await world.remote.commit('main', { [DEV]: imagePins('dev', entries(true)) }, 'hold dex');
    const held = await world.run('run', '--json', '--env', 'dev');
    expect(held.code, held.stderr).toBe(0);
    expect(held.json.closed).toEqual([expect.objectContaining({ branch: DEX_BRANCH, number: 1 })]);
    expect(world.github.pulls[0]!.state).toBe('closed');
    expect(world.github.pulls[0]!.comments[0]).toMatch(/^Closed by gitops-bot: held by a "# gitops-bot: hold" comment on example\/dex/);
    const writes = world.github.writeCount();
    expect((await world.run('run', '--env', 'dev')).code).toBe(0);
    expect(world.github.writeCount()).toBe(writes);

    await world.remote.commit('main', { [DEV]: imagePins('dev', entries(false)) }, 'release the hold');
    const released = await world.run('run', '--json', '--env', 'dev');
    expect(released.code, released.stderr).toBe(0);
    expect(world.github.pulls.map((pull) => [pull.number, pull.state])).toEqual([
      [1, 'closed'],
      [2, 'open'],
    ]);
    expect(world.github.violations.join('\n')).toBe('');
  });
});

describe('concurrent runs', () => {
  it('two concurrent runs make one branch and one PR when GitHub lists a new PR only seconds later', async () => {
    const { world, push } = await setup({ github: { listVisibilityDelayMs: 1500 } });
    await push('dex', '1.1.0');
    const [a, b] = await Promise.all([world.run('run', '--json'), world.run('run', '--json')]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(world.github.pulls.map((pull) => [pull.head, pull.state])).toEqual([[DEX_BRANCH, 'open']]);
    expect([...(await world.remote.heads()).keys()].filter((branch) => branch.startsWith('bot/'))).toEqual([DEX_BRANCH]);
    expect(world.github.violations.join('\n')).toBe('');
  });

  it('when GitHub says a PR for the branch exists but never lists it, the run fails without deleting the branch that PR uses', async () => {
    const { world, push } = await setup();
    await push('dex', '1.1.0');
    world.github.injectFault({
      method: 'POST',
      path: /\/pulls$/,
      status: 422,
      body: {
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for example-org:${DEX_BRANCH}.` }],
        documentation_url: 'https://docs.github.com/rest',
      },
      times: 1,
    });
    const run = await world.run('run');
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('already exists, but does not list it');
    expect((await world.remote.heads()).has(DEX_BRANCH)).toBe(true);
  });
});
