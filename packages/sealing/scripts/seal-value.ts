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
import type { CommandSpec } from '@dbos-gitops/cli-kit';
import { loadCertificate } from '../src/cert-source.ts';
import { validateSecretKey, validateTarget } from '../src/document.ts';
import { DEFAULT_KEDA_NAMESPACE, drainReaderPartner, KEDA_DRAIN_READER_SECRET } from '../src/drain-reader-secrets.ts';
import { assertMergeTarget, readSealedSecret, type ExistingSealedSecret } from '../src/merge.ts';
import { assertDeclaredKeys, placeholderAfterSealing } from '../src/placeholder.ts';
import { parseScope, type SealingScope } from '../src/scope.ts';
import { RepositoryError, UsageError } from '../src/errors.ts';
import { printer, repoRoot, runScript, validateEnvironment } from './lib/cli.ts';
import { SecretInput } from './lib/secret-input.ts';
import { certificatePath, PLACEHOLDER_ANNOTATION, ROTATED_AT_ANNOTATION, sealedFilePath, sealIntoFile } from './lib/sealed-files.ts';

const SEAL_VALUE = {
  usage: 'pnpm secrets:seal --env ENV --name SECRET --key KEY [options]',
  summary:
    'Seals ONE value into overlays/<env>/secrets/<SECRET>.sealed.yaml: merged into the existing file (only that key and ' +
    'its annotations change) or a new file. The value is read from a hidden prompt, or from stdin when stdin is not a ' +
    'terminal (all of it, minus one final newline); never from the command line. An existing file accepts only the ' +
    'keys it declares; dbos.dev/placeholder is removed once every placeholder key of the file holds a real value. ' +
    'dbos-drain-reader and dbos-drain-reader-keda (key database-url) are sealed together from the one value.',
  flags: {
    env: { type: 'string', valueName: 'ENV', description: 'the environment: writes overlays/ENV/secrets, seals for clusters/ENV/sealed-secrets-cert.pem (required)' },
    name: { type: 'string', valueName: 'SECRET', description: 'the Secret name, also the file name (required)' },
    key: { type: 'string', valueName: 'KEY', description: 'the key inside the Secret to seal the value under (required)' },
    namespace: { type: 'string', valueName: 'NS', description: "the Secret's namespace (default: the existing file's, else dbos; keda for dbos-drain-reader-keda)" },
    scope: { type: 'string', valueName: 'SCOPE', description: "strict, namespace-wide or cluster-wide (default: the existing file's, else strict)" },
    cert: { type: 'string', valueName: 'FILE|URL', description: 'the sealing certificate (default clusters/ENV/sealed-secrets-cert.pem)' },
    'token-name': { type: 'string', valueName: 'NAME', description: "with --name conductor-api-key: record the Conductor key's name, so the bot can revoke it later" },
    'add-key': { type: 'boolean', description: 'accept a key the existing file does not declare yet (without it a typo is refused)' },
    root: { type: 'string', valueName: 'DIR', description: 'the repository (default: the git work tree around the current directory)' },
    json: { type: 'boolean', description: 'print what was written as JSON ({ files: [...] }) instead of lines' },
  },
  notes: ['exit codes: 0 sealed, 2 certificate or a file for another target, 6 a file that cannot be read, 7 a file that is not an editable SealedSecret, 64 usage (also a key the file does not declare, an empty value), 130 cancelled at the prompt.'],
} satisfies CommandSpec;

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
    throw new RepositoryError(`cannot read ${relativePath}: ${error.code ?? error.message}`);
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

runScript(SEAL_VALUE, 'secrets:seal', async (flags, io) => {
  const env = validateEnvironment(flags.env);
  if (!flags.name) throw new UsageError('--name is required', 'name the Secret, e.g. --name conductor-license');
  if (!flags.key) throw new UsageError('--key is required', 'name the key inside the Secret, e.g. --key license-key');
  const scope = flags.scope === undefined ? undefined : parseScope(flags.scope);
  validateTarget({ name: flags.name, namespace: flags.namespace ?? 'dbos', scope: scope ?? 'strict' });
  validateSecretKey(flags.key);
  if (flags['token-name'] && flags.name !== 'conductor-api-key') throw new UsageError('--token-name only applies to --name conductor-api-key');
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
  const files: Array<{ path: string; created: boolean; key: string; placeholderRemoved: boolean; placeholderRemaining: string[]; tokenNameRemoved: boolean }> = [];
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
      files.push({ path: result.path, created: result.created, key: flags.key, placeholderRemoved: target.placeholder.remove.length > 0, placeholderRemaining: target.placeholder.remaining, tokenNameRemoved: note !== '' });
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
  if (flags.json) io.stdout(`${JSON.stringify({ environment: env, certificate: { source: certLabel, keyFingerprint: certificate.keyFingerprint }, files }, null, 2)}\n`);
  else printer(io)(lines.join('\n'));
});
