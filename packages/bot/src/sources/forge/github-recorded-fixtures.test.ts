import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ForgeError } from '../../errors.ts';
import { GitHubForge } from './github.ts';
import type { PullRequestRecord } from './types.ts';

/**
 * Replays GitHub traffic that @octokit/fixtures recorded against the real api.github.com, through the bot's real
 * GitHub forge: the forge must send exactly the recorded request, and must read the recorded response (success or
 * GitHub's own error body) the way the rest of the bot expects. A request the recording does not hold fails the test.
 * (The recordings have no pull-request scenarios; those endpoints are covered by the OpenAPI-checked fake.)
 */
interface Recorded {
  method: string;
  path: string;
  body?: unknown;
  status: number;
  response: unknown;
  headers?: Record<string, string>;
}

const scenarios = join(
  dirname(createRequire(import.meta.resolve('@dbos-gitops/testkit')).resolve('@octokit/fixtures/package.json')),
  'scenarios/api.github.com',
);
const scenario = (name: string): Recorded[] => JSON.parse(readFileSync(join(scenarios, name, 'normalized-fixture.json'), 'utf8'));

interface Replay {
  url: string;
  requests: Array<{ method: string; path: string; body: unknown }>;
  unmatched: string[];
  stop(): Promise<void>;
}

async function replay(recordings: Recorded[]): Promise<Replay> {
  const requests: Replay['requests'] = [];
  const unmatched: string[] = [];
  const server: Server = createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk) => (raw += chunk));
    request.on('end', () => {
      const body = raw ? JSON.parse(raw) : null;
      const path = (request.url ?? '').split('?')[0]!;
      requests.push({ method: request.method!.toLowerCase(), path, body });
      const match = recordings.find(
        (recorded) =>
          recorded.method === request.method!.toLowerCase() && recorded.path === path && JSON.stringify(recorded.body ?? null) === JSON.stringify(body),
      );
      if (!match) {
        unmatched.push(`${request.method} ${path} ${raw}`);
        response.writeHead(501, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'not in the recording' }));
        return;
      }
      const headers = Object.fromEntries(
        Object.entries(match.headers ?? {}).filter(([name]) => !['content-length', 'transfer-encoding', 'connection'].includes(name.toLowerCase())),
      );
      response
        .writeHead(match.status, { ...headers, 'content-type': 'application/json; charset=utf-8' })
        .end(match.response === '' ? '' : JSON.stringify(match.response));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    unmatched,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const replays: Replay[] = [];
afterEach(async () => {
  for (const running of replays.splice(0)) await running.stop();
});

function forgeFor(url: string, repo: string): GitHubForge {
  return new GitHubForge({
    token: 'recorded-scenario-token',
    owner: 'octokit-fixture-org',
    repo,
    baseUrl: url,
    minWriteIntervalMs: 0,
    retryAfterBaseValue: 1,
    rateLimitRetries: 0,
  });
}

function pullRequest(number: number): PullRequestRecord {
  return {
    number,
    branch: 'bot/image-update/dev/dex',
    title: 't',
    body: 'b',
    state: 'open',
    merged: false,
    labels: [],
    createdAt: new Date(0).toISOString(),
    url: 'u',
  };
}

describe('the GitHub forge against GitHub traffic recorded by @octokit/fixtures', () => {
  it('add-labels-to-issue: addLabels sends exactly the recorded request and records the labels', async () => {
    const recorded = scenario('add-labels-to-issue').find((entry) => entry.path.endsWith('/issues/1/labels'))!;
    expect(recorded).toMatchObject({ method: 'post', status: 200 });
    const server = await replay([recorded]);
    replays.push(server);
    const forge = forgeFor(server.url, 'add-labels-to-issue');
    const pr = pullRequest(1);

    await forge.addLabels(pr, (recorded.body as { labels: string[] }).labels);

    expect(server.unmatched).toEqual([]);
    expect(server.requests).toEqual([{ method: 'post', path: recorded.path, body: recorded.body }]);
    expect(pr.labels).toEqual(['Foo', 'bAr', 'baZ']);
    // What GitHub answered is the labels now on the issue, by those names.
    expect((recorded.response as Array<{ name: string }>).map((label) => label.name)).toEqual(pr.labels);
    expect(forge.stats.writes).toBe(1);
  });

  it("errors: GitHub's recorded 422 Validation Failed body becomes a ForgeError naming the invalid field", async () => {
    const recorded = scenario('errors').find((entry) => entry.status === 422)!;
    expect((recorded.response as { message: string }).message).toBe('Validation Failed');
    // The same real error body, answered where the bot asks (labelling its PR).
    const server = await replay([{ ...recorded, method: 'post', path: '/repos/octokit-fixture-org/errors/issues/7/labels', body: { labels: ['gitops-bot'] } }]);
    replays.push(server);
    const forge = forgeFor(server.url, 'errors');

    const error = await forge.addLabels(pullRequest(7), ['gitops-bot']).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ForgeError);
    expect((error as ForgeError).status).toBe(422);
    expect((error as ForgeError).message).toMatch(/422 Validation Failed: color invalid/);
    expect((error as ForgeError).hint).toMatch(/\S/);
    expect(server.unmatched).toEqual([]);
  });
});
