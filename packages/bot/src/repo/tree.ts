import { readdir, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { TreeReadError } from '../errors.ts';
import { readImageEntries, type ImageEntry } from './yaml-edit.ts';

/** Read access to one revision of the GitOps tree. Paths are repository-relative with forward slashes. */
export interface TreeReader {
  /** Human description for output, e.g. "working tree /work/main" or "origin/main of https://…". */
  readonly describe: string;
  read(path: string): Promise<string | null>;
  list(dir: string): Promise<string[]>;
}

/** Only ENOENT means "missing"; anything else (EACCES, EISDIR, ENOTDIR, EIO) fails the read. */
function readFailure(error: unknown, path: string): TreeReadError {
  const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
  return new TreeReadError(path, code === 'EISDIR' ? 'it is a directory, not a file' : code === 'ENOTDIR' ? 'a part of the path is not a directory' : code);
}

export function fsTree(root: string, describe = `working tree ${root}`): TreeReader {
  return {
    describe,
    async read(path) {
      try {
        return await readFile(join(root, path), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw readFailure(error, path);
      }
    },
    async list(dir) {
      try {
        return (await readdir(join(root, dir), { withFileTypes: true })).map((entry) => entry.name + (entry.isDirectory() ? '/' : '')).sort();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw readFailure(error, dir);
      }
    },
  };
}

export interface OverlayImages {
  env: string;
  /** The environment's image pins file, `overlays/<env>/images/kustomization.yaml` (see imagePinsPath). */
  file: string;
  text: string;
  entries: ImageEntry[];
}

export function overlayKustomization(overlay: string): string {
  return posix.join(overlay.replace(/\/+$/, ''), 'kustomization.yaml');
}

/**
 * Where an environment's image pins live: a kustomize Component of its own holding only `images:`, which the overlay
 * lists under components. Pins sit apart from resources and patches so a promotion PR is a diff of this one file.
 * Every reader and writer of an environment's pins locates them here.
 */
export function imagePinsPath(overlay: string): string {
  return posix.join(overlay.replace(/\/+$/, ''), 'images', 'kustomization.yaml');
}

/** The overlay's image pins file and its images: entries; null when this tree has no pins file for the overlay. */
export async function readOverlayImages(tree: TreeReader, env: string, overlay: string): Promise<OverlayImages | null> {
  const file = imagePinsPath(overlay);
  const text = await tree.read(file);
  if (text === null) return null;
  return { env, file, text, entries: readImageEntries(text, file) };
}
