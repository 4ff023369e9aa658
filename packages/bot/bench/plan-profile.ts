/**
 * Profiles one command (default `run --dry-run`) at N environments × M images × V versions, on the same shape as
 * plan-scale.ts, and prints the functions with the most self time plus the wall time. It writes the V8 profile next
 * to the figures (`--out`) so it can be opened in Chrome DevTools. Not a test: it prints figures, it asserts nothing.
 *
 * Run: BENCH_ENVS=100 BENCH_IMAGES=20 BENCH_VERSIONS=5 BENCH_COMMAND=run pnpm exec tsx packages/bot/bench/plan-profile.ts
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { createBareRemote, startGitHubFake, startRegistry } from '@dbos-gitops/testkit';
import { main } from '../src/cli.ts';
import { fixtureFiles } from '../testing/fixture-repo.ts';
import { pushBenchImages } from './bench-shape.ts';

await Promise.all([
  import('../src/cli/commands/run.ts'),
  import('../src/cli/compose.ts'),
  import('../src/runner.ts'),
  import('../src/git/workspace.ts'),
  import('../src/config/load.ts'),
  import('../src/config/tree-check.ts'),
]);

const envCount = Number(process.env.BENCH_ENVS ?? 100);
const imageCount = Number(process.env.BENCH_IMAGES ?? 20);
const versionCount = Number(process.env.BENCH_VERSIONS ?? 5);
const command = process.env.BENCH_COMMAND ?? 'run --dry-run';
const out = process.env.BENCH_PROFILE_OUT ?? null;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self and total ms per function (url:line), from the sampled stacks. */
function summarise(profile: Profile): Array<{ name: string; self: number; total: number }> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const key = (node: ProfileNode) =>
    `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*\/(node_modules|packages)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  profile.samples.forEach((id, index) => {
    const ms = (profile.timeDeltas[index] ?? 0) / 1000;
    let node = byId.get(id);
    self.set(key(node!), (self.get(key(node!)) ?? 0) + ms);
    const seen = new Set<string>();
    while (node) {
      const name = key(node);
      if (!seen.has(name)) total.set(name, (total.get(name) ?? 0) + ms);
      seen.add(name);
      node = byId.get(parent.get(node.id) ?? -1);
    }
  });
  return [...total.keys()].map((name) => ({ name, self: self.get(name) ?? 0, total: total.get(name)! }));
}

const registry = await startRegistry();
try {
  const { images, pinsFor } = await pushBenchImages(registry, imageCount, versionCount);
  const { environments, pins } = pinsFor(envCount);
  const remote = await createBareRemote(fixtureFiles({ environments, images, pins, maxOpen: 10_000, maxPerHour: 10_000 }));
  const github = await startGitHubFake({ owner: 'bench', repo: 'gitops', branchExists: async (branch) => (await remote.heads()).has(branch) });
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_TOKEN: 'bench-not-a-secret',
    GITHUB_API_URL: github.url,
    GITHUB_REPOSITORY: 'bench/gitops',
    GITOPS_BOT_SOURCE: 'live',
    GITOPS_BOT_GITHUB_WRITE_INTERVAL_MS: '0',
  };
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
    let stderr = '';
    const start = performance.now();
    const code = await main([...command.split(' '), '--json', '--remote', remote.url], { stdout: () => {}, stderr: (text) => (stderr += text), env });
    const wall = performance.now() - start;
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
    if (code !== 0) throw new Error(`${command} failed (${code}): ${stderr}`);
    if (out) await writeFile(out, JSON.stringify(profile));
    const rows = summarise(profile);
    console.log(`${envCount} envs × ${imageCount} images × ${versionCount} versions, ${command}: ${wall.toFixed(0)} ms wall`);
    console.log('top self ms (function url:line):');
    for (const row of rows.sort((a, b) => b.self - a.self).slice(0, 25))
      console.log(`${row.self.toFixed(0).padStart(7)} ${row.total.toFixed(0).padStart(7)}  ${row.name}`);
    console.log('top total ms (bot code):');
    for (const row of rows
      .filter((row) => row.name.includes('packages/bot'))
      .sort((a, b) => b.total - a.total)
      .slice(0, 30))
      console.log(`${row.self.toFixed(0).padStart(7)} ${row.total.toFixed(0).padStart(7)}  ${row.name}`);
  } finally {
    session.disconnect();
    await github.stop();
    await remote.cleanup();
  }
} finally {
  await registry.stop();
}
