import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyRepo, createFixtureRepo, editYaml } from '../testing/fixture-repo.ts';
import { validateCommand } from './validate-command.ts';

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
        'validate: 32 objects in 3 renders, 1 violation\n',
    );
  });

  it('exits 0 on a clean repository with only the summary line', () => {
    const { code, stdout } = run(['--root', clean]);
    expect(code).toBe(0);
    expect(stdout).toBe('validate: 32 objects in 3 renders, 0 violations\n');
  });

  it("prints machine-readable JSON with --json, also after pnpm's forwarded --", () => {
    const { code, stdout } = run(['--', '--root', broken, '--json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { violations: Array<Record<string, string>>; objects: number; summary: string };
    expect(report.objects).toBe(32);
    expect(report.violations).toEqual([expect.objectContaining({ rule: 'probes', file: 'base/dex/deployment.yaml', object: 'Deployment/dbos/dex' })]);
    expect(report.summary).toBe('validate: 32 objects in 3 renders, 1 violation');
  });

  it('runs a single rule with --only', () => {
    const { code, stdout } = run(['--root', broken, '--only', 'resources']);
    expect(code).toBe(0);
    expect(stdout).toContain('0 violations');
  });

  it('exits 64 (usage) with a clear message on an unknown rule, an unknown flag or a missing root', () => {
    const unknownRule = run(['--root', clean, '--only', 'nope']);
    expect(unknownRule.code).toBe(64);
    expect(unknownRule.stderr).toContain('unknown rule "nope" for --only; known rules: render, schema, unknown-kind, unknown-field, probes');
    const unknownFlag = run(['--frobnicate']);
    expect(unknownFlag.code).toBe(64);
    expect(unknownFlag.stderr).toContain('usage: pnpm validate');
    const missingRoot = run(['--root', path.join(clean, 'nowhere')]);
    expect(missingRoot.code).toBe(64);
    expect(missingRoot.stderr).toContain('is not a directory');
  });

  it('never echoes a value that may have lost its flag', () => {
    const secret = 'ghp_notARealTokenButShapedLikeOne';
    for (const args of [['--token', secret], [secret], ['--only', `${secret}!`]]) {
      const { code, stdout, stderr } = run(args);
      expect(code).toBe(64);
      expect(stdout + stderr).not.toContain(secret);
    }
  });

  it('exits 2 when kubectl is missing', () => {
    const { code, stderr, stdout } = run(['--root', clean], { ...process.env, KUBECTL: '/nonexistent/kubectl' });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('error: "/nonexistent/kubectl" was not found on PATH');
    expect(stderr).toContain('what to do: install kubectl');
  });

  it('explains every flag with --help, and prints its version with --version', () => {
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: pnpm validate \[--root DIR\] \[--json\] \[--only RULE\]/);
    for (const flag of [
      /--root DIR\s+the GitOps repository/,
      /--json\s+print the result as JSON/,
      /--only RULE\s+run only this rule/,
      /--version\s+print the version/,
    ]) {
      expect(help.stdout).toMatch(flag);
    }
    expect(help.stdout).toContain('exit status: 0 clean, 1 violations found, 2 a required tool (kubectl) is missing or broken, 64 usage.');
    const version = run(['--', '--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toBe('@dbos-gitops/validate 0.1.0\n');
  });

  it('prints no progress when stderr is not a terminal, and a line per step when it is', async () => {
    expect(run(['--root', clean]).stderr).toBe('');
    const stderr: string[] = [];
    const stdout: string[] = [];
    const io = { stdout: (text: string) => stdout.push(text), stderr: (text: string) => stderr.push(text), env: {} };
    expect(await validateCommand(['--root', clean], io, true)).toBe(0);
    // Renders run two at a time, so they finish in either order; the count still climbs one by one.
    expect(stderr.slice(0, 3).map((line) => /\((\d)\/3\)/.exec(line)?.[1])).toEqual(['1', '2', '3']);
    expect(
      stderr
        .slice(0, 3)
        .map((line) => line.replace(/ \(\d\/3\)/, ''))
        .sort(),
    ).toEqual(['… rendered clusters/dev/argocd\n', '… rendered clusters/dev/flux\n', '… rendered overlays/dev\n']);
    expect(stderr.slice(3)).toEqual(['… checking schemas\n', '… checking the policy set\n']);
    expect(stdout.join('')).toBe('validate: 32 objects in 3 renders, 0 violations\n');
  });
});
