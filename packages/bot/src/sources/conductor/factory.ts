import { ConductorClient, SecretValue, type ConductorTokenApi } from '@dbos-gitops/conductor';
import { ConductorError } from '@dbos-gitops/conductor';

/** Per environment: where its Conductor is and which variable (never the value) holds the admin key. */
export interface ConductorAccess {
  url: string;
  adminKeyEnv: string;
}

/**
 * Builds one client per environment, lazily, reading each admin key from its variable when first needed, so a run
 * that plans nothing for an environment never needs that environment's key.
 */
export function conductorClients(
  access: Readonly<Record<string, ConductorAccess>>,
  variables: Readonly<Record<string, string | undefined>>,
): (env: string) => ConductorTokenApi {
  const clients = new Map<string, ConductorTokenApi>();
  return (env) => {
    const existing = clients.get(env);
    if (existing) return existing;
    const settings = access[env];
    if (!settings) throw new ConductorError('invalid', 'setup', undefined, `no Conductor access is configured for environment ${env}`);
    const key = variables[settings.adminKeyEnv];
    if (!key) throw new ConductorError('auth', 'setup', undefined, `the variable ${settings.adminKeyEnv} (Conductor admin key for ${env}) is not set`);
    const client = new ConductorClient({ baseUrl: settings.url, apiKey: new SecretValue(key) });
    clients.set(env, client);
    return client;
  };
}
