import { createHash } from 'node:crypto';
import type { DiskCache } from '../../cache/disk-cache.ts';
import { RateLimitError, RegistryError } from '../../errors.ts';
import { countingFetch } from '../http/counting-fetch.ts';
import { isOciTag, isSha256Digest } from './grammar.ts';
import { credentialEnvNames, credentialsFromEnv, parseRepository, trustedRealmEnvName, trustedRealmHosts, type RepositoryReference } from './reference.ts';
import { emptyStats, type RegistrySource, type RegistryStats } from './types.ts';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** All four, or registries answer 404 or convert the manifest and report a different digest. */
const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerList, MEDIA_TYPES.dockerManifest].join(', ');

export interface OciClientOptions {
  /** Hosts spoken to over plain HTTP. Loopback hosts always are. */
  plainHttpHosts?: string[];
  env?: NodeJS.ProcessEnv;
  /** Attempts per request for 429 and 5xx (the first try included). */
  maxAttempts?: number;
  /** Base delay for exponential backoff when no Retry-After is given. */
  backoffMs?: number;
  /** Longest wait we accept from a Retry-After header before giving up. */
  maxRetryAfterSeconds?: number;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
  /** Stop waiting for one HTTP response after this long. */
  timeoutMs?: number;
  /** `n` of the tags list request; registries cap it and paginate with Link headers. */
  pageSize?: number;
  /** The on-disk cache (`--cache-dir`); null or absent: nothing survives the run. */
  cache?: DiskCache | null;
  /** How long a cached tag list (and the digests read for its tags) is used without asking (config `registryCache.tagsTtl`). */
  tagsTtlSeconds?: number;
  /** Clock for cache freshness (tests move it). */
  now?: () => number;
}

/** Renovate's default for its docker tags cache (`datasource-docker-tags`, the package cache decorator's 30 minutes). */
export const DEFAULT_TAGS_TTL_SECONDS = 30 * 60;

/** The OCI annotation for when an image was built; read from the index or manifest before fetching the config blob. */
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';

/** What the cache keeps per repository: the tag list, its ETag (if the registry sends one) and tag → digest answers. */
interface TagsEntry {
  tags: string[];
  etag: string | null;
  digests: Record<string, string>;
}

function isTagsEntry(value: unknown): value is TagsEntry {
  if (!value || typeof value !== 'object') return false;
  const entry = value as Partial<TagsEntry>;
  return (
    Array.isArray(entry.tags) &&
    entry.tags.every(isOciTag) &&
    (entry.etag === null || isEtag(entry.etag)) &&
    !!entry.digests &&
    typeof entry.digests === 'object' &&
    Object.entries(entry.digests).every(([tag, digest]) => isOciTag(tag) && isSha256Digest(digest))
  );
}

/** An ETag is echoed back in a header: only a bounded, printable value qualifies. */
function isEtag(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 256 && /^(W\/)?"[\x21\x23-\x7e]*"$/.test(value);
}

function sha256Of(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A date from an annotation or config; null unless it parses. */
function parseCreated(value: unknown): Date | null {
  if (typeof value !== 'string' || value.length > 64) return null;
  const created = new Date(value);
  return Number.isNaN(created.getTime()) ? null : created;
}

/** Manifests and config blobs are small; a bigger answer is refused rather than buffered. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

function parseChallenge(header: string | null): Challenge | null {
  if (!header) return null;
  const match = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!match) return null;
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return null;
  const params: Record<string, string> = {};
  for (const param of match[2]!.matchAll(/(\w+)="([^"]*)"/g)) params[param[1]!.toLowerCase()] = param[2]!;
  return { scheme, params };
}

/** RFC 5988 `Link: </v2/x/tags/list?n=100&last=b>; rel="next"`. */
function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (match) return match[1]!;
  }
  return null;
}

function isLoopback(host: string): boolean {
  const hostname = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return hostname === 'localhost' || hostname === '::1' || /^127\./.test(hostname);
}

