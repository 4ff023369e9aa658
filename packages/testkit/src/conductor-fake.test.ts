import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConductorFake, type ConductorFake } from './conductor-fake.ts';

let fake: ConductorFake;
beforeAll(async () => {
  fake = await startConductorFake({ org: 'acme_org' });
});
afterAll(async () => {
  await fake.stop();
});

const call = (path: string, init: RequestInit & { key?: string | null } = {}) =>
  fetch(`${fake.url}${path}`, {
    ...init,
    headers: {
      ...(init.key === null ? {} : { authorization: `Bearer ${init.key ?? fake.adminKey}` }),
      ...(init.body ? { 'content-type': 'application/json' } : {}),
    },
  });

describe('Conductor fake', () => {
  it('answers like Conductor: 401 without a key, problem+json errors, 201 with the secret once, 409 on a duplicate name', async () => {
    const anonymous = await call('/v2/orgs/acme_org/tokens', { key: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
    expect(await anonymous.json()).toMatchObject({ status: 401, title: 'Unauthorized' });

    const created = await call('/v2/orgs/acme_org/tokens/k1', { method: 'POST', body: JSON.stringify({ permissions: ['websocket.connect'] }) });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { tokenName: string; token: string };
    expect(body.tokenName).toBe('k1');
    expect(fake.isValidKey(body.token)).toBe(true);
    expect((await call('/v2/orgs/acme_org/tokens/k1', { method: 'POST', body: '{}' })).status).toBe(409);
    // A key scoped to websocket.connect cannot manage keys.
    expect((await call('/v2/orgs/acme_org/tokens', { key: body.token })).status).toBe(403);
    expect((await call('/v2/orgs/acme_org/tokens/k1', { method: 'DELETE' })).status).toBe(204);
    expect((await call('/v2/orgs/acme_org/tokens/k1', { method: 'DELETE' })).status).toBe(404);
    expect(fake.violations).toEqual([]);
  });

  it('validates request bodies and path parameters against the subset, recording body violations', async () => {
    const bad = await call('/v2/orgs/acme_org/tokens/k2', { method: 'POST', body: JSON.stringify({ appNames: 'shop-app' }) });
    expect(bad.status).toBe(422);
    expect(fake.violations.pop()).toMatch(/appNames must be array/);
    expect((await call('/v2/orgs/Not-Valid/tokens')).status).toBe(422);
    expect((await call('/v2/orgs/acme_org/no-such-thing')).status).toBe(404);
  });

  it('fails exactly the nth matching request for the given number of times', async () => {
    fake.injectFault({ method: 'GET', path: /\/tokens$/, status: 503, nth: 2, times: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call('/v2/orgs/acme_org/tokens')).status);
    expect(statuses).toEqual([200, 503, 503, 200]);
  });
});
