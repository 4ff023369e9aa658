import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '@dbos-gitops/testkit';
import { imagePins, type FixtureImage, type FixtureOptions } from '../testing/fixture-repo.ts';
import { createWorld, FAKE_TOKEN, type World } from '../testing/world.ts';
import { main } from './cli.ts';
import { InterruptedError } from './errors.ts';

const DAY = 86_400_000;
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

/** Three environments, conductor+console grouped, dex alone; every image at 1.0.0 everywhere. */
async function setup(overrides: Partial<FixtureOptions> = {}): Promise<Setup> {
  const prefix = `t${++counter}`;
  const images: Record<string, FixtureImage> = {};
  for (const id of ['conductor', 'console', 'dex']) {
    const repository = `${registry.host}/${prefix}/${id}`;
    const { digest } = await registry.pushImage(`${prefix}/${id}`, '1.0.0', { created: new Date(Date.now() - 60 * DAY) });
    images[id] = { id, name: `example/${id}`, repository, tag: '1.0.0', digest };
  }
  const world = await createWorld({
    environments: ['dev', 'staging', 'prod'],
    images: Object.values(images),
    groups: [{ name: 'control-plane', images: ['conductor', 'console'] }],
    ...overrides,
  });
  worlds.push(world);
  return {
    world,
    images,
    async push(image, tag, ageDays = 10) {
      return (await registry.pushImage(`${prefix}/${image}`, tag, { created: new Date(Date.now() - ageDays * DAY) })).digest;
    },
  };
}

const DEV = 'overlays/dev/images/kustomization.yaml';
const STAGING = 'overlays/staging/images/kustomization.yaml';

