import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { RenderKind } from './types.ts';

export interface RenderTarget {
  /** Repo-relative directory, POSIX separators (or, for a Flux Kustomization with components, `<path> › Kustomization/<name>`). */
  id: string;
  /** The repo-relative directory built when `id` is not one. */
  path?: string;
  kustomization?: string;
  kind: RenderKind;
  env: string;
  dir: string;
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

function hasKustomization(dir: string): boolean {
  return KUSTOMIZATION_FILES.some((file) => existsSync(path.join(dir, file)));
}

function subdirectories(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((entry) => statSync(path.join(dir, entry)).isDirectory())
    .sort();
}

/**
 * Every entry point a cluster or a person renders: `overlays/<env>`, each application `overlays/<env>/apps/<app>`
 * (what its Argo CD Application syncs), `clusters/<env>/argocd`, `clusters/<env>/flux` and
 * `clusters/<env>/flux/stages/<stage>`, each only when it holds a kustomization. Flux Kustomizations that append
 * `spec.components` are found in the flux renders (validate.ts).
 */
export function discoverRenderTargets(root: string): RenderTarget[] {
  const targets: RenderTarget[] = [];
  const add = (relative: string, kind: RenderKind, env: string) => {
    const dir = path.join(root, relative);
    if (hasKustomization(dir)) targets.push({ id: relative.split(path.sep).join('/'), kind, env, dir });
  };
  for (const env of subdirectories(path.join(root, 'overlays'))) {
    add(path.join('overlays', env), 'overlay', env);
    // What Argo CD's Application dbos syncs (the shared control plane), and what each app-<app> syncs.
    add(path.join('overlays', env, 'platform'), 'platform', env);
    for (const app of subdirectories(path.join(root, 'overlays', env, 'apps'))) add(path.join('overlays', env, 'apps', app), 'app', env);
  }
  for (const env of subdirectories(path.join(root, 'clusters'))) {
    add(path.join('clusters', env, 'argocd'), 'argocd', env);
    add(path.join('clusters', env, 'flux'), 'flux', env);
    for (const stage of subdirectories(path.join(root, 'clusters', env, 'flux', 'stages'))) {
      add(path.join('clusters', env, 'flux', 'stages', stage), 'flux-stage', env);
    }
  }
  return targets;
}
