import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { ToolError } from '../errors.ts';
import { asRecord } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

const execFileAsync = promisify(execFile);
const MAX_FILE_BYTES = 2 * 1024 * 1024;
const RULE = 'kubernetes-secret-scan';

// The marker strings are assembled from parts so that this file never matches its own patterns.
const DASHES = '-'.repeat(5);
const PRIVATE_KEY = ['PRIVATE', 'KEY'].join(' ');
const PEM_PRIVATE_KEY = new RegExp(`${DASHES}BEGIN [A-Z0-9 ]*${PRIVATE_KEY}[A-Z ]*${DASHES}`);
const PUTTY_KEY = new RegExp(['PuTTY', 'User', 'Key', 'File', '\\d+:'].join('-'));
const GITHUB_TOKEN = new RegExp(`\\b(?:gh[pousr]${'_'}[A-Za-z0-9]{36,}|github${'_'}pat${'_'}[A-Za-z0-9_]{22,})\\b`);
const AWS_ACCESS_KEY = /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/;
const BCRYPT = /\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}/;
const URL_CREDENTIALS = /\b[a-z][a-z0-9+.-]*:\/\/([^\s:/@'"`]+):([^\s@/'"`]+)@[^\s'"`]/gi;
const SECRET_KEY_NAME =
  /^[a-z0-9_.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret|private[_-]?key)$/i;
/** `key: value` or `key = value` (YAML, env, ini) with the key optionally quoted (JSON, code object literals). */
const KEY_VALUE = /^\s*(?:-\s+)?["']?([A-Za-z0-9_.-]+)["']?\s*[:=]\s*(.*?)\s*,?\s*$/;

const CODE_EXTENSIONS = new Set(['.ts', '.js', '.mjs', '.cjs', '.tsx', '.jsx', '.json', '.go', '.py']);

/** Values that name where a secret comes from instead of being one. */
function isReference(value: string): boolean {
  return (
    value === '' ||
    /^(?:null|~|true|false|\[\]|\{\}|\|[-+]?|>[-+]?)$/.test(value) ||
    /^\$\{\{.*\}\}$/.test(value) ||
    /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(value) ||
    /^\$\{[^{}]+\}$/.test(value) || // a template-literal interpolation such as ${encodeURIComponent(password)}
    /^\$\([A-Za-z_][A-Za-z0-9_]*\)$/.test(value) ||
    /^<[^>]*>$/.test(value) ||
    /^\{\{.*\}\}$/.test(value) ||
    /secretKeyRef|valueFrom|FromEnv|FromFile/.test(value)
  );
}

/** Sealed-secrets ciphertext: uint16 RSA-ciphertext length, that many bytes, then AES-GCM output with its 16-byte tag. */
export function looksSealed(value: string): boolean {
  if (value.length < 200 || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return false;
  const bytes = Buffer.from(value, 'base64');
  const rsaLength = bytes.readUInt16BE(0);
  return [128, 256, 384, 512].includes(rsaLength) && bytes.length >= 2 + rsaLength + 16;
}

function unquote(value: string): { text: string; quoted: boolean } {
  const match = /^(['"`])(.*)\1$/.exec(value);
  return match ? { text: match[2] ?? '', quoted: true } : { text: value, quoted: false };
}

/** Usage text writes `USER:PASSWORD@HOST` or `user:password@host`; those name the slot, they do not fill it. */
function isPlaceholderPassword(password: string): boolean {
  return (
    isReference(password) ||
    /^\*+$/.test(password) ||
    /^x+$/i.test(password) ||
    /^[A-Z][A-Z0-9_]*$/.test(password) ||
    /^(?:password|passwd|pass|pwd|secret)$/i.test(password)
  );
}

/**
 * A template literal that builds a name from run-time parts (`${app}-db`): its only literal text is lower-case words,
 * so nothing credential-shaped is committed. Literal text with digits or capitals beside an interpolation still counts.
 */
function isBuiltName(raw: string): boolean {
  const match = /^`(.*)`,?$/.exec(raw.trim());
  if (!match?.[1]?.includes('${')) return false;
  const literal = match[1].replace(/\$\{[^{}]*\}/g, '');
  // The same lower-case words the rule already takes for names (`api-key-name`), around the interpolations.
  return literal === '' || /^[._:/-]*[a-z]+(?:[._:/-]+[a-z]+)*[._:/-]*$/.test(literal);
}

