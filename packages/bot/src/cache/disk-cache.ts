import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

/**
 * The bot's on-disk cache (`--cache-dir`). Two kinds of entries:
 *
 * - content by digest (`content/sha256/<hex>`): manifests and config blobs. Immutable by definition, so kept without
 *   expiry; the sha256 is checked when storing and again when reading back, and an entry that does not hash to its
 *   name is deleted and reported as a miss (refetched), never trusted.
 * - keyed entries (`entries/<namespace>/<sha256 of key>.json`): tag lists, tag digests, ETags. Mutable; the reader
 *   decides freshness from `storedAt`. Last writer wins.
 *
 * Every write goes to a temporary file in the same directory and is renamed over the entry, which is atomic on POSIX
 * file systems: two concurrent runs sharing the directory never see a half-written file, and need no lock (the same
 * digest always has the same bytes; for keyed entries either writer's version is a valid answer). Nothing secret is
 * stored: no tokens, no credentials, no Authorization headers (callers pass only public registry and API data).
 *
 * A directory that cannot be written degrades to no cache with one warning; the run never fails because of the cache.
 */
export interface CacheStats {
  /** Reads answered from the cache. */
  hits: number;
  /** Reads the cache could not answer (absent, stale for the reader, or discarded). */
  misses: number;
  /** Entries that failed their check (hash or shape) and were deleted. */
  discarded: number;
}

export interface KeyedEntry<T> {
  storedAt: number;
  value: T;
}

const SHA256 = /^sha256:([a-f0-9]{64})$/;

/** A temporary file older than this was left by a run that died between write and rename. */
const STALE_TEMP_MS = 60 * 60_000;

function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The default: `$XDG_CACHE_HOME/dbos-gitops-bot`, else `~/.cache/dbos-gitops-bot` (the XDG base directory rule). */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string | null {
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and must be ignored.
  if (xdg && isAbsolute(xdg)) return join(xdg, 'dbos-gitops-bot');
  const home = env.HOME;
  return home && isAbsolute(home) ? join(home, '.cache', 'dbos-gitops-bot') : null;
}

export class DiskCache {
  readonly stats: CacheStats = { hits: 0, misses: 0, discarded: 0 };
  private disabled = false;
  /** Per keyed entry, the last write: writes of one key in one run land in the order they were made. */
  private readonly writes = new Map<string, Promise<void>>();

  private constructor(
    readonly dir: string,
    private readonly warn: (line: string) => void,
  ) {}

  /** Opens (creating) the directory and proves it writable; null, with one warning, when it is not. */
  static async open(dir: string, warn: (line: string) => void): Promise<DiskCache | null> {
    const cache = new DiskCache(dir, warn);
    try {
      await mkdir(join(dir, 'content', 'sha256'), { recursive: true });
      await mkdir(join(dir, 'entries'), { recursive: true });
      const probe = join(dir, `.probe-${process.pid}-${randomBytes(6).toString('hex')}`);
      await writeFile(probe, '');
      await rm(probe, { force: true });
      await cache.sweep();
      return cache;
    } catch (error) {
      warn(`cache: ${dir} cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); running without a cache`);
      return null;
    }
  }

  /** Content by digest, verified; null when absent or corrupt (a corrupt entry is deleted). */
  async getContent(digest: string): Promise<Buffer | null> {
    const hex = SHA256.exec(digest)?.[1];
    if (!hex || this.disabled) return this.miss();
    const file = join(this.dir, 'content', 'sha256', hex);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      return this.miss();
    }
    if (sha256Hex(bytes) !== hex) {
      this.stats.discarded++;
      await rm(file, { force: true }).catch(() => {});
      return this.miss();
    }
    this.stats.hits++;
    return bytes;
  }

  /** Stores content under its digest only if it hashes to it: nothing unverified enters the cache. */
  async putContent(digest: string, bytes: Buffer): Promise<void> {
    const hex = SHA256.exec(digest)?.[1];
    if (!hex || this.disabled || sha256Hex(bytes) !== hex) return;
    await this.atomicWrite(join(this.dir, 'content', 'sha256'), hex, bytes);
  }

  async getEntry<T>(namespace: string, key: string, check: (value: unknown) => value is T): Promise<KeyedEntry<T> | null> {
    if (this.disabled) return this.miss();
    const file = join(this.dir, 'entries', namespace, `${sha256Hex(key)}.json`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return this.miss();
    }
    try {
      const parsed = JSON.parse(text) as { key?: unknown; storedAt?: unknown; value?: unknown };
      // The key is stored too: a hash collision or a file copied under another name is not this entry.
      if (parsed.key === key && typeof parsed.storedAt === 'number' && Number.isFinite(parsed.storedAt) && check(parsed.value)) {
        this.stats.hits++;
        return { storedAt: parsed.storedAt, value: parsed.value };
      }
    } catch {
      // fall through: unreadable JSON is discarded like a bad shape
    }
    this.stats.discarded++;
    await rm(file, { force: true }).catch(() => {});
    return this.miss();
  }

  putEntry(namespace: string, key: string, value: unknown, storedAt: number): Promise<void> {
    if (this.disabled) return Promise.resolve();
    const name = `${sha256Hex(key)}.json`;
    const id = `${namespace}/${name}`;
    const previous = this.writes.get(id) ?? Promise.resolve();
    const next = previous.then(async () => {
      await mkdir(join(this.dir, 'entries', namespace), { recursive: true }).catch(() => {});
      await this.atomicWrite(join(this.dir, 'entries', namespace), name, Buffer.from(JSON.stringify({ key, storedAt, value })));
    });
    this.writes.set(id, next);
    return next;
  }

  /** Waits for the writes made so far (a command awaits this before it exits). */
  async flush(): Promise<void> {
    await Promise.all(this.writes.values());
  }

  /**
   * Removes temporary files a killed run left behind. Only old ones: a younger one may be a concurrent run's write in
   * progress, which its rename will finish.
   */
  private async sweep(): Promise<void> {
    const cutoff = Date.now() - STALE_TEMP_MS;
    const dirs = [
      join(this.dir, 'content', 'sha256'),
      ...(await readdir(join(this.dir, 'entries')).catch(() => [])).map((name) => join(this.dir, 'entries', name)),
    ];
    for (const dir of dirs) {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (!name.startsWith('.') || !name.endsWith('.tmp')) continue;
        const file = join(dir, name);
        const info = await stat(file).catch(() => null);
        if (info && info.mtimeMs < cutoff) await rm(file, { force: true }).catch(() => {});
      }
    }
  }

  private miss(): null {
    this.stats.misses++;
    return null;
  }

  /** Temp file in the same directory (same file system), then rename: readers see the old or the new file, whole. */
  private async atomicWrite(dir: string, name: string, bytes: Buffer): Promise<void> {
    const temp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, bytes, { mode: 0o644 });
      await rename(temp, join(dir, name));
    } catch (error) {
      await rm(temp, { force: true }).catch(() => {});
      if (!this.disabled) {
        this.disabled = true;
        this.warn(
          `cache: writing to ${this.dir} failed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the rest of this run goes without the cache`,
        );
      }
    }
  }
}
