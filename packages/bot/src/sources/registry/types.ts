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

/**
 * Upstream HTTP requests by kind, counted at the transport (each try, challenge and redirect hop is a request). The
 * offline catalog counts its reads in the same fields. `manifestCalls` is HEAD + GET, kept for readers of the older
 * shape.
 */
export interface RegistryStats {
  /** Token service requests (Bearer challenges). */
  tokenCalls: number;
  /** Tag list pages, conditional ones included. */
  tagListCalls: number;
  manifestHeadCalls: number;
  manifestGetCalls: number;
  manifestCalls: number;
  blobCalls: number;
  /** Requests to anything else: redirect hops to blob storage. */
  otherCalls: number;
  /** 401 answers that asked for credentials (each one is also counted under its kind). */
  challenges: number;
  /** 304 answers to conditional requests (also counted under their kind). */
  notModified: number;
  /** Requests repeated after a 429, a 5xx or a network error (also counted under their kind). */
  retries: number;
  /** Reads answered from the on-disk cache without a request. */
  cacheHits: number;
}

export function emptyStats(): RegistryStats {
  return {
    tokenCalls: 0,
    tagListCalls: 0,
    manifestHeadCalls: 0,
    manifestGetCalls: 0,
    manifestCalls: 0,
    blobCalls: 0,
    otherCalls: 0,
    challenges: 0,
    notModified: 0,
    retries: 0,
    cacheHits: 0,
  };
}

/** Sum of two sets of figures (the fallback source reports live and offline reads together). */
export function addStats(a: RegistryStats, b: RegistryStats): RegistryStats {
  const out = emptyStats();
  for (const key of Object.keys(out) as Array<keyof RegistryStats>) out[key] = a[key] + b[key];
  return out;
}