interface Finding {
  line: number;
  message: string;
  fix: string;
}

const SEAL_FIX =
  'remove it from the file (and rotate it if it was ever pushed); keep the value in a SealedSecret and reference it with secretKeyRef or an env var';

export function scanText(file: string, text: string): Finding[] {
  const findings: Finding[] = [];
  const isCode = CODE_EXTENSIONS.has(path.extname(file));
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    const at = index + 1;
    if (PEM_PRIVATE_KEY.test(line) || PUTTY_KEY.test(line)) {
      findings.push({ line: at, message: 'contains a private key block', fix: `${SEAL_FIX}; only public certificates may be committed` });
    }
    if (GITHUB_TOKEN.test(line)) findings.push({ line: at, message: 'contains a GitHub token', fix: `revoke the token on GitHub, then ${SEAL_FIX}` });
    if (AWS_ACCESS_KEY.test(line)) findings.push({ line: at, message: 'contains an AWS access key id', fix: `deactivate the key in IAM, then ${SEAL_FIX}` });
    if (BCRYPT.test(line)) {
      findings.push({
        line: at,
        message: 'contains a bcrypt password hash',
        fix: 'move the hash into a SealedSecret and read it with Dex hashFromEnv (a hash is crackable offline)',
      });
    }
    for (const match of line.matchAll(URL_CREDENTIALS)) {
      if (isPlaceholderPassword(match[2] ?? '')) continue;
      findings.push({
        line: at,
        message: `contains a URL with an embedded password for user "${match[1]}"`,
        fix: `${SEAL_FIX}; build the URL at run time from the sealed value`,
      });
    }
    const keyValue = KEY_VALUE.exec(line);
    if (keyValue && SECRET_KEY_NAME.test(keyValue[1] ?? '')) {
      const { text: value, quoted } = unquote((keyValue[2] ?? '').replace(/\s+#.*$/, ''));
      // In code only a literal string is a credential; identifiers and calls merely carry one.
      // Lower-case words joined by . - _ : (`token.write`, `api-key-name`) are names and permissions, not secrets.
      const candidate = isCode
        ? quoted && value.length >= 6 && !/\s/.test(value) && !/^[a-z]+(?:[._:-][a-z]+)*$/.test(value) && !isBuiltName(keyValue[2] ?? '')
        : true;
      if (candidate && !isReference(value) && !looksSealed(value)) {
        findings.push({ line: at, message: `sets "${keyValue[1]}" to a plaintext value`, fix: SEAL_FIX });
      }
    }
  });
  if (/\.ya?ml$/.test(file) && /kind:\s*["']?Secret\b/.test(text)) {
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) continue;
      const value = asRecord(doc.toJS());
      if (value.kind !== 'Secret') continue;
      const hasData = Object.keys(asRecord(value.data)).length > 0 || Object.keys(asRecord(value.stringData)).length > 0;
      if (!hasData) continue;
      const start = doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0;
      const line = text.slice(0, start).split('\n').length;
      findings.push({
        line,
        message: 'is a Secret manifest with data or stringData in plaintext (base64 is not encryption)',
        fix: `seal it into a SealedSecret (kubeseal or the repo's sealing package) and delete the Secret; ${SEAL_FIX}`,
      });
    }
  }
  return findings;
}

/** The app-identity keys whose values name an application's Secrets (components/app-identity), not hold them. */
const SECRET_NAME_KEYS = new Set(['database-secret', 'conductor-api-key-secret']);
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Lines of an application's identity.yaml that name one of its Secrets: a key of SECRET_NAME_KEYS in the local-config
 * ConfigMap app-identity whose value is a DNS name and the name of a sealed file beside it
 * (`secrets/<value>.sealed.yaml`). Anything else on such a key (a value with no sealed file of that name) is still
 * reported, so a credential pasted into the slot is never taken for a name.
 */
