import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeSealedValue, writeFiles } from '../../testing/fixture-repo.ts';
import { listRepoFiles, looksSealed, scanText, secretNameLines } from './kubernetes-secret-scan.ts';

// Every input is assembled at run time so that this file never matches the scanner itself.
const alnum = (length: number) => Array.from(randomBytes(length), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[b % 62]).join('');
const upperAlnum = (length: number) => Array.from(randomBytes(length), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');
const dashes = '-'.repeat(5);

function messages(file: string, text: string): string[] {
  return scanText(file, text).map((f) => `${f.line}: ${f.message}`);
}

describe('scanText', () => {
  it('finds PEM private keys of every type and OpenSSH keys', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
    const openssh = `${dashes}BEGIN ${['OPENSSH', 'PRIVATE', 'KEY'].join(' ')}${dashes}\n${alnum(40)}\n`;
    const encrypted = `${dashes}BEGIN ${['ENCRYPTED', 'PRIVATE', 'KEY'].join(' ')}${dashes}\n`;
    expect(messages('a.pem', rsa)).toEqual(['1: contains a private key block']);
    expect(messages('id', openssh)).toEqual(['1: contains a private key block']);
    expect(messages('b.txt', `x\n${encrypted}`)).toEqual(['2: contains a private key block']);
  });

  it('allows public certificates', () => {
    const cert = `${dashes}BEGIN CERTIFICATE${dashes}\n${randomBytes(300).toString('base64')}\n${dashes}END CERTIFICATE${dashes}\n`;
    expect(scanText('clusters/dev/sealing.pem', cert)).toEqual([]);
  });

  it('finds GitHub tokens, AWS access keys and bcrypt hashes', () => {
    const text = [
      `token_a ${'ghp'}_${alnum(36)}`,
      `${'github'}_pat_${alnum(22)}_${alnum(59)}`,
      `id ${'AKIA'}${upperAlnum(16)}`,
      `hash "$${'2b'}$10$${alnum(53).replace(/[^./A-Za-z0-9]/g, 'a')}"`,
    ].join('\n');
    expect(messages('notes.md', text)).toEqual([
      '1: contains a GitHub token',
      '2: contains a GitHub token',
      '3: contains an AWS access key id',
      '4: contains a bcrypt password hash',
    ]);
  });

  it('finds URL credentials but not placeholders or variable references', () => {
    const password = alnum(12);
    expect(messages('config.env', `DATABASE_URL=postgresql://dbos:${password}@db:5432/app`)).toEqual([
      '1: contains a URL with an embedded password for user "dbos"',
    ]);
    const placeholders = [
      'postgresql://dbos:${DB_PASSWORD}@db:5432/app',
      'Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE',
      'scheme://user:password@host',
      'postgresql://dbos:$(PGPASSWORD)@db/app',
      'return `postgresql://${encodeURIComponent(role)}:${encodeURIComponent(password)}@${host}/db`;',
      'postgresql://postgres@127.0.0.1:5432/dbos',
    ];
    expect(scanText('README.md', placeholders.join('\n'))).toEqual([]);
  });

  it('finds plaintext password/token values in YAML, and accepts references and sealed ciphertext', () => {
    const value = alnum(16);
    const yaml = [
      `password: ${value}`,
      `  apiToken: "${value}"`,
      '  password: ${{ secrets.BOT_PASSWORD }}',
      '  token:',
      '    secretKeyRef: {name: conductor, key: token}',
      `  password: ${fakeSealedValue()}`,
      '  clientSecret: ""',
      '  tokenName: ci-key',
    ].join('\n');
    expect(messages('values.yaml', yaml)).toEqual(['1: sets "password" to a plaintext value', '2: sets "apiToken" to a plaintext value']);
  });

  it('flags only literal strings in code, not identifiers that carry a secret', () => {
    const value = alnum(14);
    const code = [
      `const options = { token: process.env.GITHUB_TOKEN, password: readPassword() };`,
      `  password: '${value}',`,
      `  createToken: 'token.write',`,
    ].join('\n');
    expect(messages('src/x.ts', code)).toEqual(['2: sets "password" to a plaintext value']);
  });

  it('flags a Secret manifest with data, with the line of its document', () => {
    const manifest = [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: c}',
      '---',
      'apiVersion: v1',
      'kind: Secret',
      'metadata: {name: s}',
      'data:',
      `  key: ${Buffer.from(alnum(10)).toString('base64')}`,
    ].join('\n');
    expect(messages('base/x/secret.yaml', manifest)).toEqual(['5: is a Secret manifest with data or stringData in plaintext (base64 is not encryption)']);
  });
});

