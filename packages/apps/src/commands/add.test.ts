import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { parseConfig } from '@dbos-gitops/bot';
import { unsealSealedSecret } from '@dbos-gitops/sealing/testing';
import { addPaymentsArgs, freshRepo, runApps, treeHash, type FreshRepo } from '../../testing/index.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const MIGRATE_DIGEST = `sha256:${'b'.repeat(64)}`;
const PASSWORD = randomBytes(12).toString('hex');
const DATABASE_URL = `postgresql://payments_role:${PASSWORD}@postgres.dev.example.internal:5432/dbos_app?sslmode=require`;
const API_KEY = `ck_live_${randomBytes(12).toString('hex')}`;
const STAGING_API_KEY = `ck_staging_${randomBytes(12).toString('hex')}`;
const ADD = addPaymentsArgs(DIGEST);
const MIGRATE = ['--migrate-repository', 'ghcr.io/example-org/payments-migrate', '--migrate-tag', '0.1.0', '--migrate-digest', MIGRATE_DIGEST];

let fresh: FreshRepo;
beforeEach(async () => {
  fresh = await freshRepo();
});
afterEach(async () => {
  await fresh.repo.dispose();
});

function read(path: string): string {
  return readFileSync(join(fresh.root, path), 'utf8');
}

// Rendered Kubernetes objects of every kind, read field by field in the assertions.
type KubeObject = { kind: string; metadata: { name: string }; spec?: any };

