/**
 * Writes one sealed value into a platform secret, `overlays/<env>/platform/secrets/<name>.sealed.yaml`, or an
 * application's, `overlays/<env>/apps/<app>/secrets/<name>.sealed.yaml`: merged into the existing file (only that key
 * and the annotations change, every other byte stays) or a new kubeseal-shaped file.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { SealingCertificate } from '../../src/certificate.ts';
import { encryptData, sealSecret, toYaml, type SealingTarget } from '../../src/document.ts';
import { mergeIntoSealedSecret, readSealedSecret } from '../../src/merge.ts';
import type { SealingScope } from '../../src/scope.ts';

/** The platform's secrets (Conductor, Console, Dex, the bot, KEDA), or with `app` that application's. */
export function secretsDirectory(root: string, env: string, app?: string): string {
  return app === undefined ? join(root, 'overlays', env, 'platform', 'secrets') : join(root, 'overlays', env, 'apps', app, 'secrets');
}

export function sealedFilePath(root: string, env: string, name: string, app?: string): string {
  return join(secretsDirectory(root, env, app), `${name}.sealed.yaml`);
}

export function certificatePath(root: string, env: string): string {
  return join(root, 'clusters', env, 'sealed-secrets-cert.pem');
}

export interface SealIntoFileOptions {
  root: string;
  env: string;
  /** The application whose secret this is; absent: a platform secret. */
  app?: string;
  name: string;
  namespace: string;
  scope?: SealingScope;
  certificate: SealingCertificate;
  data: Record<string, string>;
  annotations?: Record<string, string>;
  removeAnnotations?: string[];
}

export interface SealedFileResult {
  /** Repository-relative path. */
  path: string;
  created: boolean;
}

export async function sealIntoFile(options: SealIntoFileOptions): Promise<SealedFileResult> {
  const path = sealedFilePath(options.root, options.env, options.name, options.app);
  const relativePath = relative(options.root, path);
  if (existsSync(path)) {
    const source = await readFile(path, 'utf8');
    const existing = readSealedSecret(source, relativePath);
    // Seal for the file's own identity (its scope may be wider than the default), so the merge check passes.
    const target: SealingTarget = { name: options.name, namespace: options.namespace, scope: options.scope ?? existing.scope };
    const encrypted = encryptData(options.certificate, target, options.data);
    // Set first, remove second: removing the last annotation first would drop the map and re-append it elsewhere.
    const withValues = mergeIntoSealedSecret(source, target, encrypted, relativePath, { annotations: options.annotations });
    const merged = options.removeAnnotations?.length
      ? mergeIntoSealedSecret(withValues, target, {}, relativePath, { removeAnnotations: options.removeAnnotations })
      : withValues;
    await writeFile(path, merged);
    return { path: relativePath, created: false };
  }
  const document = sealSecret({
    certificate: options.certificate,
    name: options.name,
    namespace: options.namespace,
    scope: options.scope ?? 'strict',
    data: options.data,
    annotations: options.annotations,
  });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, toYaml(document));
  return { path: relativePath, created: true };
}
