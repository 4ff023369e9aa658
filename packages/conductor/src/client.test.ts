import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConductorFake, type ConductorFake } from '@dbos-gitops/testkit';
import { ConductorClient, SecretValue } from './client.ts';
import { ConductorError } from './errors.ts';

let fake: ConductorFake;
const noSleep = async () => {};

beforeAll(async () => {
  fake = await startConductorFake({ org: 'acme_org' });
});
afterAll(async () => {
  await fake.stop();
});

function client(apiKey = fake.adminKey): ConductorClient {
  return new ConductorClient({ baseUrl: fake.url, apiKey, sleep: noSleep });
}

describe('ConductorClient against the loopback Conductor fake', () => {
  it('creates a scoped key whose secret authenticates, lists it, and deletes it idempotently', async () => {
    const created = await client().createToken('acme_org', 'gitops-dev-1', { appNames: ['shop-app'], permissions: ['websocket.connect', 'application.read'] });
    expect(created.tokenName).toBe('gitops-dev-1');
    expect(created.token.reveal()).toMatch(/^dbos_/);
    expect(fake.isValidKey(created.token.reveal())).toBe(true);

    const listed = await client().getToken('acme_org', 'gitops-dev-1');
    expect(listed).toMatchObject({ tokenName: 'gitops-dev-1', appIds: ['shop-app'], permissions: ['websocket.connect', 'application.read'] });

    // The new key itself can list executors of its app (application.read) but cannot manage keys.
    fake.setExecutors('shop-app', [{ executorId: 'e1', status: 'connected', appVersion: '1.0.0', hostname: 'pod-a', updatedAt: new Date().toISOString() }]);
    expect(await client(created.token.reveal()).listExecutors('acme_org', 'shop-app')).toEqual([
      expect.objectContaining({ executorId: 'e1', status: 'connected', appVersion: '1.0.0', hostname: 'pod-a' }),
    ]);
    await expect(client(created.token.reveal()).listTokens('acme_org')).rejects.toMatchObject({ failure: 'forbidden', status: 403 });

    expect(await client().deleteToken('acme_org', 'gitops-dev-1')).toBe('deleted');
    expect(fake.isValidKey(created.token.reveal())).toBe(false);
    expect(await client().deleteToken('acme_org', 'gitops-dev-1')).toBe('absent');
    expect(fake.violations).toEqual([]);
  });

  it('never shows a secret through String, JSON, inspect or an error message', async () => {
    const secret = new SecretValue('dbos_very-secret-value');
    expect(String(secret)).not.toContain('very-secret');
    expect(JSON.stringify({ secret })).not.toContain('very-secret');
    expect(inspect({ secret })).not.toContain('very-secret');

    const wrongKey = 'dbos_wrong-key-that-must-not-leak';
    const error = await client(wrongKey)
      .listTokens('acme_org')
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConductorError);
    expect((error as ConductorError).failure).toBe('auth');
    expect(`${(error as ConductorError).message} ${(error as ConductorError).hint}`).not.toContain(wrongKey);
  });

  it('retries 503 a bounded number of times, then fails as unavailable', async () => {
    const before = fake.calls.length;
    fake.injectFault({ method: 'GET', path: /\/tokens$/, status: 503, times: 2 });
    expect(await client().listTokens('acme_org')).toBeInstanceOf(Array);
    expect(fake.calls.slice(before).map((call) => call.status)).toEqual([503, 503, 200]);

    const start = fake.calls.length;
    fake.injectFault({ method: 'GET', path: /\/tokens$/, status: 503, times: 5 });
    await expect(client().listTokens('acme_org')).rejects.toMatchObject({ failure: 'unavailable', status: 503 });
    expect(fake.calls.length - start).toBe(3);
  });

  it('does not retry a create that got a definite client error, and reports a name clash as conflict', async () => {
    await client().createToken('acme_org', 'clash', {});
    await expect(client().createToken('acme_org', 'clash', {})).rejects.toMatchObject({ failure: 'conflict', status: 409 });
    await expect(client().createToken('acme_org', 'bad', { permissions: ['root.everything'] })).rejects.toMatchObject({ failure: 'invalid', status: 422 });
    await client().deleteToken('acme_org', 'clash');
  });

  it('treats a lost connection during create as unknown outcome, without a second attempt', async () => {
    let calls = 0;
    const broken = new ConductorClient({
      baseUrl: fake.url,
      apiKey: fake.adminKey,
      sleep: noSleep,
      fetch: async () => {
        calls++;
        throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
      },
    });
    await expect(broken.createToken('acme_org', 'lost', {})).rejects.toMatchObject({ failure: 'unknown-outcome' });
    expect(calls).toBe(1);
  });

  it('rejects answers that lack the documented fields', async () => {
    const odd = new ConductorClient({
      baseUrl: fake.url,
      apiKey: 'dbos_x',
      sleep: noSleep,
      fetch: async () => new Response(JSON.stringify([{ name: 'x' }]), { status: 200 }),
    });
    await expect(odd.listTokens('acme_org')).rejects.toMatchObject({ failure: 'malformed' });
    const noSecret = new ConductorClient({
      baseUrl: fake.url,
      apiKey: 'dbos_x',
      sleep: noSleep,
      fetch: async () => new Response(JSON.stringify({ tokenName: 'x' }), { status: 201 }),
    });
    await expect(noSecret.createToken('acme_org', 'x', {})).rejects.toMatchObject({ failure: 'malformed' });
  });

  it('never echoes a Conductor URL that does not parse (it may hold a credential)', () => {
    const secret = randomBytes(8).toString('hex');
    let error: unknown = null;
    try {
      new ConductorClient({ baseUrl: `http://admin:${secret}@bad host:8090`, apiKey: 'k' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConductorError);
    expect((error as Error).message).toContain('is not a URL');
    expect((error as Error).message).not.toContain(secret);
  });

  it('refuses invalid organization names before sending anything, and an unknown organization is not "absent"', async () => {
    await expect(client().listTokens('Bad-Org')).rejects.toMatchObject({ failure: 'invalid' });
    await expect(client().deleteToken('other_org', 'x')).rejects.toMatchObject({ failure: 'not-found' });
  });
});
