import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '@dbos-gitops/testkit';
import { parseConfig } from '../../config/load.ts';
import { memoryTree, versionFixtureFiles } from '../../../testing/version-fixture.ts';
import { RegistryError } from '../../errors.ts';
import { planAll } from '../../runner.ts';
import { versionAddTask } from '../../tasks/version-add/index.ts';
import { OciRegistryClient } from './oci-client.ts';
import { credentialEnvNames, trustedRealmEnvName } from './reference.ts';
import { eligibleTags } from './tag-policy.ts';

/*
 * A real docker-registry (htpasswd auth, credentials generated here) behind a loopback proxy that injects hostile
 * headers and bodies, plus a second server on another origin standing in for the attacker. The attacker records every
 * request with its Authorization header; the registry password must never reach it.
 */
const noWait = async () => {};

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
}

interface Hostile {
  /** Rewrites the upstream response (status, headers, body) before it reaches the client. */
  rewrite?: (path: string, status: number, headers: Record<string, string>, body: Buffer) => { status: number; headers: Record<string, string>; body: Buffer };
  /** The upstream path asked for a client path (serves one real image under hostile tag names). */
  mapPath?: (path: string) => string;
  /** Answers instead of the upstream (challenges, redirects). */
  answer?: (request: IncomingMessage, response: ServerResponse) => boolean;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let registry: TestRegistry;
let attacker: { host: string; seen: Seen[]; issued: Set<string>; server: Server };
const servers: Server[] = [];
/** The real digest of each pushed tag. */
const pushed = new Map<string, string>();

/** Fetches from the real registry with its credentials: the attacker's stand-in for "serves real bytes". */
function upstream(path: string, method = 'GET', authorization?: string): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const target = new URL(registry.url);
  return new Promise((resolve, reject) => {
    const forward = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method,
        path,
        headers: {
          accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
          ...(authorization ? { authorization } : {}),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 502,
            headers: Object.fromEntries(Object.entries(response.headers).map(([key, value]) => [key, String(value)])),
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    forward.on('error', reject);
    forward.end();
  });
}

const basic = () => `Basic ${Buffer.from(`${registry.credentials!.username}:${registry.credentials!.password}`).toString('base64')}`;

async function startHostileProxy(hostile: Hostile): Promise<string> {
  const server = createServer((request, response) => {
    if (hostile.answer?.(request, response)) return;
    const path = request.url ?? '/';
    void upstream(hostile.mapPath ? hostile.mapPath(path) : path, request.method, request.headers.authorization).then(
      ({ status, headers, body }) => {
        const out = hostile.rewrite ? hostile.rewrite(new URL(path, 'http://x').pathname, status, headers, body) : { status, headers, body };
        delete out.headers['content-length'];
        response.writeHead(out.status, out.headers).end(request.method === 'HEAD' ? undefined : out.body);
      },
      () => response.writeHead(502).end(),
    );
  });
  servers.push(server);
  return listen(server);
}

beforeAll(async () => {
  registry = await startRegistry({ auth: true });
  for (const tag of ['1.0.0', '1.1.0']) pushed.set(tag, (await registry.pushImage('private/app', tag, { created: new Date(Date.UTC(2026, 0, 1)) })).digest);
  const seen: Seen[] = [];
  const issued = new Set<string>();
  const server = createServer((request, response) => {
    seen.push({ method: request.method ?? 'GET', path: request.url ?? '/', authorization: request.headers.authorization });
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      const token = `t${issued.size}`;
      issued.add(token);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
      return;
    }
    if (url.pathname.endsWith('/tags/list')) {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: 'private/app', tags: ['99.0.0'] }));
      return;
    }
    // A storage backend serving real blob bytes (as S3 does after a registry redirect), reading them itself.
    void upstream(url.pathname, 'GET', basic()).then(({ status, headers, body }) =>
      response.writeHead(status, { 'content-type': headers['content-type'] ?? 'application/octet-stream' }).end(body),
    );
  });
  servers.push(server);
  attacker = { host: await listen(server), seen, issued, server };
});
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await registry?.stop();
});

function clientFor(host: string, extraEnv: Record<string, string> = {}): OciRegistryClient {
  const names = credentialEnvNames(host);
  return new OciRegistryClient({
    env: { [names.username]: registry.credentials!.username, [names.password]: registry.credentials!.password, ...extraEnv },
    sleep: noWait,
    maxAttempts: 1,
  });
}

function expectNothingSentToAttacker(): void {
  for (const request of attacker.seen) {
    expect(request.authorization ?? '').not.toContain(Buffer.from(`${registry.credentials!.username}:${registry.credentials!.password}`).toString('base64'));
    expect(request.authorization ?? '').not.toMatch(/^Basic /);
  }
}

