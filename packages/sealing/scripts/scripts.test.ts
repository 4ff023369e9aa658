/**
 * The people-facing scripts, driven as child processes the way people run them: stdin piped (no terminal; the child
 * gets its own session so it has no controlling terminal either), or a real pseudo-terminal from util-linux
 * `script` for the hidden-prompt and shown-once paths. Every file written is unsealed with the independent test
 * decryptor, and every value is searched for in stdout, stderr, the terminal transcript and every file on disk.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseCertificate } from '../src/certificate.ts';
import { sealSecret, toYaml } from '../src/document.ts';
import { makeTestCertificate, type TestCertificate } from '../testing/certificates.ts';
import { unsealSealedSecret } from '../testing/controller-unseal.ts';
import { createFixtureRepo, DBOS_CLI, findPostgresBinDir, startPostgres } from '@dbos-gitops/testkit';

const TSX = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
const SCRIPTS = fileURLToPath(new URL('.', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'sealing-scripts-'));
let certificate: TestCertificate;
let otherCertificate: TestCertificate;

beforeAll(() => {
  certificate = makeTestCertificate({ keyBits: 2048, days: 30 });
  otherCertificate = makeTestCertificate({ keyBits: 2048, days: 30 });
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** A value that looks like nothing else in the repository, so a search for it cannot match by accident. */
function uniqueValue(label: string): string {
  return `${label}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], {
    cwd,
    encoding: 'utf8',
  });
}

/** An application's identity.yaml, as overlays/<env>/apps/<app>/ holds it (only the keys the scripts read matter). */
function identity(app: string, databaseSecret: string, conductorApiKeySecret: string): string {
  return [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: app-identity',
    'data:',
    `  name: ${app}`,
    `  database-secret: ${databaseSecret}`,
    `  conductor-api-key-secret: ${conductorApiKeySecret}`,
    '',
  ].join('\n');
}

/** A scratch repository (testkit's fixture builder): the dev certificate, a placeholder license and two applications. */
async function makeRepo(withGit = true): Promise<string> {
  const sealing = parseCertificate(certificate.certificatePem);
  const license = toYaml(
    sealSecret({
      certificate: sealing,
      name: 'conductor-license',
      namespace: 'dbos',
      data: { 'license-key': 'placeholder' },
      annotations: { 'dbos.dev/placeholder': 'true' },
    }),
  );
  const repo = await createFixtureRepo(
    {
      'clusters/dev/sealed-secrets-cert.pem': certificate.certificatePem,
      'overlays/dev/platform/secrets/conductor-license.sealed.yaml': license,
      'overlays/dev/apps/dbos-app/identity.yaml': identity('dbos-app', 'dbos-app-db', 'conductor-api-key'),
      'overlays/dev/apps/orders/identity.yaml': identity('orders', 'orders-db', 'orders-conductor-api-key'),
    },
    { git: withGit, parent: scratch },
  );
  return repo.root;
}

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? allFiles(path) : [path];
  });
}

function expectNowhereOnDisk(root: string, values: string[]): void {
  for (const file of allFiles(root)) {
    const content = readFileSync(file);
    for (const value of values) expect(content.includes(value), `${value.slice(0, 6)}… found in ${file}`).toBe(false);
  }
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a script with stdin piped and no controlling terminal (its own session). */
function runPiped(script: string, args: string[], input: string, env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [join(SCRIPTS, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/**
 * Runs a command line inside a real pseudo-terminal (`script`), so /dev/tty exists and stdin is a terminal unless
 * the command line redirects it. `answers` are typed one at a time, each only after `prompt` appeared, as a human
 * would: typing before the script switches the terminal to raw mode would be echoed by the terminal itself.
 */
function runInTerminal(commandLine: string, answers: string[] = [], prompt = 'not echoed'): Promise<{ code: number | null; transcript: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-c', commandLine, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let transcript = '';
    let prompts = 0;
    const onOutput = (chunk: Buffer): void => {
      transcript += chunk.toString();
      const seen = transcript.split(prompt).length - 1;
      while (prompts < seen && prompts < answers.length) {
        // Give the child a moment to enter raw mode after printing the prompt.
        const answer = answers[prompts++]!;
        setTimeout(() => child.stdin.write(`${answer}\r`), 150);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, transcript }));
    if (answers.length === 0) child.stdin.end();
  });
}

const shellQuote = (value: string): string => `'${value.replace(/'/g, "'\\''")}'`;

