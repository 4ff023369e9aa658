/** Split `ghcr.io/dexidp/dex` into the registry host and the repository path, with Docker Hub's conventions. */
export interface RepositoryReference {
  /** Host used for API calls (`registry-1.docker.io` for Docker Hub). */
  host: string;
  /** Repository path on that host (`library/alpine` for Docker Hub official images). */
  path: string;
}

export function parseRepository(repository: string): RepositoryReference {
  const parts = repository.split('/');
  const first = parts[0] ?? '';
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let host = hasHost ? first : 'docker.io';
  let path = hasHost ? parts.slice(1).join('/') : repository;
  if (host === 'docker.io' || host === 'index.docker.io') {
    host = 'registry-1.docker.io';
    if (!path.includes('/')) path = `library/${path}`;
  }
  return { host, path };
}

/** Name of the environment variables holding credentials for a host: `GITOPS_BOT_REGISTRY_<HOST>_USERNAME` and
 * `..._PASSWORD`, where <HOST> is the host upper-cased with every non-alphanumeric character replaced by `_`
 * (`ghcr.io` → `GITOPS_BOT_REGISTRY_GHCR_IO_USERNAME`). */
export function credentialEnvNames(host: string): { username: string; password: string } {
  const key = host.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return { username: `GITOPS_BOT_REGISTRY_${key}_USERNAME`, password: `GITOPS_BOT_REGISTRY_${key}_PASSWORD` };
}

export function credentialsFromEnv(host: string, env: NodeJS.ProcessEnv): { username: string; password: string } | null {
  const names = credentialEnvNames(host === 'registry-1.docker.io' ? 'docker.io' : host);
  const username = env[names.username];
  const password = env[names.password];
  return username && password ? { username, password } : null;
}

/** Token services known to belong to a registry on another host (Docker Hub answers with realm auth.docker.io). */
const BUILT_IN_REALMS: Record<string, string[]> = { 'registry-1.docker.io': ['auth.docker.io'] };

/** `GITOPS_BOT_REGISTRY_<HOST>_TOKEN_REALMS`: comma-separated hosts trusted with the registry's credentials. */
export function trustedRealmEnvName(host: string): string {
  const key = (host === 'registry-1.docker.io' ? 'docker.io' : host).toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return `GITOPS_BOT_REGISTRY_${key}_TOKEN_REALMS`;
}

/** Hosts (besides the registry's own origin) that may receive its Basic credentials when they issue tokens. */
export function trustedRealmHosts(host: string, env: NodeJS.ProcessEnv): string[] {
  const configured = (env[trustedRealmEnvName(host)] ?? '')
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter(Boolean);
  return [...(BUILT_IN_REALMS[host] ?? []), ...configured];
}