describe('pagination follows only the registry origin', () => {
  it('a Link to another host is refused: no request (so no credentials) goes there and none of its tags are merged', async () => {
    attacker.seen.length = 0;
    const proxy = await startHostileProxy({
      rewrite: (path, status, headers, body) =>
        path.endsWith('/tags/list')
          ? { status, headers: { ...headers, link: `<http://${attacker.host}/v2/private/app/tags/list?n=1000&last=1.1.0>; rel="next"` }, body }
          : { status, headers, body },
    });
    const error = await clientFor(proxy)
      .listTags(`${proxy}/private/app`)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).message).toMatch(/pagination Link to another origin/);
    expect(`${(error as RegistryError).message} ${(error as RegistryError).hint}`).not.toContain(registry.credentials!.password);
    expect(attacker.seen).toEqual([]);
  });

  it('a same-origin absolute Link is followed with the credentials', async () => {
    let pages = 0;
    const proxy: string = await startHostileProxy({
      rewrite: (path, status, headers, body) => {
        if (!path.endsWith('/tags/list') || pages++ > 0) return { status, headers, body };
        return {
          status,
          headers: { ...headers, link: `<http://${proxy}/v2/private/app/tags/list?n=1000&last=0>; rel="next"` },
          body: Buffer.from(JSON.stringify({ name: 'private/app', tags: [] })),
        };
      },
    });
    expect((await clientFor(proxy).listTags(`${proxy}/private/app`)).sort()).toEqual(['1.0.0', '1.1.0']);
    expect(pages).toBe(2);
  });
});

