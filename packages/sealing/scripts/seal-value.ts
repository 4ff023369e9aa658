/**
 * Seals ONE value for an environment into overlays/<env>/secrets/<name>.sealed.yaml (merged into the file, or a new
 * file). The value is never an argument (shell history, `ps`): a hidden prompt on a terminal, otherwise stdin.
 *
 *   pnpm secrets:seal --env dev --name conductor-license --key license-key
 *   printf %s "$VALUE" | pnpm secrets:seal --env prod --name gitops-bot --key github-token
 *
 * Prints only what it wrote.
 */
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { echo } from 'zx';
import { loadCertificate } from '../src/cert-source.ts';
import { validateSecretKey, validateTarget } from '../src/document.ts';
import { readSealedSecret } from '../src/merge.ts';
import { assertDeclaredKeys, placeholderAfterSealing } from '../src/placeholder.ts';
import { parseScope } from '../src/scope.ts';
import { parseFlags, repoRoot, runScript, usageError, validateEnvironment } from './lib/cli.ts';
import { SecretInput } from './lib/secret-input.ts';
import { certificatePath, PLACEHOLDER_ANNOTATION, ROTATED_AT_ANNOTATION, sealedFilePath, sealIntoFile } from './lib/sealed-files.ts';

const USAGE = `usage: seal-value --env ENV --name SECRET --key KEY [--namespace dbos] [--scope strict|namespace-wide|cluster-wide]
                  [--cert FILE|URL] [--token-name NAME] [--add-key] [--root DIR]
An existing file accepts only the keys it declares (--add-key adds a new one); dbos.dev/placeholder is removed once
every placeholder key of the file holds a real value.
The value is read from a hidden prompt, or from stdin when stdin is not a terminal (all of it, minus one final newline).
--cert defaults to clusters/<env>/sealed-secrets-cert.pem. --token-name records the Conductor key's name when
sealing conductor-api-key by hand, so the bot can revoke it later.`;

const TOKEN_ANNOTATION = 'dbos.dev/conductor-token';

async function main(): Promise<void> {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      env: { type: 'string' },
      name: { type: 'string' },
      key: { type: 'string' },
      namespace: { type: 'string', default: 'dbos' },
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
  validateTarget({ name: flags.name, namespace: flags.namespace!, scope: scope ?? 'strict' });
  validateSecretKey(flags.key);
  const root = await repoRoot(flags.root);

  // The certificate first: a missing or expired one fails before anyone types a secret.
  const certFlag = flags.cert ?? certificatePath(root, env);
  const certificate = await loadCertificate({ cert: certFlag });
  const certLabel = flags.cert ?? relative(root, certFlag);

  // Before anyone types a secret: a typo'd key would add a stray key and leave the real one unsealed.
  const path = sealedFilePath(root, env, flags.name);
  const existingSource = await readFile(path, 'utf8').then(
    (text) => text,
    () => null,
  );
  const existing = existingSource === null ? null : readSealedSecret(existingSource, relative(root, path));
  if (existing) assertDeclaredKeys(existing, [flags.key], { allowNew: flags['add-key'] === true, fileName: relative(root, path), flag: '--add-key' });
  const placeholder = existing ? placeholderAfterSealing(existing, [flags.key]) : { set: {}, remove: [], remaining: [] };

  const value = await new SecretInput().ask(`value of ${flags.name}/${flags.key} (${env}, not echoed)`, { multiLine: true });

  const annotations: Record<string, string> = { [ROTATED_AT_ANNOTATION]: new Date().toISOString(), ...placeholder.set };
  const removeAnnotations = [...placeholder.remove];
  let note = '';
  if (flags.name === 'conductor-api-key') {
    if (flags['token-name']) {
      annotations[TOKEN_ANNOTATION] = flags['token-name'];
    } else {
      // The recorded key name no longer matches the sealed value; the bot must not act on a stale name.
      removeAnnotations.push(TOKEN_ANNOTATION);
      note = `\nnote: ${TOKEN_ANNOTATION} was removed (pass --token-name to record the new key); delete the old key in the DBOS Console once the pods restarted`;
    }
  } else if (flags['token-name']) {
    throw usageError('--token-name only applies to --name conductor-api-key');
  }

  const result = await sealIntoFile({ root, env, name: flags.name, namespace: flags.namespace!, scope, certificate, data: { [flags.key]: value }, annotations, removeAnnotations });
  echo(
    `${result.created ? 'created' : 'updated'} ${result.path}: key ${flags.key} sealed for ${certLabel} (${certificate.keyFingerprint})` +
      (placeholder.remove.length > 0 ? `, ${PLACEHOLDER_ANNOTATION} removed` : '') +
      (placeholder.remaining.length > 0 ? `, still a placeholder: ${placeholder.remaining.join(', ')} (${PLACEHOLDER_ANNOTATION} stays)` : '') +
      `, ${ROTATED_AT_ANNOTATION} set` +
      (result.created ? `\nnote: list ${flags.name}.sealed.yaml in overlays/${env}/secrets/kustomization.yaml` : '') +
      note,
  );
}

runScript(main);
