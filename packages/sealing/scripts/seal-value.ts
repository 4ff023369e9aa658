/**
 * Seals ONE value for an environment into overlays/<env>/secrets/<name>.sealed.yaml (merged into the file, or a new
 * file). The value is never an argument (shell history, `ps`): a hidden prompt on a terminal, otherwise stdin.
 *
 *   pnpm secrets:seal --env dev --name conductor-license --key license-key
 *   printf %s "$VALUE" | pnpm secrets:seal --env prod --name gitops-bot --key github-token
 *
 * The drain reader's URL is one value in two files (dbos-drain-reader for the bot, dbos-drain-reader-keda in KEDA's
 * namespace): naming either seals both from the one prompt, so KEDA never polls with a stale password.
 *
 * Prints only what it wrote.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { echo } from 'zx';
import { loadCertificate } from '../src/cert-source.ts';
import { validateSecretKey, validateTarget } from '../src/document.ts';
import { DEFAULT_KEDA_NAMESPACE, drainReaderPartner, KEDA_DRAIN_READER_SECRET } from '../src/drain-reader-secrets.ts';
import { assertMergeTarget, readSealedSecret, type ExistingSealedSecret } from '../src/merge.ts';
import { assertDeclaredKeys, placeholderAfterSealing } from '../src/placeholder.ts';
import { parseScope, type SealingScope } from '../src/scope.ts';
import { parseFlags, repoRoot, runScript, ScriptError, usageError, validateEnvironment } from './lib/cli.ts';
import { SecretInput } from './lib/secret-input.ts';
import { certificatePath, PLACEHOLDER_ANNOTATION, ROTATED_AT_ANNOTATION, sealedFilePath, sealIntoFile } from './lib/sealed-files.ts';

const USAGE = `usage: seal-value --env ENV --name SECRET --key KEY [--namespace NS] [--scope strict|namespace-wide|cluster-wide]
                  [--cert FILE|URL] [--token-name NAME] [--add-key] [--root DIR]
An existing file accepts only the keys it declares (--add-key adds a new one); dbos.dev/placeholder is removed once
every placeholder key of the file holds a real value.
--namespace defaults to the existing file's, else dbos (keda for dbos-drain-reader-keda).
dbos-drain-reader and dbos-drain-reader-keda (key database-url) are sealed together from the one value.
The value is read from a hidden prompt, or from stdin when stdin is not a terminal (all of it, minus one final newline).
--cert defaults to clusters/<env>/sealed-secrets-cert.pem. --token-name records the Conductor key's name when
sealing conductor-api-key by hand, so the bot can revoke it later.`;

const TOKEN_ANNOTATION = 'dbos.dev/conductor-token';

interface FileTarget {
  name: string;
  namespace: string;
  scope: SealingScope | undefined;
  path: string;
  relativePath: string;
  source: string | null;
  placeholder: { set: Record<string, string>; remove: string[]; remaining: string[] };
}

/**
 * Everything that can refuse, for one file, before a value is asked: the name and namespace, the keys the file
 * declares, and whether values sealed for this target would decrypt inside the existing document.
 */
async function prepareTarget(root: string, env: string, name: string, key: string, options: { namespace?: string; scope?: SealingScope; addKey: boolean }): Promise<FileTarget> {
  const path = sealedFilePath(root, env, name);
  const relativePath = relative(root, path);
  // Only a missing file reads as missing: any other failure (a directory, no permission) refuses.
  const source = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw new ScriptError(`cannot read ${relativePath}: ${error.code ?? error.message}`);
  });
  const existing: ExistingSealedSecret | null = source === null ? null : readSealedSecret(source, relativePath);
  // The file records where it may be unsealed, so without --namespace that is the only namespace that can work.
  const namespace = options.namespace ?? existing?.namespace ?? (name === KEDA_DRAIN_READER_SECRET ? DEFAULT_KEDA_NAMESPACE : 'dbos');
  const target = { name, namespace, scope: options.scope ?? existing?.scope ?? 'strict' };
  validateTarget(target);
  if (existing) {
    assertMergeTarget(existing, target, relativePath);
    // A typo'd key would add a stray key and leave the real one unsealed.
    assertDeclaredKeys(existing, [key], { allowNew: options.addKey, fileName: relativePath, flag: '--add-key' });
  }
  const placeholder = existing ? placeholderAfterSealing(existing, [key]) : { set: {}, remove: [], remaining: [] };
  return { name, namespace, scope: options.scope, path, relativePath, source, placeholder };
}