function retryAfterSeconds(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

/**
 * A small OCI distribution client. It memoizes within one run: the tag list per repository, the digest per tag and the
 * created time per digest, so many environments sharing a repository cost one tag listing. With a `DiskCache` it also
 * remembers across runs: manifests and config blobs by digest for good (verified by hash), tag lists and tag digests
 * for `tagsTtlSeconds`, then revalidated (conditionally where the registry sends an ETag). Tokens stay in memory.
 */
export class OciRegistryClient implements RegistrySource {
  readonly describe = 'live OCI registries';
  readonly stats: RegistryStats = emptyStats();
  private readonly tagCache = new Map<string, Promise<string[]>>();
  private readonly digestCache = new Map<string, Promise<string>>();
  private readonly createdCache = new Map<string, Promise<Date | null>>();
  private readonly tokens = new Map<string, string>();
  /** Per repository key: the tag state this run works from, and the digests of an older list to revalidate with. */
  private readonly tagState = new Map<string, { entry: TagsEntry; storedAt: number; stale: Record<string, string> }>();
  private readonly http: typeof fetch;
  /** Registry host → token realm host that was asked anonymously, for the hint when access is then refused. */
  private readonly untrustedRealms = new Map<string, string>();
  private readonly options: Required<Omit<OciClientOptions, 'plainHttpHosts' | 'env' | 'cache'>> & {
    plainHttpHosts: Set<string>;
    env: NodeJS.ProcessEnv;
    cache: DiskCache | null;
  };

  constructor(options: OciClientOptions = {}) {
    this.options = {
      plainHttpHosts: new Set(options.plainHttpHosts ?? []),
      // Credentials only from the environment the composition root hands over; none otherwise.
      env: options.env ?? {},
      maxAttempts: options.maxAttempts ?? 4,
      backoffMs: options.backoffMs ?? 500,
      maxRetryAfterSeconds: options.maxRetryAfterSeconds ?? 60,
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      fetch: options.fetch ?? fetch,
      timeoutMs: options.timeoutMs ?? 30_000,
      pageSize: options.pageSize ?? 1000,
      cache: options.cache ?? null,
      tagsTtlSeconds: options.tagsTtlSeconds ?? DEFAULT_TAGS_TTL_SECONDS,
      now: options.now ?? Date.now,
    };
    const stats = this.stats;
    // Counted where requests leave the process, by what they ask for.
    this.http = countingFetch(this.options.fetch, {
      request({ url, method, redirect }) {
        const path = url.pathname;
        if (/^\/v2\/.+\/tags\/list$/.test(path)) stats.tagListCalls++;
        else if (/^\/v2\/.+\/manifests\/[^/]+$/.test(path)) {
          stats.manifestCalls++;
          if (method === 'HEAD') stats.manifestHeadCalls++;
          else stats.manifestGetCalls++;
        } else if (/^\/v2\/.+\/blobs\/[^/]+$/.test(path)) stats.blobCalls++;
        // Token services are asked with redirects refused; anything else is a redirect hop (blob storage).
        else if (redirect === 'error') stats.tokenCalls++;
        else stats.otherCalls++;
      },
      response(_request, status) {
        if (status === 401) stats.challenges++;
        if (status === 304) stats.notModified++;
      },
    });
  }

  listTags(repository: string): Promise<string[]> {
    let cached = this.tagCache.get(repository);
    if (!cached) {
      cached = this.loadTags(repository);
      this.tagCache.set(repository, cached);
    }
    return cached;
  }

  /** The cache key of a repository: origin and path, never credentials. */
  private repositoryKey(repository: string): string {
    const ref = parseRepository(repository);
    return `${new URL(this.baseUrl(ref)).origin}/${ref.path}`;
  }

  /**
   * Tags from the disk cache while younger than the TTL; else from the registry, conditionally when the cached list
   * came with an ETag (a 304 keeps the list). Tag digests are kept only with a fresh list: a tag can move while the
   * list stays the same, so after the TTL every digest is asked again (conditionally, with the old digest as ETag).
   */
  private async loadTags(repository: string): Promise<string[]> {
    const cache = this.options.cache;
    const key = this.repositoryKey(repository);
    const cached = cache ? await cache.getEntry('registry-tags', key, isTagsEntry) : null;
    const now = this.options.now();
    if (cached && now - cached.storedAt >= 0 && now - cached.storedAt < this.options.tagsTtlSeconds * 1000) {
      this.stats.cacheHits++;
      this.tagState.set(key, { entry: cached.value, storedAt: cached.storedAt, stale: {} });
      return cached.value.tags;
    }
    const fetched = await this.fetchTags(repository, cached?.value.etag ?? null);
    const tags = fetched.notModified && cached ? cached.value.tags : fetched.tags;
    const entry: TagsEntry = { tags, etag: fetched.etag, digests: {} };
    this.tagState.set(key, { entry, storedAt: now, stale: cached?.value.digests ?? {} });
    await cache?.putEntry('registry-tags', key, entry, now);
    return tags;
  }

  resolveDigest(repository: string, tag: string): Promise<string> {
    const key = `${repository}:${tag}`;
    let cached = this.digestCache.get(key);
    if (!cached) {
      cached = this.cachedDigest(repository, tag);
      this.digestCache.set(key, cached);
    }
    return cached;
  }

  private async cachedDigest(repository: string, tag: string): Promise<string> {
    const key = this.repositoryKey(repository);
    const state = this.tagState.get(key);
    const known = state?.entry.digests[tag];
    if (known) {
      this.stats.cacheHits++;
      return known;
    }
    const digest = await this.fetchDigest(repository, tag, state?.stale[tag] ?? null);
    if (state && this.options.cache && isOciTag(tag)) {
      state.entry.digests[tag] = digest;
      await this.options.cache.putEntry('registry-tags', key, state.entry, state.storedAt);
    }
    return digest;
  }

  createdAt(repository: string, digest: string): Promise<Date | null> {
    const key = `${repository}@${digest}`;
    let cached = this.createdCache.get(key);
    if (!cached) {
      cached = this.fetchCreated(repository, digest);
      this.createdCache.set(key, cached);
    }
    return cached;
  }

  private baseUrl(ref: RepositoryReference): string {
    const scheme = isLoopback(ref.host) || this.options.plainHttpHosts.has(ref.host) ? 'http' : 'https';
    return `${scheme}://${ref.host}`;
  }

  private async fetchTags(repository: string, etag: string | null): Promise<{ tags: string[]; etag: string | null; notModified: boolean }> {
    const ref = parseRepository(repository);
    const tags: string[] = [];
    const origin = new URL(this.baseUrl(ref)).origin;
    let url: string | null = `${origin}/v2/${ref.path}/tags/list?n=${this.options.pageSize}`;
    let listEtag: string | null = null;
    // Bounded: a registry that keeps handing out next links must not keep us busy forever.
    for (let page = 0; url && page < 200; page++) {
      // Only a one-page list is revalidated: an ETag of the first page says nothing about the others.
      const conditional: Record<string, string> = page === 0 && etag ? { 'if-none-match': etag } : {};
      const response = await this.request(repository, ref, url, 'GET', conditional);
      if (response.status === 304) {
        if (!etag)
          throw new RegistryError(
            `${repository}: ${ref.host} answered 304 to an unconditional request`,
            304,
            repository,
            'the registry (or a proxy in front of it) is misconfigured; report it to its operator',
          );
        await response.body?.cancel();
        return { tags: [], etag, notModified: true };
      }
      const next = nextLink(response.headers.get('link'));
      const responseEtag = response.headers.get('etag');
      if (page === 0 && !next && isEtag(responseEtag)) listEtag = responseEtag;
      const body = (await response.json()) as { tags?: unknown };
      if (body.tags !== undefined && body.tags !== null && !Array.isArray(body.tags)) {
        throw new RegistryError(
          `${repository}: ${ref.host} answered a tag list whose "tags" is not a list`,
          response.status,
          repository,
          'the registry does not follow the OCI distribution spec; report it to its operator',
        );
      }
      // Only tags the OCI grammar allows: "1.2.3\n", " 1.2.3" or "1.2.3+build.5" cannot be pulled and would reach a
      // branch name, an image reference and DBOS__APPVERSION verbatim.
      tags.push(...((body.tags as unknown[] | null | undefined) ?? []).filter(isOciTag));
      if (!next) break;
      let nextUrl: URL;
      try {
        nextUrl = new URL(next, url);
      } catch {
        throw new RegistryError(
          `${repository}: ${ref.host} sent a pagination Link that is not a URL`,
          response.status,
          repository,
          'the registry does not follow the OCI distribution spec; report it to its operator',
        );
      }
      // The next page must come from the registry itself: another origin would receive the registry credentials and
      // could add tags of its choosing. Refused, not skipped, so a partial list is never taken for the whole.
      if (nextUrl.origin !== origin) {
        throw new RegistryError(
          `${repository}: ${ref.host} sent a pagination Link to another origin (${nextUrl.protocol}//${nextUrl.host}); refused, no credentials were sent there`,
          response.status,
          repository,
          'the registry (or a proxy in front of it) is misconfigured or hostile; report it to its operator',
        );
      }
      url = nextUrl.toString();
    }
    return { tags, etag: listEtag, notModified: false };
  }

  /**
   * A tag's digest by HEAD: `Docker-Content-Digest`, accepted only as `sha256:<64 hex>`. Absent or malformed, the
   * header is not trusted: the manifest is read with GET and hashed. With a digest from an older tag list, the HEAD is
   * conditional (`If-None-Match`, the registry's ETag for a manifest is its quoted digest); 304 means unchanged.
   */
  private async fetchDigest(repository: string, reference: string, previous: string | null): Promise<string> {
    const ref = parseRepository(repository);
    const url = `${this.baseUrl(ref)}/v2/${ref.path}/manifests/${reference}`;
    const conditional: Record<string, string> = previous ? { 'if-none-match': `"${previous}"` } : {};
    const response = await this.request(repository, ref, url, 'HEAD', { accept: MANIFEST_ACCEPT, ...conditional });
    await response.body?.cancel();
    if (response.status === 304 && previous) return previous;
    const digest = response.headers.get('docker-content-digest');
    if (response.status !== 304 && isSha256Digest(digest)) return digest;
    const got = await this.getDocument(repository, ref, url, null, 'manifest');
    return got.digest;
  }

  /**
   * A manifest or blob, from the disk cache or the registry. With a digest, what arrives must hash to it (the registry
   * is untrusted, and that is what makes caching it forever safe); by tag, its hash is its digest.
   */
  private async getDocument(
    repository: string,
    ref: RepositoryReference,
    url: string,
    digest: string | null,
    kind: 'manifest' | 'blob',
  ): Promise<{ digest: string; bytes: Buffer; contentType: string }> {
    const cache = this.options.cache;
    if (digest && cache) {
      const bytes = await cache.getContent(digest);
      if (bytes) {
        this.stats.cacheHits++;
        return { digest, bytes, contentType: '' };
      }
    }
    const response = await this.request(repository, ref, url, 'GET', kind === 'manifest' ? { accept: MANIFEST_ACCEPT } : {});
    const length = Number(response.headers.get('content-length') ?? 0);
    if (length > MAX_DOCUMENT_BYTES) {
      await response.body?.cancel();
      throw new RegistryError(
        `${repository}: ${ref.host} sent a ${kind} of ${length} bytes; more than ${MAX_DOCUMENT_BYTES} is not read`,
        response.status,
        repository,
        'the registry does not follow the OCI distribution spec; report it to its operator',
      );
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    const actual = sha256Of(bytes);
    if (digest && actual !== digest) {
      throw new RegistryError(
        `${repository}: ${ref.host} sent a ${kind} that does not match its digest ${digest} (it hashes to ${actual})`,
        response.status,
        repository,
        'the registry (or a proxy in front of it) altered content; report it to its operator, and do not pin from it until fixed',
      );
    }
    await cache?.putContent(actual, bytes);
    return { digest: actual, bytes, contentType: response.headers.get('content-type') ?? '' };
  }

  private async readJson(
    repository: string,
    ref: RepositoryReference,
    digest: string,
    kind: 'manifest' | 'blob',
  ): Promise<{ body: Record<string, unknown>; contentType: string }> {
    const path = kind === 'manifest' ? 'manifests' : 'blobs';
    const got = await this.getDocument(repository, ref, `${this.baseUrl(ref)}/v2/${ref.path}/${path}/${digest}`, digest, kind);
    try {
      const body = JSON.parse(got.bytes.toString('utf8')) as unknown;
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('not an object');
      return { body: body as Record<string, unknown>, contentType: got.contentType };
    } catch {
      throw new RegistryError(
        `${repository}: the ${kind} ${digest} on ${ref.host} is not a JSON object`,
        undefined,
        repository,
        'the registry does not follow the OCI distribution spec; report it to its operator',
      );
    }
  }

  private async getManifest(repository: string, ref: RepositoryReference, digest: string): Promise<{ mediaType: string; body: Record<string, unknown> }> {
    const { body, contentType } = await this.readJson(repository, ref, digest, 'manifest');
    const mediaType = typeof body.mediaType === 'string' ? body.mediaType : contentType;
    return { mediaType, body };
  }

  /**
   * The release time with as few reads as the image allows: the `org.opencontainers.image.created` annotation of the
   * index (one manifest read), else of the linux/amd64 manifest, else the config blob's `created`.
   */
  private async fetchCreated(repository: string, digest: string): Promise<Date | null> {
    const ref = parseRepository(repository);
    this.requireDigest(repository, digest, 'digest to read');
    let manifest = await this.getManifest(repository, ref, digest);
    const annotated = (body: Record<string, unknown>) => parseCreated((body.annotations as Record<string, unknown> | undefined)?.[CREATED_ANNOTATION]);
    const fromIndex = annotated(manifest.body);
    if (fromIndex) return fromIndex;
    // An OCI index may leave out mediaType (and a cached one has no Content-Type to go by): `manifests` says index too.
    const isIndex =
      manifest.mediaType.startsWith(MEDIA_TYPES.ociIndex) ||
      manifest.mediaType.startsWith(MEDIA_TYPES.dockerList) ||
      (!manifest.mediaType && Array.isArray(manifest.body.manifests));
    if (isIndex) {
      const entries = (manifest.body.manifests as Array<{ digest: string; platform?: { os?: string; architecture?: string } }> | undefined) ?? [];
      const amd64 = Array.isArray(entries) ? entries.find((entry) => entry?.platform?.os === 'linux' && entry.platform.architecture === 'amd64') : undefined;
      if (!amd64) return null;
      this.requireDigest(repository, amd64.digest, 'linux/amd64 manifest digest in its index');
      manifest = await this.getManifest(repository, ref, amd64.digest);
      const fromManifest = annotated(manifest.body);
      if (fromManifest) return fromManifest;
    }
    const config = manifest.body.config as { digest?: string } | undefined;
    if (!config?.digest) return null;
    this.requireDigest(repository, config.digest, 'config digest in its manifest');
    const blob = await this.readJson(repository, ref, config.digest, 'blob');
    return parseCreated(blob.body.created);
  }

  /** A digest from a registry response goes into a request path and a pin; only `sha256:<64 hex>` qualifies. */
  private requireDigest(repository: string, digest: unknown, what: string): asserts digest is string {
    if (!isSha256Digest(digest)) {
      throw new RegistryError(
        `${repository}: the registry's ${what} is not sha256:<64 lowercase hex>`,
        undefined,
        repository,
        'the registry does not follow the OCI distribution spec; report it to its operator, or pin the digest by hand',
      );
    }
  }

  /** One request with auth challenges, bounded retries for 429/5xx/network errors, and typed errors for the rest. */
  private async request(repository: string, ref: RepositoryReference, url: string, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<Response> {
    const tokenKey = `${ref.host}/${ref.path}`;
    let authTried = false;
    for (let attempt = 1; ; attempt++) {
      const auth = this.tokens.get(tokenKey);
      let response: Response;
      try {
        response = await this.fetchFollowing(url, method, headers, auth ?? null);
      } catch (error) {
        if (attempt < this.options.maxAttempts) {
          this.stats.retries++;
          await this.options.sleep(this.options.backoffMs * 2 ** (attempt - 1));
          continue;
        }
        throw new RegistryError(
          `${repository}: cannot reach ${ref.host}: ${(error as Error).message}`,
          undefined,
          repository,
          `check the network and that ${ref.host} is the right registry; offline, run with --source catalog`,
        );
      }
      if (response.ok || response.status === 304) return response;
      await response.body?.cancel();

      if (response.status === 401 && !authTried) {
        authTried = true;
        const challenge = parseChallenge(response.headers.get('www-authenticate'));
        if (challenge) {
          this.tokens.set(tokenKey, await this.authorize(repository, ref, challenge));
          attempt--;
          continue;
        }
      }
      if ((response.status === 429 || response.status >= 500) && attempt < this.options.maxAttempts) {
        const after = retryAfterSeconds(response.headers.get('retry-after'));
        if (after !== undefined && after > this.options.maxRetryAfterSeconds) {
          throw new RateLimitError(`${ref.host} asked to wait ${Math.ceil(after)}s (Retry-After) while reading ${repository}`, after);
        }
        this.stats.retries++;
        await this.options.sleep(after !== undefined ? after * 1000 : this.options.backoffMs * 2 ** (attempt - 1));
        continue;
      }
      throw this.statusError(repository, ref, response);
    }
  }

  /**
   * Follows redirects by hand: the Authorization header goes only to the origin it was issued for. Registries redirect
   * blob reads to storage (S3, a CDN) on another host; that host gets the request without credentials.
   */
  private async fetchFollowing(url: string, method: 'GET' | 'HEAD', headers: Record<string, string>, auth: string | null): Promise<Response> {
    const origin = new URL(url).origin;
    let current = new URL(url);
    for (let hop = 0; ; hop++) {
      const withAuth: Record<string, string> = auth && current.origin === origin ? { authorization: auth } : {};
      const response = await this.http(current, {
        method,
        headers: { ...headers, ...withAuth },
        signal: AbortSignal.timeout(this.options.timeoutMs),
        redirect: 'manual',
      });
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || response.status === 304 || !location) return response;
      await response.body?.cancel();
      if (hop >= 5) throw new TypeError('too many redirects');
      const next = new URL(location, current);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new TypeError('redirect to a non-HTTP URL');
      if (current.protocol === 'https:' && next.protocol === 'http:') throw new TypeError('redirect from https to http');
      current = next;
    }
  }

  private async authorize(repository: string, ref: RepositoryReference, challenge: Challenge): Promise<string> {
    const credentials = credentialsFromEnv(ref.host, this.options.env);
    const basic = credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : null;
    if (challenge.scheme === 'basic') {
      if (!basic) throw this.credentialsMissing(repository, ref);
      return basic;
    }
    const realm = challenge.params.realm;
    if (!realm)
      throw new RegistryError(
        `${ref.host} sent a Bearer challenge without a realm`,
        401,
        repository,
        'the registry is misconfigured; report it to its operator',
      );
    let tokenUrl: URL;
    try {
      tokenUrl = new URL(realm);
    } catch {
      throw new RegistryError(
        `${ref.host} sent a Bearer challenge whose realm is not a URL`,
        401,
        repository,
        'the registry is misconfigured; report it to its operator',
      );
    }
    if (tokenUrl.protocol !== 'https:' && tokenUrl.protocol !== 'http:') {
      throw new RegistryError(
        `${ref.host} sent a Bearer challenge whose realm is not an http(s) URL`,
        401,
        repository,
        'the registry is misconfigured; report it to its operator',
      );
    }
    // The realm comes from the registry's answer. The registry's credentials go to it only when it is the registry's
    // own origin, or an https (or loopback) host configured (or built in) as that registry's token service; any other realm is
    // asked anonymously, which is enough for public images and sends nothing worth stealing.
    const registryOrigin = new URL(this.baseUrl(ref)).origin;
    const trusted =
      tokenUrl.origin === registryOrigin ||
      ((tokenUrl.protocol === 'https:' || isLoopback(tokenUrl.host)) && trustedRealmHosts(ref.host, this.options.env).includes(tokenUrl.host));
    if (!trusted && basic) this.untrustedRealms.set(ref.host, tokenUrl.host);
    const tokenAuth = trusted ? basic : null;
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
    tokenUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${ref.path}:pull`);
    const response = await this.http(tokenUrl, {
      headers: tokenAuth ? { authorization: tokenAuth } : {},
      signal: AbortSignal.timeout(this.options.timeoutMs),
      redirect: 'error',
    });
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status === 401 || response.status === 403) throw this.credentialsMissing(repository, ref, response.status);
      throw new RegistryError(
        `${ref.host} token endpoint answered ${response.status}`,
        response.status,
        repository,
        'try again later; if it persists, check the registry status page',
      );
    }
    const body = (await response.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token)
      throw new RegistryError(
        `${ref.host} token endpoint returned no token`,
        response.status,
        repository,
        'the registry is misconfigured; report it to its operator',
      );
    return `Bearer ${token}`;
  }

  private credentialsMissing(repository: string, ref: RepositoryReference, status = 401): RegistryError {
    const names = credentialEnvNames(ref.host === 'registry-1.docker.io' ? 'docker.io' : ref.host);
    const have = credentialsFromEnv(ref.host, this.options.env) !== null;
    const realm = this.untrustedRealms.get(ref.host);
    if (realm) {
      return new RegistryError(
        `${repository}: ${ref.host} refused anonymous access (${status}); its token service ${realm} is on another host, so the credentials were not sent there`,
        status,
        repository,
        `if ${realm} really is the token service of ${ref.host}, set ${trustedRealmEnvName(ref.host)}=${realm}`,
      );
    }
    return new RegistryError(
      `${repository}: ${ref.host} refused ${have ? 'the configured credentials' : 'anonymous access'} (${status})`,
      status,
      repository,
      have
        ? `check that ${names.username}/${names.password} are valid and can pull ${ref.path}`
        : `set ${names.username} and ${names.password} to credentials that can pull ${ref.path}`,
    );
  }

  private statusError(repository: string, ref: RepositoryReference, response: Response): Error {
    const status = response.status;
    if (status === 401 || status === 403) return this.credentialsMissing(repository, ref, status);
    if (status === 404) {
      return new RegistryError(
        `${repository}: not found on ${ref.host} (404)`,
        status,
        repository,
        `check the repository name in .github/gitops-bot.yaml (images[].repository) and that the tag or digest exists`,
      );
    }
    if (status === 429)
      return new RateLimitError(`${ref.host} kept answering 429 Too Many Requests for ${repository}`, retryAfterSeconds(response.headers.get('retry-after')));
    return new RegistryError(
      `${repository}: ${ref.host} answered ${status} after ${this.options.maxAttempts} attempts`,
      status,
      repository,
      'the registry is failing; try again later',
    );
  }
}
