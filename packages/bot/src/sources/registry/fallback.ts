import { RegistryError } from '../../errors.ts';
import { addStats, type RegistrySource, type RegistryStats } from './types.ts';

/** Only "no answer at all" counts: an error status, bad credentials or a bad name must surface, not be papered over. */
function unreachable(error: unknown): error is RegistryError {
  return error instanceof RegistryError && error.status === undefined && /cannot reach/.test(error.message);
}

/**
 * `plan` without an explicit source: the live registries, and the offline catalog only once a registry cannot be
 * reached at all (a fresh clone without network). From then on every read comes from the catalog and the source is
 * labelled as the catalog, with the reason, so no plan made from example data passes for a live read. `run` never
 * uses this: it must not write example data.
 */
export class UnreachableFallbackRegistry implements RegistrySource {
  private fallback: { source: RegistrySource; reason: string } | null = null;

  constructor(
    private readonly live: RegistrySource,
    private readonly catalog: () => RegistrySource,
  ) {}

  get describe(): string {
    return this.fallback
      ? `${this.fallback.source.describe} (fallback: the live registries could not be reached: ${this.fallback.reason})`
      : `${this.live.describe} (the offline catalog only if unreachable)`;
  }

  get stats(): RegistryStats {
    const live = this.live.stats;
    const offline = this.fallback?.source.stats;
    if (!offline) return live;
    return addStats(live, offline);
  }

  get fellBack(): boolean {
    return this.fallback !== null;
  }

  private async read<T>(call: (source: RegistrySource) => Promise<T>): Promise<T> {
    if (this.fallback) return call(this.fallback.source);
    try {
      return await call(this.live);
    } catch (error) {
      if (!unreachable(error)) throw error;
      // Reads may run concurrently: the first unreachable one picks the catalog for all of them.
      this.fallback ??= { source: this.catalog(), reason: error.message };
      return call(this.fallback.source);
    }
  }

  listTags(repository: string): Promise<string[]> {
    return this.read((source) => source.listTags(repository));
  }

  resolveDigest(repository: string, tag: string): Promise<string> {
    return this.read((source) => source.resolveDigest(repository, tag));
  }

  createdAt(repository: string, digest: string): Promise<Date | null> {
    return this.read((source) => source.createdAt(repository, digest));
  }
}
