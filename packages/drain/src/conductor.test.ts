import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readDrainStatusFromConductor } from './conductor.ts';
import { DrainUnknownError } from './errors.ts';

/*
 * Conductor is a licensed image that cannot run here, so this is a fake HTTP server on loopback. Its request checks
 * and answers follow docs/production/conductor-api.md: Bearer auth, POST .../workflows/search with array filters,
 * RFC 9457 problem+json errors, 503 when no executor is connected.
 */
type Handler = (req: IncomingMessage, body: unknown, res: ServerResponse) => void;
let server: Server;
let baseUrl: string;
let handler: Handler;
const requests: Array<{ method?: string; url?: string; auth?: string; body: unknown }> = [];
const apiKey = `dbos_${randomBytes(16).toString('hex')}`;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      requests.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  requests.length = 0;
});

const json = (res: ServerResponse, status: number, value: unknown, type = 'application/json'): void => {
  res.writeHead(status, { 'content-type': type });
  res.end(JSON.stringify(value));
};
const problem = (res: ServerResponse, status: number, title: string, detail: string): void =>
  json(res, status, { status, title, detail, type: 'about:blank' }, 'application/problem+json');

/** A search endpoint over an in-memory workflow list that honours the documented filters and paging. */
function searchOver(workflows: Array<{ workflowUUID: string; status: string; appVersion: string }>): Handler {
  return (req, body, res) => {
    if (req.method !== 'POST' || req.url !== '/v2/orgs/acme_org/apps/shop-app/workflows/search') {
      return problem(res, 404, 'Not Found', 'no such route');
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`) return problem(res, 401, 'Unauthorized', 'bad key');
    const b = body as { status?: unknown; appVersion?: unknown; limit?: unknown; offset?: unknown };
    if (!Array.isArray(b.status) || !Array.isArray(b.appVersion) || typeof b.limit !== 'number' || typeof b.offset !== 'number') {
      return problem(res, 422, 'Unprocessable Entity', 'validation failed');
    }
    const matching = workflows.filter((w) => (b.status as string[]).includes(w.status) && (b.appVersion as string[]).includes(w.appVersion));
    json(res, 200, matching.slice(b.offset, b.offset + b.limit));
  };
}

const read = (extra: Partial<Parameters<typeof readDrainStatusFromConductor>[0]> = {}) =>
  readDrainStatusFromConductor({ baseUrl, org: 'acme_org', app: 'shop-app', apiKey, versions: ['1.0.0', '2.0.0'], ...extra });

async function expectUnknown(promise: Promise<unknown>, reason: string): Promise<DrainUnknownError> {
  const error = await promise.then(
    () => new Error('expected DrainUnknownError'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DrainUnknownError);
  expect((error as DrainUnknownError).reason).toBe(reason);
  expect((error as Error).message).not.toContain(apiKey);
  return error as DrainUnknownError;
}

describe('readDrainStatusFromConductor', () => {
  it('sends the documented search request and counts per version and status', async () => {
    handler = searchOver([
      { workflowUUID: 'a', status: 'PENDING', appVersion: '1.0.0' },
      { workflowUUID: 'b', status: 'ENQUEUED', appVersion: '1.0.0' },
      { workflowUUID: 'c', status: 'DELAYED', appVersion: '1.0.0' },
      { workflowUUID: 'd', status: 'SUCCESS', appVersion: '1.0.0' },
      { workflowUUID: 'e', status: 'ENQUEUED', appVersion: '2.0.0' },
      { workflowUUID: 'f', status: 'PENDING', appVersion: '3.0.0' },
    ]);
    const status = await read();
    expect(status.source).toBe('conductor');
    expect(status.truncated).toBe(false);
    expect(status.versions).toEqual([
      { version: '1.0.0', pending: 1, enqueued: 1, delayed: 1, inFlight: 3 },
      { version: '2.0.0', pending: 0, enqueued: 1, delayed: 0, inFlight: 1 },
    ]);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.auth).toBe(`Bearer ${apiKey}`);
    expect(requests[0]!.body).toMatchObject({
      appVersion: ['1.0.0', '2.0.0'],
      status: ['PENDING', 'ENQUEUED', 'DELAYED'],
      offset: 0,
      loadInput: false,
      loadOutput: false,
    });
  });

  it('pages until a short page and accepts the PascalCase protocol field names', async () => {
    const many = Array.from({ length: 7 }, (_, i) => ({ WorkflowUUID: `w${i}`, Status: 'PENDING', AppVersion: '1.0.0' }));
    handler = (req, body, res) => {
      const b = body as { limit: number; offset: number };
      json(res, 200, { workflows: many.slice(b.offset, b.offset + b.limit) });
    };
    const status = await read({ pageSize: 3, baseUrl: `${baseUrl}/` });
    expect(status.versions[0]!.pending).toBe(7);
    expect(requests.map((r) => (r.body as { offset: number }).offset)).toEqual([0, 3, 6]);
    expect(requests[0]!.url).toBe('/v2/orgs/acme_org/apps/shop-app/workflows/search');
  });

  it('marks counts as lower bounds when maxPages is reached', async () => {
    handler = (req, body, res) => {
      const b = body as { limit: number };
      json(
        res,
        200,
        Array.from({ length: b.limit }, () => ({ status: 'ENQUEUED', appVersion: '1.0.0' })),
      );
    };
    const status = await read({ pageSize: 2, maxPages: 3 });
    expect(status.truncated).toBe(true);
    expect(status.versions[0]!.inFlight).toBe(6);
  });

  it('503 (no executor connected) is unknown, not zero', async () => {
    handler = (req, body, res) => problem(res, 503, 'Service Unavailable', 'no healthy executor for shop-app');
    const e = await expectUnknown(read(), 'conductor-unavailable');
    expect(e.message).toMatch(/unknown, not zero/);
    expect(e.message).toContain('no healthy executor');
  });

  it('502, 401/403 and other statuses are unknown', async () => {
    handler = (req, body, res) => problem(res, 502, 'Bad Gateway', 'executors failed');
    await expectUnknown(read(), 'conductor-unavailable');
    handler = (req, body, res) => problem(res, 403, 'Forbidden', `key ${apiKey} lacks application.read`);
    const e = await expectUnknown(read(), 'conductor-auth');
    expect(e.message).toContain('application.read');
    handler = (req, body, res) => problem(res, 500, 'Internal Server Error', 'boom');
    await expectUnknown(read(), 'conductor-http');
  });

  it('malformed bodies are unknown: not JSON, wrong shape, unknown status, missing or unasked version', async () => {
    handler = (req, body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>proxy error</html>');
    };
    await expectUnknown(read(), 'conductor-malformed');
    handler = (req, body, res) => json(res, 200, { items: [] });
    await expectUnknown(read(), 'conductor-malformed');
    handler = (req, body, res) => json(res, 200, [{ status: 'RUNNING', appVersion: '1.0.0' }]);
    await expectUnknown(read(), 'conductor-malformed');
    handler = (req, body, res) => json(res, 200, [{ status: 'PENDING' }]);
    await expectUnknown(read(), 'conductor-malformed');
    handler = (req, body, res) => json(res, 200, [{ status: 'PENDING', appVersion: '9.9.9' }]);
    await expectUnknown(read(), 'conductor-malformed');
    handler = (req, body, res) => json(res, 200, [{ status: 'SUCCESS', appVersion: '1.0.0' }]);
    await expectUnknown(read(), 'conductor-malformed');
    handler = (req, body, res) => json(res, 200, [null]);
    await expectUnknown(read(), 'conductor-malformed');
  });

  it('an unreachable Conductor and a timeout are unknown', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expectUnknown(read({ baseUrl: `http://127.0.0.1:${port}` }), 'conductor-unavailable');
    handler = () => undefined; // never answers
    await expectUnknown(read({ timeoutMs: 200 }), 'timeout');
  });

  it('rejects bad input before any request', async () => {
    await expectUnknown(read({ org: undefined }), 'invalid-input');
    await expectUnknown(read({ org: 'Acme' }), 'invalid-input');
    await expectUnknown(read({ app: 'Shop App' }), 'invalid-input');
    await expectUnknown(read({ versions: [] }), 'invalid-input');
    await expectUnknown(read({ apiKey: '' }), 'invalid-input');
    expect(requests).toHaveLength(0);
  });
});
