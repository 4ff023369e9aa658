import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBareRemote, type BareRemote } from '@dbos-gitops/testkit';
import { startRegistry, type TestRegistry } from '@dbos-gitops/testkit';
import { parseConfig } from '../../config/load.ts';
import { GitWorkspace } from '../../git/workspace.ts';
import { planAll, runPlans } from '../../runner.ts';
import { LocalForge } from '../../sources/forge/local.ts';
import { OciRegistryClient } from '../../sources/registry/oci-client.ts';
import { memoryTree, versionFixtureFiles } from '../../../testing/version-fixture.ts';
import { versionAddTask } from './index.ts';
import { readPins } from '../shared/pins.ts';
import type { PreviousProposal } from '../types.ts';

/*
 * version-add against a real OCI registry (docker-registry on loopback) and the real runner with a real bare git
 * remote: newest allowed and old-enough tag into dev, then the exact merged digest into staging, then prod.
 */
const DAY = 86_400_000;
const IDENTITY = { name: 'bot', email: 'bot@example.invalid' };
const LIST = (env: string) => `overlays/${env}/app-versions/kustomization.yaml`;
const SERVICE = (env: string) => `overlays/${env}/app-versions/service.yaml`;

let registry: TestRegistry;
let counter = 0;
const remotes: BareRemote[] = [];

beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  for (const remote of remotes) await remote.cleanup();
  await registry?.stop();
});

interface Setup {
  repository: string;
  digests: Record<string, string>;
  files: Record<string, string>;
}

async function setup(options: { maxLive?: number } = {}): Promise<Setup> {
  const path = `t${++counter}/dbos-app`;
  const repository = `${registry.host}/${path}`;
  const digests: Record<string, string> = {};
  const ages: Record<string, number> = { '1.0.0': 60 * DAY, '1.1.0': 10 * DAY, '1.2.0': DAY / 24, latest: 10 * DAY, '1.1.1-rc.1': 9 * DAY };
  for (const [tag, age] of Object.entries(ages))
    digests[tag] = (await registry.pushImage(path, tag, { created: new Date(Date.now() - age), salt: tag })).digest;
  const v1 = [{ version: '1.0.0', digest: digests['1.0.0']!, latest: true }];
  const files = await versionFixtureFiles({
    environments: ['dev', 'staging', 'prod'],
    versions: { dev: v1, staging: v1, prod: v1 },
    repository,
    minReleaseAge: '3d',
    maxLive: options.maxLive ?? 3,
    registryHosts: [registry.host],
  });
  return { repository, digests, files };
}

async function runOnce(remote: BareRemote) {
  const config = parseConfig((await remote.readFile('main', '.github/gitops-bot.yaml'))!);
  const workspace = await GitWorkspace.clone(remote.url, 'main', IDENTITY);
  try {
    const forge = new LocalForge(
      async () => [...(await workspace.botBranches()).keys()],
      () => undefined,
    );
    return await runPlans({
      config,
      tasks: [versionAddTask],
      workspace,
      forge,
      registry: new OciRegistryClient({ plainHttpHosts: [registry.host] }),
      kube: null,
      envFilter: null,
      dryRun: false,
      now: new Date(),
      log: () => undefined,
      print: () => undefined,
      identity: IDENTITY,
    });
  } finally {
    await workspace.dispose();
  }
}

