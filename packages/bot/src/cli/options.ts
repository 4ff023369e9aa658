import type { FlagSpecs, FlagValues } from '@dbos-gitops/cli-kit';
import { UsageError } from '../errors.ts';
import { TASK_NAMES } from '../tasks/names.ts';
import type { RollbackRequest } from '../tasks/rollback/index.ts';

/** The flags `plan` and `run` share; each explained in `--help`. Light: help imports nothing else. */
export const PLAN_FLAGS = {
  env: { type: 'string', valueName: 'ENV', description: 'only this environment (others are still read for promotion)' },
  task: { type: 'string', valueName: 'TASK', description: `only this task (default: all: ${TASK_NAMES.join(', ')})` },
  json: { type: 'boolean', description: 'machine-readable output on stdout (progress and logs stay on stderr)' },
  config: { type: 'string', valueName: 'FILE', description: 'bot config (default: <repo>/.github/gitops-bot.yaml)' },
  repo: { type: 'string', valueName: 'DIR', description: 'the GitOps repository (default: the git top level of the current directory)' },
  source: {
    type: 'string',
    valueName: 'SOURCE',
    description:
      'registry source: live (OCI registries, the default) or catalog (offline example data); plan falls back to the catalog, labelled, only when no registry can be reached',
  },
  catalog: { type: 'string', valueName: 'FILE', description: 'catalog file for --source catalog (default: the embedded one)' },
  forge: { type: 'string', valueName: 'FORGE', description: 'github or local (default: github when GITHUB_TOKEN is set and forge.type is github)' },
  'rotate-now': { type: 'boolean', description: 'secret-rotation: rotate the Conductor API key now, whatever its age (with --env: only there)' },
  'cache-dir': {
    type: 'string',
    valueName: 'DIR',
    description:
      'registry and GitHub cache (default: $XDG_CACHE_HOME/dbos-gitops-bot or ~/.cache/dbos-gitops-bot); holds no credentials; safe to share between concurrent runs',
  },
} as const satisfies FlagSpecs;

export const RUN_FLAGS = {
  'dry-run': { type: 'boolean', description: 'print diffs and PR text; push nothing, open nothing' },
  remote: { type: 'string', valueName: 'URL', description: 'git remote to clone and push (default: origin of --repo); never with credentials in it' },
  ...PLAN_FLAGS,
} as const satisfies FlagSpecs;

export const CREDENTIAL_NOTES = [
  'Registry credentials come from GITOPS_BOT_REGISTRY_<HOST>_USERNAME and GITOPS_BOT_REGISTRY_<HOST>_PASSWORD, where <HOST> is the registry host upper-cased with non-alphanumerics as "_" (ghcr.io → GHCR_IO). GitHub settings come from GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL (Enterprise Server).',
];

export interface Options {
  env: string | null;
  task: string | null;
  json: boolean;
  dryRun: boolean;
  config: string | null;
  repo: string | null;
  remote: string | null;
  source: 'live' | 'catalog' | null;
  catalog: string | null;
  forge: 'github' | 'local' | null;
  rotateNow: boolean;
  /** `--cache-dir`, validated as a path; null: the default under XDG_CACHE_HOME or HOME. */
  cacheDir: string | null;
  /** `pnpm bot rollback`: the rollback to plan (with --task rollback); absent: the rollback task plans nothing. */
  rollback?: RollbackRequest | null;
}

/** A password in any URL, or any userinfo in an http(s) URL (`https://<token>@host`); `ssh://git@host` is a user name. */
function remoteCarriesCredentials(remote: string): boolean {
  try {
    const url = new URL(remote);
    return url.password !== '' || ((url.protocol === 'http:' || url.protocol === 'https:') && url.username !== '');
  } catch {
    // scp-like `git@host:org/repo` and paths: credentials there would need a URL, but refuse anything ambiguous.
    return /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(remote);
  }
}

/** Validates the parsed flags at the boundary: only known values, no credentials on the command line. */
export function toOptions(values: FlagValues<typeof RUN_FLAGS>): Options {
  if (values.remote !== undefined && remoteCarriesCredentials(values.remote)) {
    throw new UsageError(
      '--remote carries credentials (user:password@ or token@ in an http(s) URL), which the command line would leak into logs, shell history and ps; the value is not shown',
      'pass the URL without credentials and give the token as GITHUB_TOKEN (github.com, or GITHUB_SERVER_URL), through a git credential helper, or run from a checkout whose git config holds it (as actions/checkout leaves it)',
    );
  }
  const source = values.source ?? null;
  if (source !== null && source !== 'live' && source !== 'catalog') throw new UsageError(`--source must be live or catalog, not "${source}"`);
  const forge = values.forge ?? null;
  if (forge !== null && forge !== 'github' && forge !== 'local') throw new UsageError(`--forge must be github or local, not "${forge}"`);
  const cacheDir = values['cache-dir'] ?? null;
  // A path: not empty, no NUL or line breaks (they would reach file APIs and log lines).
  if (cacheDir !== null && (cacheDir.trim() === '' || /[\0\r\n]/.test(cacheDir)))
    throw new UsageError('--cache-dir must be a directory path', 'pass e.g. --cache-dir ~/.cache/dbos-gitops-bot, or leave it out for the default');
  return {
    env: values.env ?? null,
    task: values.task ?? null,
    json: values.json ?? false,
    dryRun: values['dry-run'] ?? false,
    config: values.config ?? null,
    repo: values.repo ?? null,
    remote: values.remote ?? null,
    source,
    catalog: values.catalog ?? null,
    forge,
    rotateNow: values['rotate-now'] ?? false,
    cacheDir,
  };
}
