import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyRepo, createFixtureRepo, editYaml } from './fixture-repo.ts';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');
const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));

let clean: string;
let broken: string;

function run(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync(tsx, [cli, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  clean = await createFixtureRepo();
  broken = await copyRepo(clean);
  await editYaml(broken, 'base/dex/deployment.yaml', ([d]) => {
    delete d!.spec.template.spec.containers[0].readinessProbe;
  });
});

afterAll(async () => {
  await rm(clean, { recursive: true, force: true });
  await rm(broken, { recursive: true, force: true });
});

describe('pnpm validate', () => {
  it('prints one block per violation and the summary, and exits 1', () => {
    const { code, stdout } = run(['--root', broken]);
    expect(code).toBe(1);
    expect(stdout).toBe(
      'base/dex/deployment.yaml › Deployment/dbos/dex › probes: container "dex" has no readinessProbe\n' +
        '  in: dev: overlays/dev/kustomization.yaml\n' +
        '  fix: add readinessProbe (httpGet on the health endpoint) to spec.template.spec.containers[name=dex]\n' +
        'validate: 31 objects in 3 renders, 1 violation\n',
    );
  });

  it('exits 0 on a clean repository with only the summary line', () => {
    const { code, stdout } = run(['--root', clean]);
    expect(code).toBe(0);
    expect(stdout).toBe('validate: 31 objects in 3 renders, 0 violations\n');
  });

  it('prints machine-readable JSON with --json, also after pnpm\'s forwarded --', () => {
    const { code, stdout } = run(['--', '--root', broken, '--json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { violations: Array<Record<string, string>>; objects: number; summary: string };
    expect(report.objects).toBe(31);
    expect(report.violations).toEqual([
      expect.objectContaining({ rule: 'probes', file: 'base/dex/deployment.yaml', object: 'Deployment/dbos/dex' }),
    ]);
    expect(report.summary).toBe('validate: 31 objects in 3 renders, 1 violation');
  });

  it('runs a single rule with --only', () => {
    const { code, stdout } = run(['--root', broken, '--only', 'resources']);
    expect(code).toBe(0);
    expect(stdout).toContain('0 violations');
  });

  it('exits 2 with a clear message on an unknown rule, an unknown flag or a missing root', () => {
    const unknownRule = run(['--root', clean, '--only', 'nope']);
    expect(unknownRule.code).toBe(2);
    expect(unknownRule.stderr).toContain('unknown rule "nope" for --only; known rules: render, schema, unknown-kind, unknown-field, probes');
    const unknownFlag = run(['--frobnicate']);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain('usage: pnpm validate');
    const missingRoot = run(['--root', path.join(clean, 'nowhere')]);
    expect(missingRoot.code).toBe(2);
    expect(missingRoot.stderr).toContain('is not a directory');
  });

  it('exits 2 when kubectl is missing', () => {
    const { code, stderr, stdout } = run(['--root', clean], { ...process.env, KUBECTL: '/nonexistent/kubectl' });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('validate: "/nonexistent/kubectl" was not found on PATH');
  });
});
