import { parseDatabaseUrl } from '@dbos-gitops/drain';
import {
  PLACEHOLDER_ANNOTATION,
  ROTATED_AT_ANNOTATION,
  SecretInput,
  parseCertificate,
  sealSecret,
  toYaml,
  type SealingCertificate,
} from '@dbos-gitops/sealing';
import type { AppNames } from './app-files.ts';
import { AppsError, InterruptedError, treeError, usageError } from './errors.ts';

/**
 * The application's two Secrets per environment: the executors' database URL (its restricted role) and its Conductor
 * API key. The values come from hidden prompts on a terminal, else from stdin lines, never from argv; they exist only
 * in memory until sealed, and no message ever repeats one.
 */

export const NAMESPACE = 'dbos';
export const API_KEY_PLACEHOLDER = 'placeholder';

export interface AppSecrets {
  databaseUrl: string;
  /** The literal "placeholder" with --api-key-placeholder. */
  apiKey: string;
  apiKeyIsPlaceholder: boolean;
}

export function loadCertificate(pem: string | null, path: string, now: Date): SealingCertificate {
  if (pem === null)
    throw treeError(`${path} does not exist`, 'fetch the sealing certificate of the environment first: pnpm secrets:fetch-cert --env ENV --commit');
  return parseCertificate(pem, { now });
}

/** Races a read with the interrupt signal, so SIGINT during a stdin read stops the command at once. */
function interruptible<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof AppsError ? signal.reason : new InterruptedError('SIGINT'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export async function readAppSecrets(
  input: SecretInput,
  envs: readonly string[],
  names: AppNames,
  options: { apiKeyPlaceholder: boolean; signal?: AbortSignal },
): Promise<Map<string, AppSecrets>> {
  const out = new Map<string, AppSecrets>();
  for (const env of envs) {
    const databaseUrl = await interruptible(input.ask(`${env}: database URL of ${names.role} (postgresql://...)`), options.signal);
    checkDatabaseUrl(databaseUrl, env, names.role);
    const apiKey = options.apiKeyPlaceholder
      ? API_KEY_PLACEHOLDER
      : await interruptible(input.ask(`${env}: Conductor API key of ${names.name}`), options.signal);
    if (/\s/.test(apiKey)) throw usageError(`the Conductor API key for ${env} contains whitespace (not shown); nothing was written`, 'paste the key alone');
    out.set(env, { databaseUrl, apiKey, apiKeyIsPlaceholder: options.apiKeyPlaceholder });
  }
  return out;
}

/** The executors must log in as the role `dbos migrate --app-role` grants; nothing of the URL is repeated. */
function checkDatabaseUrl(url: string, env: string, role: string): void {
  let user: string;
  try {
    user = parseDatabaseUrl(url).user;
  } catch {
    throw usageError(
      `the database URL for ${env} is not a postgresql:// URL (not shown); nothing was written`,
      'give postgresql://ROLE:PASSWORD@HOST:PORT/DATABASE, percent-encoding special characters of the password',
    );
  }
  if (user !== role)
    throw usageError(
      `the database URL for ${env} does not log in as ${role} (the user is not shown); nothing was written`,
      `the executors use the restricted role the migration Job grants: postgresql://${role}:PASSWORD@HOST:PORT/DATABASE`,
    );
}

/** The two SealedSecret files, strict scope in namespace dbos, as `pnpm secrets:seal` writes them. */
export function sealAppSecrets(certificate: SealingCertificate, names: AppNames, secrets: AppSecrets, now: Date): { database: string; apiKey: string } {
  const database = sealSecret({
    certificate,
    name: names.databaseSecret,
    namespace: NAMESPACE,
    scope: 'strict',
    data: { 'database-url': secrets.databaseUrl },
  });
  const apiKey = sealSecret({
    certificate,
    name: names.conductorApiKeySecret,
    namespace: NAMESPACE,
    scope: 'strict',
    data: { 'api-key': secrets.apiKey },
    // The rotation task compares rotated-at with its maximum age, and replaces a placeholder at its next run.
    annotations: {
      ...(secrets.apiKeyIsPlaceholder ? { [PLACEHOLDER_ANNOTATION]: 'true' } : {}),
      [ROTATED_AT_ANNOTATION]: now.toISOString(),
    },
  });
  return { database: toYaml(database), apiKey: toYaml(apiKey) };
}

export { SecretInput };