export function secretNameLines(file: string, text: string, sealedExists: (relative: string) => boolean): Set<number> {
  const lines = new Set<number>();
  if (!/(?:^|\/)identity\.ya?ml$/.test(file)) return lines;
  const docs = parseAllDocuments(text);
  if (docs.length !== 1 || docs[0]!.errors.length > 0) return lines;
  const value = asRecord(docs[0]!.toJS());
  const metadata = asRecord(value.metadata);
  if (value.kind !== 'ConfigMap' || metadata.name !== 'app-identity') return lines;
  if (asRecord(metadata.annotations)['config.kubernetes.io/local-config'] !== 'true') return lines;
  const data = asRecord(value.data);
  const dir = path.posix.dirname(file);
  text.split(/\r?\n/).forEach((line, index) => {
    const keyValue = KEY_VALUE.exec(line);
    const key = keyValue?.[1];
    if (!key || !SECRET_NAME_KEYS.has(key) || /^\S/.test(line)) return;
    const name = data[key];
    if (typeof name !== 'string' || !DNS_LABEL.test(name)) return;
    if (unquote((keyValue[2] ?? '').replace(/\s+#.*$/, '')).text !== name) return;
    if (sealedExists(`${dir}/secrets/${name}.sealed.yaml`)) lines.add(index + 1);
  });
  return lines;
}

async function walk(root: string, relative = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(path.join(root, relative), { withFileTypes: true })) {
    if (entry.name === '.git' || entry.name === 'node_modules') continue;
    const child = relative ? `${relative}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...(await walk(root, child)));
    else if (entry.isFile()) files.push(child);
  }
  return files;
}

/** Tracked files plus untracked ones git does not ignore: what a `git add -A` would commit. Without git, every file. */
export async function listRepoFiles(root: string): Promise<string[]> {
  try {
    // CI runs `.ci/run` under sudo on a checkout the runner user owns; git then refuses the repository as of
    // "dubious ownership". The caller chose this root, so trust it for this read, and switch off
    // core.fsmonitor, the one setting through which a repository's own config could run a command here.
    const args = ['-c', `safe.directory=${root}`, '-c', 'core.fsmonitor=false', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'];
    const { stdout } = await execFileAsync('git', args, {
      cwd: root,
      maxBuffer: 64 * 1024 * 1024,
    });
    return [...new Set(stdout.split('\0').filter(Boolean))].sort();
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT' && !e.stderr) throw new ToolError("git was not found on PATH; install git so the secret scan can list the repository's files");
    if (typeof e.stderr === 'string' && /not a git repository/.test(e.stderr)) return walk(root);
    if (typeof e.stderr === 'string' && /dubious ownership/.test(e.stderr)) {
      throw new ToolError(`git refuses ${root} (owned by another user); pass --root as the repository's top level, or run as its owner`);
    }
    throw new ToolError(`git ls-files failed in ${root}: ${(e.stderr ?? e.message).trim()}`);
  }
}

export const kubernetesSecretScan: Policy = {
  id: RULE,
  title: 'No file in the repository holds a private key, a plaintext credential or a plain Secret',
  async check(ctx) {
    const violations: Violation[] = [];
    for (const file of await listRepoFiles(ctx.root)) {
      const absolute = path.join(ctx.root, file);
      let info: Awaited<ReturnType<typeof stat>>;
      try {
        info = await stat(absolute);
      } catch {
        continue; // deleted in the work tree but still in the index
      }
      if (!info.isFile() || info.size > MAX_FILE_BYTES) continue;
      const buffer = await readFile(absolute);
      if (buffer.subarray(0, 8000).includes(0)) continue; // binary
      const isTest = /\.(?:test|spec)\.[cm]?[jt]sx?$/.test(file);
      const text = buffer.toString('utf8');
      const names = secretNameLines(file, text, (relative) => existsSync(path.join(ctx.root, relative)));
      for (const finding of scanText(file, text)) {
        if (names.has(finding.line) && finding.message.startsWith('sets "')) continue;
        // A test needs a credential-shaped input, not a committed one: the house rule is to make it at run time.
        const fix = isTest
          ? 'build the value at run time in the test (e.g. randomBytes(8).toString("hex") joined into the URL) so no credential-shaped literal is committed'
          : finding.fix;
        violations.push({ rule: RULE, file, object: `line ${finding.line}`, message: finding.message, fix });
      }
    }
    return violations;
  },
};
