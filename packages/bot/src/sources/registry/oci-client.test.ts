import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, startRegistryProxy, type RegistryProxy, type TestRegistry } from '@dbos-gitops/testkit';
import { RateLimitError, RegistryError } from '../../errors.ts';
import { OciRegistryClient } from './oci-client.ts';
import { credentialEnvNames } from './reference.ts';
import { eligibleTags } from './tag-policy.ts';

const noWait = async () => {};
let registry: TestRegistry;
const pushed: Record<string, { digest: string; created: Date }> = {};

beforeAll(async () => {
  registry = await startRegistry();
  const tags = ['1.0.0', '1.2.0', '1.10.0', '1.9.1', 'v2.0.0-rc.1', 'latest', '0.9.0'];
  for (const [index, tag] of tags.entries()) {
    pushed[tag] = await registry.pushImage('dbos/conductor', tag, { created: new Date(Date.UTC(2026, 0, 1 + index)) });
  }
  await registry.pushImage('dbos/single', '1.0.0', { multiArch: false, created: new Date(Date.UTC(2025, 5, 1)) });
});
afterAll(async () => registry?.stop());

describe('OCI registry client against a real docker-registry', () => {
  it('lists every tag across Link-header pages (n/last) and caches the list within a run', async () => {
    // distribution 2.8 returns every tag at once; the proxy pages them as GHCR and Docker Hub do.
    const paging = await startRegistryProxy(registry, { paginateTags: true });
    try {
      const client = new OciRegistryClient({ pageSize: 2, sleep: noWait });
      const tags = await client.listTags(`${paging.host}/dbos/conductor`);
      expect([...tags].sort()).toEqual(Object.keys(pushed).sort());
      expect(client.stats.tagListCalls).toBe(4); // 7 tags, 2 per page
      expect(paging.requests.filter((request) => request.path.endsWith('/tags/list')).length).toBe(4);
      await client.listTags(`${paging.host}/dbos/conductor`);
      expect(client.stats.tagListCalls).toBe(4);
    } finally {
      await paging.stop();
    }
  });

  it('sorts by semver, not lexically, and applies the policy filters', async () => {
    const client = new OciRegistryClient({ sleep: noWait });
    const tags = await client.listTags(`${registry.host}/dbos/conductor`);
    expect(eligibleTags(tags, { range: '*', prereleases: false, ignoreTags: [] })).toEqual(['1.10.0', '1.9.1', '1.2.0', '1.0.0', '0.9.0']);
    expect(eligibleTags(tags, { range: '>=1.0.0', prereleases: true, ignoreTags: ['^1\\.9'] })).toEqual(['v2.0.0-rc.1', '1.10.0', '1.2.0', '1.0.0']);
    expect(eligibleTags(tags, { range: '~1.2', prereleases: false, allowTags: '^\\d', ignoreTags: [] })).toEqual(['1.2.0']);
  });

  it('resolves a tag to the index digest and reads created from the linux/amd64 config', async () => {
    const client = new OciRegistryClient({ sleep: noWait });
    const repository = `${registry.host}/dbos/conductor`;
    const digest = await client.resolveDigest(repository, '1.10.0');
    expect(digest).toBe(pushed['1.10.0']!.digest);
    expect((await client.createdAt(repository, digest))?.toISOString()).toBe(pushed['1.10.0']!.created.toISOString());
  });

  it('reads created from a single-platform manifest too', async () => {
    const client = new OciRegistryClient({ sleep: noWait });
    const repository = `${registry.host}/dbos/single`;
    const digest = await client.resolveDigest(repository, '1.0.0');
    expect((await client.createdAt(repository, digest))?.toISOString()).toBe('2025-06-01T00:00:00.000Z');
  });

  it('maps 404 to a RegistryError that names the config field to check', async () => {
    const client = new OciRegistryClient({ sleep: noWait });
    const error = await client.listTags(`${registry.host}/no/such-repo`).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).status).toBe(404);
    expect((error as RegistryError).hint).toMatch(/images\[\]\.repository/);
  });
});