describe('image-update end to end (real registry, real git remote, OpenAPI-checked GitHub fake)', () => {
  it('opens one PR for the group in the first environment; five more runs write nothing', async () => {
    const { world, push } = await setup();
    const conductor = await push('conductor', '1.1.0');
    const console_ = await push('console', '1.1.0');
    const first = await world.run('run', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(world.github.pulls).toHaveLength(1);
    const pull = world.github.pulls[0]!;
    expect(pull.head).toBe('bot/image-update/dev/control-plane');
    expect(pull.labels).toEqual(expect.arrayContaining(['gitops-bot', 'env/dev']));
    expect(pull.body).toMatch(/\| Image \| Env \| Change \| Released \|/);
    expect(pull.body).toContain('`1.0.0`');
    const branchFile = (await world.remote.readFile('bot/image-update/dev/control-plane', DEV))!;
    expect(branchFile).toContain(conductor);
    expect(branchFile).toContain(console_);
    // Staging waits for dev to merge.
    expect((await world.remote.heads()).has('bot/image-update/staging/control-plane')).toBe(false);
    // One tags listing per repository however many environments use it; one PR listing per run.
    expect(first.json.registryCalls.tagListCalls).toBe(3);
    expect(world.github.calls.filter((call) => call.method === 'GET' && call.path.endsWith('/pulls'))).toHaveLength(1);
    const pushes = await world.remote.pushCount();
    const writes = world.github.writeCount();
    expect(pushes).toBe(1);
    for (let run = 0; run < 5; run++) {
      const again = await world.run('run', '--json');
      expect(again.code, again.stderr).toBe(0);
      expect(again.json.pushes).toBe(0);
    }
    expect(await world.remote.pushCount()).toBe(pushes);
    expect(world.github.writeCount()).toBe(writes);
    expect(world.github.pulls).toHaveLength(1);
    expect(world.github.violations.join('\n')).toBe('');
    expect(world.userStatus()).toBe('');
  });

  it('a newer upstream version force-updates the same branch and the same PR', async () => {
    const { world, push } = await setup();
    await push('conductor', '1.1.0');
    expect((await world.run('run')).code).toBe(0);
    const newer = await push('conductor', '1.2.0');
    const second = await world.run('run', '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(world.github.pulls).toHaveLength(1);
    expect(world.github.pulls[0]!.title).toContain('conductor 1.2.0');
    expect(await world.remote.readFile('bot/image-update/dev/control-plane', DEV)).toContain(newer);
    expect(second.json.applied[0].outcome).toBe('updated');
    expect(world.github.violations.join('\n')).toBe('');
  });

  it('promotes the exact merged digest to the next environment, never re-resolving the tag', async () => {
    const { world, push } = await setup();
    const original = await push('dex', '1.1.0');
    expect((await world.run('run')).code).toBe(0);
    await world.remote.mergeInto('main', 'bot/image-update/dev/dex');
    world.github.merge(1);
    // Someone re-pushes the tag upstream: promotion must still carry what dev actually runs.
    const moved = await push('dex', '1.1.0', 20);
    expect(moved).not.toBe(original);
    const run = await world.run('run', '--json');
    expect(run.code, run.stderr).toBe(0);
    const staging = (await world.remote.readFile('bot/image-update/staging/dex', STAGING))!;
    expect(staging).toContain(original);
    expect(staging).not.toContain(moved);
    expect((await world.remote.heads()).has('bot/image-update/prod/dex')).toBe(false);
    const stagingPull = world.github.pulls.find((pull) => pull.head === 'bot/image-update/staging/dex')!;
    expect(stagingPull.body).toContain('promotion copies the digest');
    expect(world.github.violations.join('\n')).toBe('');
    // Issue 9 item 8: a promotion PR's diff is the one small pins file of the environment, nothing else.
    const changed = execFileSync('git', ['--git-dir', world.remote.url, 'diff', '--name-only', 'main', 'bot/image-update/staging/dex'], { encoding: 'utf8' });
    expect(changed.split('\n').filter(Boolean)).toEqual([STAGING]);
  });

  it('a PR closed unmerged is not re-proposed until a newer version appears', async () => {
    const { world, push } = await setup();
    await push('dex', '1.1.0');
    expect((await world.run('run')).code).toBe(0);
    world.github.close(1);
    const pushes = await world.remote.pushCount();
    const writes = world.github.writeCount();
    const quiet = await world.run('run');
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toMatch(/dex 1\.1\.0 was proposed in PR #1, which was closed without merging/);
    expect(await world.remote.pushCount()).toBe(pushes);
    expect(world.github.writeCount()).toBe(writes);
    const newer = await push('dex', '1.2.0');
    expect((await world.run('run')).code).toBe(0);
    const open = world.github.pulls.filter((pull) => pull.state === 'open');
    expect(open).toHaveLength(1);
    expect(open[0]!.number).toBe(2);
    expect(await world.remote.readFile('bot/image-update/dev/dex', DEV)).toContain(newer);
  });

  it('a manual downgrade after a merge is respected', async () => {
    const { world, push, images } = await setup();
    await push('dex', '1.1.0');
    expect((await world.run('run')).code).toBe(0);
    await world.remote.mergeInto('main', 'bot/image-update/dev/dex');
    world.github.merge(1);
    await world.remote.commit(
      'main',
      {
        [DEV]: imagePins(
          'dev',
          Object.values(images).map((image) => ({ name: image.name, tag: image.tag, digest: image.digest })),
        ),
      },
      'revert dex in dev',
    );
    const run = await world.run('run');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/dex 1\.1\.0 was merged in PR #1 and later downgraded by hand to 1\.0\.0/);
    expect(world.github.pulls.filter((pull) => pull.head === 'bot/image-update/dev/dex')).toHaveLength(1);
  });

  it('the hold label freezes a PR, and a hold comment freezes an entry', async () => {
    const { world, push, images } = await setup();
    await push('conductor', '1.1.0');
    expect((await world.run('run')).code).toBe(0);
    world.github.label(1, 'gitops-bot/hold');
    const before = (await world.remote.heads()).get('bot/image-update/dev/control-plane');
    await push('conductor', '1.2.0');
    const held = await world.run('run');
    expect(held.code, held.stderr).toBe(0);
    expect((await world.remote.heads()).get('bot/image-update/dev/control-plane')).toBe(before);
    expect(world.github.pulls[0]!.state).toBe('open');
    expect(world.github.pulls[0]!.title).toContain('1.1.0');

    const entries = Object.values(images).map((image) => ({
      name: image.name,
      tag: image.tag,
      digest: image.digest,
      ...(image.id === 'dex' ? { comment: 'gitops-bot: hold' } : {}),
    }));
    await world.remote.commit('main', { [DEV]: imagePins('dev', entries) }, 'hold dex');
    await push('dex', '1.5.0');
    const comment = await world.run('run');
    expect(comment.code).toBe(0);
    expect(comment.stdout).toMatch(/held by a "# gitops-bot: hold" comment/);
    expect((await world.remote.heads()).has('bot/image-update/dev/dex')).toBe(false);
  });

  it('waits out the minimum release age: proposes the newest version old enough', async () => {
    const { world, push } = await setup({ minReleaseAge: '3d' });
    const old = await push('dex', '1.1.0', 10);
    await push('dex', '1.2.0', 0);
    expect((await world.run('run')).code).toBe(0);
    const file = (await world.remote.readFile('bot/image-update/dev/dex', DEV))!;
    expect(file).toContain('newTag: "1.1.0"');
    expect(file).toContain(old);
  });

  it('closes its own PR with a comment when the change landed another way', async () => {
    const { world, push, images } = await setup();
    const digest = await push('dex', '1.1.0');
    expect((await world.run('run')).code).toBe(0);
    const entries = Object.values(images).map((image) =>
      image.id === 'dex' ? { name: image.name, tag: '1.1.0', digest } : { name: image.name, tag: image.tag, digest: image.digest },
    );
    await world.remote.commit('main', { [DEV]: imagePins('dev', entries) }, 'bump dex by hand');
    const run = await world.run('run', '--json', '--env', 'dev');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.closed).toHaveLength(1);
    expect(world.github.pulls[0]!.state).toBe('closed');
    expect(world.github.pulls[0]!.comments[0]).toMatch(/^Closed by gitops-bot: /);
    expect(world.github.violations.join('\n')).toBe('');
  });

  it('two concurrent runs make one branch and one PR', async () => {
    const { world, push } = await setup();
    await push('dex', '1.1.0');
    const [a, b] = await Promise.all([world.run('run', '--json'), world.run('run', '--json')]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(world.github.pulls).toHaveLength(1);
    expect([...(await world.remote.heads()).keys()].filter((branch) => branch.startsWith('bot/'))).toEqual(['bot/image-update/dev/dex']);
    expect(world.github.violations.join('\n')).toBe('');
  });

  it('--dry-run prints the diff and PR text and writes nothing anywhere', async () => {
    const { world, push } = await setup();
    await push('dex', '1.1.0');
    const run = await world.run('run', '--dry-run');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('--- a/overlays/dev/images/kustomization.yaml');
    expect(run.stdout).toContain('+    newTag: "1.1.0"');
    expect(run.stdout).toContain('would open a PR');
    expect(await world.remote.pushCount()).toBe(0);
    expect(world.github.writeCount()).toBe(0);
    expect(world.userStatus()).toBe('');
  });

  it('respects pullRequests.maxOpen', async () => {
    const { world, push } = await setup({ maxOpen: 1 });
    await push('dex', '1.1.0');
    await push('conductor', '1.1.0');
    const run = await world.run('run', '--json');
    expect(run.code).toBe(0);
    expect(world.github.pulls).toHaveLength(1);
    expect(run.json.applied.filter((item: { outcome: string }) => item.outcome === 'limited')).toHaveLength(1);
  });

  it('respects pullRequests.maxPerHour', async () => {
    const { world, push } = await setup({ maxPerHour: 1 });
    await push('dex', '1.1.0');
    await push('conductor', '1.1.0');
    const run = await world.run('run', '--json');
    expect(run.code).toBe(0);
    expect(world.github.pulls).toHaveLength(1);
    const limited = run.json.applied.filter((item: { outcome: string }) => item.outcome === 'limited');
    expect(limited).toHaveLength(1);
    expect(limited[0].reason).toMatch(/maxPerHour: 1/);
    // The limited plan's branch was not pushed either.
    expect([...(await world.remote.heads()).keys()].filter((branch) => branch.startsWith('bot/'))).toHaveLength(1);
  });

  it('never prints the GitHub token', async () => {
    const { world, push } = await setup();
    await push('dex', '1.1.0');
    const run = await world.run('run');
    expect(run.code).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(FAKE_TOKEN);
  });
});

describe('apply: every branch in one push', () => {
  const DEX = 'bot/image-update/dev/dex';
  const GROUP = 'bot/image-update/dev/control-plane';

  /** Two plans (the control-plane group, then dex) against a remote whose pushes are counted per git push. */
  async function twoPlans(branchRefused: (branch: string) => boolean = () => false): Promise<{ world: World; pushProcesses(): number }> {
    const prefix = `t${++counter}`;
    const images: FixtureImage[] = [];
    for (const id of ['conductor', 'console', 'dex']) {
      const { digest } = await registry.pushImage(`${prefix}/${id}`, '1.0.0', { created: new Date(Date.now() - 60 * DAY) });
      images.push({ id, name: `example/${id}`, repository: `${registry.host}/${prefix}/${id}`, tag: '1.0.0', digest });
      await registry.pushImage(`${prefix}/${id}`, '1.1.0', { created: new Date(Date.now() - 10 * DAY) });
    }
    let remoteUrl = '';
    const world = await createWorld(
      { environments: ['dev', 'staging'], images, groups: [{ name: 'control-plane', images: ['conductor', 'console'] }] },
      {},
      {},
      // GitHub answers 422 "head invalid" for a branch it does not see, as it does for a branch that was not pushed.
      {
        branchExists: async (branch) =>
          !branchRefused(branch) &&
          execFileSync('git', ['-C', remoteUrl, 'for-each-ref', '--format=%(refname)', `refs/heads/${branch}`], { encoding: 'utf8' }).trim() !== '',
      },
    );
    worlds.push(world);
    remoteUrl = world.remote.url;
    // pre-receive runs once per git push, whatever the number of refs it carries.
    const log = join(remoteUrl, 'pre-receive.log');
    writeFileSync(join(remoteUrl, 'hooks', 'pre-receive'), `#!/bin/sh\necho push >> "${log}"\n`, { mode: 0o755 });
    return { world, pushProcesses: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0) };
  }

  it('pushes both branches in one git push, one commit each on the base branch, then opens both PRs', async () => {
    const { world, pushProcesses } = await twoPlans();
    const run = await world.run('run', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.pushes).toBe(2);
    expect(pushProcesses()).toBe(1);
    expect(world.github.pulls.map((pull) => pull.head).sort()).toEqual([GROUP, DEX]);
    const main = execFileSync('git', ['-C', world.remote.url, 'rev-parse', 'main'], { encoding: 'utf8' }).trim();
    for (const branch of [GROUP, DEX]) {
      // One commit on top of the base branch, changing only the pins file, with the PR title as its subject.
      expect(execFileSync('git', ['-C', world.remote.url, 'rev-parse', `${branch}^`], { encoding: 'utf8' }).trim()).toBe(main);
      expect(execFileSync('git', ['-C', world.remote.url, 'diff', '--name-only', main, branch], { encoding: 'utf8' }).trim()).toBe(DEV);
      const subject = execFileSync('git', ['-C', world.remote.url, 'log', '-1', '--format=%s%n%an <%ae>', branch], { encoding: 'utf8' }).trim();
      expect(subject).toBe(`${world.github.pulls.find((pull) => pull.head === branch)!.title}\ndbos-gitops-bot <dbos-gitops-bot@users.noreply.github.com>`);
    }
    expect(await world.remote.readFile(DEX, DEV)).toContain('newTag: "1.1.0"');
    // Nothing new: no push process at all.
    const again = await world.run('run', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.pushes).toBe(0);
    expect(pushProcesses()).toBe(1);
  });

  it('a branch the remote refuses does not keep the other from landing; the run reports it with exit 6', async () => {
    const { world, pushProcesses } = await twoPlans();
    // An update hook runs per ref, so the remote refuses dex alone (a pre-receive hook would refuse the whole push).
    writeFileSync(
      join(world.remote.url, 'hooks', 'update'),
      `#!/bin/sh\nif [ "$1" = "refs/heads/${DEX}" ]; then echo "dex is frozen" >&2; exit 1; fi\nexit 0\n`,
      { mode: 0o755 },
    );
    const run = await world.run('run', '--json');
    expect(run.code).toBe(6);
    expect(run.stderr).toContain(`push of ${DEX} was rejected`);
    expect(pushProcesses()).toBe(1);
    const heads = await world.remote.heads();
    expect(heads.has(GROUP)).toBe(true);
    expect(heads.has(DEX)).toBe(false);
    expect(world.github.pulls.map((pull) => pull.head)).toEqual([GROUP]);
    // Once the remote takes it, the next run pushes dex only and opens its PR; the group's PR is left as it is.
    unlinkSync(join(world.remote.url, 'hooks', 'update'));
    const again = await world.run('run', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.pushes).toBe(1);
    expect(again.json.applied.map((item: { branch: string; outcome: string }) => [item.branch, item.outcome])).toEqual([
      [GROUP, 'unchanged'],
      [DEX, 'created'],
    ]);
    expect(world.github.pulls.map((pull) => pull.head).sort()).toEqual([GROUP, DEX]);
  });

  it('SIGINT while the branches are being pushed: exit 130, every pushed branch put back, no PR', async () => {
    const { world, pushProcesses } = await twoPlans();
    const interrupt = new AbortController();
    let stderr = '';
    const code = await main(['run', '--json', '--repo', world.userDir], {
      stdout: () => {},
      stderr: (text) => {
        stderr += text;
        // Lands between the push and the PRs: the push finishes, then the run stops at its next step.
        if (text.includes('in one push')) interrupt.abort(new InterruptedError('SIGINT'));
      },
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        GITHUB_TOKEN: FAKE_TOKEN,
        GITHUB_API_URL: world.github.url,
        GITHUB_REPOSITORY: 'example-org/gitops',
        GITOPS_BOT_SOURCE: 'live',
        GITOPS_BOT_GITHUB_WRITE_INTERVAL_MS: '0',
      },
      signal: interrupt.signal,
    });
    expect({ code, interrupted: stderr.includes('interrupted by SIGINT') }).toEqual({ code: 130, interrupted: true });
    expect(pushProcesses()).toBe(2);
    expect(await world.remote.pushCount()).toBe(4);
    expect([...(await world.remote.heads()).keys()].filter((branch) => branch.startsWith('bot/'))).toEqual([]);
    expect(world.github.pulls).toEqual([]);
  });

  it('when the first PR cannot be opened, every branch pushed with it is put back (none is left without its PR)', async () => {
    const { world } = await twoPlans((branch) => branch === GROUP);
    const run = await world.run('run', '--json');
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/head invalid/);
    expect([...(await world.remote.heads()).keys()].filter((branch) => branch.startsWith('bot/'))).toEqual([]);
    expect(world.github.pulls).toEqual([]);
  });
});
