import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { modelFor } from '@dbos-gitops/validate';
import { main } from '../cli.ts';

const REPO = join(import.meta.dirname, '..', '..', '..', '..');

async function cli(args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env });
  return { code, stdout, stderr };
}

describe('tasks that need configuration the environment does not give', () => {
  it('running every task, version-retire without a drain reader is reported as not evaluated and the other plans still print', async () => {
    const run = await cli(['plan', '--repo', REPO]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/version-retire all -: not evaluated: environment variable DBOS_DRAIN_DATABASE_URL_DEV is not set/);
    expect(run.stdout).toMatch(/^bot\/image-update\//m);
    expect(run.stdout).not.toMatch(/^bot\/version-retire\//m);
  });

  it('asked for by name, the same missing reader is an error (exit 10) that proposes nothing', async () => {
    const run = await cli(['plan', '--repo', REPO, '--task', 'version-retire']);
    expect(run.code).toBe(10);
    expect(run.stderr).toMatch(/DBOS_DRAIN_DATABASE_URL_DEV is not set/);
    expect(run.stderr).toMatch(/what to do: /);
    expect(run.stdout).not.toMatch(/^bot\//m);
  });
});

describe('seal and drain-status through the bot CLI', () => {
  it('help for both commands', async () => {
    const seal = await cli(['seal', '--help']);
    expect(seal.code).toBe(0);
    expect(seal.stdout).toMatch(/--from-env KEY=VARIABLE/);
    const drain = await cli(['drain-status', '--help']);
    expect(drain.code).toBe(0);
    expect(drain.stdout).toMatch(/usage: pnpm bot drain-status/);
  });

  it('seal writes YAML by default that kustomize accepts in an overlay and the SealedSecret schema validates, without the plaintext', async () => {
    const value = randomBytes(18).toString('base64url');
    const run = await cli(
      [
        'seal',
        '--cert',
        join(REPO, 'clusters/dev/sealed-secrets-cert.pem'),
        '--namespace',
        'dbos',
        '--name',
        'example',
        '--from-env',
        'api-key=EXAMPLE_API_KEY',
      ],
      { PATH: process.env.PATH, EXAMPLE_API_KEY: value },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trimStart().startsWith('{')).toBe(false);
    expect(run.stdout + run.stderr).not.toContain(value);

    const dir = mkdtempSync(join(tmpdir(), 'seal-overlay-'));
    try {
      writeFileSync(join(dir, 'example.sealed.yaml'), run.stdout);
      writeFileSync(join(dir, 'kustomization.yaml'), 'resources:\n  - example.sealed.yaml\n');
      const rendered = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
      const [doc] = parseAllDocuments(rendered).map((document) => document.toJS());
      expect(doc).toMatchObject({ apiVersion: 'bitnami.com/v1alpha1', kind: 'SealedSecret', metadata: { name: 'example', namespace: 'dbos' } });
      expect(Object.keys(doc.spec.encryptedData)).toEqual(['api-key']);
      const Model = await modelFor(doc.apiVersion, doc.kind);
      expect(Model).toBeDefined();
      expect(() => new Model!(doc).validate()).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no secret value is accepted on the command line: seal --from-literal and drain-status --database-url exit 64 without repeating it', async () => {
    // Starts with a letter: base64url may start with "-", and a stray "-x…" is an unknown option, not a stray value
    // (one run in 64 failed that way).
    const value = `s${randomBytes(18).toString('base64url')}`;
    const cert = join(REPO, 'clusters/dev/sealed-secrets-cert.pem');
    for (const argv of [
      ['seal', '--cert', cert, '--namespace', 'dbos', '--name', 'example', '--from-literal', `api-key=${value}`],
      ['seal', '--cert', cert, '--namespace', 'dbos', '--name', 'example', `--from-literal=api-key=${value}`],
      ['drain-status', '--app-name', 'dbos-app', '--database-url', `postgresql://reader:${value}@127.0.0.1:1/dbos_sys`],
      ['drain-status', '--app-name', 'dbos-app', `--database-url=postgresql://reader:${value}@127.0.0.1:1/dbos_sys`],
      ['run', '--dry-run', '--remote', `https://x-access-token:${value}@github.com/example-org/gitops.git`],
      ['run', '--dry-run', `--remote=https://${value}@github.com/example-org/gitops.git`],
    ]) {
      const run = await cli(argv);
      expect(run.code, argv.slice(0, 2).join(' ')).toBe(64);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/is not accepted|--remote carries credentials/);
      expect(run.stderr).not.toContain(value);
    }
    // A value that lost its flag is not echoed either.
    const stray = await cli(['plan', value]);
    expect(stray.code).toBe(64);
    expect(stray.stderr).toMatch(/unexpected argument #2 \(not shown/);
    expect(stray.stderr).not.toContain(value);
  });

  it('through pnpm itself (pnpm 12 + pnpm-workspace.yaml): the README commands print only their own output, and a refused secret appears nowhere', () => {
    const value = randomBytes(18).toString('base64url');
    const help = spawnSync('pnpm', ['bot', 'drain-status', '--help'], { cwd: REPO, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
    expect(help.status).toBe(0);
    expect(help.stdout.startsWith('usage: pnpm bot drain-status')).toBe(true);
    // No `$ tsx packages/bot/src/cli.ts ...` line from pnpm.
    expect(help.stderr).toBe('');
    const refused = spawnSync(
      'pnpm',
      ['bot', 'drain-status', '--app-name', 'dbos-app', '--database-url', `postgresql://reader:${value}@127.0.0.1:1/dbos_sys`],
      { cwd: REPO, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } },
    );
    expect(refused.status).toBe(64);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^error: --database-url is not accepted/);
    expect(refused.stderr).not.toContain(value);
  });

  it('drain-status with an unreachable database fails closed with exit 10 and never prints the password', async () => {
    const password = randomBytes(12).toString('hex');
    const url = `postgresql://reader:${password}@127.0.0.1:1/dbos_sys`;
    const run = await cli(['drain-status', '--app-name', 'dbos-app'], { PATH: process.env.PATH, DBOS_DRAIN_DATABASE_URL: url });
    expect(run.code).toBe(10);
    expect(run.stdout + run.stderr).not.toContain(password);
  });
});