describe('auth', () => {
  let secured: TestRegistry;
  beforeAll(async () => {
    secured = await startRegistry({ auth: true });
    await secured.pushImage('private/app', '1.0.0');
  });
  afterAll(async () => secured?.stop());

  it('uses basic credentials from the documented environment variables', async () => {
    const names = credentialEnvNames(secured.host);
    const env = { [names.username]: secured.credentials!.username, [names.password]: secured.credentials!.password };
    const client = new OciRegistryClient({ env, sleep: noWait });
    expect(await client.listTags(`${secured.host}/private/app`)).toEqual(['1.0.0']);
  });

  it('without credentials: 401 → RegistryError naming the variables, never a secret', async () => {
    const client = new OciRegistryClient({ env: {}, sleep: noWait });
    const error = (await client.listTags(`${secured.host}/private/app`).catch((caught: unknown) => caught)) as RegistryError;
    expect(error).toBeInstanceOf(RegistryError);
    expect(error.status).toBe(401);
    expect(error.hint).toContain(credentialEnvNames(secured.host).username);
  });

  it('with wrong credentials: 401 → RegistryError that does not echo the password', async () => {
    const names = credentialEnvNames(secured.host);
    const client = new OciRegistryClient({ env: { [names.username]: 'bot', [names.password]: 'wrong-password-value' }, sleep: noWait });
    const error = (await client.listTags(`${secured.host}/private/app`).catch((caught: unknown) => caught)) as RegistryError;
    expect(error.status).toBe(401);
    expect(`${error.message} ${error.hint}`).not.toContain('wrong-password-value');
  });

  it('follows an anonymous Bearer challenge (realm, service, scope) like Docker Hub and GHCR', async () => {
    const proxy = await startRegistryProxy(secured, { bearer: true });
    try {
      const client = new OciRegistryClient({ env: {}, sleep: noWait });
      const repository = `${proxy.host}/private/app`;
      expect(await client.listTags(repository)).toEqual(['1.0.0']);
      const digest = await client.resolveDigest(repository, '1.0.0');
      expect(digest).toMatch(/^sha256:/);
      expect(client.stats.tokenCalls).toBe(1); // one token per repository, reused
      const tokenRequest = proxy.requests.find((request) => request.path === '/token');
      expect(tokenRequest?.status).toBe(200);
    } finally {
      await proxy.stop();
    }
  });
});

describe('faults through a loopback proxy', () => {
  let proxy: RegistryProxy;
  beforeAll(async () => {
    proxy = await startRegistryProxy(registry);
  });
  afterAll(async () => proxy?.stop());
  const repository = () => `${proxy.host}/dbos/conductor`;

  it('retries 429 honouring Retry-After, then succeeds', async () => {
    const waits: number[] = [];
    proxy.inject({ path: /tags\/list/, status: 429, headers: { 'retry-after': '2' }, times: 2 });
    const client = new OciRegistryClient({ sleep: async (ms) => void waits.push(ms) });
    expect((await client.listTags(repository())).length).toBe(7);
    expect(waits).toEqual([2000, 2000]);
    expect(client.stats.retries).toBe(2);
  });

  it('retries 5xx with exponential backoff, bounded, then fails with a typed error', async () => {
    const waits: number[] = [];
    proxy.inject({ path: /tags\/list/, status: 503, times: 10 });
    const client = new OciRegistryClient({ maxAttempts: 3, backoffMs: 100, sleep: async (ms) => void waits.push(ms) });
    const error = (await client.listTags(repository()).catch((caught: unknown) => caught)) as RegistryError;
    expect(error).toBeInstanceOf(RegistryError);
    expect(error.status).toBe(503);
    expect(waits).toEqual([100, 200]);
    proxy.clearFaults();
  });

  it('gives up with RateLimitError when 429 persists', async () => {
    proxy.inject({ path: /manifests/, status: 429, headers: { 'retry-after': '1' }, times: 4 });
    const client = new OciRegistryClient({ maxAttempts: 3, sleep: noWait });
    const error = await client.resolveDigest(repository(), '1.0.0').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitError);
  });

  it('refuses to sleep for an unreasonable Retry-After', async () => {
    proxy.inject({ path: /manifests/, status: 429, headers: { 'retry-after': '3600' }, times: 1 });
    const client = new OciRegistryClient({ maxRetryAfterSeconds: 60, sleep: noWait });
    const error = (await client.resolveDigest(repository(), '1.2.0').catch((caught: unknown) => caught)) as RateLimitError;
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.retryAfterSeconds).toBe(3600);
  });

  it('maps a 403 to an access error', async () => {
    proxy.inject({ path: /tags\/list/, status: 403, times: 1 });
    const client = new OciRegistryClient({ sleep: noWait });
    const error = (await client.listTags(repository()).catch((caught: unknown) => caught)) as RegistryError;
    expect(error.status).toBe(403);
  });
});
