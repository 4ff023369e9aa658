import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@dbos-gitops/testkit';
import { versionFixtureFiles } from '../../../testing/version-fixture.ts';
import { statusSchema } from '../../status/model.ts';
import { main } from '../index.ts';
import { runStatus, statusTableOf } from './status.ts';

let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'status-cli-'));
  const files = await versionFixtureFiles({
    environments: ['dev', 'prod'],
    apps: [
      {
        name: 'shop',
        repository: 'ghcr.io/example-org/shop',
        versions: {
          dev: [
            { version: '1.0.0', digest: `sha256:${'1'.repeat(64)}` },
            { version: '2.0.0', digest: `sha256:${'2'.repeat(64)}`, latest: true },
          ],
          prod: [{ version: '1.0.0', digest: `sha256:${'1'.repeat(64)}`, hold: true, latest: true }],
        },
      },
      {
        name: 'cart',
        repository: 'ghcr.io/example-org/cart',
        environments: ['dev'],
        versions: { dev: [{ version: '0.1.0', digest: `sha256:${'0'.repeat(64)}` }] },
      },
    ],
  });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, dirname(path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function status(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runStatus(['--repo', dir, '--forge', 'local', ...argv], { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env });
  return { code, stdout, stderr };
}

describe('pnpm bot status', () => {
  it('--json prints the documented shape, offline, with every outside reading marked not read', async () => {
    const { code, stdout } = await status(['--json']);
    expect(code).toBe(0);
    const model = statusSchema.parse(JSON.parse(stdout));
    expect(model.environments).toEqual(['dev', 'prod']);
    expect(model.apps.map((app) => [app.name, app.environments.map((environment) => environment.env)])).toEqual([
      ['shop', ['dev', 'prod']],
      ['cart', ['dev']],
    ]);
    const prod = model.apps[0]!.environments[1]!.versions[0]!;
    expect(prod.states).toEqual(['latest', 'held']);
    expect(prod.drain.status).toBe('not-read');
    expect(model.placeholderPins).toEqual([{ env: 'dev', file: 'overlays/dev/apps/cart/versions/0-1-0/kustomization.yaml', image: 'cart 0.1.0' }]);
    // The local forge reads bot/… branches of origin; this directory has none, so there are no open PRs.
    expect(model.pullRequests).toEqual({ status: 'read', forge: expect.any(String), open: [] });
  });

  it('prints one table per application through the main command table', async () => {
    let stdout = '';
    const code = await main(['status', '--repo', dir, '--forge', 'none', '--app', 'shop'], { stdout: (text) => (stdout += text), stderr: () => {}, env: {} });
    expect(code).toBe(0);
    expect(stdout).toContain('application shop');
    expect(stdout).not.toContain('application cart');
    expect(stdout).toMatch(/\| version \| dev +\| prod +\|/);
    expect(stdout).toContain('2.0.0 @ 222222222222');
    expect(stdout).toContain('Open bot PRs\n  not read: no forge configured');
  });

  it('exits 2 naming the known environments for a mistyped --env', async () => {
    const { code, stderr, stdout } = await status(['--env', 'stagin']);
    expect(code).toBe(2);
    expect(stderr).toContain('--env "stagin" is not an environment of the config (known: dev, prod)');
    expect(stdout).toBe('');
  });

  it('exits 2 naming the known applications for a mistyped --app, and for an application that does not run in --env', async () => {
    const typo = await status(['--app', 'shopp']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('(known: shop, cart)');
    const elsewhere = await status(['--env', 'prod', '--app', 'cart']);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('application "cart" does not run in environment "prod"');
  });

  it('exits 64 for an unknown --forge', async () => {
    expect((await status(['--forge', 'gitlab'])).code).toBe(64);
  });

  it('statusTableOf gives callers (the demo) the same table, with the drain reader they pass', async () => {
    const table = await statusTableOf(dir, { env: {} });
    expect(table).toContain('application shop');
    expect(table).toContain('application cart');
    expect(table).toContain('in flight: not read');
    await expect(statusTableOf(dir, { filter: { app: 'nope' } })).rejects.toThrow('--app "nope" is not an application of the config');
  });

  it("with --env, reads that environment's own drain variable, and a reader that fails is unknown with its reason, never zero", async () => {
    const password = randomBytes(12).toString('hex');
    const url = `postgresql://dbos_drain_reader:${password}@127.0.0.1:${await freePort()}/dbos_system`;
    const { code, stdout } = await status(['--env', 'dev', '--app', 'shop', '--json'], { DBOS_DRAIN_DATABASE_URL_DEV: url });
    expect(code).toBe(0);
    expect(stdout).not.toContain(password);
    const model = statusSchema.parse(JSON.parse(stdout));
    for (const version of model.apps[0]!.environments[0]!.versions) {
      expect(version.drain.status).toBe('unknown');
      expect(version.states).not.toContain('drained');
    }
    const without = statusSchema.parse(JSON.parse((await status(['--env', 'dev', '--app', 'shop', '--json'])).stdout));
    const drain = without.apps[0]!.environments[0]!.versions[0]!.drain;
    expect(drain).toEqual({ status: 'not-read', reason: expect.stringContaining('DBOS_DRAIN_DATABASE_URL is not set') });
  });
});
