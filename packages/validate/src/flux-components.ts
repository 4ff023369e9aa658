/**
 * Renders a Flux Kustomization that lists `spec.components` the way kustomize-controller builds it: the components
 * (paths relative to spec.path) are appended to the `components:` of the kustomization.yaml at spec.path, then that
 * directory is built. The append happens in a temporary copy of the tree (base/, overlays/, clusters/: everything
 * a render can reach), never in the work tree, and the copy is removed afterwards.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { ToolError } from './errors.ts';

/** The directories a kustomization in this repository may reference (README, "Structure"). */
export const RENDERED_TREES = ['base', 'overlays', 'clusters'] as const;

export interface FluxComponentBuild {
  /** Repo-relative spec.path (no leading ./). */
  path: string;
  /** spec.components as written, relative to spec.path. */
  components: string[];
}

export interface TreeCopy {
  root: string;
  remove(): Promise<void>;
}

/** A throw-away copy of the rendered trees; the caller removes it. */
export async function copyRenderedTrees(root: string): Promise<TreeCopy> {
  const copy = await mkdtemp(path.join(os.tmpdir(), 'validate-flux-'));
  try {
    for (const tree of RENDERED_TREES) {
      if (existsSync(path.join(root, tree))) await cp(path.join(root, tree), path.join(copy, tree), { recursive: true });
    }
  } catch (error) {
    await rm(copy, { recursive: true, force: true });
    throw new ToolError(`could not copy the repository into a temporary directory for the Flux component renders: ${(error as Error).message}`);
  }
  return { root: copy, remove: () => rm(copy, { recursive: true, force: true }) };
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/**
 * Appends the components to the copy's kustomization at `build.path` and returns a function restoring it, so the
 * same directory can be built for the next stage. Only an existing kustomization is edited: Flux generates one when
 * there is none, which this repository never relies on.
 */
export async function appendComponents(copyRoot: string, build: FluxComponentBuild): Promise<() => Promise<void>> {
  const dir = path.join(copyRoot, build.path);
  const file = KUSTOMIZATION_FILES.map((name) => path.join(dir, name)).find((candidate) => existsSync(candidate));
  if (!file) throw new ToolError(`${build.path} has no kustomization.yaml to append spec.components to`);
  const original = await readFile(file, 'utf8');
  const document = parseDocument(original);
  if (!isMap(document.contents)) throw new ToolError(`${build.path}/kustomization.yaml is not a YAML mapping`);
  const existing = document.get('components');
  if (existing !== undefined && !isSeq(existing)) throw new ToolError(`${build.path}/kustomization.yaml: components is not a list`);
  if (isSeq(existing)) for (const component of build.components) existing.add(component);
  else document.set('components', build.components);
  await writeFile(file, document.toString());
  return () => writeFile(file, original);
}
