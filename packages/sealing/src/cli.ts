import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseCertificate } from './certificate.ts';
import { controllerFromEnv, isFileName, readCertificatePem } from './cert-source.ts';
import { encryptData, formatSealedSecret, sealSecret, validateSecretKey, type OutputFormat, type SealingTarget } from './document.ts';
import { SealingError, UsageError } from './errors.ts';
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

export const SEAL_USAGE = `Usage: seal --name NAME --namespace NS --from-file KEY=PATH... [options]

Seals values into a Bitnami SealedSecret, byte-compatible with kubeseal. Values never reach stdout or stderr, and
never come from the command line (pnpm prints it into CI logs; shell history and ps keep it): a file, stdin
(--from-file KEY=/dev/stdin) or an environment variable.

Certificate (one of):
  --cert FILE|URL              controller certificate: a file, file:// or http(s) URL  [$SEALED_SECRETS_CERT]
  --controller-name NAME       fetch it from the controller's Service (default sealed-secrets-controller)
                               [$SEALED_SECRETS_CONTROLLER_NAME]
  --controller-namespace NS    ... in this namespace (default kube-system)  [$SEALED_SECRETS_CONTROLLER_NAMESPACE]
  --kubeconfig FILE            cluster credentials (default $KUBECONFIG, then ~/.kube/config)

Secret:
  --name NAME                  Secret name (defaults to the file's with --merge-into)
  --namespace, -n NS           Secret namespace (defaults to the file's with --merge-into)
  --scope SCOPE                strict (default), namespace-wide or cluster-wide
  --from-file [KEY=]PATH       a value read from a file, KEY defaults to the file name (repeatable);
                               /dev/stdin reads a piped value
  --from-env KEY=VARIABLE      a value read from the environment variable VARIABLE (repeatable)
  (--from-literal is refused: the value would be on the command line)
  --type TYPE                  Secret type (default Opaque)

Output:
  --format, -o yaml|json       output format (default json, as kubeseal)  [$SEALED_SECRETS_FORMAT]
  --merge-into FILE            replace keys of an existing SealedSecret file, in place; only keys the file declares,
                               and dbos.dev/placeholder clears once every placeholder key is sealed
  --add-key                    with --merge-into: also accept keys the file does not declare yet
  --raw                        print only the sealed value of the single --from-* item
  --fetch-cert                 print the certificate and exit
`;

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
  help: boolean;
}

const VALUE_FLAGS: Record<string, keyof ParsedFlags> = {
  '--cert': 'cert',
  '--controller-name': 'controllerName',
  '--controller-namespace': 'controllerNamespace',
  '--kubeconfig': 'kubeconfig',
  '--name': 'name',
  '--namespace': 'namespace',
  '-n': 'namespace',
  '--scope': 'scope',
  '--from-file': 'fromFile',
  '--from-env': 'fromEnv',
  '--type': 'type',
  '--format': 'format',
  '-o': 'format',
  '--merge-into': 'mergeInto',
};
const BOOLEAN_FLAGS: Record<string, 'raw' | 'fetchCert' | 'addKey' | 'help'> = {
  '--raw': 'raw',
  '--add-key': 'addKey',
  '--fetch-cert': 'fetchCert',
  '--help': 'help',
  '-h': 'help',
};

function parseFormat(value: string): OutputFormat {
  const lower = value.toLowerCase();
  if (lower === 'yaml' || lower === 'json') return lower;
  throw new UsageError(`--format must be yaml or json (got "${value}")`);
}

export function parseSealArgs(argv: readonly string[]): ParsedFlags {
  const flags: ParsedFlags = { fromFile: [], fromEnv: [], raw: false, fetchCert: false, addKey: false, help: false };
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    const equals = argument.startsWith('--') ? argument.indexOf('=') : -1;
    const flag = equals === -1 ? argument : argument.slice(0, equals);
    const booleanKey = BOOLEAN_FLAGS[flag];
    if (booleanKey) {
      if (equals !== -1) throw new UsageError(`${flag} takes no value`);
      flags[booleanKey] = true;
      continue;
    }
    if (flag === '--from-literal') {
      // kubeseal accepts it; here the value would already be in the `$ tsx ...` line pnpm prints and in shell history.
      throw new UsageError('--from-literal is not accepted: a value on the command line reaches CI logs, shell history and ps (it is not repeated here); use --from-file KEY=PATH, --from-file KEY=/dev/stdin or --from-env KEY=VARIABLE');
    }
    const key = VALUE_FLAGS[flag];
    if (!key) {
      // Never echo an unknown argument: it may be a secret value that lost its flag.
      throw new UsageError(
        argument.startsWith('-')
          ? `unknown flag ${flag}; see --help`
          : `unexpected positional argument #${index + 1} (not shown); values come from --from-file KEY=PATH or --from-env KEY=VARIABLE`,
      );
    }
    let value: string;
    if (equals !== -1) {
      value = argument.slice(equals + 1);
    } else {
      const next = argv[index + 1];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      value = next;
      index += 1;
    }
    if (key === 'fromEnv') flags.fromEnv.push(value);
    else if (key === 'fromFile') flags.fromFile.push(value);
    else if (key === 'scope') flags.scope = parseScope(value);
    else if (key === 'format') flags.format = parseFormat(value);
    else (flags as unknown as Record<string, string>)[key] = value;
  }
  return flags;
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
 * a process. Returns the exit status: 0 done, 1 failed, 64 bad usage (the bot's usage code). Errors are one line on stderr.
 */
export async function runSeal(argv: readonly string[], io: SealIo): Promise<number> {
  try {
    const flags = parseSealArgs(argv);
    if (flags.help) {
      io.stdout.write(SEAL_USAGE);
      return 0;
    }
    await seal(flags, io);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`error: ${error.message}\n`);
      return 64;
    }
    if (error instanceof SealingError) {
      io.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    io.stderr.write(`error: unexpected failure: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}