function render(overlay: string): KubeObject[] {
  const out = execFileSync('kubectl', ['kustomize', join(fresh.root, overlay)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(out).map((document) => document.toJS());
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain(encodeURIComponent(PASSWORD));
  expect(text).not.toContain(API_KEY);
}

describe('apps:add', () => {
  it('scaffolds an application that renders with its Deployment, Job, ScaledObject, Service and route, and seals the values it read', async () => {
    const configBefore = read('.github/gitops-bot.yaml');
    const run = await runApps([...ADD, ...MIGRATE], { root: fresh.root, stdin: `${DATABASE_URL}\n${API_KEY}\n` });
    expect(run.stderr).toBe('reading the database URL and the Conductor API key of each environment from stdin\n');
    expect(run.code).toBe(0);
    expectNoSecret(run.stdout + run.stderr);

    const objects = render('overlays/dev');
    const named = (kind: string, name: string) => objects.find((object) => object.kind === kind && object.metadata.name === name);
    expect(named('Deployment', 'payments-3-0-0')).toBeDefined();
    expect(named('Job', 'payments-migrate-schema')).toBeDefined();
    expect(named('Service', 'payments')).toBeDefined();
    const ingress = named('Ingress', 'payments');
    expect(ingress?.spec.rules[0].http.paths[0].path).toBe('/payments(/|$)(.*)');
    const scaled = named('ScaledObject', 'payments-3-0-0') as {
      spec: { scaleTargetRef: { name: string }; triggers: Array<{ type: string; metadata: { query?: string } }> };
    };
    expect(scaled.spec.scaleTargetRef.name).toBe('payments-3-0-0');
    const query = scaled.spec.triggers.find((trigger) => trigger.type === 'postgresql')!.metadata.query!;
    expect(query).toContain("application_version = '3.0.0'");
    expect(query).toContain("application_name = 'payments'");
    // The other applications are still there, untouched.
    expect(named('Deployment', 'orders-1-0-0')).toBeDefined();
    expect(named('Deployment', 'dbos-app-0-2-0')).toBeDefined();

    const key = fresh.certificates.dev!.privateKeyPem;
    expect(await unsealSealedSecret(read('overlays/dev/apps/payments/secrets/payments-db.sealed.yaml'), [key])).toEqual({ 'database-url': DATABASE_URL });
    expect(await unsealSealedSecret(read('overlays/dev/apps/payments/secrets/payments-conductor-api-key.sealed.yaml'), [key])).toEqual({ 'api-key': API_KEY });

    const config = parseConfig(read('.github/gitops-bot.yaml'));
    expect(config.apps.find((app) => app.name === 'payments')).toMatchObject({ repository: 'ghcr.io/example-org/payments', environments: ['dev'] });
    expect(config.images.find((image) => image.name === 'payments-migrate')).toMatchObject({
      repository: 'ghcr.io/example-org/payments-migrate',
      environments: ['dev'],
    });
    // Surgical: the old file is the new one minus exactly the inserted lines; every comment and the order survive.
    const after = read('.github/gitops-bot.yaml');
    expect(
      after
        .replace('  - name: payments\n    repository: ghcr.io/example-org/payments\n    environments: [dev]\n', '')
        .replace('  - name: payments-migrate\n    id: payments-migrate\n    repository: ghcr.io/example-org/payments-migrate\n    environments: [dev]\n', ''),
    ).toBe(configBefore);
    expect(after.indexOf('name: payments-migrate')).toBeGreaterThan(after.indexOf('name: orders-migrate'));
    expect(after.indexOf('name: payments-migrate')).toBeLessThan(after.indexOf('name: dbos-gitops-bot'));

    expect(read('overlays/dev/apps/kustomization.yaml')).toContain('  - orders\n  - payments\n');
    expect(read('overlays/dev/images/kustomization.yaml')).toContain(
      `  - name: payments-migrate\n    newName: ghcr.io/example-org/payments-migrate\n    newTag: "0.1.0"\n    digest: ${MIGRATE_DIGEST}\n`,
    );
  });

  it("copies another application's cluster files with the name replaced, and lists them", async () => {
    const run = await runApps([...ADD, '--api-key-placeholder'], { root: fresh.root, stdin: `${DATABASE_URL}\n` });
    expect(run.code).toBe(0);
    expect(read('clusters/dev/argocd/apps/payments.yaml')).toBe(read('clusters/dev/argocd/apps/dbos-app.yaml').replaceAll('dbos-app', 'payments'));
    const flux = parseAllDocuments(read('clusters/dev/flux/apps/payments.yaml')).map((document) => document.toJS());
    expect(flux.map((kustomization) => kustomization.metadata.name)).toEqual([
      'app-payments-foundation',
      'app-payments-migrations',
      'app-payments-workloads',
      'app-payments-routing',
    ]);
    expect(flux.every((kustomization) => kustomization.spec.path === './overlays/dev/apps/payments')).toBe(true);
    expect(flux[0].spec.dependsOn).toEqual([{ name: 'dbos-foundation' }]);
    expect(parse(read('clusters/dev/argocd/apps/kustomization.yaml')).resources).toEqual(['dbos-app.yaml', 'orders.yaml', 'payments.yaml']);
    expect(parse(read('clusters/dev/flux/apps/kustomization.yaml')).resources).toEqual(['dbos-app.yaml', 'orders.yaml', 'payments.yaml']);
    // With the placeholder: the literal, marked for the bot's rotation; only one stdin line was needed.
    const sealed = read('overlays/dev/apps/payments/secrets/payments-conductor-api-key.sealed.yaml');
    expect(parse(sealed).metadata.annotations).toEqual({ 'dbos.dev/placeholder': 'true', 'dbos.dev/rotated-at': '2026-11-30T08:00:00.000Z' });
    expect(await unsealSealedSecret(sealed, [fresh.certificates.dev!.privateKeyPem])).toEqual({ 'api-key': 'placeholder' });
    // Without its own migration image the Job runs the environment's dbos-migrate pin; nothing new is pinned.
    expect(parse(read('overlays/dev/apps/payments/identity.yaml')).data['migrate-image']).toBe('dbos-migrate');
    expect(read('overlays/dev/images/kustomization.yaml')).not.toContain('payments');
  });

  it('writes the shape of the hand-made overlays/dev/apps/orders, file for file', async () => {
    const run = await runApps([...addPaymentsArgs(`sha256:${'0'.repeat(64)}`), ...MIGRATE, '--api-key-placeholder'], {
      root: fresh.root,
      stdin: `${DATABASE_URL}\n`,
    });
    expect(run.code).toBe(0);
    const list = (dir: string, base = ''): string[] =>
      readdirSync(join(fresh.root, dir), { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? list(`${dir}/${entry.name}`, `${base}${entry.name}/`) : [`${base}${entry.name}`],
      );
    // orders runs 1.0.0 and payments starts at 3.0.0 (two applications of one system database never share a version name).
    const asPayments = (text: string) => text.replaceAll('orders', 'payments').replaceAll('1-0-0', '3-0-0').replaceAll('1.0.0', '3.0.0');
    const orders = list('overlays/dev/apps/orders').sort();
    const payments = list('overlays/dev/apps/payments').sort();
    expect(payments).toEqual(orders.map(asPayments).sort());
    for (const path of orders) {
      const ours = read(`overlays/dev/apps/payments/${asPayments(path)}`);
      const theirs = asPayments(read(`overlays/dev/apps/orders/${path}`));
      if (path.endsWith('.sealed.yaml')) {
        // Sealed values and the rotation time differ by nature; everything else is the same document.
        const strip = (text: string) => {
          const document = parse(text);
          for (const key of Object.keys(document.spec.encryptedData)) document.spec.encryptedData[key] = 'sealed';
          delete document.metadata.annotations?.['dbos.dev/rotated-at'];
          return document;
        };
        expect(strip(ours)).toEqual(strip(theirs));
      } else if (path === 'rollout.patch.yaml') {
        expect(ours).toBe(theirs.replace(/rotated-at: "[^"]+"/, 'rotated-at: "2026-11-30T08:00:00.000Z"'));
      } else {
        expect({ path, text: ours }).toEqual({ path, text: theirs });
      }
    }
  });

  it('routes through the Gateway API on its own host where the platform uses it', async () => {
    const argv = ['add', '--name', 'payments', '--env', 'staging', '--repository', 'ghcr.io/example-org/payments', '--version', '1.2.3', '--digest', DIGEST];
    const before = treeHash(fresh.root);
    const withoutHost = await runApps(argv, { root: fresh.root, stdin: `${DATABASE_URL}\n${API_KEY}\n` });
    expect(withoutHost.code).toBe(64);
    expect(withoutHost.stderr).toContain('--host is required');
    expect(treeHash(fresh.root)).toBe(before);

    const run = await runApps([...argv, '--host', 'staging=payments.staging.example.com'], { root: fresh.root, stdin: `${DATABASE_URL}\n${API_KEY}\n` });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('staging: make sure its certificate lists');
    const objects = render('overlays/staging/apps/payments');
    const route = objects.find((object) => object.kind === 'HTTPRoute') as { metadata: { name: string }; spec: { hostnames: string[] } };
    expect(route.metadata.name).toBe('payments');
    expect(route.spec.hostnames).toEqual(['payments.staging.example.com']);
    expect(objects.some((object) => object.kind === 'Ingress')).toBe(false);
    expect(objects.find((object) => object.kind === 'Deployment')?.metadata.name).toBe('payments-1-2-3');
  });

  it('adds to several environments at once, each with its own values sealed for its own certificate', async () => {
    const stagingUrl = DATABASE_URL.replace('postgres.dev.', 'postgres.staging.');
    const run = await runApps([...ADD, '--env', 'staging', '--host', 'staging=payments.staging.example.com'], {
      root: fresh.root,
      stdin: `${DATABASE_URL}\n${API_KEY}\n${stagingUrl}\n${STAGING_API_KEY}\n`,
    });
    expect(run.code).toBe(0);
    const unseal = (env: string, secret: string) =>
      unsealSealedSecret(read(`overlays/${env}/apps/payments/secrets/${secret}.sealed.yaml`), [fresh.certificates[env]!.privateKeyPem]);
    expect(await unseal('dev', 'payments-db')).toEqual({ 'database-url': DATABASE_URL });
    expect(await unseal('staging', 'payments-db')).toEqual({ 'database-url': stagingUrl });
    expect(await unseal('staging', 'payments-conductor-api-key')).toEqual({ 'api-key': STAGING_API_KEY });
    // A value sealed for dev's controller does not open with staging's key.
    await expect(
      unsealSealedSecret(read('overlays/dev/apps/payments/secrets/payments-db.sealed.yaml'), [fresh.certificates.staging!.privateKeyPem]),
    ).rejects.toThrow();
    expect(parseConfig(read('.github/gitops-bot.yaml')).apps.find((app) => app.name === 'payments')?.environments).toEqual(['dev', 'staging']);
    expect(run.stdout.match(/CREATE ROLE payments_role LOGIN;/g)).toHaveLength(1);
  });

  it('adds a configured application to another environment by extending its environments: list only', async () => {
    const configBefore = read('.github/gitops-bot.yaml');
    const run = await runApps(
      [
        'add',
        '--name',
        'orders',
        '--env',
        'staging',
        '--repository',
        'ghcr.io/example-org/orders',
        '--version',
        '1.0.0',
        '--digest',
        DIGEST,
        '--host',
        'orders.staging.example.com',
        '--migrate-repository',
        'ghcr.io/example-org/orders-migrate',
        '--migrate-tag',
        '0.1.0',
        '--migrate-digest',
        MIGRATE_DIGEST,
      ],
      { root: fresh.root, stdin: `${DATABASE_URL.replaceAll('payments', 'orders')}\n${API_KEY}\n` },
    );
    expect(run.code).toBe(0);
    // The application and its migration image, each pinned only where it runs, now run in staging too.
    expect(read('.github/gitops-bot.yaml')).toBe(configBefore.replaceAll('    environments: [dev]\n', '    environments: [dev, staging]\n'));
    expect(configBefore.match(/ {4}environments: \[dev\]\n/g)).toHaveLength(2);
    expect(read('overlays/staging/images/kustomization.yaml')).toContain('  - name: orders-migrate\n');
    expect(read('overlays/staging/apps/orders/route.patch.yaml')).toContain('value: orders.staging.example.com\n');
  });

  it('prints the role SQL once, without a password: psql asks for it', async () => {
    const run = await runApps(ADD, { root: fresh.root, stdin: `${DATABASE_URL}\n${API_KEY}\n` });
    expect(run.code).toBe(0);
    expect(run.stdout.match(/CREATE ROLE payments_role LOGIN;/g)).toHaveLength(1);
    expect(run.stdout).toContain('\\password payments_role\n');
    expect(run.stdout).toContain('dbos migrate --app-role payments_role');
    expect(run.stdout).not.toMatch(/PASSWORD '/i);
    expectNoSecret(run.stdout);
    const json = await runApps(
      [...ADD.slice(0, 2), 'billing', ...ADD.slice(3).map((arg) => (arg === '/payments' ? '/billing' : arg === '3.0.0' ? '4.0.0' : arg)), '--json'],
      {
        root: fresh.root,
        stdin: `${DATABASE_URL.replace('payments_role', 'billing_role')}\n${API_KEY}\n`,
      },
    );
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout);
    expect(result.written).toContain('overlays/dev/apps/billing/versions/4-0-0/kustomization.yaml');
    expect(result.changed).toEqual([
      '.github/gitops-bot.yaml',
      'clusters/dev/argocd/apps/kustomization.yaml',
      'clusters/dev/flux/apps/kustomization.yaml',
      'overlays/dev/apps/kustomization.yaml',
    ]);
    expect(result.sql).toContain('CREATE ROLE billing_role LOGIN;');
    expectNoSecret(json.stdout);
  });
});

describe('apps:add refuses and leaves the tree byte for byte as it was', () => {
  const cases: Array<{ what: string; argv?: string[]; stdin?: string; prepare?: (root: string) => void; code: number; says: string }> = [
    { what: 'a name that is not a DNS label', argv: ADD.map((arg) => (arg === 'payments' ? 'Payments_1' : arg)), code: 64, says: '--name must be a DNS label' },
    {
      what: 'an existing application',
      argv: ADD.map((arg) => (arg === 'payments' ? 'orders' : arg)),
      code: 2,
      says: 'overlays/dev/apps/orders exists already',
    },
    { what: 'an environment that is not configured', argv: ADD.map((arg) => (arg === 'dev' ? 'qa' : arg)), code: 2, says: '"qa" is not an environment' },
    {
      what: 'an environment without its overlay',
      prepare: (root) => rmSync(join(root, 'overlays/dev'), { recursive: true }),
      code: 2,
      says: 'overlays/dev does not exist',
    },
    {
      what: 'a missing certificate',
      prepare: (root) => rmSync(join(root, 'clusters/dev/sealed-secrets-cert.pem')),
      code: 2,
      says: 'clusters/dev/sealed-secrets-cert.pem does not exist',
    },
    { what: 'an invalid version', argv: ADD.map((arg) => (arg === '3.0.0' ? "3.0.0'; DROP" : arg)), code: 64, says: '--version must be an image tag' },
    { what: 'an invalid digest', argv: ADD.map((arg) => (arg === DIGEST ? 'sha256:abc' : arg)), code: 64, says: '--digest must be sha256:' },
    {
      what: 'a version name another application of the environment has live (DBOS refuses it in the shared system database)',
      argv: ADD.map((arg) => (arg === '3.0.0' ? '1.0.0' : arg)),
      code: 2,
      says: '1.0.0 is the version name of a live version of orders in dev (overlays/dev/apps/orders/versions/1-0-0/version.patch.yaml)',
    },
    { what: 'half of the migration flags', argv: [...ADD, '--migrate-tag', '1.0.0'], code: 64, says: 'go together' },
    {
      what: 'no cluster files of another application to copy',
      prepare: (root) => {
        rmSync(join(root, 'clusters/dev/argocd/apps'), { recursive: true });
        rmSync(join(root, 'clusters/dev/flux/apps'), { recursive: true });
      },
      code: 2,
      says: 'clusters/dev has no per-application files of another application to copy',
    },
    {
      what: 'a database URL of another role',
      stdin: `${DATABASE_URL.replace('payments_role', 'postgres')}\n${API_KEY}\n`,
      code: 64,
      says: 'does not log in as payments_role',
    },
    { what: 'a value that is not a URL', stdin: `${PASSWORD}\n${API_KEY}\n`, code: 64, says: 'is not a postgresql:// URL' },
    { what: 'stdin that ends before the API key', stdin: `${DATABASE_URL}\n`, code: 64, says: 'stdin ended before the value' },
  ];
  for (const scenario of cases) {
    it(scenario.what, async () => {
      scenario.prepare?.(fresh.root);
      const before = treeHash(fresh.root);
      const run = await runApps(scenario.argv ?? ADD, { root: fresh.root, stdin: scenario.stdin ?? `${DATABASE_URL}\n${API_KEY}\n` });
      expect(run.stderr).toContain(scenario.says);
      expect(run.code).toBe(scenario.code);
      expect(treeHash(fresh.root)).toBe(before);
      expectNoSecret(run.stdout + run.stderr);
      expect(readdirSync(fresh.root).filter((name) => name.startsWith('.apps-staging'))).toEqual([]);
    });
  }

  it('--help explains every flag', async () => {
    const run = await runApps(['add', '--help'], { root: fresh.root });
    expect(run.code).toBe(0);
    for (const flag of [
      '--name',
      '--env',
      '--repository',
      '--version',
      '--digest',
      '--route',
      '--host',
      '--migrate-repository',
      '--migrate-tag',
      '--migrate-digest',
      '--api-key-placeholder',
      '--root',
      '--json',
    ])
      expect(run.stdout).toContain(flag);
    expect(existsSync(join(fresh.root, 'overlays/dev/apps/payments'))).toBe(false);
  });
});
