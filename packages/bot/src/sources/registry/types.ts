/** What the tasks need from a registry. Both the live OCI client and the embedded offline catalog implement it. */
export interface RegistrySource {
  /** Shown in output so nobody mistakes offline data for a live read. */
  readonly describe: string;
  /** Every tag of a repository (unsorted). One upstream call sequence per repository per run. */
  listTags(repository: string): Promise<string[]>;
  /** Digest of what the tag points at: the index digest for multi-arch images. */
  resolveDigest(repository: string, tag: string): Promise<string>;
  /** The image config's `created` time (for an index: its first linux/amd64 manifest); null when absent. */
  createdAt(repository: string, digest: string): Promise<Date | null>;
  /** Upstream HTTP calls made so far (for benchmarks and the one-call-per-repository check). */
  readonly stats: RegistryStats;
}

export interface RegistryStats {
  tagListCalls: number;
  manifestCalls: number;
  blobCalls: number;
  tokenCalls: number;
  retries: number;
}

export function emptyStats(): RegistryStats {
  return { tagListCalls: 0, manifestCalls: 0, blobCalls: 0, tokenCalls: 0, retries: 0 };
}
