/**
 * Scale benchmark: N environments × M images × V versions against a real local registry, a real bare git remote and
 * the OpenAPI-checked GitHub fake. For each N it prints the wall time and the registry/GitHub/git request counts of
 * `run --dry-run`, of a first `run`, of a second, no-op `run` (which must write nothing), all without a cache, then
 * of a no-op `run` that fills an empty `--cache-dir` and one more with that cache warm.
 *
 * Registry requests are counted by the bot at its transport, by kind: token / tag list pages / manifest HEAD /
 * manifest GET / blobs; a logging proxy in front of the registry sees the same. GitHub: reads / writes (304s).
 *
 * Pins make every one of the first V environments one version behind the previous one, so each of them has a
 * promotion to propose, and the rest are level: writes stay bounded while reads grow with N.
 *
 * Run: pnpm bench:plan  (BENCH_ENVS=10,100 BENCH_IMAGES=3 BENCH_VERSIONS=5 to change the shape)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBareRemote } from '@dbos-gitops/testkit';
import { startGitHubFake } from '@dbos-gitops/testkit';
import { startRegistry } from '@dbos-gitops/testkit';
import { main } from '../src/cli.ts';
import type { RegistryStats } from '../src/sources/registry/types.ts';
import { fixtureFiles } from '../testing/fixture-repo.ts';
import { pushBenchImages } from './bench-shape.ts';

// The CLI imports a command's modules only when it runs (fast --help). Load them here, before any timer, so the
// figures measure the commands, as they did when every module loaded at start.
await Promise.all([
  import('../src/cli/commands/run.ts'),
  import('../src/cli/compose.ts'),
  import('../src/runner.ts'),
  import('../src/git/workspace.ts'),
  import('../src/config/load.ts'),
  import('../src/config/tree-check.ts'),
]);

const envCounts = (process.env.BENCH_ENVS ?? '10,100').split(',').map(Number);
const imageCount = Number(process.env.BENCH_IMAGES ?? 3);
const versionCount = Number(process.env.BENCH_VERSIONS ?? 5);

const registry = await startRegistry();
try {
  const { images, pinsFor } = await pushBenchImages(registry, imageCount, versionCount);

  console.log(`images=${imageCount} versions=${versionCount} (registry ${registry.host})`);
  console.log('envs | command                  | wall ms | plans | registry token/tags/HEAD/GET/blobs | github reads/writes (304) | git pushes');
  for (const envCount of envCounts) {
    const { environments, pins } = pinsFor(envCount);
    const remote = await createBareRemote(fixtureFiles({ environments, images, pins, maxOpen: 10_000, maxPerHour: 10_000 }));
    const github = await startGitHubFake({ owner: 'bench', repo: 'gitops', branchExists: async (branch) => (await remote.heads()).has(branch) });
    const cacheDir = mkdtempSync(join(tmpdir(), 'bench-plan-cache-'));
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // Rows without a cache are the figures before the cache existed; the cache rows name their directory.
      GITOPS_BOT_CACHE_DIR: 'off',
      GITHUB_TOKEN: 'bench-not-a-secret',
      GITHUB_API_URL: github.url,
      GITHUB_REPOSITORY: 'bench/gitops',
      GITOPS_BOT_SOURCE: 'live',
      GITOPS_BOT_GITHUB_WRITE_INTERVAL_MS: '0',
    };
    try {
      const commands = [
        ['run --dry-run', ['run', '--dry-run']],
        ['run', ['run']],
        ['run (no-op)', ['run']],
        ['run (no-op, cold cache)', ['run', '--cache-dir', cacheDir]],
        ['run (no-op, warm cache)', ['run', '--cache-dir', cacheDir]],
      ] as const;
      for (const [command, args] of commands) {
        let stdout = '';
        let stderr = '';
        const githubBefore = github.countsByKind();
        const pushesBefore = await remote.pushCount();
        const start = performance.now();
        const code = await main([...args, '--json', '--remote', remote.url], { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env });
        const wall = performance.now() - start;
        if (code !== 0) throw new Error(`${command} failed (${code}): ${stderr}`);
        const result = JSON.parse(stdout) as { applied: unknown[]; registryCalls: RegistryStats };
        const calls = result.registryCalls;
        const githubAfter = github.countsByKind();
        const registryColumn = `${calls.tokenCalls}/${calls.tagListCalls}/${calls.manifestHeadCalls}/${calls.manifestGetCalls}/${calls.blobCalls}`;
        const githubColumn = `${githubAfter.reads - githubBefore.reads}/${githubAfter.writes - githubBefore.writes} (${githubAfter.notModified - githubBefore.notModified})`;
        console.log(
          `${String(envCount).padStart(4)} | ${command.padEnd(24)} | ${wall.toFixed(0).padStart(7)} | ${String(result.applied.length).padStart(5)} | ${registryColumn.padStart(34)} | ${githubColumn.padStart(25)} | ${(await remote.pushCount()) - pushesBefore}`,
        );
      }
      if (github.violations.length > 0) throw new Error(`GitHub fake saw OpenAPI violations:\n${github.violations.join('\n')}`);
    } finally {
      await github.stop();
      await remote.cleanup();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }
} finally {
  await registry.stop();
}