async function main(): Promise<void> {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      env: { type: 'string' },
      name: { type: 'string' },
      key: { type: 'string' },
      namespace: { type: 'string' },
      scope: { type: 'string' },
      cert: { type: 'string' },
      'token-name': { type: 'string' },
      'add-key': { type: 'boolean' },
      root: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  if (flags.help) {
    echo(USAGE);
    return;
  }
  const env = validateEnvironment(flags.env, USAGE);
  if (!flags.name) throw usageError(`--name is required\n${USAGE}`);
  if (!flags.key) throw usageError(`--key is required\n${USAGE}`);
  const scope = flags.scope === undefined ? undefined : parseScope(flags.scope);
  validateTarget({ name: flags.name, namespace: flags.namespace ?? 'dbos', scope: scope ?? 'strict' });
  validateSecretKey(flags.key);
  if (flags['token-name'] && flags.name !== 'conductor-api-key') throw usageError('--token-name only applies to --name conductor-api-key');
  const root = await repoRoot(flags.root);

  // The certificate first: a missing or expired one fails before anyone types a secret.
  const certFlag = flags.cert ?? certificatePath(root, env);
  const certificate = await loadCertificate({ cert: certFlag });
  const certLabel = flags.cert ?? relative(root, certFlag);

  // Both files of a pair are checked before anyone types the value, so neither is written when one would refuse.
  const addKey = flags['add-key'] === true;
  const targets = [await prepareTarget(root, env, flags.name, flags.key, { namespace: flags.namespace, scope, addKey })];
  const partner = drainReaderPartner(flags.name, flags.key);
  if (partner !== null) targets.push(await prepareTarget(root, env, partner, flags.key, { addKey }));

  const value = await new SecretInput().ask(`value of ${flags.name}/${flags.key} (${env}, not echoed)`, { multiLine: true });

  const now = new Date().toISOString();
  const lines: string[] = [];
  const done: FileTarget[] = [];
  try {
    for (const target of targets) {
      const annotations: Record<string, string> = { [ROTATED_AT_ANNOTATION]: now, ...target.placeholder.set };
      const removeAnnotations = [...target.placeholder.remove];
      let note = '';
      if (target.name === 'conductor-api-key') {
        if (flags['token-name']) {
          annotations[TOKEN_ANNOTATION] = flags['token-name'];
        } else {
          // The recorded key name no longer matches the sealed value; the bot must not act on a stale name.
          removeAnnotations.push(TOKEN_ANNOTATION);
          note = `\nnote: ${TOKEN_ANNOTATION} was removed (pass --token-name to record the new key); delete the old key in the DBOS Console once the pods restarted`;
        }
      }
      const result = await sealIntoFile({ root, env, name: target.name, namespace: target.namespace, scope: target.scope, certificate, data: { [flags.key]: value }, annotations, removeAnnotations });
      done.push(target);
      lines.push(
        `${result.created ? 'created' : 'updated'} ${result.path}: key ${flags.key} sealed for ${certLabel} (${certificate.keyFingerprint})` +
          (target.placeholder.remove.length > 0 ? `, ${PLACEHOLDER_ANNOTATION} removed` : '') +
          (target.placeholder.remaining.length > 0 ? `, still a placeholder: ${target.placeholder.remaining.join(', ')} (${PLACEHOLDER_ANNOTATION} stays)` : '') +
          `, ${ROTATED_AT_ANNOTATION} set` +
          (result.created ? `\nnote: list ${target.name}.sealed.yaml in overlays/${env}/secrets/kustomization.yaml` : '') +
          note,
      );
    }
  } catch (error) {
    // One value, two files: a pair half-written would leave KEDA and the bot with different passwords.
    for (const target of done) {
      if (target.source === null) await rm(target.path, { force: true });
      else await writeFile(target.path, target.source);
    }
    throw error;
  }
  echo(lines.join('\n'));
}

runScript(main);
