import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseCertificate } from './certificate.ts';
import { controllerFromEnv, isFileName, readCertificatePem } from './cert-source.ts';
import { encryptData, formatSealedSecret, sealSecret, validateSecretKey, type OutputFormat, type SealingTarget } from './document.ts';
import { parseCommand, formatHelp, type CliIo, type CommandSpec, type FlagValues } from '@dbos-gitops/cli-kit';
import { runCommand } from './command-line.ts';
import { UsageError } from './errors.ts';
import { assertMergeTarget, mergeIntoSealedSecret, readSealedSecret } from './merge.ts';
import { sealValue } from './crypto.ts';
import { assertDeclaredKeys, placeholderAfterSealing } from './placeholder.ts';
import { encryptionLabel, parseScope, type SealingScope } from './scope.ts';

export interface SealIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env?: Readonly<Record<string, string | undefined>>;
  /** Relative paths in flags resolve against this; defaults to process.cwd(). */
  cwd?: string;
  /** Instant the certificate's validity is checked against; defaults to now. */
  now?: Date;
  /** Use this cluster connection instead of loading a kubeconfig. */
  kubeConfig?: KubeConfig;
}

/** `pnpm bot seal`'s flags: kubeseal's where they overlap, so a kubeseal command line mostly works unchanged. */
export const SEAL_COMMAND = {
  usage: 'pnpm bot seal --name NAME --namespace NS --from-file KEY=PATH... [options]',
  summary:
    'Seals values into a Bitnami SealedSecret, byte-compatible with kubeseal. Values never reach stdout or stderr, and ' +
    'never come from the command line (pnpm prints it into CI logs; shell history and ps keep it): a file, stdin ' +
    '(--from-file KEY=/dev/stdin) or an environment variable. --from-literal is refused for that reason.',
  flags: {
    cert: { type: 'string', valueName: 'FILE|URL', description: 'controller certificate: a file, file:// or http(s) URL [$SEALED_SECRETS_CERT]' },
    'controller-name': { type: 'string', valueName: 'NAME', description: 'without --cert, fetch it from this controller Service (default sealed-secrets-controller) [$SEALED_SECRETS_CONTROLLER_NAME]' },
    'controller-namespace': { type: 'string', valueName: 'NS', description: "the controller Service's namespace (default kube-system) [$SEALED_SECRETS_CONTROLLER_NAMESPACE]" },
    kubeconfig: { type: 'string', valueName: 'FILE', description: 'cluster credentials for fetching the certificate (default $KUBECONFIG, then ~/.kube/config)' },
    name: { type: 'string', valueName: 'NAME', description: "Secret name, part of the sealing label (defaults to the file's with --merge-into)" },
    namespace: { type: 'string', short: 'n', valueName: 'NS', description: "Secret namespace, part of the sealing label (defaults to the file's with --merge-into)" },
    scope: { type: 'string', valueName: 'SCOPE', description: 'strict (default), namespace-wide or cluster-wide' },
    'from-file': { type: 'string', multiple: true, valueName: '[KEY=]PATH', description: 'a value read from a file, KEY defaults to the file name (repeatable); /dev/stdin reads a piped value' },
    'from-env': { type: 'string', multiple: true, valueName: 'KEY=VARIABLE', description: 'a value read from the environment variable VARIABLE (repeatable)' },
    type: { type: 'string', valueName: 'TYPE', description: 'Secret type (default Opaque)' },
    format: { type: 'string', short: 'o', valueName: 'yaml|json', description: "output format: yaml (`pnpm bot seal`'s default, as this repository's files) or json (kubeseal's) [$SEALED_SECRETS_FORMAT]" },
    json: { type: 'boolean', description: 'JSON output; wins over --format (and over the yaml default of `pnpm bot seal`)' },
    'merge-into': { type: 'string', valueName: 'FILE', description: 'replace keys of an existing SealedSecret file, in place; only keys the file declares, and dbos.dev/placeholder clears once every placeholder key is sealed' },
    'add-key': { type: 'boolean', description: 'with --merge-into: also accept keys the file does not declare yet' },
    raw: { type: 'boolean', description: 'print only the sealed value of the single --from-* item' },
    'fetch-cert': { type: 'boolean', description: 'print the certificate and exit' },
  },
  notes: ['exit codes: 0 sealed, 2 certificate or target mismatch (config), 7 a --merge-into file that is not an editable SealedSecret, 64 usage.'],
} satisfies CommandSpec;