describe('version-add', () => {
  it('adds the newest old-enough version to dev only, then promotes the merged DIGEST env by env', async () => {
    const { digests, files } = await setup();
    const remote = await createBareRemote(files);
    remotes.push(remote);

    const first = await runOnce(remote);
    expect(first.applied.map((item) => [item.plan.branch, item.outcome])).toEqual([['bot/version-add/dev/1-1-0', 'created']]);
    // staging and prod already run what the previous environment has merged: nothing to say.
    expect(first.skips.filter((skip) => skip.env !== 'dev')).toEqual([]);
    const branch = 'bot/version-add/dev/1-1-0';
    const added = await remote.readFile(branch, 'overlays/dev/app-versions/1-1-0/kustomization.yaml');
    // 1.2.0 is younger than minReleaseAge (3d), rc and `latest` are not allowed: 1.1.0 is the target.
    expect(added).toContain(`newTag: "1.1.0"\n    digest: ${digests['1.1.0']}\n`);
    expect(added).toContain('components:\n  - ../../../../base/components/app-latest\n');
    expect(await remote.readFile(branch, 'overlays/dev/app-versions/1-1-0/version.patch.yaml')).toContain('value: "1.1.0"');
    // Surgical: one list line appended, one selector scalar changed, the old latest loses only its component block.
    expect(await remote.readFile(branch, LIST('dev'))).toBe(`${files[LIST('dev')]}  - 1-1-0\n`);
    expect(await remote.readFile(branch, SERVICE('dev'))).toBe(files[SERVICE('dev')]!.replace('dbos.dev/app-version: 1-0-0', 'dbos.dev/app-version: 1-1-0'));
    expect(await remote.readFile(branch, 'overlays/dev/app-versions/1-0-0/kustomization.yaml')).toBe(
      files['overlays/dev/app-versions/1-0-0/kustomization.yaml']!.replace(
        '# Only the latest version: warm minimum and the queue-length trigger.\ncomponents:\n  - ../../../../base/components/app-latest\n',
        '',
      ),
    );
    expect(await remote.readFile(branch, 'overlays/dev/app-versions/1-0-0/version.patch.yaml')).toBe(
      files['overlays/dev/app-versions/1-0-0/version.patch.yaml'],
    );
    expect(await remote.readFile(branch, LIST('staging'))).toBe(files[LIST('staging')]);

    // Nothing merged yet: a re-run pushes nothing.
    const pushes = await remote.pushCount();
    const again = await runOnce(remote);
    expect(again.applied.map((item) => item.outcome)).toEqual(['unchanged']);
    expect(await remote.pushCount()).toBe(pushes);

    // A human merges the dev PR: staging gets exactly dev's digest (not a fresh resolve of the tag), prod still waits.
    await remote.mergeInto('main', branch);
    await registry.pushImage(`t${counter}/dbos-app`, '1.1.0', { created: new Date(Date.now() - 20 * DAY), salt: 'retagged' });
    const second = await runOnce(remote);
    const staging = second.applied.find((item) => item.plan.env === 'staging')!;
    expect(staging.plan.branch).toBe('bot/version-add/staging/1-1-0');
    expect(readPins(staging.plan.memory)[0]).toMatchObject({ tag: '1.1.0', digest: digests['1.1.0'] });
    expect(staging.plan.body).toContain('- Source: promotion from dev');
    expect(await remote.readFile(staging.plan.branch, 'overlays/staging/app-versions/1-1-0/kustomization.yaml')).toContain(`digest: ${digests['1.1.0']}\n`);
    expect(second.applied.some((item) => item.plan.env === 'prod')).toBe(false);

    await remote.mergeInto('main', staging.plan.branch);
    const third = await runOnce(remote);
    expect(third.applied.filter((item) => item.outcome === 'created').map((item) => item.plan.branch)).toEqual(['bot/version-add/prod/1-1-0']);
  });

  it('stops at maxLive and does not re-propose a version whose PR was closed unmerged', async () => {
    const limited = await setup({ maxLive: 1 });
    const config = parseConfig(limited.files['.github/gitops-bot.yaml']!);
    const client = new OciRegistryClient({ plainHttpHosts: [registry.host] });
    const plan = (files: Record<string, string>, previous: PreviousProposal[] = [], cfg = config) =>
      planAll({
        config: cfg,
        tasks: [versionAddTask],
        tree: memoryTree(files),
        registry: client,
        kube: null,
        pullRequests: previous.map((p) => ({
          number: p.number,
          branch: p.branch,
          title: '',
          body: `<!-- gitops-bot: ${JSON.stringify(p.proposal)} -->`,
          state: p.state,
          merged: p.merged,
          labels: [],
          createdAt: new Date().toISOString(),
          url: '',
        })),
        envFilter: 'dev',
        now: new Date(),
        log: () => undefined,
      });
    const atLimit = await plan(limited.files);
    expect(atLimit.plans).toEqual([]);
    expect(atLimit.skips[0]!.reason).toContain('1 versions are live in dev (appVersions.maxLive: 1)');

    const roomy = parseConfig(limited.files['.github/gitops-bot.yaml']!.replace('maxLive: 1', 'maxLive: 3'));
    const closed: PreviousProposal = {
      branch: 'bot/version-add/dev/1-1-0',
      number: 4,
      state: 'closed',
      merged: false,
      held: false,
      proposal: {
        task: 'version-add',
        env: 'dev',
        subject: '1-1-0',
        memory: { pins: [{ image: 'dbos-app', tag: '1.1.0', digest: limited.digests['1.1.0']! }] },
      },
    };
    const rejected = await plan(limited.files, [closed], roomy);
    expect(rejected.plans).toEqual([]);
    expect(rejected.skips[0]!.reason).toContain('closed without merging; waiting for a newer version');
  });
});
