/**
 * Prints, per render target, the sorted `kind/namespace/name` of every object kustomize renders. A refactor of the
 * render wrapper must not change what is rendered: run this before and after and diff the outputs.
 *
 * usage: pnpm exec tsx packages/validate/scripts/list-rendered-objects.ts [ROOT]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { discoverRenderTargets } from '../src/discover.ts';
import { renderTarget } from '../src/render.ts';

const root = path.resolve(process.argv[2] ?? fileURLToPath(new URL('../../..', import.meta.url)));
for (const target of discoverRenderTargets(root)) {
  const render = await renderTarget(target, { root });
  const names = render.objects.map(({ object }) => `${object.kind ?? ''}/${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`).sort();
  process.stdout.write(`# ${target.id}${render.error !== undefined ? ` (render error: ${render.error})` : ''}\n`);
  for (const name of names) process.stdout.write(`${name}\n`);
}