/** Kept for callers that print the help themselves. */
export const SEAL_USAGE = formatHelp(SEAL_COMMAND);

interface ParsedFlags {
  cert?: string;
  controllerName?: string;
  controllerNamespace?: string;
  kubeconfig?: string;
  name?: string;
  namespace?: string;
  scope?: SealingScope;
  fromFile: string[];
  fromEnv: string[];
  type?: string;
  format?: OutputFormat;
  mergeInto?: string;
  raw: boolean;
  fetchCert: boolean;
  addKey: boolean;
}

function parseFormat(value: string): OutputFormat {
  const lower = value.toLowerCase();
  if (lower === 'yaml' || lower === 'json') return lower;
  throw new UsageError(`--format must be yaml or json (got "${value}")`);
}

/** kubeseal accepts it; here the value would already be in the `$ tsx ...` line pnpm prints and in shell history. */
function refuseLiteral(argv: readonly string[]): void {
  const terminator = argv.indexOf('--', argv[0] === '--' ? 1 : 0);
  const flags = terminator < 0 ? argv : argv.slice(0, terminator);
  if (flags.some((argument) => argument === '--from-literal' || argument.startsWith('--from-literal='))) {
    throw new UsageError(
      '--from-literal is not accepted: a value on the command line reaches CI logs, shell history and ps (it is not repeated here)',
      'use --from-file KEY=PATH, --from-file KEY=/dev/stdin or --from-env KEY=VARIABLE',
    );
  }
}

/** The parsed command line as the sealing code reads it; help and version are answered before this. */
export function parseSealArgs(argv: readonly string[]): ParsedFlags {
  refuseLiteral(argv);
  const parsed = parseCommand(SEAL_COMMAND, argv);
  if (parsed.kind !== 'run') throw new UsageError(`--${parsed.kind} is answered before parsing`);
  return toFlags(parsed.values);
}

function toFlags(values: FlagValues<typeof SEAL_COMMAND.flags>): ParsedFlags {
  return {
    cert: values.cert,
    controllerName: values['controller-name'],
    controllerNamespace: values['controller-namespace'],
    kubeconfig: values.kubeconfig,
    name: values.name,
    namespace: values.namespace,
    scope: values.scope === undefined ? undefined : parseScope(values.scope),
    fromFile: values['from-file'] ?? [],
    fromEnv: values['from-env'] ?? [],
    type: values.type,
    // --json wins: `pnpm bot seal` appends its yaml default as --format, and the person's --json must not lose to it.
    format: values.json ? 'json' : values.format === undefined ? undefined : parseFormat(values.format),
    mergeInto: values['merge-into'],
    raw: values.raw === true,
    fetchCert: values['fetch-cert'] === true,
    addKey: values['add-key'] === true,
  };
}

