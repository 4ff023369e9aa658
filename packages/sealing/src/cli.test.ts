import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runSeal } from './seal-command.ts';
import { makeTestCertificate, type TestCertificate } from '../testing/certificates.ts';
import { unsealSealedSecret, unsealValue } from '../testing/controller-unseal.ts';

let key: TestCertificate;
let dir: string;
let certPath: string;
beforeAll(() => {
  key = makeTestCertificate();
  dir = mkdtempSync(join(tmpdir(), 'sealing-cli-'));
  certPath = join(dir, 'cert.pem');
  writeFileSync(certPath, key.certificatePem);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[], extraEnv: Record<string, string> = {}) {
  // Values come from the environment (or files), never from argv.
  const env = { SECRET_A, SECRET_B, ...extraEnv };
  let stdout = '';
  let stderr = '';
  const code = await runSeal(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    env,
    cwd: dir,
  });
  return { code, stdout, stderr };
}

// Distinctive values so a leak anywhere is easy to grep for.
const SECRET_A = 'plaintext-canary-7f3a9c1e';
const SECRET_B = 'plaintext-canary-b42d0e88';

function everythingWritten(): string {
  return readdirSync(dir)
    .map((name) => readFileSync(join(dir, name), 'utf8'))
    .join('\n');
}

describe('runSeal', () => {
  it('seals literals and files to YAML on stdout that the controller can unseal', async () => {
    writeFileSync(join(dir, 'token.txt'), SECRET_B);
    const result = await run([
      '--cert',
      'cert.pem',
      '--namespace',
      'dbos',
      '--name',
      'postgres-admin',
      '--from-env',
      'password=SECRET_A',
      '--from-file',
      'token=token.txt',
      '--format',
      'yaml',
    ]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(parse(result.stdout).metadata).toEqual({ name: 'postgres-admin', namespace: 'dbos' });
    await expect(unsealSealedSecret(result.stdout, [key.privateKeyPem])).resolves.toEqual({ password: SECRET_A, token: SECRET_B });
    expect(result.stdout).not.toContain(SECRET_A);
    rmSync(join(dir, 'token.txt'));
  });

  it('writes JSON by default, like kubeseal, and honours SEALED_SECRETS_CERT and --scope', async () => {
    const result = await run(['-n', 'dbos', '--name=x', '--scope=cluster-wide', '--from-env=k=SECRET_A'], {
      SEALED_SECRETS_CERT: certPath,
    });
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout);
    expect(parsed.kind).toBe('SealedSecret');
    expect(parsed.metadata.annotations).toEqual({ 'sealedsecrets.bitnami.com/cluster-wide': 'true' });
    await expect(unsealSealedSecret(parsed, [key.privateKeyPem])).resolves.toEqual({ k: SECRET_A });
  });

  it('merges into an existing file in place, keeping it a valid SealedSecret', async () => {
    const file = join(dir, 'postgres-admin.sealed.yaml');
    const first = await run(['--cert', certPath, '-n', 'dbos', '--name', 'postgres-admin', '--from-env', 'password=SECRET_A', '-o', 'yaml']);
    writeFileSync(file, `# committed by hand\n${first.stdout}`);
    // A key the file does not declare is refused unless --add-key says it is meant.
    const undeclared = await run(['--cert', certPath, '--merge-into', file, '--from-env', 'database-url=SECRET_B']);
    expect(undeclared).toMatchObject({ code: 64, stdout: '' });
    expect(undeclared.stderr).toMatch(/declares the key\(s\) password, not database-url.*--add-key/);
    expect(readFileSync(file, 'utf8')).toBe(`# committed by hand\n${first.stdout}`);
    const merged = await run(['--cert', certPath, '--merge-into', file, '--add-key', '--from-env', 'database-url=SECRET_B']);
    expect(merged).toEqual({ code: 0, stdout: '', stderr: '' });
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith('# committed by hand\n')).toBe(true);
    await expect(unsealSealedSecret(text, [key.privateKeyPem])).resolves.toEqual({ password: SECRET_A, 'database-url': SECRET_B });
    const wrong = await run(['--cert', certPath, '--merge-into', file, '--name', 'other', '--from-env', 'x=SECRET_B']);
    // The file and the target disagree: a configuration error (2), no longer the catch-all 1.
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^error: .*name differs/);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('--merge-into accepts only declared keys and clears dbos.dev/placeholder only when every placeholder key is sealed', async () => {
    const file = join(dir, 'conductor-db.sealed.yaml');
    const created = await run([
      '--cert',
      certPath,
      '-n',
      'dbos',
      '--name',
      'conductor-db',
      '--from-env',
      'password=SECRET_A',
      '--from-env',
      'database-url=SECRET_A',
      '-o',
      'yaml',
    ]);
    // A placeholder file as committed before the key list existed: the mark alone means every key is a placeholder.
    const original = created.stdout.replace('  name: conductor-db\n', '  name: conductor-db\n  annotations:\n    dbos.dev/placeholder: "true"\n');
    expect(original).not.toBe(created.stdout);
    writeFileSync(file, original);
    const annotations = () => parse(readFileSync(file, 'utf8')).metadata.annotations ?? {};

    const typo = await run(['--cert', certPath, '--merge-into', file, '--from-env', 'pasword=SECRET_B']);
    expect(typo.code).toBe(64);
    expect(typo.stderr).toMatch(/declares the key\(s\) database-url, password, not pasword/);
    expect(readFileSync(file, 'utf8')).toBe(original);

    const one = await run(['--cert', certPath, '--merge-into', file, '--from-env', 'password=SECRET_B']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toMatch(/still holds placeholder key\(s\) database-url/);
    expect(annotations()).toEqual({ 'dbos.dev/placeholder': 'true', 'dbos.dev/placeholder-keys': 'database-url' });

    const last = await run(['--cert', certPath, '--merge-into', file, '--from-env', 'database-url=SECRET_B']);
    expect(last).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(annotations()).toEqual({});
    await expect(unsealSealedSecret(readFileSync(file, 'utf8'), [key.privateKeyPem])).resolves.toEqual({ password: SECRET_B, 'database-url': SECRET_B });
    expect(readFileSync(file, 'utf8')).not.toContain(SECRET_B);
  });

  it('prints one raw sealed value with --raw', async () => {
    const result = await run(['--cert', certPath, '-n', 'dbos', '--name', 'x', '--raw', '--from-env', 'v=SECRET_A']);
    expect(result.code).toBe(0);
    await expect(unsealValue([key.privateKeyPem], result.stdout, 'dbos/x')).resolves.toEqual(Buffer.from(SECRET_A));
  });

  it('prints the certificate with --fetch-cert', async () => {
    const result = await run(['--cert', certPath, '--fetch-cert']);
    expect(result).toEqual({ code: 0, stdout: key.certificatePem, stderr: '' });
  });

  it('fails with exit 2 (config; was 1) and a one-line message plus what to do for an expired certificate', async () => {
    const expired = makeTestCertificate({ startDate: '20200101000000Z', endDate: '20210101000000Z' });
    writeFileSync(join(dir, 'expired.pem'), expired.certificatePem);
    const result = await run(['--cert', 'expired.pem', '-n', 'dbos', '--name', 'x', '--from-env', 'v=SECRET_A']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^error: the sealing certificate expired on 2021-01-01.*fetch the current certificate.*\n {2}what to do: [^\n]*secrets:fetch-cert[^\n]*\n$/,
    );
    rmSync(join(dir, 'expired.pem'));
  });

  it('rejects bad usage (a value on the command line included) with exit 64 and never echoes a value', async () => {
    const cases: string[][] = [
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', '--from-literal', SECRET_A],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', '--from-literal', `k=${SECRET_A}`],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', `--from-literal=k=${SECRET_A}`],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', '--from-env', 'k=NOT_SET_ANYWHERE'],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', '--from-env', `k=${SECRET_A}/+x==`],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', '--from-env', `${SECRET_A}/x=SECRET_A`],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', SECRET_A],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', `--bogus=${SECRET_A}`],
      ['--cert', certPath, '-n', 'dbos', '--from-env', 'k=SECRET_A'],
      ['--cert', certPath, '--name', 'x', '--from-env', 'k=SECRET_A'],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', '--scope', 'galaxy', '--from-env', 'k=SECRET_A'],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', '--from-env', 'k=SECRET_A', '--from-env', 'k=SECRET_B'],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', '--format', 'xml', '--from-env', 'k=SECRET_A'],
      ['--cert', certPath, '-n', 'dbos', '--name', 'x'],
      // A bare base64 value whose "=" padding looks like KEY=VALUE must not leak its first part.
      ['--cert', certPath, '-n', 'dbos', '--name', 'x', '--from-literal', `${SECRET_A}/+x==`],
    ];
    for (const argv of cases) {
      const result = await run(argv);
      expect(result.code, argv.join(' ')).toBe(64);
      expect(result.stdout).toBe('');
      // One line of error and one of what to do (cli-kit's single catch), nothing else.
      expect(result.stderr).toMatch(/^error: [^\n]+\n {2}what to do: [^\n]+\n$/);
      expect(result.stderr).not.toContain(SECRET_A);
      expect(result.stderr).not.toContain(SECRET_B);
    }
  });

  it('leaves no plaintext in any file it wrote', () => {
    const written = everythingWritten();
    expect(written).toContain('SealedSecret');
    expect(written).not.toContain(SECRET_A);
    expect(written).not.toContain(SECRET_B);
  });

  it('prints usage with --help', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/--merge-into FILE/);
  });

  it('--help explains every flag on its own line; --version prints the version; a leading -- is dropped', async () => {
    const help = await run(['--', '--help']);
    expect(help.code).toBe(0);
    for (const flag of [
      '--cert FILE|URL',
      '--controller-name NAME',
      '--controller-namespace NS',
      '--kubeconfig FILE',
      '--name NAME',
      '-n, --namespace NS',
      '--scope SCOPE',
      '--from-file [KEY=]PATH',
      '--from-env KEY=VARIABLE',
      '--type TYPE',
      '-o, --format yaml|json',
      '--json',
      '--merge-into FILE',
      '--add-key',
      '--raw',
      '--fetch-cert',
      '--version',
    ]) {
      expect(help.stdout).toMatch(new RegExp(`^  (    )?${flag.replace(/[|[\]]/g, '\\$&')}  +\\S`, 'm'));
    }
    const version = await run(['--version']);
    expect(version).toEqual({ code: 0, stdout: expect.stringMatching(/^seal \d+\.\d+\.\d+\n$/), stderr: '' });
    const sealed = await run(['--', '--cert', certPath, '-n', 'dbos', '--name', 'x', '--from-env', 'k=SECRET_A', '--json']);
    expect(sealed.code, sealed.stderr).toBe(0);
    await expect(unsealSealedSecret(JSON.parse(sealed.stdout), [key.privateKeyPem])).resolves.toEqual({ k: SECRET_A });
    // `pnpm bot seal` appends `--format yaml` as its default; the person's --json wins over it.
    const withDefault = await run(['--cert', certPath, '-n', 'dbos', '--name', 'x', '--from-env', 'k=SECRET_A', '--json', '--format', 'yaml']);
    expect(withDefault.code, withDefault.stderr).toBe(0);
    expect(JSON.parse(withDefault.stdout).kind).toBe('SealedSecret');
  });
});
