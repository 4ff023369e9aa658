/**
 * Test-only: a fresh copy of this repository's GitOps tree (base/, overlays/, clusters/, .github/) in a temporary
 * directory, with the repository's own per-application cluster files (which the scaffold copies), and sealed-secrets
 * certificates whose private keys the test keeps.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { createFixtureRepo, type FixtureRepo } from '@dbos-gitops/testkit';
import { makeTestCertificate, type TestCertificate } from '@dbos-gitops/sealing/testing';
import { SecretInput } from '@dbos-gitops/sealing';
import { defaultRoot, main, type AppsIo } from '../src/cli/index.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TREE = ['base', 'overlays', 'clusters', '.github'];

function filesOf(root: string, dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) Object.assign(out, filesOf(root, path));
    else if (entry.isFile()) out[path] = readFileSync(join(root, path), 'utf8');
  }
  return out;
}

export interface FreshRepo {
  repo: FixtureRepo;
  root: string;
  certificates: Record<string, TestCertificate>;
}

export async function freshRepo(): Promise<FreshRepo> {
  const files: Record<string, string> = {};
  for (const dir of TREE) Object.assign(files, filesOf(REPO_ROOT, dir));
  const certificates: Record<string, TestCertificate> = {};
  for (const env of ['dev', 'staging']) {
    // Valid long before and after the fixed clock the tests run the commands with.
    certificates[env] = makeTestCertificate({ startDate: '20200101000000Z', endDate: '20990101000000Z' });
    files[`clusters/${env}/sealed-secrets-cert.pem`] = certificates[env].certificatePem;
  }
  const repo = await createFixtureRepo(files, { git: false });
  return { repo, root: repo.root, certificates };
}

/** sha256 over every path and content under `root`: equal before and after means not one byte changed. */
export function treeHash(root: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = dir === '.' ? entry.name : `${dir}/${entry.name}`;
      hash.update(`${entry.isDirectory() ? 'd' : 'f'} ${path}\n`);
      if (entry.isDirectory()) walk(path);
      else hash.update(readFileSync(join(root, path)));
    }
  };
  walk('.');
  return hash.digest('hex');
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `apps:<command>` in-process with `stdin` as its (non-terminal) standard input. */
export async function runApps(argv: readonly string[], options: { root: string; stdin?: string; env?: NodeJS.ProcessEnv; now?: Date }): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: AppsIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: options.env ?? {},
    stdinIsTTY: false,
    secretInput: () => new SecretInput(Readable.from([options.stdin ?? '']) as unknown as NodeJS.ReadStream),
    now: () => options.now ?? new Date('2026-11-30T08:00:00.000Z'),
    root: defaultRoot(options.root),
  };
  const code = await main([...argv, '--root', options.root], io);
  return { code, stdout, stderr };
}
