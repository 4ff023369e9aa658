/**
 * A real OCI registry for tests: Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1:<free port> with
 * filesystem storage in a temp dir and optional bcrypt htpasswd auth (credentials generated per test). Images are
 * pushed through the registry's own HTTP API: config blob (with a chosen `created` time), one layer, a manifest per
 * platform and an OCI index. `startRegistryProxy` puts a loopback proxy in front that can demand anonymous bearer
 * tokens (like Docker Hub and GHCR) and inject 401/404/429/5xx faults N times.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

// Re-exported for the tests that import it from here.
export { freePort };

const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** `127.0.0.1:<port>`, usable as the host part of a repository. */
  host: string;
  url: string;
  credentials: { username: string; password: string } | null;
  pushImage(repository: string, tag: string, options?: PushOptions): Promise<PushedImage>;
  stop(): Promise<void>;
}

export interface PushOptions {
  created?: Date;
  /** Push an OCI index with linux/arm64 and linux/amd64 manifests (default), or a single manifest. */
  multiArch?: boolean;
  /** Bytes that make otherwise identical images distinct. */
  salt?: string;
  /** Put `org.opencontainers.image.created` on the index (multi-arch images only), as `docker buildx` can. */
  annotateCreated?: boolean;
}

export interface PushedImage {
  /** What `HEAD /v2/<repo>/manifests/<tag>` reports: the index digest for multi-arch images. */
  digest: string;
  amd64ManifestDigest: string;
  created: Date;
}

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export async function startRegistry(options: { auth?: boolean } = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'testkit-registry-'));
  const port = await freePort();
  let credentials: TestRegistry['credentials'] = null;
  let authBlock = '';
  if (options.auth) {
    credentials = { username: 'bot', password: randomBytes(18).toString('base64url') };
    const htpasswd = spawnSync('htpasswd', ['-nbB', credentials.username, credentials.password], { encoding: 'utf8' });
    if (htpasswd.status !== 0) throw new Error(`htpasswd failed: ${htpasswd.stderr}`);
    await writeFile(join(dir, 'htpasswd'), htpasswd.stdout);
    authBlock = `auth:\n  htpasswd:\n    realm: testkit\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  await writeFile(
    join(dir, 'config.yaml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: ${randomBytes(16).toString('hex')}\n${authBlock}`,
  );
  const child: ChildProcess = spawn(REGISTRY_BINARY, ['serve', join(dir, 'config.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const authHeader: Record<string, string> = credentials
    ? { authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` }
    : {};
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const ok = await fetch(`${url}/v2/`).then(
      (response) => response.status === 200 || response.status === 401,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }

  async function putBlob(repository: string, data: Buffer): Promise<string> {
    const digest = sha256(data);
    const start = await fetch(`${url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: authHeader });
    if (start.status !== 202) throw new Error(`blob upload start ${start.status}`);
    const location = new URL(start.headers.get('location')!, url);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', headers: { ...authHeader, 'content-type': 'application/octet-stream' }, body: data });
    if (put.status !== 201) throw new Error(`blob upload ${put.status}: ${await put.text()}`);
    return digest;
  }

  async function putManifest(repository: string, reference: string, mediaType: string, body: object): Promise<string> {
    const data = Buffer.from(JSON.stringify(body));
    const response = await fetch(`${url}/v2/${repository}/manifests/${reference}`, {
      method: 'PUT',
      headers: { ...authHeader, 'content-type': mediaType },
      body: data,
    });
    if (response.status !== 201) throw new Error(`manifest put ${response.status}: ${await response.text()}`);
    return sha256(data);
  }

  async function platformManifest(repository: string, architecture: string, created: Date, salt: string) {
    const config = Buffer.from(
      JSON.stringify({ architecture, os: 'linux', created: created.toISOString(), config: {}, rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const layer = Buffer.from(`layer ${repository} ${architecture} ${salt}`);
    const configDigest = await putBlob(repository, config);
    const layerDigest = await putBlob(repository, layer);
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = await putManifest(repository, sha256(bytes), manifest.mediaType, manifest);
    return { digest, size: bytes.length };
  }

  return {
    host: `127.0.0.1:${port}`,
    url,
    credentials,
    async pushImage(repository, tag, push = {}) {
      const created = push.created ?? new Date();
      const salt = push.salt ?? `${tag} ${created.toISOString()}`;
      const amd64 = await platformManifest(repository, 'amd64', created, salt);
      if (push.multiArch === false) {
        const manifestDigest = await putManifest(
          repository,
          tag,
          'application/vnd.oci.image.manifest.v1+json',
          JSON.parse(
            await (
              await fetch(`${url}/v2/${repository}/manifests/${amd64.digest}`, {
                headers: { ...authHeader, accept: 'application/vnd.oci.image.manifest.v1+json' },
              })
            ).text(),
          ),
        );
        return { digest: manifestDigest, amd64ManifestDigest: amd64.digest, created };
      }
      const arm64 = await platformManifest(repository, 'arm64', created, salt);
      const index = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        ...(push.annotateCreated ? { annotations: { 'org.opencontainers.image.created': created.toISOString() } } : {}),
        // arm64 first: the client must pick the amd64 entry, not the first one.
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm64.digest, size: arm64.size, platform: { os: 'linux', architecture: 'arm64' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd64.digest, size: amd64.size, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      };
      const digest = await putManifest(repository, tag, index.mediaType, index);
      return { digest, amd64ManifestDigest: amd64.digest, created };
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ProxyFault {
  /** Applies to requests whose path matches. */
  path: RegExp;
  status: number;
  headers?: Record<string, string>;
  times: number;
}

export interface RegistryProxy {
  host: string;
  url: string;
  /** Requests that reached the proxy, by path (token requests included). */
  requests: Array<{ method: string; path: string; status: number }>;
  /** The access log counted by kind, the way the bot counts its own requests. */
  countsByKind(): RegistryRequestCounts;
  inject(fault: ProxyFault): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

export interface RegistryRequestCounts {
  token: number;
  tags: number;
  manifestHead: number;
  manifestGet: number;
  blob: number;
  other: number;
  /** 401 answers (each also counted under its kind). */
  challenges: number;
  /** 304 answers (each also counted under its kind). */
  notModified: number;
}

/** Counts an access log by kind: tag list pages, manifest HEAD/GET, blobs, token requests, anything else. */
export function countRegistryRequests(requests: ReadonlyArray<{ method: string; path: string; status: number }>): RegistryRequestCounts {
  const counts: RegistryRequestCounts = { token: 0, tags: 0, manifestHead: 0, manifestGet: 0, blob: 0, other: 0, challenges: 0, notModified: 0 };
  for (const { method, path, status } of requests) {
    if (/^\/v2\/.+\/tags\/list$/.test(path)) counts.tags++;
    else if (/^\/v2\/.+\/manifests\/[^/]+$/.test(path)) {
      if (method === 'HEAD') counts.manifestHead++;
      else counts.manifestGet++;
    } else if (/^\/v2\/.+\/blobs\/[^/]+$/.test(path)) counts.blob++;
    else if (path === '/token') counts.token++;
    else counts.other++;
    if (status === 401) counts.challenges++;
    if (status === 304) counts.notModified++;
  }
  return counts;
}

/**
 * Loopback proxy in front of a real registry. With `bearer`, it answers unauthenticated /v2/ requests with
 * `401 WWW-Authenticate: Bearer realm=…,service=…,scope=…` and serves anonymous tokens at /token, as Docker Hub and
 * GHCR do; requests with a token it issued are forwarded (with the upstream's basic credentials, if any).
 */
export async function startRegistryProxy(
  upstream: TestRegistry,
  options: {
    bearer?: boolean;
    paginateTags?: boolean;
    /** Send an ETag with tag lists and answer a matching If-None-Match with 304, as some registries do (distribution 2.8 does not). */
    etagTags?: boolean;
  } = {},
): Promise<RegistryProxy> {
  const faults: ProxyFault[] = [];
  const requests: RegistryProxy['requests'] = [];
  const issued = new Set<string>();
  const target = new URL(upstream.url);
  let host = '';
  const upstreamAuth = upstream.credentials
    ? `Basic ${Buffer.from(`${upstream.credentials.username}:${upstream.credentials.password}`).toString('base64')}`
    : null;

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const finish = (status: number, headers: Record<string, string> = {}, body = '') => {
      requests.push({ method: request.method ?? 'GET', path: url.pathname, status });
      response.writeHead(status, headers).end(body);
    };
    if (options.bearer && url.pathname === '/token') {
      const token = randomBytes(12).toString('hex');
      issued.add(token);
      finish(200, { 'content-type': 'application/json' }, JSON.stringify({ token, scope: url.searchParams.get('scope') }));
      return;
    }
    const faultIndex = faults.findIndex((fault) => fault.path.test(url.pathname));
    if (faultIndex >= 0) {
      const fault = faults[faultIndex]!;
      if (--fault.times <= 0) faults.splice(faultIndex, 1);
      finish(
        fault.status,
        { 'content-type': 'application/json', ...(fault.headers ?? {}) },
        JSON.stringify({ errors: [{ code: 'INJECTED', message: `fault ${fault.status}` }] }),
      );
      return;
    }
    if (options.bearer) {
      const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
      if (!token || !issued.has(token)) {
        const repository = /^\/v2\/(.+)\/(?:tags|manifests|blobs)\//.exec(url.pathname)?.[1];
        finish(
          401,
          {
            'www-authenticate': `Bearer realm="http://${host}/token",service="testkit-registry"${repository ? `,scope="repository:${repository}:pull"` : ''}`,
            'content-type': 'application/json',
          },
          '{"errors":[{"code":"UNAUTHORIZED"}]}',
        );
        return;
      }
    }
    const tagsList = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    if (options.etagTags && tagsList) {
      void fetch(`${upstream.url}/v2/${tagsList[1]}/tags/list`, { headers: upstreamAuth ? { authorization: upstreamAuth } : {} })
        .then(async (upstreamResponse) => {
          if (!upstreamResponse.ok) return finish(upstreamResponse.status);
          const body = await upstreamResponse.text();
          const etag = `"${createHash('sha256').update(body).digest('hex')}"`;
          if (request.headers['if-none-match'] === etag) return finish(304, { etag });
          finish(200, { 'content-type': 'application/json', etag }, body);
        })
        .catch(() => finish(502));
      return;
    }
    if (options.paginateTags && tagsList) {
      // distribution 2.8 ignores `n`; paginate as the OCI distribution spec describes (lexical order, n/last, Link).
      void fetch(`${upstream.url}/v2/${tagsList[1]}/tags/list`, { headers: upstreamAuth ? { authorization: upstreamAuth } : {} })
        .then(async (upstreamResponse) => {
          if (!upstreamResponse.ok) return finish(upstreamResponse.status);
          const body = (await upstreamResponse.json()) as { name: string; tags: string[] };
          const n = Number(url.searchParams.get('n') ?? 100);
          const last = url.searchParams.get('last');
          const sorted = [...body.tags].sort();
          const rest = last ? sorted.filter((tag) => tag > last) : sorted;
          const page = rest.slice(0, n);
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (rest.length > n) headers.link = `</v2/${tagsList[1]}/tags/list?n=${n}&last=${encodeURIComponent(page[page.length - 1]!)}>; rel="next"`;
          finish(200, headers, JSON.stringify({ name: body.name, tags: page }));
        })
        .catch(() => finish(502));
      return;
    }
    const headers = { ...request.headers, host: target.host };
    delete headers.authorization;
    if (upstreamAuth && options.bearer) headers.authorization = upstreamAuth;
    else if (request.headers.authorization) headers.authorization = request.headers.authorization;
    const forward = httpRequest({ host: target.hostname, port: target.port, method: request.method, path: request.url, headers }, (upstreamResponse) => {
      requests.push({ method: request.method ?? 'GET', path: url.pathname, status: upstreamResponse.statusCode ?? 0 });
      response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
      upstreamResponse.pipe(response);
    });
    forward.on('error', () => finish(502));
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: `http://${host}`,
    requests,
    countsByKind: () => countRegistryRequests(requests),
    inject: (fault) => faults.push({ ...fault }),
    clearFaults: () => void faults.splice(0),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
