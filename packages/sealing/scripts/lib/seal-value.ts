// Loaded by ../seal-value.ts once its command line parsed, so --help never loads what sealing needs.
import type { SEAL_VALUE } from '../seal-value.ts';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { CliIo, FlagValues } from '@dbos-gitops/cli-kit';
import { loadCertificate } from '../../src/cert-source.ts';
import { validateSecretKey, validateTarget } from '../../src/document.ts';
import { DEFAULT_KEDA_NAMESPACE, drainReaderPartner, KEDA_DRAIN_READER_SECRET } from '../../src/drain-reader-secrets.ts';
import { assertMergeTarget, readSealedSecret, type ExistingSealedSecret } from '../../src/merge.ts';
import { assertDeclaredKeys, placeholderAfterSealing } from '../../src/placeholder.ts';
import { parseScope, type SealingScope } from '../../src/scope.ts';
import { RepositoryError, UsageError } from '../../src/errors.ts';
import { printer, repoRoot, validateEnvironment } from './cli.ts';
import { SecretInput } from './secret-input.ts';
import { certificatePath, sealedFilePath, sealIntoFile, secretsDirectory } from './sealed-files.ts';
import { appsOfEnvironment, readAppSecretNames, type AppSecretNames } from './app-identity.ts';

import { CONDUCTOR_TOKEN_ANNOTATION as TOKEN_ANNOTATION, PLACEHOLDER_ANNOTATION, ROTATED_AT_ANNOTATION } from '../../src/names.ts';

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
async function prepareTarget(
  root: string,
  env: string,
  app: string | undefined,
  name: string,
  key: string,
  options: { namespace?: string; scope?: SealingScope; addKey: boolean },
): Promise<FileTarget> {
  const path = sealedFilePath(root, env, name, app);
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

/** The body of `pnpm secrets:seal`; its flags are the spec's in ../seal-value.ts. */
export async function sealValue(flags: FlagValues<(typeof SEAL_VALUE)['flags']>, io: CliIo): Promise<number | void> {
  const env = validateEnvironment(flags.env);
  if (!flags.name) throw new UsageError('--name is required', 'name the Secret, e.g. --name conductor-license');
  if (!flags.key) throw new UsageError('--key is required', 'name the key inside the Secret, e.g. --key license-key');
  const scope = flags.scope === undefined ? undefined : parseScope(flags.scope);
  validateTarget({ name: flags.name, namespace: flags.namespace ?? 'dbos', scope: scope ?? 'strict' });
  validateSecretKey(flags.key);
  const root = await repoRoot(flags.root);
  // An application's secret lives beside it; the environment must have the application (exit 2 naming the file).
  const app: AppSecretNames | null = flags.app === undefined ? null : await readAppSecretNames(root, env, flags.app);
  if (app !== null && drainReaderPartner(flags.name, flags.key) !== null)
    throw new UsageError(`${flags.name} is a platform secret (the drain reader's URL, shared by every application)`, 'leave out --app');
  if (app === null) {
    // Sealed into platform/ by mistake, an application's secret would render nowhere and its executors keep the old value.
    const owner = (await appsOfEnvironment(root, env)).find((names) => [names.databaseSecret, names.conductorApiKeySecret].includes(flags.name!));
    if (owner) throw new UsageError(`${flags.name} is a secret of the application ${owner.app}, not of the platform`, `pass --app ${owner.app}`);
  }
  const isApiKey = app !== null && flags.name === app.conductorApiKeySecret;
  if (flags['token-name'] && !isApiKey)
    throw new UsageError(
      "--token-name only applies to an application's Conductor API key",
      "pass --app APP --name <the app's conductor-api-key-secret, from its identity.yaml>",
    );

  // The certificate first: a missing or expired one fails before anyone types a secret.
  const certFlag = flags.cert ?? certificatePath(root, env);
  const certificate = await loadCertificate({ cert: certFlag });
  const certLabel = flags.cert ?? relative(root, certFlag);

  // Both files of a pair are checked before anyone types the value, so neither is written when one would refuse.
  const addKey = flags['add-key'] === true;
  const appName = app?.app;
  const targets = [await prepareTarget(root, env, appName, flags.name, flags.key, { namespace: flags.namespace, scope, addKey })];
  const partner = app === null ? drainReaderPartner(flags.name, flags.key) : null;
  if (partner !== null) targets.push(await prepareTarget(root, env, undefined, partner, flags.key, { addKey }));

  const value = await new SecretInput().ask(`value of ${flags.name}/${flags.key} (${env}${appName ? ` ${appName}` : ''}, not echoed)`, { multiLine: true });

  const now = new Date().toISOString();
  const lines: string[] = [];
  const files: Array<{ path: string; created: boolean; key: string; placeholderRemoved: boolean; placeholderRemaining: string[]; tokenNameRemoved: boolean }> =
    [];
  const done: FileTarget[] = [];
  try {
    for (const target of targets) {
      const annotations: Record<string, string> = { [ROTATED_AT_ANNOTATION]: now, ...target.placeholder.set };
      const removeAnnotations = [...target.placeholder.remove];
      let note = '';
      if (isApiKey) {
        if (flags['token-name']) {
          annotations[TOKEN_ANNOTATION] = flags['token-name'];
        } else {
          // The recorded key name no longer matches the sealed value; the bot must not act on a stale name.
          removeAnnotations.push(TOKEN_ANNOTATION);
          note = `\nnote: ${TOKEN_ANNOTATION} was removed (pass --token-name to record the new key); delete the old key in the DBOS Console once the pods restarted`;
        }
      }
      const result = await sealIntoFile({
        root,
        env,
        ...(appName && target.name === flags.name ? { app: appName } : {}),
        name: target.name,
        namespace: target.namespace,
        scope: target.scope,
        certificate,
        data: { [flags.key]: value },
        annotations,
        removeAnnotations,
      });
      done.push(target);
      files.push({
        path: result.path,
        created: result.created,
        key: flags.key,
        placeholderRemoved: target.placeholder.remove.length > 0,
        placeholderRemaining: target.placeholder.remaining,
        tokenNameRemoved: note !== '',
      });
      lines.push(
        `${result.created ? 'created' : 'updated'} ${result.path}: key ${flags.key} sealed for ${certLabel} (${certificate.keyFingerprint})` +
          (target.placeholder.remove.length > 0 ? `, ${PLACEHOLDER_ANNOTATION} removed` : '') +
          (target.placeholder.remaining.length > 0
            ? `, still a placeholder: ${target.placeholder.remaining.join(', ')} (${PLACEHOLDER_ANNOTATION} stays)`
            : '') +
          `, ${ROTATED_AT_ANNOTATION} set` +
          (result.created
            ? `\nnote: list ${target.name}.sealed.yaml in ${relative(root, join(secretsDirectory(root, env, appName && target.name === flags.name ? appName : undefined), 'kustomization.yaml'))}`
            : '') +
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
  if (flags.json)
    io.stdout(
      `${JSON.stringify({ environment: env, ...(appName ? { app: appName } : {}), certificate: { source: certLabel, keyFingerprint: certificate.keyFingerprint }, files }, null, 2)}\n`,
    );
  else printer(io)(lines.join('\n'));
}