describe('looksSealed', () => {
  it('recognises the sealed-secrets layout and rejects plain base64', () => {
    expect(looksSealed(fakeSealedValue())).toBe(true);
    expect(looksSealed(randomBytes(300).toString('base64').replace(/^./, 'Z'))).toBe(false);
  });
});

describe('listRepoFiles', () => {
  it('lists tracked and untracked files but not ignored ones in a git repository, and walks a plain directory', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'validate-list-'));
    try {
      await writeFiles(root, {
        '.gitignore': 'ignored/\n',
        'tracked.yaml': 'a: 1\n',
        'ignored/x.yaml': 'b: 2\n',
        'node_modules/pkg/index.js': '',
        'new/untracked.txt': 'c\n',
      });
      expect(await listRepoFiles(root)).toEqual(['.gitignore', 'ignored/x.yaml', 'new/untracked.txt', 'tracked.yaml']);
      execFileSync('git', ['init', '--quiet', root]);
      execFileSync('git', ['-C', root, 'add', 'tracked.yaml', '.gitignore']);
      expect(await listRepoFiles(root)).toEqual(['.gitignore', 'new/untracked.txt', 'node_modules/pkg/index.js', 'tracked.yaml']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('listRepoFiles under sudo', () => {
  it('reads a checkout owned by another user (CI runs .ci/run with sudo)', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'validate-owner-'));
    try {
      await writeFiles(root, { 'a.yaml': 'a: 1\n' });
      execFileSync('git', ['init', '--quiet', root]);
      // As root, hand the checkout to another user the way a CI runner owns it; otherwise it is already ours.
      if (process.getuid?.() === 0) execFileSync('chown', ['-R', '65534:65534', root]);
      expect(await listRepoFiles(root)).toEqual(['a.yaml']);
    } finally {
      if (process.getuid?.() === 0) await chown(root, 0, 0);
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('secretNameLines', () => {
  const identity = (database: string, extra = '') =>
    [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: app-identity',
      '  annotations:',
      '    config.kubernetes.io/local-config: "true"',
      'data:',
      '  name: orders',
      `  database-secret: ${database}`,
      '  conductor-api-key-secret: orders-conductor-api-key',
      extra,
    ].join('\n');
  const sealed = new Set(['overlays/dev/apps/orders/secrets/orders-db.sealed.yaml', 'overlays/dev/apps/orders/secrets/orders-conductor-api-key.sealed.yaml']);
  const exists = (relative: string) => sealed.has(relative);
  const file = 'overlays/dev/apps/orders/identity.yaml';

  it("exempts an application's Secret names that have a sealed file beside them", () => {
    const text = identity('orders-db');
    expect(messages(file, text)).toEqual(['9: sets "database-secret" to a plaintext value', '10: sets "conductor-api-key-secret" to a plaintext value']);
    expect([...secretNameLines(file, text, exists)]).toEqual([9, 10]);
  });

  it('still reports a value in the slot that names no sealed file, and the same keys anywhere else', () => {
    const pasted = alnum(32).toLowerCase();
    expect([...secretNameLines(file, identity(pasted), exists)]).toEqual([10]);
    expect([...secretNameLines('overlays/dev/apps/orders/config.yaml', identity('orders-db'), exists)]).toEqual([]);
    const applied = identity('orders-db').replace('    config.kubernetes.io/local-config: "true"', '    note: applied');
    expect([...secretNameLines(file, applied, exists)]).toEqual([]);
  });
});

describe('names built at run time in code', () => {
  it('lets a template literal build a Secret name, and still reports literal text beside an interpolation', () => {
    expect(messages('src/app-files.ts', '    databaseSecret: `${app}-db`,')).toEqual([]);
    expect(messages('src/app-files.ts', '    conductorApiKeySecret: `${app}-conductor-api-key`,')).toEqual([]);
    const literal = alnum(24);
    expect(messages('src/app-files.ts', `    databaseSecret: \`\${app}${literal}\`,`)).toEqual(['1: sets "databaseSecret" to a plaintext value']);
  });
});