async function collectData(flags: ParsedFlags, cwd: string, env: Readonly<Record<string, string | undefined>>): Promise<Record<string, string | Uint8Array>> {
  const data: Record<string, string | Uint8Array> = {};
  const add = (key: string, value: string | Uint8Array): void => {
    validateSecretKey(key);
    if (key in data) throw new UsageError(`the key "${key}" is given twice; each key may appear once`);
    data[key] = value;
  };
  for (const [index, item] of flags.fromEnv.entries()) {
    const equals = item.indexOf('=');
    if (equals <= 0 || equals === item.length - 1) throw new UsageError(`--from-env #${index + 1} needs KEY=VARIABLE`);
    try {
      validateSecretKey(item.slice(0, equals));
    } catch {
      throw new UsageError(`--from-env #${index + 1} has an invalid KEY (letters, digits, "-", "_" and "." only)`);
    }
    const variable = item.slice(equals + 1);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw new UsageError(`--from-env #${index + 1}: VARIABLE must be an environment variable name (not shown; is it a value?)`);
    const value = env[variable];
    if (value === undefined || value === '') throw new UsageError(`--from-env ${item.slice(0, equals)}=${variable}: ${variable} is not set or empty`);
    add(item.slice(0, equals), value);
  }
  for (const item of flags.fromFile) {
    const equals = item.indexOf('=');
    const path = equals === -1 ? item : item.slice(equals + 1);
    const key = equals === -1 ? basename(path) : item.slice(0, equals);
    if (path === '') throw new UsageError('--from-file needs [KEY=]PATH with a non-empty PATH');
    let content: Buffer;
    try {
      content = await readFile(resolve(cwd, path));
    } catch (error) {
      throw new UsageError(`cannot read --from-file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    add(key, content);
  }
  return data;
}

/** Writes beside the target then renames, so a failure never leaves a half-written SealedSecret. */
async function replaceFile(path: string, content: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(temporary, content, { mode: 0o644 });
  await rename(temporary, path);
}

async function seal(flags: ParsedFlags, io: SealIo): Promise<void> {
  const env = io.env ?? {};
  const cwd = io.cwd ?? process.cwd();
  const fromEnv = controllerFromEnv(env);
  const certSource = flags.cert ?? (env.SEALED_SECRETS_CERT || undefined);
  const pem = await readCertificatePem({
    cert: certSource === undefined || !isFileName(certSource) ? certSource : resolve(cwd, certSource),
    controller: {
      name: flags.controllerName ?? fromEnv.name,
      namespace: flags.controllerNamespace ?? fromEnv.namespace,
    },
    kubeConfig: io.kubeConfig,
    kubeconfigPath: flags.kubeconfig === undefined ? undefined : resolve(cwd, flags.kubeconfig),
    env,
  });
  if (flags.fetchCert) {
    io.stdout.write(pem.endsWith('\n') ? pem : `${pem}\n`);
    return;
  }
  const certificate = parseCertificate(pem, { now: io.now });
  const data = await collectData(flags, cwd, env);
  if (Object.keys(data).length === 0) {
    throw new UsageError('nothing to seal: pass at least one --from-file [KEY=]PATH or --from-env KEY=VARIABLE');
  }

  if (flags.mergeInto !== undefined) {
    const path = resolve(cwd, flags.mergeInto);
    let source: string;
    try {
      source = await readFile(path, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read --merge-into ${flags.mergeInto}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    const existing = readSealedSecret(source, flags.mergeInto);
    const target: SealingTarget = {
      name: flags.name ?? existing.name,
      namespace: flags.namespace ?? existing.namespace,
      scope: flags.scope ?? existing.scope,
    };
    assertMergeTarget(existing, target, flags.mergeInto);
    const keys = Object.keys(data);
    assertDeclaredKeys(existing, keys, { allowNew: flags.addKey, fileName: flags.mergeInto, flag: '--add-key' });
    const placeholder = placeholderAfterSealing(existing, keys);
    // Set first, remove second: removing the last annotation first would drop the map and re-append it elsewhere.
    let merged = mergeIntoSealedSecret(source, target, encryptData(certificate, target, data), flags.mergeInto, { annotations: placeholder.set });
    if (placeholder.remove.length > 0) merged = mergeIntoSealedSecret(merged, target, {}, flags.mergeInto, { removeAnnotations: placeholder.remove });
    await replaceFile(path, merged);
    if (placeholder.remaining.length > 0) io.stderr.write(`note: ${flags.mergeInto} still holds placeholder key(s) ${placeholder.remaining.join(', ')}; dbos.dev/placeholder stays until they are sealed\n`);
    return;
  }

  const scope = flags.scope ?? 'strict';
  if (flags.name === undefined) throw new UsageError('--name is required (the Secret name is part of the sealing label)');
  const namespace = flags.namespace ?? '';
  if (flags.raw) {
    const entries = Object.entries(data);
    if (entries.length !== 1) throw new UsageError('--raw seals exactly one --from-file or --from-env item');
    const target: SealingTarget = { name: flags.name, namespace, scope };
    encryptData(certificate, target, {}); // validates the target
    io.stdout.write(sealValue(certificate.publicKey, entries[0]![1], encryptionLabel(namespace, flags.name, scope)));
    return;
  }
  const document = sealSecret({ certificate, name: flags.name, namespace, scope, data, type: flags.type });
  io.stdout.write(formatSealedSecret(document, flags.format ?? parseFormat(env.SEALED_SECRETS_FORMAT || 'json')));
}

/**
 * The `seal` command as a function, so `pnpm bot seal` and the zx scripts share it and tests drive it without
 * a process. Returns the README's exit code (0 done, 2 certificate or target, 7 unreadable SealedSecret, 64 usage);
 * errors are printed by cli-kit's single catch: `error:` and `what to do:`, never a value.
 */
export async function runSeal(argv: readonly string[], io: SealIo): Promise<number> {
  const cliIo: CliIo = { stdout: (text) => io.stdout.write(text), stderr: (text) => io.stderr.write(text), env: { ...(io.env ?? {}) } };
  return runCommand(SEAL_COMMAND, argv, cliIo, 'seal', async ({ values }) => {
    await seal(toFlags(values), io);
  }, refuseLiteral);
}
