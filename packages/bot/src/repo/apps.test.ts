import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFixtureFiles } from '@dbos-gitops/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { YamlEditError } from '../errors.ts';
import { appsInEnvironment, defaultAppIdentity, readAppIdentity, renderAppIdentity } from './apps.ts';
import { readFileSync } from 'node:fs';
import { fsTree } from './tree.ts';
import { REPO_ROOT } from '../../testing/version-fixture.ts';

const identity = (overrides: Record<string, string> = {}): string => {
  const data = {
    name: 'orders',
    migrate: 'orders-migrate',
    'migrate-image': 'orders-migrate',
    role: 'orders_role',
    'database-secret': 'orders-db',
    'conductor-api-key-secret': 'orders-conductor-api-key',
    'metrics-url': 'http://orders.dbos.svc.cluster.local:8080/metrics/taskQueue',
    ...overrides,
  };
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-identity\ndata:\n${Object.entries(data)
    .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`)
    .join('')}`;
};

describe('readAppIdentity', () => {
  let root: string | undefined;
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });
  const treeWith = async (text: string) => {
    root = await mkdtemp(join(tmpdir(), 'app-identity-'));
    await writeFixtureFiles(root, { 'overlays/dev/apps/orders/identity.yaml': text });
    return fsTree(root);
  };

  it("reads the example tree's identities as the templates are filled from them", async () => {
    const tree = fsTree(REPO_ROOT);
    expect(await readAppIdentity(tree, 'overlays/dev', 'dbos-app')).toMatchObject({
      name: 'dbos-app',
      migrate: 'dbos-migrate',
      databaseSecret: 'dbos-app-db',
      conductorApiKeySecret: 'conductor-api-key',
    });
    expect(await readAppIdentity(tree, 'overlays/dev', 'orders')).toMatchObject({ name: 'orders', conductorApiKeySecret: 'orders-conductor-api-key' });
    expect(await readAppIdentity(tree, 'overlays/staging', 'orders')).toBeNull();
  });

  it('refuses an identity whose name is not its directory, a name that is no Kubernetes name, or a missing key', async () => {
    await expect(readAppIdentity(await treeWith(identity({ name: 'dbos-app' })), 'overlays/dev', 'orders')).rejects.toThrow(/directory is apps\/orders/);
    await rm(root!, { recursive: true });
    await expect(readAppIdentity(await treeWith(identity({ 'database-secret': 'Orders_DB' })), 'overlays/dev', 'orders')).rejects.toBeInstanceOf(YamlEditError);
    await rm(root!, { recursive: true });
    await expect(readAppIdentity(await treeWith(identity({ role: 'orders-role' })), 'overlays/dev', 'orders')).rejects.toThrow(/PostgreSQL role/);
    await rm(root!, { recursive: true });
    await expect(readAppIdentity(await treeWith(identity().replace(/ {2}metrics-url.*\n/, '')), 'overlays/dev', 'orders')).rejects.toThrow(/metrics-url/);
  });
});

describe('renderAppIdentity', () => {
  it("writes dev's orders identity byte for byte from its name alone, and reads back what it wrote", async () => {
    expect(renderAppIdentity(defaultAppIdentity('orders'))).toBe(readFileSync(join(REPO_ROOT, 'overlays/dev/apps/orders/identity.yaml'), 'utf8'));
    const root = await mkdtemp(join(tmpdir(), 'app-identity-'));
    try {
      const identity = { ...defaultAppIdentity('pay-ments', 'dbos-migrate'), databaseSecret: 'payments-url' };
      await writeFixtureFiles(root, { 'overlays/dev/apps/pay-ments/identity.yaml': renderAppIdentity(identity) });
      expect(await readAppIdentity(fsTree(root), 'overlays/dev', 'pay-ments')).toEqual({
        ...identity,
        file: 'overlays/dev/apps/pay-ments/identity.yaml',
        role: 'pay_ments_role',
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('appsInEnvironment', () => {
  it('runs an application without environments: everywhere, and one with it only there', () => {
    const apps = [{ name: 'dbos-app' }, { name: 'orders', environments: ['dev'] }] as never;
    expect(appsInEnvironment({ apps }, { name: 'dev' }).map((app) => app.name)).toEqual(['dbos-app', 'orders']);
    expect(appsInEnvironment({ apps }, { name: 'prod' }).map((app) => app.name)).toEqual(['dbos-app']);
  });
});