describe('redirects and token realms on another host never receive the registry credentials', () => {
  it('a redirect of a blob read to another origin is followed without Authorization', async () => {
    attacker.seen.length = 0;
    const proxy = await startHostileProxy({
      answer: (request, response) => {
        const path = new URL(request.url ?? '/', 'http://x').pathname;
        if (!path.includes('/blobs/') || !request.headers.authorization) return false;
        response.writeHead(307, { location: `http://${attacker.host}${path}` }).end();
        return true;
      },
    });
    const client = clientFor(proxy);
    const repository = `${proxy}/private/app`;
    const digest = await client.resolveDigest(repository, '1.1.0');
    expect((await client.createdAt(repository, digest))?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(attacker.seen.some((request) => request.path.includes('/blobs/'))).toBe(true);
    expectNothingSentToAttacker();
  });

  function bearerProxy(): Promise<string> {
    // Demands a token from a realm on the attacker's host; accepts the tokens that realm issued.
    return startHostileProxy({
      answer: (request, response) => {
        const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
        if (token && attacker.issued.has(token)) {
          request.headers.authorization = basic();
          return false;
        }
        response
          .writeHead(401, {
            'www-authenticate': `Bearer realm="http://${attacker.host}/token",service="registry",scope="repository:private/app:pull"`,
            'content-type': 'application/json',
          })
          .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return true;
      },
    });
  }

  it('a Bearer realm on another host is asked anonymously (the registry password stays home)', async () => {
    attacker.seen.length = 0;
    const proxy = await bearerProxy();
    expect((await clientFor(proxy).listTags(`${proxy}/private/app`)).sort()).toEqual(['1.0.0', '1.1.0']);
    const tokenRequests = attacker.seen.filter((request) => request.path.startsWith('/token'));
    expect(tokenRequests).toHaveLength(1);
    expect(tokenRequests[0]!.authorization).toBeUndefined();
    expectNothingSentToAttacker();
  });

  it('a realm configured as the registry token service gets the credentials, as docker login would send them', async () => {
    attacker.seen.length = 0;
    const proxy = await bearerProxy();
    const client = clientFor(proxy, { [trustedRealmEnvName(proxy)]: attacker.host });
    expect((await client.listTags(`${proxy}/private/app`)).sort()).toEqual(['1.0.0', '1.1.0']);
    expect(attacker.seen.find((request) => request.path.startsWith('/token'))?.authorization).toBe(basic());
  });
});

describe('hostile tags and digests', () => {
  const HOSTILE_TAGS: unknown[] = [
    '1.2.3\n',
    ' 1.2.3',
    '1.2.3+build.5',
    '../../manifests/x',
    '-1.0.0',
    `1.${'9'.repeat(130)}`,
    42,
    null,
    { tag: '9.9.9' },
    '2.0.0\u0000',
  ];

  it('keeps only tags the OCI grammar allows; none of the hostile ones reaches the version policy', async () => {
    const proxy = await startHostileProxy({
      rewrite: (path, status, headers, body) => {
        if (!path.endsWith('/tags/list') || status !== 200) return { status, headers, body };
        const list = JSON.parse(body.toString()) as { name: string; tags: unknown[] };
        return { status, headers, body: Buffer.from(JSON.stringify({ name: list.name, tags: [...list.tags, ...HOSTILE_TAGS] })) };
      },
    });
    const tags = await clientFor(proxy).listTags(`${proxy}/private/app`);
    expect(tags.sort()).toEqual(['1.0.0', '1.1.0']);
  });

  it('version-add against such a registry proposes only a valid tag: no " 1.9.0" directory, DBOS__APPVERSION or image reference', async () => {
    // The hostile tags are newer than 1.1.0 and the proxy serves the real 1.1.0 image under each of them.
    const hostileTags = [' 1.9.0', '1.9.0\n', '1.9.0+build.5'];
    const proxy = await startHostileProxy({
      mapPath: (path) => path.replace(/\/manifests\/(%20|\s)?1\.9\.0(%0A|\n|%2B|\+)?[^/]*$/i, '/manifests/1.1.0'),
      rewrite: (path, status, headers, body) => {
        if (!path.endsWith('/tags/list') || status !== 200) return { status, headers, body };
        const list = JSON.parse(body.toString()) as { name: string; tags: string[] };
        return { status, headers, body: Buffer.from(JSON.stringify({ name: list.name, tags: [...list.tags, ...hostileTags] })) };
      },
    });
    const repository = `${proxy}/private/app`;
    const files = await versionFixtureFiles({
      environments: ['dev'],
      versions: { dev: [{ version: '1.0.0', digest: `sha256:${'1'.repeat(64)}`, latest: true }] },
      repository,
      registryHosts: [proxy],
    });
    const result = await planAll({
      config: parseConfig(files['.github/gitops-bot.yaml']!),
      tasks: [versionAddTask],
      tree: memoryTree(files),
      registry: clientFor(proxy),
      kube: null,
      pullRequests: [],
      envFilter: 'dev',
      now: new Date(),
      log: () => undefined,
    });
    expect(result.plans.map((plan) => plan.branch)).toEqual(['bot/version-add/dev/dbos-app/1-1-0']);
    const written = result.plans[0]!.edits.map((edit) => JSON.stringify(edit)).join('\n');
    expect(written).toContain('1.1.0');
    expect(written).not.toMatch(/1\.9\.0/);
  });

  it('the version policy never picks a tag outside the grammar, whatever source listed it', () => {
    const listed = ['1.0.0', '1.2.3\n', ' 1.2.3', '1.2.3+build.5', 'v1.1.0'];
    expect(eligibleTags(listed, { range: '*', prereleases: false, ignoreTags: [] })).toEqual(['v1.1.0', '1.0.0']);
  });

  for (const [what, digest] of [
    ['upper-case hex', `sha256:${'A'.repeat(64)}`],
    ['another algorithm', `sha512:${'a'.repeat(128)}`],
    ['a trailing character', `sha256:${'a'.repeat(64)}x`],
    ['too short', `sha256:${'a'.repeat(63)}`],
  ] as const) {
    it(`a Docker-Content-Digest with ${what} is not trusted: the manifest is read and hashed instead`, async () => {
      const proxy = await startHostileProxy({
        rewrite: (path, status, headers, body) =>
          path.includes('/manifests/') ? { status, headers: { ...headers, 'docker-content-digest': digest }, body } : { status, headers, body },
      });
      const client = clientFor(proxy);
      const resolved = await client.resolveDigest(`${proxy}/private/app`, '1.0.0');
      expect(resolved).not.toBe(digest);
      expect(resolved).toBe(pushed.get('1.0.0'));
      expect(client.stats.manifestHeadCalls).toBe(2); // the challenged try, then the answer with the bad header
      expect(client.stats.manifestGetCalls).toBe(1);
    });
  }

  it('a manifest index naming a path instead of a digest is refused before it becomes a request path', async () => {
    attacker.seen.length = 0;
    const proxy = await startHostileProxy({
      rewrite: (path, status, headers, body) => {
        if (!path.includes('/manifests/sha256:')) return { status, headers, body };
        const index = JSON.parse(body.toString()) as { manifests?: Array<{ digest: string }> };
        for (const entry of index.manifests ?? []) entry.digest = '../../../tags/list';
        return { status, headers, body: Buffer.from(JSON.stringify(index)) };
      },
    });
    const client = clientFor(proxy);
    const repository = `${proxy}/private/app`;
    const digest = await client.resolveDigest(repository, '1.0.0');
    const error = await client.createdAt(repository, digest).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RegistryError);
    // The altered index no longer hashes to its digest, so it is refused before any entry of it is used.
    expect((error as RegistryError).message).toMatch(/does not match its digest/);
    expect(attacker.seen).toEqual([]);
  });
});
