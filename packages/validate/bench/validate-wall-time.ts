/**
 * Validates the real repository N times (default 5, `--runs N`) and prints wall time per render and in total,
 * as min / median over the runs. Renders run two at a time as in `pnpm validate`, so a render's time includes
 * waiting for its neighbour on a busy machine; run it on an idle one for clean numbers.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { validateRepo } from '../src/validate.ts';

// pnpm 12 forwards the `--` of `pnpm bench:validate -- --runs 3`.
const args = process.argv.slice(2);
const { values } = parseArgs({
  args: args[0] === '--' ? args.slice(1) : args,
  options: { runs: { type: 'string', default: '5' }, root: { type: 'string' } },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
  process.stderr.write('bench: --runs must be an integer from 1 to 50\n');
  process.exit(2);
}
const root = path.resolve(values.root ?? fileURLToPath(new URL('../../..', import.meta.url)));

const perRender = new Map<string, number[]>();
const totals: number[] = [];
const phases = { render: [] as number[], schema: [] as number[], policies: [] as number[] };
let objects = 0;
let violations = 0;
for (let run = 0; run < runs; run++) {
  const started = performance.now();
  const result = await validateRepo({ root });
  totals.push(performance.now() - started);
  phases.render.push(result.timings.renderMs);
  phases.schema.push(result.timings.schemaMs);
  phases.policies.push(Object.values(result.timings.policyMs).reduce((a, b) => a + b, 0));
  for (const render of result.renders) {
    const list = perRender.get(render.id) ?? [];
    list.push(render.wallMs);
    perRender.set(render.id, list);
  }
  objects = result.objects;
  violations = result.violations.length;
}

function stats(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return `min ${sorted[0]!.toFixed(0).padStart(6)} ms  median ${median.toFixed(0).padStart(6)} ms`;
}

const width = Math.max(...[...perRender.keys()].map((id) => id.length), 'total (first run loads schemas)'.length);
process.stdout.write(`bench:validate: ${runs} runs of ${root}: ${perRender.size} renders, ${objects} objects, ${violations} violations\n`);
for (const [id, samples] of perRender) process.stdout.write(`${id.padEnd(width)}  ${stats(samples)}\n`);
process.stdout.write(`${'phase: render (2 at a time)'.padEnd(width)}  ${stats(phases.render)}\n`);
process.stdout.write(`${'phase: schema'.padEnd(width)}  ${stats(phases.schema)}\n`);
process.stdout.write(`${'phase: policies + secret scan'.padEnd(width)}  ${stats(phases.policies)}\n`);
process.stdout.write(`${'total (first run loads schemas)'.padEnd(width)}  ${stats(totals)}\n`);