describe('seal-value', () => {
  it('merges a piped value into the placeholder file: decrypts to it, placeholder gone, value shown nowhere', async () => {
    const root = await makeRepo();
    const value = uniqueValue('license');
    const before = readFileSync(join(root, 'overlays/dev/platform/secrets/conductor-license.sealed.yaml'), 'utf8');
    const args = ['--env', 'dev', '--name', 'conductor-license', '--key', 'license-key', '--root', root];
    const result = await runPiped('seal-value.ts', args, `${value}\n`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^updated overlays\/dev\/platform\/secrets\/conductor-license\.sealed\.yaml: key license-key sealed for clusters\/dev\/sealed-secrets-cert\.pem \(SHA256:/,
    );

    const after = readFileSync(join(root, 'overlays/dev/platform/secrets/conductor-license.sealed.yaml'), 'utf8');
    expect(await unsealSealedSecret(after, [certificate.privateKeyPem])).toEqual({ 'license-key': value });
    const metadata = parse(after).metadata as { annotations: Record<string, string> };
    expect(metadata.annotations['dbos.dev/placeholder']).toBeUndefined();
    expect(Date.parse(metadata.annotations['dbos.dev/rotated-at']!)).toBeGreaterThan(Date.now() - 60_000);
    expect(parse(after).spec.template).toEqual(parse(before).spec.template);
    for (const text of [result.stdout, result.stderr, ...args]) expect(text).not.toContain(value);
    expectNowhereOnDisk(root, [value]);
  });

  it('accepts only the keys the file declares (or --add-key), and keeps dbos.dev/placeholder until every placeholder key is sealed', async () => {
    const root = await makeRepo(false);
    const path = join(root, 'overlays/dev/platform/secrets/dex-credentials.sealed.yaml');
    const sealing = parseCertificate(certificate.certificatePem);
    // Two placeholder keys, marked the way files were before the key list existed (the mark alone: every key).
    writeFileSync(
      path,
      toYaml(
        sealSecret({
          certificate: sealing,
          name: 'dex-credentials',
          namespace: 'dbos',
          data: { 'admin-password-hash': 'placeholder', 'postgres-password': 'placeholder' },
          annotations: { 'dbos.dev/placeholder': 'true' },
        }),
      ),
    );
    const original = readFileSync(path, 'utf8');
    const seal = (key: string, value: string, ...extra: string[]) =>
      runPiped('seal-value.ts', ['--env', 'dev', '--name', 'dex-credentials', '--key', key, ...extra, '--root', root], `${value}\n`);
    const annotations = () => (parse(readFileSync(path, 'utf8')).metadata.annotations ?? {}) as Record<string, string>;

    const typoValue = uniqueValue('typo');
    const typo = await seal('postgres-pasword', typoValue);
    expect(typo.code).toBe(64); // usage (was 2)
    expect(typo.stderr).toMatch(/declares the key\(s\) admin-password-hash, postgres-password, not postgres-pasword; check the spelling, or pass --add-key/);
    expect(readFileSync(path, 'utf8')).toBe(original);
    expect(typo.stdout + typo.stderr).not.toContain(typoValue);

    const first = uniqueValue('pg');
    const one = await seal('postgres-password', first);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/still a placeholder: admin-password-hash \(dbos\.dev\/placeholder stays\)/);
    expect(annotations()).toMatchObject({ 'dbos.dev/placeholder': 'true', 'dbos.dev/placeholder-keys': 'admin-password-hash' });

    const second = uniqueValue('hash');
    const two = await seal('admin-password-hash', second);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toMatch(/dbos\.dev\/placeholder removed/);
    expect(annotations()['dbos.dev/placeholder']).toBeUndefined();
    expect(annotations()['dbos.dev/placeholder-keys']).toBeUndefined();

    const third = uniqueValue('extra');
    const added = await seal('issuer-secret', third, '--add-key');
    expect(added.code, added.stderr).toBe(0);
    expect(await unsealSealedSecret(readFileSync(path, 'utf8'), [certificate.privateKeyPem])).toEqual({
      'admin-password-hash': second,
      'postgres-password': first,
      'issuer-secret': third,
    });
    expectNowhereOnDisk(root, [typoValue, first, second, third]);
  });

  it("seals the drain reader URL into both copies (the bot's in dbos, KEDA's in keda) from one value, or into neither", async () => {
    const root = await makeRepo(false);
    const sealing = parseCertificate(certificate.certificatePem);
    const bot = join(root, 'overlays/dev/platform/secrets/dbos-drain-reader.sealed.yaml');
    const keda = join(root, 'overlays/dev/platform/secrets/dbos-drain-reader-keda.sealed.yaml');
    const old = uniqueValue('old-url');
    writeFileSync(bot, toYaml(sealSecret({ certificate: sealing, name: 'dbos-drain-reader', namespace: 'dbos', data: { 'database-url': old } })));
    // As committed: KEDA's copy added later, as a placeholder, in KEDA's namespace.
    writeFileSync(
      keda,
      toYaml(
        sealSecret({
          certificate: sealing,
          name: 'dbos-drain-reader-keda',
          namespace: 'keda',
          data: { 'database-url': 'placeholder' },
          annotations: { 'dbos.dev/placeholder': 'true' },
        }),
      ),
    );

    // The command the bot prints for the placeholder: no --namespace, the file says keda.
    const url = `postgresql://dbos_drain_reader:${uniqueValue('pw')}@db.dev.internal:5432/dbos_app?sslmode=require`;
    const result = await runPiped('seal-value.ts', ['--env', 'dev', '--name', 'dbos-drain-reader-keda', '--key', 'database-url', '--root', root], `${url}\n`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^updated overlays\/dev\/platform\/secrets\/dbos-drain-reader-keda\.sealed\.yaml: key database-url sealed .*, dbos\.dev\/placeholder removed/m,
    );
    expect(result.stdout).toMatch(/^updated overlays\/dev\/platform\/secrets\/dbos-drain-reader\.sealed\.yaml: key database-url sealed /m);
    expect(await unsealSealedSecret(readFileSync(keda, 'utf8'), [certificate.privateKeyPem])).toEqual({ 'database-url': url });
    expect(await unsealSealedSecret(readFileSync(bot, 'utf8'), [certificate.privateKeyPem])).toEqual({ 'database-url': url });
    expect(parse(readFileSync(keda, 'utf8')).metadata).toMatchObject({ name: 'dbos-drain-reader-keda', namespace: 'keda' });
    expect(parse(readFileSync(keda, 'utf8')).metadata.annotations['dbos.dev/placeholder']).toBeUndefined();
    expect(parse(readFileSync(bot, 'utf8')).metadata).toMatchObject({ name: 'dbos-drain-reader', namespace: 'dbos' });
    expect(result.stdout).not.toContain(url);
    expectNowhereOnDisk(root, [url, old]);

    // A partner that would refuse (it does not declare the key) stops the run before either file is touched.
    writeFileSync(keda, toYaml(sealSecret({ certificate: sealing, name: 'dbos-drain-reader-keda', namespace: 'keda', data: { connection: 'placeholder' } })));
    const [botBefore, kedaBefore] = [readFileSync(bot, 'utf8'), readFileSync(keda, 'utf8')];
    const refused = await runPiped(
      'seal-value.ts',
      ['--env', 'dev', '--name', 'dbos-drain-reader', '--key', 'database-url', '--root', root],
      `${uniqueValue('never')}\n`,
    );
    expect(refused.code).toBe(64); // usage (was 2)
    expect(refused.stderr).toMatch(/dbos-drain-reader-keda\.sealed\.yaml declares the key\(s\) connection, not database-url/);
    expect([readFileSync(bot, 'utf8'), readFileSync(keda, 'utf8')]).toEqual([botBefore, kedaBefore]);

    // A partner that passes every check but cannot be edited in place (flow-style encryptedData) fails only while
    // writing, after the bot's copy was written: that write is undone, so the pair never holds two passwords.
    const flow = toYaml(
      sealSecret({ certificate: sealing, name: 'dbos-drain-reader-keda', namespace: 'keda', data: { 'database-url': 'placeholder' } }),
    ).replace(/encryptedData:\n\s+database-url: (\S+)\n/, 'encryptedData: {database-url: $1}\n');
    expect(flow).toContain('encryptedData: {database-url: ');
    writeFileSync(keda, flow);
    const unwritable = await runPiped(
      'seal-value.ts',
      ['--env', 'dev', '--name', 'dbos-drain-reader', '--key', 'database-url', '--root', root],
      `${uniqueValue('undone')}\n`,
    );
    expect(unwritable.code).toBe(7); // a SealedSecret that cannot be edited: YAML (was 1)
    expect(unwritable.stderr).toMatch(/spec\.encryptedData is not a block mapping/);
    expect([readFileSync(bot, 'utf8'), readFileSync(keda, 'utf8')]).toEqual([botBefore, flow]);
  });

  it('creates a new SealedSecret file and keeps a multi-line value intact', async () => {
    const root = await makeRepo(false);
    const value = `-----BEGIN KEY-----\n${uniqueValue('line1')}\n${uniqueValue('line2')}\n-----END KEY-----`;
    const result = await runPiped('seal-value.ts', ['--env', 'dev', '--name', 'webhook-signing', '--key', 'key.pem', '--root', root], `${value}\n`);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^created overlays\/dev\/platform\/secrets\/webhook-signing\.sealed\.yaml/);
    expect(result.stdout).toContain('note: list webhook-signing.sealed.yaml in overlays/dev/platform/secrets/kustomization.yaml');
    const written = readFileSync(join(root, 'overlays/dev/platform/secrets/webhook-signing.sealed.yaml'), 'utf8');
    expect(await unsealSealedSecret(written, [certificate.privateKeyPem])).toEqual({ 'key.pem': value });
    expect(parse(written).metadata).toMatchObject({ name: 'webhook-signing', namespace: 'dbos' });
  });

  it("with --app, seals into that application's secrets: the app must exist (exit 2 naming its identity.yaml), and an app's secret is never sealed into platform/", async () => {
    const root = await makeRepo(false);
    const value = uniqueValue('orders-key');
    const sealed = await runPiped(
      'seal-value.ts',
      ['--env', 'dev', '--app', 'orders', '--name', 'orders-conductor-api-key', '--key', 'api-key', '--token-name', 'gitops-dev-orders-manual', '--root', root],
      value,
    );
    expect(sealed.code).toBe(0);
    expect(sealed.stdout).toMatch(/^created overlays\/dev\/apps\/orders\/secrets\/orders-conductor-api-key\.sealed\.yaml/);
    expect(sealed.stdout).toContain('note: list orders-conductor-api-key.sealed.yaml in overlays/dev/apps/orders/secrets/kustomization.yaml');
    const written = readFileSync(join(root, 'overlays/dev/apps/orders/secrets/orders-conductor-api-key.sealed.yaml'), 'utf8');
    expect(await unsealSealedSecret(written, [certificate.privateKeyPem])).toEqual({ 'api-key': value });
    expect((parse(written).metadata as { annotations: Record<string, string> }).annotations['dbos.dev/conductor-token']).toBe('gitops-dev-orders-manual');

    const typo = await runPiped('seal-value.ts', ['--env', 'dev', '--app', 'ordres', '--name', 'orders-db', '--key', 'database-url', '--root', root], value);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^error: the environment dev has no application ordres: overlays\/dev\/apps\/ordres\/identity\.yaml does not exist/);
    expect(existsSync(join(root, 'overlays/dev/apps/ordres'))).toBe(false);

    // Without --app, a name an application's identity.yaml claims is refused: in platform/ it would render nowhere.
    const misplaced = await runPiped('seal-value.ts', ['--env', 'dev', '--name', 'orders-db', '--key', 'database-url', '--root', root], value);
    expect(misplaced.code).toBe(64);
    expect(misplaced.stderr).toMatch(/orders-db is a secret of the application orders[\s\S]*--app orders/);
    // --token-name belongs to an application's own API key only.
    const stray = await runPiped(
      'seal-value.ts',
      ['--env', 'dev', '--app', 'orders', '--name', 'orders-db', '--key', 'database-url', '--token-name', 'x', '--root', root],
      value,
    );
    expect(stray.code).toBe(64);
    expect(readdirSync(join(root, 'overlays/dev/apps/orders'))).toEqual(expect.not.arrayContaining(['orders-db.sealed.yaml']));
    for (const result of [sealed, typo, misplaced, stray]) expect(`${result.stdout}${result.stderr}`).not.toContain(value);
    expect(existsSync(join(root, 'overlays/dev/platform/secrets/orders-db.sealed.yaml'))).toBe(false);
    expect(existsSync(join(root, 'overlays/dev/apps/orders/secrets/orders-db.sealed.yaml'))).toBe(false);
  });

  it('refuses an expired certificate, an empty value and value-carrying flags without writing or echoing anything', async () => {
    const root = await makeRepo(false);
    const licensePath = join(root, 'overlays/dev/platform/secrets/conductor-license.sealed.yaml');
    const original = readFileSync(licensePath, 'utf8');
    const value = uniqueValue('never');

    const expired = makeTestCertificate({ keyBits: 2048, startDate: '20240101000000Z', endDate: '20240201000000Z' });
    writeFileSync(join(root, 'expired.pem'), expired.certificatePem);
    const old = await runPiped(
      'seal-value.ts',
      ['--env', 'dev', '--name', 'conductor-license', '--key', 'license-key', '--cert', join(root, 'expired.pem'), '--root', root],
      value,
    );
    expect(old.code).toBe(2); // the certificate is configuration (was 1)
    expect(old.stderr).toMatch(/^error: the sealing certificate expired on 2024-02-01/);

    const empty = await runPiped('seal-value.ts', ['--env', 'dev', '--name', 'conductor-license', '--key', 'license-key', '--root', root], '\n');
    expect(empty.code).toBe(64); // input that breaks the command's contract: usage (was 1)
    expect(empty.stderr).toMatch(/empty; nothing was written/);

    const literal = await runPiped('seal-value.ts', ['--env', 'dev', '--name', 'x', '--key', 'k', `--from-literal=k=${value}`, '--root', root], '');
    expect(literal.code).toBe(64); // usage (was 2)
    expect(literal.stderr).toMatch(/unknown option --from-literal/);

    for (const result of [old, empty, literal]) expect(`${result.stdout}${result.stderr}`).not.toContain(value);
    expect(readFileSync(licensePath, 'utf8')).toBe(original);
    expectNowhereOnDisk(root, [value]);
  });

  it('reads the value from a hidden prompt on a real terminal: nothing of it is echoed', async () => {
    const root = await makeRepo(false);
    const value = uniqueValue('typed');
    const commandLine = [
      TSX,
      join(SCRIPTS, 'seal-value.ts'),
      '--env',
      'dev',
      '--name',
      'conductor-api-key',
      '--app',
      'dbos-app',
      '--key',
      'api-key',
      '--token-name',
      'gitops-dev-manual',
      '--root',
      root,
    ]
      .map(shellQuote)
      .join(' ');
    const { code, transcript } = await runInTerminal(commandLine, [value]);
    expect(code).toBe(0);
    expect(transcript).toContain('value of conductor-api-key/api-key (dev dbos-app, not echoed): ');
    expect(transcript).toMatch(/created overlays\/dev\/apps\/dbos-app\/secrets\/conductor-api-key\.sealed\.yaml/);
    expect(transcript).not.toContain(value);
    const written = readFileSync(join(root, 'overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml'), 'utf8');
    expect(await unsealSealedSecret(written, [certificate.privateKeyPem])).toEqual({ 'api-key': value });
    expect((parse(written).metadata as { annotations: Record<string, string> }).annotations['dbos.dev/conductor-token']).toBe('gitops-dev-manual');
  });
});

