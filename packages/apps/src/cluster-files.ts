import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { addListEntry, removeListEntry } from '@dbos-gitops/bot';
import { topLevelList } from './yaml-lists.ts';

/**
 * An application's own files under `clusters/<env>/` (its Argo CD Application, its Flux Kustomization chain, in
 * whatever shape the cluster definitions have): every file whose path has the segments `apps/<app>/`, or that is
 * `<app>.yaml` in an `apps/` directory. A new application gets a copy of another application's files with the name
 * replaced, so the scaffold follows the cluster definitions instead of holding a second copy of their shape.
 */

export interface ClusterAppFile {
  /** Repository-relative. */
  path: string;
  /** The `apps/` directory it belongs to, whose kustomization.yaml lists it. */
  appsDir: string;
  /** What that list names it by: `<app>.yaml` or the directory `<app>`. */
  listEntry: string;
}

function walk(root: string, dir: string): string[] {
  const out: string[] = [];
  const absolute = join(root, dir);
  if (!existsSync(absolute)) return out;
  for (const entry of readdirSync(absolute, { withFileTypes: true })) {
    const path = posix.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(root, path));
    else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

export function clusterAppFiles(root: string, env: string, app: string): ClusterAppFile[] {
  const found: ClusterAppFile[] = [];
  for (const path of walk(root, posix.join('clusters', env))) {
    const segments = path.split('/');
    const fileName = segments.at(-1)!;
    const dirIndex = segments.findIndex((segment, index) => segment === 'apps' && segments[index + 1] === app && index + 1 < segments.length - 1);
    if (dirIndex >= 0) {
      found.push({ path, appsDir: segments.slice(0, dirIndex + 1).join('/'), listEntry: app });
    } else if (fileName === `${app}.yaml` && segments.at(-2) === 'apps') {
      found.push({ path, appsDir: segments.slice(0, -1).join('/'), listEntry: fileName });
    }
  }
  return found;
}

/** `name` as a whole word: not inside a longer name (`orders` in `orders-db` still counts, as kustomize names go). */
function nameOccurrences(name: string): RegExp {
  return new RegExp(`(?<![A-Za-z0-9])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9])`, 'g');
}

export function renameApp(text: string, from: string, to: string): string {
  return text.replace(nameOccurrences(from), to);
}

export interface ClusterPlan {
  /** The application whose files were copied. */
  template: string;
  writes: Map<string, string>;
}

/**
 * The new application's cluster files, copied from the first other application of the environment that has some;
 * null when none has (the cluster definitions have no per-application files yet).
 */
export function planClusterFiles(root: string, env: string, app: string, otherApps: readonly string[]): ClusterPlan | null {
  for (const other of [...otherApps].sort()) {
    const files = clusterAppFiles(root, env, other);
    if (files.length === 0) continue;
    const writes = new Map<string, string>();
    const lists = new Map<string, string>();
    for (const file of files) {
      const relative = file.path.slice(file.appsDir.length + 1).split('/');
      // The first segment is the application's directory (`<other>/`) or file (`<other>.yaml`).
      relative[0] = file.listEntry === other ? app : `${app}.yaml`;
      writes.set(posix.join(file.appsDir, ...relative), renameApp(readFileSync(join(root, file.path), 'utf8'), other, app));
      const listFile = posix.join(file.appsDir, 'kustomization.yaml');
      if (lists.has(listFile) || !existsSync(join(root, listFile))) continue;
      const current = readFileSync(join(root, listFile), 'utf8');
      const entry = file.listEntry === other ? app : `${app}.yaml`;
      const listed = (topLevelList(current, listFile, 'resources')?.items ?? []).some((item) => item.value === file.listEntry);
      if (listed) lists.set(listFile, addListEntry(current, listFile, entry));
    }
    for (const [path, content] of lists) writes.set(path, content);
    return { template: other, writes };
  }
  return null;
}

/** The application's cluster files to delete and its lines taken out of the `apps/kustomization.yaml` lists. */
export function planClusterRemoval(root: string, env: string, app: string): { deletes: string[]; writes: Map<string, string> } {
  const files = clusterAppFiles(root, env, app);
  const writes = new Map<string, string>();
  for (const file of files) {
    const listFile = posix.join(file.appsDir, 'kustomization.yaml');
    if (!existsSync(join(root, listFile))) continue;
    const current = writes.get(listFile) ?? readFileSync(join(root, listFile), 'utf8');
    const listed = (topLevelList(current, listFile, 'resources')?.items ?? []).some((item) => item.value === file.listEntry);
    if (listed) writes.set(listFile, removeListEntry(current, listFile, file.listEntry));
  }
  return { deletes: files.map((file) => file.path), writes };
}
