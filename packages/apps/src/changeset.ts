import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, unlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { throwIfInterrupted } from './errors.ts';

/**
 * All or nothing for a change that spans many files (an application's directory, list lines, cluster files, config):
 * every new content is first written into a staging directory inside the repository (same file system, so each
 * move is a rename), then moved into place in one synchronous pass that no signal can interrupt (Node runs signal
 * handlers between turns of the event loop). A failure in that pass puts back every file it had already replaced or
 * created. The staging directory holds only what goes into the repository anyway (sealed values, never a plain one)
 * and is removed on every path.
 */
export interface Changeset {
  /** Repository-relative path to its new content. */
  writes: Map<string, string>;
  /** Repository-relative files to delete; directories left empty by a deletion go too. */
  deletes: Set<string>;
}

export function emptyChangeset(): Changeset {
  return { writes: new Map(), deletes: new Set() };
}

interface Undo {
  path: string;
  /** The content to restore, or null when the file did not exist. */
  before: string | null;
}

export async function applyChangeset(root: string, changes: Changeset, signal?: AbortSignal): Promise<void> {
  const staging = join(root, `.apps-staging-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(staging);
    for (const [path, content] of changes.writes) {
      throwIfInterrupted(signal);
      const target = join(staging, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content, { mode: 0o644 });
    }
    // Give a pending signal its turn: after this line nothing awaits until every file is in place.
    await new Promise((resolve) => setImmediate(resolve));
    throwIfInterrupted(signal);
    commit(root, staging, changes);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function commit(root: string, staging: string, changes: Changeset): void {
  const undo: Undo[] = [];
  const createdDirs: string[] = [];
  try {
    for (const path of changes.writes.keys()) {
      const target = join(root, path);
      const before = existsSync(target) ? readFileSync(target, 'utf8') : null;
      createdDirs.push(...makeParents(root, posix.dirname(path)));
      renameSync(join(staging, path), target);
      undo.push({ path, before });
    }
    for (const path of changes.deletes) {
      const target = join(root, path);
      const before = readFileSync(target, 'utf8');
      unlinkSync(target);
      undo.push({ path, before });
    }
    for (const dir of emptiedDirectories(changes.deletes)) removeIfEmpty(join(root, dir));
  } catch (error) {
    // Only steps that happened are undone, each on its own, so one failure cannot stop the others.
    for (const step of undo.reverse()) {
      const target = join(root, step.path);
      try {
        if (step.before === null) rmSync(target, { force: true });
        else {
          mkdirSync(dirname(target), { recursive: true });
          writeFileSync(target, step.before);
        }
      } catch {
        // The original failure is what the caller sees; the remaining steps still run.
      }
    }
    for (const dir of createdDirs.reverse()) {
      try {
        removeIfEmpty(join(root, dir));
      } catch {
        // As above.
      }
    }
    throw error;
  }
}

/** Creates the missing directories of `dir` (repository-relative); returns them, outermost first. */
function makeParents(root: string, dir: string): string[] {
  const missing: string[] = [];
  for (let current = dir; current !== '.' && current !== '' && !existsSync(join(root, current)); current = posix.dirname(current)) missing.unshift(current);
  for (const path of missing) mkdirSync(join(root, path));
  return missing;
}

/** Every ancestor directory of the deleted files, deepest first. */
function emptiedDirectories(deletes: ReadonlySet<string>): string[] {
  const dirs = new Set<string>();
  for (const path of deletes) for (let dir = posix.dirname(path); dir !== '.' && dir !== ''; dir = posix.dirname(dir)) dirs.add(dir);
  return [...dirs].sort((a, b) => b.split('/').length - a.split('/').length);
}

function removeIfEmpty(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
}