describe('fetch-cert', () => {
  let server: Server;
  let served = '';
  const requests: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests.push(`${request.method} ${request.url} ${request.headers.authorization ?? ''}`);
      if (request.url === '/api/v1/namespaces/kube-system/services/sealed-secrets') {
        response.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'sealed-secrets', namespace: 'kube-system' },
            spec: { ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
          }),
        );
      } else if (request.url === '/api/v1/namespaces/kube-system/services/http:sealed-secrets:http/proxy/v1/cert.pem') {
        response.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(served);
      } else {
        response
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  // Plain HTTP on loopback (client-node then needs insecure-skip-tls-verify); TLS to the API server is covered by
  // src/cert-source.test.ts, this test is about what the script does with the answer.
  function kubeconfig(dir: string): string {
    const { port } = server.address() as AddressInfo;
    const path = join(dir, 'kubeconfig.yaml');
    writeFileSync(
      path,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:${port}\n    insecure-skip-tls-verify: true\nusers:\n- name: tester\n  user:\n    token: test-bearer-token\ncontexts:\n- name: other\n  context:\n    cluster: nowhere\n    user: tester\n- name: dev-admin\n  context:\n    cluster: fake\n    user: tester\ncurrent-context: other\n`,
    );
    return path;
  }

  it("writes the controller's new certificate, reports the key change honestly, offers re-seal commands, and commits", async () => {
    const root = await makeRepo();
    const config = kubeconfig(scratch);
    served = otherCertificate.certificatePem;
    const result = await runPiped(
      'fetch-cert.ts',
      ['--env', 'dev', '--kubeconfig', config, '--context', 'dev-admin', '--commit', '--reseal-hint', '--root', root],
      '',
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const fetched = parseCertificate(otherCertificate.certificatePem);
    expect(readFileSync(join(root, 'clusters/dev/sealed-secrets-cert.pem'), 'utf8')).toBe(fetched.pem);
    expect(result.stdout).toContain(`key fingerprint:  ${fetched.keyFingerprint}`);
    expect(result.stdout).toContain(`was ${parseCertificate(certificate.certificatePem).keyFingerprint}`);
    expect(result.stdout).toMatch(/cannot be read from the ciphertext/);
    expect(result.stdout).toMatch(/overlays\/dev\/platform\/secrets\/conductor-license\.sealed\.yaml: last changed/);
    expect(result.stdout).toContain('pnpm secrets:seal --env dev --name conductor-license --key license-key');
    expect(git(root, 'log', '-1', '--format=%s')).toContain(`dev: sealing certificate ${fetched.keyFingerprint}`);
    expect(git(root, 'status', '--porcelain')).toBe('');
    expect(requests.some((line) => line.endsWith('Bearer test-bearer-token'))).toBe(true);

    // Same key again: nothing to re-seal, nothing to commit.
    const again = await runPiped('fetch-cert.ts', ['--env', 'dev', '--kubeconfig', config, '--context', 'dev-admin', '--commit', '--root', root], '');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/sealing key is unchanged/);
    expect(again.stdout).toMatch(/unchanged in git; nothing to commit/);
  });

  it('--json prints the same report as data: the new certificate, the key change, the files and re-seal commands', async () => {
    const root = await makeRepo(false);
    served = otherCertificate.certificatePem;
    const result = await runPiped(
      'fetch-cert.ts',
      ['--env', 'dev', '--kubeconfig', kubeconfig(scratch), '--context', 'dev-admin', '--reseal-hint', '--json', '--root', root],
      '',
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const fetched = parseCertificate(otherCertificate.certificatePem);
    expect(JSON.parse(result.stdout)).toEqual({
      environment: 'dev',
      path: 'clusters/dev/sealed-secrets-cert.pem',
      controller: 'kube-system/sealed-secrets',
      context: 'dev-admin',
      certificate: {
        keyFingerprint: fetched.keyFingerprint,
        keyBits: 2048,
        certificateSha256: fetched.certificateSha256,
        notBefore: fetched.notBefore.toISOString(),
        notAfter: fetched.notAfter.toISOString(),
      },
      previousKeyFingerprint: parseCertificate(certificate.certificatePem).keyFingerprint,
      keyChanged: true,
      sealedFiles: [
        { path: 'overlays/dev/platform/secrets/conductor-license.sealed.yaml', verdict: 'unknown (not committed, or no history for the old certificate)' },
      ],
      resealCommands: ['pnpm secrets:seal --env dev --name conductor-license --key license-key'],
      committed: false,
    });
    expect(readFileSync(join(root, 'clusters/dev/sealed-secrets-cert.pem'), 'utf8')).toBe(fetched.pem);
  });

  it('fails with a clear message for an unknown context or a missing controller, and writes nothing', async () => {
    const root = await makeRepo(false);
    const config = kubeconfig(scratch);
    const before = readFileSync(join(root, 'clusters/dev/sealed-secrets-cert.pem'), 'utf8');
    const unknown = await runPiped('fetch-cert.ts', ['--env', 'dev', '--kubeconfig', config, '--context', 'nope', '--root', root], '');
    expect(unknown.code).toBe(64); // usage (was 2)
    expect(unknown.stderr).toMatch(/no context "nope"/);
    const missing = await runPiped(
      'fetch-cert.ts',
      ['--env', 'dev', '--kubeconfig', config, '--context', 'dev-admin', '--controller-name', 'sealed-secrets-controller', '--root', root],
      '',
    );
    expect(missing.code).toBe(2); // no certificate where the flags point: config (was 1)
    expect(missing.stderr).toMatch(/cannot get the sealed-secrets Service kube-system\/sealed-secrets-controller: HTTP 404/);
    expect(readFileSync(join(root, 'clusters/dev/sealed-secrets-cert.pem'), 'utf8')).toBe(before);
  });
});

describe('bootstrap-environment', () => {
  async function newEnvironmentRepo(): Promise<string> {
    const root = await makeRepo(false);
    mkdirSync(join(root, 'clusters/qa'), { recursive: true });
    writeFileSync(join(root, 'clusters/qa/sealed-secrets-cert.pem'), certificate.certificatePem);
    return root;
  }

  it('refuses without a terminal (the SQL is shown only there) and writes nothing', async () => {
    const root = await newEnvironmentRepo();
    const result = await runPiped('bootstrap-environment.ts', ['--env', 'qa', '--db-host', 'db.qa.internal', '--root', root], 'a\nb\nc\n');
    expect(result.code).toBe(64); // run it from a terminal: usage (was 1)
    expect(result.stderr).toMatch(/no terminal: the role SQL/);
    expect(() => readdirSync(join(root, 'overlays/qa'))).toThrow();
  });

  it("refuses a KEDA namespace that is the application's own or not a namespace name, before asking or writing anything", async () => {
    const root = await newEnvironmentRepo();
    const same = await runPiped(
      'bootstrap-environment.ts',
      ['--env', 'qa', '--db-host', 'db.qa.internal', '--keda-namespace', 'dbos', '--root', root],
      'a\nb\nc\n',
    );
    expect(same.code).toBe(64); // usage (was 2)
    expect(same.stderr).toMatch(/--keda-namespace must be KEDA's own namespace, not the application's \(dbos\)/);
    const invalid = await runPiped(
      'bootstrap-environment.ts',
      ['--env', 'qa', '--db-host', 'db.qa.internal', '--keda-namespace', 'KEDA_NS', '--root', root],
      'a\nb\nc\n',
    );
    expect(invalid.code).toBe(64); // usage (was 2)
    expect(invalid.stderr).toMatch(/"KEDA_NS" is not a valid namespace/);
    expect(() => readdirSync(join(root, 'overlays/qa'))).toThrow();
  });

  it('seals the whole set from stdin lines; role SQL and the generated Dex password go to the terminal only, matching what was sealed', async () => {
    const root = await newEnvironmentRepo();
    const admin = uniqueValue('admin');
    const license = uniqueValue('license');
    const apiKey = `dbos_${uniqueValue('api')}`;
    writeFileSync(join(scratch, 'answers.txt'), `${admin}\n${license}\n${apiKey}\n`);
    const commandLine = `${[TSX, join(SCRIPTS, 'bootstrap-environment.ts'), '--env', 'qa', '--db-host', 'db.qa.internal', '--dex-postgres', '--root', root].map(shellQuote).join(' ')} < ${shellQuote(join(scratch, 'answers.txt'))}`;
    const { code, transcript } = await runInTerminal(commandLine);
    rmSync(join(scratch, 'answers.txt'));
    expect(code).toBe(0);
    for (const asked of [admin, license, apiKey]) expect(transcript).not.toContain(asked);

    const passwordOf = (role: string): string => new RegExp(`CREATE ROLE "${role}" WITH LOGIN PASSWORD '([^']+)';`).exec(transcript)?.[1] ?? '';
    const conductor = passwordOf('dbos_conductor_role');
    const app = passwordOf('dbos_app_role');
    const reader = passwordOf('dbos_drain_reader');
    const dexDb = passwordOf('dex');
    for (const password of [conductor, app, reader, dexDb]) expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(transcript).toContain('GRANT SELECT ON "dbos"."workflow_status" TO "dbos_drain_reader";');
    expect(transcript).toContain('GRANT ALL ON SCHEMA public TO "dbos_conductor_role";');
    // Progress on the terminal's stderr for the slow steps (bcrypt, nine RSA sealings), never on stdout.
    expect(transcript).toMatch(/… hashing the Dex admin password/);
    expect(transcript).toMatch(/… sealing dbos-drain-reader-keda \(8\/9\)/);
    const dexPassword = /Dex admin password \(shown once[^)]*\): (\S+)/.exec(transcript)?.[1] ?? '';
    expect(dexPassword).toMatch(/^[A-Za-z0-9_-]{32}$/);

    // The platform's Secrets in platform/, the first application's two beside it in apps/dbos-app/.
    const unseal = async (name: string) =>
      unsealSealedSecret(
        readFileSync(
          join(
            root,
            ['dbos-app-db', 'conductor-api-key'].includes(name)
              ? `overlays/qa/apps/dbos-app/secrets/${name}.sealed.yaml`
              : `overlays/qa/platform/secrets/${name}.sealed.yaml`,
          ),
          'utf8',
        ),
        [certificate.privateKeyPem],
      );
    expect(await unseal('conductor-license')).toEqual({ 'license-key': license });
    expect(await unseal('conductor-api-key')).toEqual({ 'api-key': apiKey });
    expect(await unseal('postgres-admin')).toEqual({
      password: admin,
      'database-url': `postgresql://postgres:${admin}@db.qa.internal:5432/dbos_app?sslmode=require`,
    });
    expect(await unseal('conductor-db')).toEqual({
      'database-url': `postgresql://dbos_conductor_role:${conductor}@db.qa.internal:5432/dbos_conductor?sslmode=require`,
    });
    expect(await unseal('dbos-app-db')).toEqual({ 'database-url': `postgresql://dbos_app_role:${app}@db.qa.internal:5432/dbos_app?sslmode=require` });
    expect(await unseal('dbos-drain-reader')).toEqual({
      'database-url': `postgresql://dbos_drain_reader:${reader}@db.qa.internal:5432/dbos_app?sslmode=require`,
    });
    // KEDA's copy (base/keda-auth reads keda/dbos-drain-reader-keda): the same URL, strict-scoped to KEDA's
    // namespace, so the test decryptor only opens it with the label keda/dbos-drain-reader-keda.
    expect(await unseal('dbos-drain-reader-keda')).toEqual(await unseal('dbos-drain-reader'));
    const kedaCopy = parse(readFileSync(join(root, 'overlays/qa/platform/secrets/dbos-drain-reader-keda.sealed.yaml'), 'utf8'));
    expect(kedaCopy.metadata).toEqual({ name: 'dbos-drain-reader-keda', namespace: 'keda', annotations: { 'dbos.dev/rotated-at': expect.any(String) } });
    expect(kedaCopy.spec.template.metadata).toEqual({ name: 'dbos-drain-reader-keda', namespace: 'keda' });
    expect(parse(readFileSync(join(root, 'overlays/qa/platform/secrets/dbos-drain-reader.sealed.yaml'), 'utf8')).metadata.namespace).toBe('dbos');
    const dex = await unseal('dex-credentials');
    expect(dex['postgres-password']).toBe(dexDb);
    expect(bcrypt.compareSync(dexPassword, dex['admin-password-hash']!)).toBe(true);
    expect(parse(readFileSync(join(root, 'overlays/qa/platform/secrets/gitops-bot.sealed.yaml'), 'utf8')).metadata.annotations['dbos.dev/placeholder']).toBe(
      'true',
    );
    const kustomization = parse(readFileSync(join(root, 'overlays/qa/platform/secrets/kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kustomization.resources).toHaveLength(7);
    expect(kustomization.resources).toContain('dbos-drain-reader-keda.sealed.yaml');
    const appKustomization = parse(readFileSync(join(root, 'overlays/qa/apps/dbos-app/secrets/kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(appKustomization.resources).toEqual(['dbos-app-db.sealed.yaml', 'conductor-api-key.sealed.yaml']);
    expect(readdirSync(join(root, 'overlays/qa/apps/dbos-app/secrets')).sort()).toEqual([
      'conductor-api-key.sealed.yaml',
      'dbos-app-db.sealed.yaml',
      'kustomization.yaml',
    ]);

    expectNowhereOnDisk(root, [admin, license, apiKey, conductor, app, reader, dexDb, dexPassword]);

    // An existing environment is never overwritten by accident.
    const again = await runInTerminal(
      [TSX, join(SCRIPTS, 'bootstrap-environment.ts'), '--env', 'qa', '--db-host', 'db.qa.internal', '--root', root].map(shellQuote).join(' '),
    );
    expect(again.code).toBe(64); // pass --force: usage (was 1)
    expect(again.transcript).toMatch(/already hold 9 SealedSecrets.*--force/);
  });

  it("keeps an existing kustomization and names the files it does not list yet (KEDA's copy, for a list older than it)", async () => {
    const root = await newEnvironmentRepo();
    mkdirSync(join(root, 'overlays/qa/platform/secrets'), { recursive: true });
    const old = [
      'postgres-admin',
      'conductor-db',
      'conductor-license',
      'dbos-app-db',
      'conductor-api-key',
      'dex-credentials',
      'dbos-drain-reader',
      'gitops-bot',
    ];
    const kustomization = `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${old.map((name) => `  - ${name}.sealed.yaml\n`).join('')}`;
    writeFileSync(join(root, 'overlays/qa/platform/secrets/kustomization.yaml'), kustomization);
    const answers = join(scratch, 'answers-kustomization.txt');
    writeFileSync(answers, `${uniqueValue('admin')}\n${uniqueValue('license')}\n${uniqueValue('api')}\n`);
    const commandLine = `${[TSX, join(SCRIPTS, 'bootstrap-environment.ts'), '--env', 'qa', '--db-host', 'db.qa.internal', '--root', root].map(shellQuote).join(' ')} < ${shellQuote(answers)}`;
    const { code, transcript } = await runInTerminal(commandLine);
    rmSync(answers);
    expect(code).toBe(0);
    expect(transcript).toContain('note: list dbos-drain-reader-keda.sealed.yaml in overlays/qa/platform/secrets/kustomization.yaml');
    expect(readFileSync(join(root, 'overlays/qa/platform/secrets/kustomization.yaml'), 'utf8')).toBe(kustomization);
    expect(readdirSync(join(root, 'overlays/qa/platform/secrets'))).toContain('dbos-drain-reader-keda.sealed.yaml');
  });

  it('asks every value through hidden prompts on a terminal, echoing none of them', async () => {
    const root = await newEnvironmentRepo();
    const answers = [uniqueValue('admin'), uniqueValue('license'), `dbos_${uniqueValue('api')}`, uniqueValue('dex')];
    const commandLine = [TSX, join(SCRIPTS, 'bootstrap-environment.ts'), '--env', 'qa', '--db-host', 'db.qa.internal', '--dex-password', 'ask', '--root', root]
      .map(shellQuote)
      .join(' ');
    const { code, transcript } = await runInTerminal(commandLine, answers);
    expect(code).toBe(0);
    for (const answer of answers) expect(transcript).not.toContain(answer);
    expect(transcript).not.toContain('Dex admin password (shown once');
    const dex = await unsealSealedSecret(readFileSync(join(root, 'overlays/qa/platform/secrets/dex-credentials.sealed.yaml'), 'utf8'), [
      certificate.privateKeyPem,
    ]);
    expect(bcrypt.compareSync(answers[3]!, dex['admin-password-hash']!)).toBe(true);
    expectNowhereOnDisk(root, answers);
  });

  it('its SQL, run with psql on a real PostgreSQL, makes every sealed database URL work with exactly the intended rights', async () => {
    const server = await startPostgres();
    try {
      const root = await newEnvironmentRepo();
      const superuserUrl = server.url();
      const answers = join(scratch, 'answers-pg.txt');
      writeFileSync(answers, `${new URL(superuserUrl).password}\n${uniqueValue('license')}\n${uniqueValue('api')}\n`);
      const commandLine = `${[TSX, join(SCRIPTS, 'bootstrap-environment.ts'), '--env', 'qa', '--db-host', '127.0.0.1', '--db-port', String(server.port), '--db-sslmode', 'disable', '--root', root].map(shellQuote).join(' ')} < ${shellQuote(answers)}`;
      const { code, transcript } = await runInTerminal(commandLine);
      rmSync(answers);
      expect(code).toBe(0);
      const sql = transcript.replace(/\r\n/g, '\n').split('\n-- Run once')[1]!.split('\nDex admin password')[0]!;
      const [beforeMigration, afterMigration] = sql.split('-- After that first migration');
      const psql = (url: string, script: string) =>
        execFileSync(join(findPostgresBinDir(), 'psql'), [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], {
          input: script,
          encoding: 'utf8',
          stdio: ['pipe', 'pipe', 'pipe'],
        });
      const urlOf = async (name: string) =>
        (
          await unsealSealedSecret(
            readFileSync(
              join(root, name === 'dbos-app-db' ? `overlays/qa/apps/dbos-app/secrets/${name}.sealed.yaml` : `overlays/qa/platform/secrets/${name}.sealed.yaml`),
              'utf8',
            ),
            [certificate.privateKeyPem],
          )
        )['database-url']!;

      psql(superuserUrl, `-- ${beforeMigration}`);
      // The migration Job: the real DBOS CLI with the sealed admin URL grants the app role its access.
      execFileSync(DBOS_CLI, ['schema', await urlOf('postgres-admin'), '--app-role', 'dbos_app_role'], { stdio: 'ignore', timeout: 120_000 });
      psql(await urlOf('postgres-admin'), `-- ${afterMigration}`);

      const [conductorUrl, appUrl, readerUrl] = [await urlOf('conductor-db'), await urlOf('dbos-app-db'), await urlOf('dbos-drain-reader')];
      expect(() => psql(conductorUrl, 'CREATE TABLE conductor_probe (x int); DROP TABLE conductor_probe;')).not.toThrow();
      expect(psql(appUrl, 'SELECT count(*) FROM dbos.workflow_status;')).toMatch(/^\s*0$/m);
      expect(psql(readerUrl, 'SELECT count(*) FROM dbos.workflow_status;')).toMatch(/^\s*0$/m);
      expect(() => psql(readerUrl, "INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('probe', 'PENDING');")).toThrow(/permission denied/);
      expect(() => psql(readerUrl, 'CREATE TABLE public.probe (x int);')).toThrow(/permission denied/);
    } finally {
      await server.stop();
    }
  });
});

describe('one command-line convention for the three scripts (cli-kit)', () => {
  const scripts = {
    'seal-value.ts': { name: 'secrets:seal', flags: ['env', 'app', 'name', 'key', 'namespace', 'scope', 'cert', 'token-name', 'add-key', 'root', 'json'] },
    'fetch-cert.ts': {
      name: 'secrets:fetch-cert',
      flags: ['env', 'context', 'kubeconfig', 'controller-name', 'controller-namespace', 'commit', 'reseal-hint', 'root', 'json'],
    },
    'bootstrap-environment.ts': {
      name: 'secrets:bootstrap',
      flags: [
        'env',
        'db-host',
        'db-port',
        'db-sslmode',
        'admin-password',
        'admin-role',
        'dex-password',
        'dex-postgres',
        'conductor-token-name',
        'namespace',
        'keda-namespace',
        'cert',
        'force',
        'root',
        'json',
      ],
    },
  };

  it('--help (also after the -- pnpm forwards) explains every flag; --version prints the version; both exit 0 on stdout only', async () => {
    for (const [script, { name, flags }] of Object.entries(scripts)) {
      const help = await runPiped(script, ['--', '--help'], '');
      expect(help.code, script).toBe(0);
      expect(help.stderr).toBe('');
      expect(help.stdout).toMatch(new RegExp(`^usage: pnpm ${name} `));
      const options = help.stdout.split('\noptions:\n')[1]!.split('\n\n')[0]!.split('\n');
      const named = options.map((line) => /--([a-z-]+)/.exec(line)?.[1]);
      expect(named).toEqual([...flags, 'help', 'version']);
      // Every line: the flag, at least two spaces, then an explanation.
      for (const line of options) expect(line, `${script}: ${line}`).toMatch(/^ {2}(-h, | {4})--[a-z-]+( \S+)? {2,}\S.{10,}/);
      expect(help.stdout).toMatch(/exit codes: /);
      const version = await runPiped(script, ['--version'], '');
      expect(version).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^${name} \\d+\\.\\d+\\.\\d+\\n$`)), stderr: '' });
    }
  });

  it('an unknown flag or a stray argument exits 64 with what to do, naming the flag but never a value', async () => {
    const value = uniqueValue('stray');
    for (const script of Object.keys(scripts)) {
      for (const argv of [
        ['--env', 'dev', `--password=${value}`],
        ['--env', 'dev', value],
        ['--env', 'dev', '--database-url', value],
      ]) {
        const result = await runPiped(script, argv, '');
        expect(result.code, `${script} ${argv[2]!.slice(0, 12)}`).toBe(64);
        expect(result.stdout).toBe('');
        expect(result.stderr).toMatch(/^error: [^\n]+\n {2}what to do: [^\n]+\n$/);
        expect(result.stderr).not.toContain(value);
      }
    }
  });

  it('seal-value --json prints what it wrote as data, and nothing of the value', async () => {
    const root = await makeRepo(false);
    const value = uniqueValue('json');
    const result = await runPiped(
      'seal-value.ts',
      ['--env', 'dev', '--name', 'conductor-license', '--key', 'license-key', '--root', root, '--json'],
      `${value}\n`,
    );
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { environment: string; certificate: { keyFingerprint: string }; files: Array<Record<string, unknown>> };
    expect(report.environment).toBe('dev');
    expect(report.certificate.keyFingerprint).toBe(parseCertificate(certificate.certificatePem).keyFingerprint);
    expect(report.files).toEqual([
      {
        path: 'overlays/dev/platform/secrets/conductor-license.sealed.yaml',
        created: false,
        key: 'license-key',
        placeholderRemoved: true,
        placeholderRemaining: [],
        tokenNameRemoved: false,
      },
    ]);
    expect(result.stdout).not.toContain(value);
    expect(
      await unsealSealedSecret(readFileSync(join(root, 'overlays/dev/platform/secrets/conductor-license.sealed.yaml'), 'utf8'), [certificate.privateKeyPem]),
    ).toEqual({ 'license-key': value });
  });
});
