/**
 * The heavy half of `seal`: reading values, the certificate (possibly from the cluster), sealing and merging. Loaded
 * only once a command line has parsed (src/seal-command.ts), so `--help` never pays for the Kubernetes client.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseCertificate } from './certificate.ts';
import { controllerFromEnv, isFileName, readCertificatePem } from './cert-source.ts';
import { encryptData, formatSealedSecret, sealSecret, validateSecretKey, type SealingTarget } from './document.ts';
import { UsageError } from './errors.ts';
import { assertMergeTarget, mergeIntoSealedSecret, readSealedSecret } from './merge.ts';
import { sealValue } from './crypto.ts';
import { assertDeclaredKeys, placeholderAfterSealing } from './placeholder.ts';
import { encryptionLabel } from './scope.ts';
import { parseFormat, type ParsedFlags, type SealIo } from './seal-command.ts';

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
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable))
      throw new UsageError(`--from-env #${index + 1}: VARIABLE must be an environment variable name (not shown; is it a value?)`);
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

export async function seal(flags: ParsedFlags, io: SealIo): Promise<void> {
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
    if (placeholder.remaining.length > 0)
      io.stderr.write(
        `note: ${flags.mergeInto} still holds placeholder key(s) ${placeholder.remaining.join(', ')}; dbos.dev/placeholder stays until they are sealed\n`,
      );
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
