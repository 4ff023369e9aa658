import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeRolloutCheck, rolloutCompleteFromPods } from './rollout-check.ts';

const STAMP = 'dbos.dev/conductor-api-key-rotated-at';
const pod = (stamp: string | undefined, ready: boolean, extra: { phase?: string; deleting?: boolean } = {}) => ({
  metadata: {
    annotations: (stamp === undefined ? {} : { [STAMP]: stamp }) as Record<string, string>,
    ...(extra.deleting ? { deletionTimestamp: '2026-11-23T00:00:00Z' } : {}),
  },
  status: { phase: extra.phase ?? 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

describe('rolloutCompleteFromPods', () => {
  it('is true only when every live app pod runs the new stamp and is Ready', () => {
    expect(rolloutCompleteFromPods([pod('new', true), pod('new', true)], STAMP, 'new')).toBe(true);
    expect(rolloutCompleteFromPods([pod('new', true), pod('old', true)], STAMP, 'new')).toBe(false);
    expect(rolloutCompleteFromPods([pod('new', true), pod(undefined, true)], STAMP, 'new')).toBe(false);
    expect(rolloutCompleteFromPods([pod('new', false)], STAMP, 'new')).toBe(false);
    expect(rolloutCompleteFromPods([pod('new', true), pod('new', true, { deleting: true })], STAMP, 'new')).toBe(false);
    // Finished pods (e.g. the migration Job's) hold no connection.
    expect(rolloutCompleteFromPods([pod('new', true), pod('old', false, { phase: 'Succeeded' })], STAMP, 'new')).toBe(true);
  });

  it('fails closed (null) when no app pod runs at all', () => {
    expect(rolloutCompleteFromPods([], STAMP, 'new')).toBeNull();
    expect(rolloutCompleteFromPods([pod('old', false, { phase: 'Failed' })], STAMP, 'new')).toBeNull();
  });
});

describe('KubeRolloutCheck against a loopback API server', () => {
  let server: Server;
  let pods: unknown[] = [];
  let status = 200;
  const seen: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'rollout-check-'));
  let kubeconfig = '';

  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.push(request.url ?? '');
      response
        .writeHead(status, { 'content-type': 'application/json' })
        .end(
          JSON.stringify(
            status === 200
              ? { apiVersion: 'v1', kind: 'PodList', metadata: {}, items: pods }
              : { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: status },
          ),
        );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    kubeconfig = join(dir, 'kubeconfig.yaml');
    // Plain HTTP on loopback needs insecure-skip-tls-verify in client-node; the request shape is what is tested here.
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:${port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: dev-ro\n  context:\n    cluster: c\n    user: u\ncurrent-context: dev-ro\n`,
    );
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists one application\'s pods by its app label in the namespace and decides from them; an API error is "unknown"', async () => {
    const check = new KubeRolloutCheck({ dev: 'dev-ro' }, kubeconfig);
    pods = [pod('s1', true)];
    expect(await check.rolledOut('dev', 'dbos', 'dbos-app', STAMP, 's1')).toBe(true);
    expect(seen.at(-1)).toBe('/api/v1/namespaces/dbos/pods?labelSelector=app%3Ddbos-app');
    expect(await check.rolledOut('dev', 'dbos', 'dbos-app', STAMP, 's2')).toBe(false);
    // Each application's own executors: orders' rollout is judged by orders' pods only.
    expect(await check.rolledOut('dev', 'dbos', 'orders', STAMP, 's1')).toBe(true);
    expect(seen.at(-1)).toBe('/api/v1/namespaces/dbos/pods?labelSelector=app%3Dorders');
    // A name that is not a label value never reaches the API as a selector: unknown, so nothing is revoked.
    const before = seen.length;
    expect(await check.rolledOut('dev', 'dbos', 'orders,tier=x', STAMP, 's1')).toBeNull();
    expect(seen).toHaveLength(before);
    status = 403;
    expect(await check.rolledOut('dev', 'dbos', 'dbos-app', STAMP, 's1')).toBeNull();
  });
});
