import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGitHubFake, startRegistry, type GitHubFake, type TestRegistry } from '@dbos-gitops/testkit';
import { fixtureFiles, type FixtureImage, type FixtureOptions } from '../../../testing/fixture-repo.ts';
import { startGitHttpRemote } from '../../../testing/git-http-remote.ts';
import { createWorld, FAKE_TOKEN, type World } from '../../../testing/world.ts';
import { ConfigError, ForgeError } from '../../errors.ts';
import { APP_ID_ENV, APP_INSTALLATION_ENV, APP_KEY_ENV, APP_KEY_FILE_ENV, authenticateAsApp, githubAppSettingsFromEnv } from './github-auth.ts';

/**
 * GitHub App authentication against the GitHub fake, which verifies each JWT with the App's public key (RS256, iss,
 * iat/exp bounds) and issues installation tokens. Keys are generated per test run, in GitHub's PKCS#1 PEM format.
 */
const keyPair = () =>
  generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } });
const app = keyPair();
const APP_ID = randomInt(1000, 1_000_000);

let fake: GitHubFake | null = null;
const scratch: string[] = [];
afterEach(async () => {
  await fake?.stop();
  fake = null;
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function startFake(installationId: number | null = 4242): Promise<GitHubFake> {
  fake = await startGitHubFake({ owner: 'o', repo: 'r', app: { id: APP_ID, slug: 'gitops-helper', publicKey: app.publicKey, installationId } });
  return fake;
}

/** Every line of a key's base64 body: none may appear in any output. */
const keyLines = (pem: string): string[] => pem.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----'));

describe('GitHub App settings from the environment', () => {
  it('none without an App id; the key inline (with literal \\n) or from a file', () => {
    expect(githubAppSettingsFromEnv({})).toBeNull();
    const inline = githubAppSettingsFromEnv({ [APP_ID_ENV]: String(APP_ID), [APP_KEY_ENV]: app.privateKey.replace(/\n/g, '\\n') });
    expect(inline).toMatchObject({ appId: String(APP_ID), privateKey: app.privateKey.trim(), installationId: null, keySource: APP_KEY_ENV });
    const dir = mkdtempSync(join(tmpdir(), 'app-key-'));
    scratch.push(dir);
    writeFileSync(join(dir, 'app.pem'), app.privateKey, { mode: 0o600 });
    const fromFile = githubAppSettingsFromEnv({ [APP_ID_ENV]: String(APP_ID), [APP_KEY_FILE_ENV]: join(dir, 'app.pem'), [APP_INSTALLATION_ENV]: '77' });
    expect(fromFile).toMatchObject({ privateKey: app.privateKey.trim(), installationId: 77 });
  });

  it('half a configuration, a malformed key or a non-RSA key is a config error (exit 2) that never quotes the key', () => {
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const broken = app.privateKey.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!');
    const cases: Array<[NodeJS.ProcessEnv, RegExp, string]> = [
      [{ [APP_KEY_ENV]: app.privateKey }, /without the App id/, app.privateKey],
      [{ [APP_ID_ENV]: String(APP_ID) }, /private key is not/, ''],
      [{ [APP_ID_ENV]: 'my-app', [APP_KEY_ENV]: app.privateKey }, /not a GitHub App id/, app.privateKey],
      [{ [APP_ID_ENV]: String(APP_ID), [APP_KEY_ENV]: broken }, /malformed PEM private key/, broken],
      [{ [APP_ID_ENV]: String(APP_ID), [APP_KEY_ENV]: keyLines(app.privateKey).join('') }, /not a PEM private key/, app.privateKey],
      [{ [APP_ID_ENV]: String(APP_ID), [APP_KEY_ENV]: ec.privateKey }, /ec key; GitHub Apps sign with RSA/, ec.privateKey],
      [{ [APP_ID_ENV]: String(APP_ID), [APP_KEY_ENV]: app.privateKey, [APP_INSTALLATION_ENV]: '-1' }, /not an installation id/, app.privateKey],
    ];
    for (const [env, message, key] of cases) {
      const error = (() => {
        try {
          githubAppSettingsFromEnv(env);
        } catch (caught) {
          return caught;
        }
        return null;
      })();
      expect(error, String(message)).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).exitCode).toBe(2);
      expect((error as ConfigError).message).toMatch(message);
      const text = `${(error as ConfigError).message}\n${(error as ConfigError).hint}`;
      for (const line of keyLines(key)) expect(text).not.toContain(line.slice(0, 16));
    }
  });
});

describe('authenticating as the App against the fake', () => {
  it("signs a JWT the fake accepts, finds the installation, and gets one installation token acting as '<slug>[bot]'", async () => {
    const github = await startFake();
    const settings = githubAppSettingsFromEnv({ [APP_ID_ENV]: String(APP_ID), [APP_KEY_ENV]: app.privateKey })!;
    const log: string[] = [];
    const auth = await authenticateAsApp(settings, { owner: 'o', repo: 'r', baseUrl: github.url }, (line) => log.push(line));
    expect(auth).toMatchObject({ slug: 'gitops-helper', botLogin: 'gitops-helper[bot]', installationId: 4242 });
    expect(github.installationTokens).toEqual([auth.token]);
    expect(github.calls.map((call) => `${call.method} ${call.path} ${call.status}`)).toEqual([
      'GET /app 200',
      'GET /repos/o/r/installation 200',
      'POST /app/installations/4242/access_tokens 201',
    ]);
    // The token acts on the repository as the App's bot user; GitHub refuses GET /user for it.
    const created = await fetch(`${github.url}/repos/o/r/issues`, {
      method: 'POST',
      headers: { authorization: `token ${auth.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 't', body: 'b' }),
    });
    expect(((await created.json()) as { user: { login: string } }).user.login).toBe('gitops-helper[bot]');
    expect((await fetch(`${github.url}/user`, { headers: { authorization: `token ${auth.token}` } })).status).toBe(403);
    expect(github.violations).toEqual([]);
    expect(log.join('\n')).toContain("the bot's own PRs are those by gitops-helper[bot]");
    for (const line of keyLines(app.privateKey)) expect(log.join('\n')).not.toContain(line.slice(0, 16));
  });

  it('uses GITOPS_BOT_APP_INSTALLATION_ID without looking the installation up', async () => {
    const github = await startFake();
    const settings = githubAppSettingsFromEnv({ [APP_ID_ENV]: String(APP_ID), [APP_KEY_ENV]: app.privateKey, [APP_INSTALLATION_ENV]: '4242' })!;
    await authenticateAsApp(settings, { owner: null, repo: null, baseUrl: github.url });
    expect(github.calls.map((call) => call.path)).toEqual(['/app', '/app/installations/4242/access_tokens']);
  });

  it("a key that is not the App's is refused by the fake (401), and the bot says what to check without the key", async () => {
    const github = await startFake();
    const other = keyPair();
    const settings = githubAppSettingsFromEnv({ [APP_ID_ENV]: String(APP_ID), [APP_KEY_ENV]: other.privateKey })!;
    const error = await authenticateAsApp(settings, { owner: 'o', repo: 'r', baseUrl: github.url }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ForgeError);
    expect((error as ForgeError).exitCode).toBe(4);
    expect((error as ForgeError).message).toBe("GitHub rejected the App's JWT while trying to ask which App the key belongs to (GET /app) (401)");
    expect((error as ForgeError).hint).toContain(`${APP_ID_ENV}=${APP_ID} is the App whose private key is in ${APP_KEY_ENV}`);
    for (const line of keyLines(other.privateKey)) expect(`${(error as Error).message}${(error as ForgeError).hint}`).not.toContain(line.slice(0, 16));
    expect(github.calls).toEqual([{ method: 'GET', path: '/app', status: 401 }]);
    expect(github.installationTokens).toEqual([]);
  });

  it("an App id that is not the key's (iss) is refused; an App not installed on the repository is a 404 with the fix", async () => {
    let github = await startFake();
    const wrongId = githubAppSettingsFromEnv({ [APP_ID_ENV]: String(APP_ID + 1), [APP_KEY_ENV]: app.privateKey })!;
    await expect(authenticateAsApp(wrongId, { owner: 'o', repo: 'r', baseUrl: github.url })).rejects.toThrow(/rejected the App's JWT/);
    await github.stop();
    github = await startFake(null);
    const settings = githubAppSettingsFromEnv({ [APP_ID_ENV]: String(APP_ID), [APP_KEY_ENV]: app.privateKey })!;
    const error = (await authenticateAsApp(settings, { owner: 'o', repo: 'r', baseUrl: github.url }).catch((caught: unknown) => caught)) as ForgeError;
    expect(error.message).toBe(
      `GitHub says App ${APP_ID} is not installed on o/r (404 while trying to find the App's installation on o/r (GET /repos/o/r/installation))`,
    );
    expect(error.hint).toMatch(/install the App on o\/r/);
  });
});

describe('a run as the GitHub App (CLI, real registry and bare git remote, the fake verifying the JWT)', () => {
  const DAY = 86_400_000;
  let registry: TestRegistry;
  const worlds: World[] = [];
  let counter = 0;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => registry?.stop());
  afterEach(async () => {
    for (const world of worlds.splice(0)) await world.dispose();
  });

  /** dex has 1.1.0 in the registry, so a run opens one PR. */
  async function appWorld(options: { key?: string; botLogin?: string; env?: Record<string, string>; issueToken?: () => string } = {}): Promise<World> {
    const prefix = `app${++counter}`;
    const { digest } = await registry.pushImage(`${prefix}/dex`, '1.0.0', { created: new Date(Date.now() - 60 * DAY) });
    await registry.pushImage(`${prefix}/dex`, '1.1.0', { created: new Date(Date.now() - 10 * DAY) });
    const images: FixtureImage[] = [{ id: 'dex', name: 'example/dex', repository: `${registry.host}/${prefix}/dex`, tag: '1.0.0', digest }];
    const fixture: FixtureOptions = { environments: ['dev'], images };
    const files: Record<string, string> = {};
    if (options.botLogin)
      files['.github/gitops-bot.yaml'] = fixtureFiles(fixture)['.github/gitops-bot.yaml']!.replace(
        '  labels: [gitops-bot]\n',
        `  labels: [gitops-bot]\n  botLogin: "${options.botLogin}"\n`,
      );
    const world = await createWorld(
      fixture,
      // No GITHUB_TOKEN would do here: the fake with an App accepts only the installation tokens it issued.
      { [APP_ID_ENV]: String(APP_ID), [APP_KEY_ENV]: options.key ?? app.privateKey, ...options.env },
      files,
      {
        app: {
          id: APP_ID,
          slug: 'gitops-helper',
          publicKey: app.publicKey,
          installationId: 31,
          ...(options.issueToken ? { issueToken: options.issueToken } : {}),
        },
      },
    );
    worlds.push(world);
    return world;
  }

  const noSecrets = (world: World, output: string) => {
    for (const line of keyLines(app.privateKey)) expect(output).not.toContain(line.slice(0, 16));
    for (const token of world.github.installationTokens) expect(output).not.toContain(token);
  };

  it('authenticates as the App, its PRs are authored by <slug>[bot] and recognised as its own on the next run, which writes nothing', async () => {
    const world = await appWorld();
    // plan reads the PRs as the App too, and writes nothing but its token request.
    const plan = await world.run('plan');
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).toContain('authenticated as the GitHub App gitops-helper (installation 31)');
    expect(world.github.calls.map((call) => `${call.method} ${call.path}`)).toEqual([
      'GET /app',
      'GET /repos/example-org/gitops/installation',
      'POST /app/installations/31/access_tokens',
      'GET /repos/example-org/gitops/pulls',
    ]);
    world.github.calls.length = 0;
    world.github.installationTokens.length = 0;
    const first = await world.run('run', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('authenticated as the GitHub App gitops-helper (installation 31)');
    expect(world.github.pulls.map((pull) => [pull.head, pull.author])).toEqual([['bot/image-update/dev/dex', 'gitops-helper[bot]']]);
    expect(world.github.installationTokens).toHaveLength(1);
    const writes = world.github.writeCount();

    const second = await world.run('run', '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(second.json.applied).toEqual([expect.objectContaining({ branch: 'bot/image-update/dev/dex', outcome: 'unchanged' })]);
    expect(second.json.ignored).toEqual([]);
    // One token per run; the second run's only write is asking for it.
    expect(world.github.installationTokens).toHaveLength(2);
    expect(world.github.writeCount()).toBe(writes + 1);
    expect(world.github.pulls).toHaveLength(1);
    expect(world.github.calls.some((call) => call.path === '/user')).toBe(false);
    expect(world.github.violations).toEqual([]);
    noSecrets(world, first.stdout + first.stderr + second.stdout + second.stderr);
    expect(first.stderr + second.stderr).not.toContain(FAKE_TOKEN);
  });

  it("git pushes with the App's installation token, through git's environment, not with the checkout's persisted GITHUB_TOKEN header", async () => {
    // The token the fake will issue, known in advance so the git server can demand exactly it.
    const appToken = `ghs_${randomBytes(27).toString('base64url')}`;
    const actionsToken = `ghs_${randomBytes(27).toString('base64url')}`;
    const basic = (token: string) => `basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
    // Serves every bare repository on this machine by its path, demanding the App's token; started first so the
    // run's environment can name it as the Actions server (GITHUB_SERVER_URL).
    const http = await startGitHttpRemote('/', basic(appToken));
    try {
      const server = http.url.replace(/\/$/, '');
      const world = await appWorld({ issueToken: () => appToken, env: { GITHUB_SERVER_URL: server, GITHUB_TOKEN: actionsToken } });
      const remote = `${http.url}${world.remote.url.replace(/^\//, '')}`;
      // What actions/checkout leaves in the checkout: Actions' GITHUB_TOKEN as an extraheader for the server.
      execFileSync('git', ['-C', world.userDir, 'config', '--local', `http.${http.url}.extraheader`, `AUTHORIZATION: ${basic(actionsToken)}`]);
      const run = await world.run('run', '--remote', remote);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(`credentials from the GitHub App's installation token for ${server}`);
      expect(run.stderr).toContain('GITOPS_BOT_APP_ID is set, so the bot acts as the GitHub App; GITHUB_TOKEN is not used');
      const pushes = http.requests.filter((request) => request.path.endsWith('/git-receive-pack'));
      expect(pushes.length).toBeGreaterThan(0);
      expect(pushes.every((request) => request.authorized)).toBe(true);
      expect((await world.remote.heads()).has('bot/image-update/dev/dex')).toBe(true);
      expect(world.github.pulls.map((pull) => pull.author)).toEqual(['gitops-helper[bot]']);
      for (const token of [appToken, actionsToken]) expect(run.stdout + run.stderr).not.toContain(token);
    } finally {
      await http.stop();
    }
  });

  it("a key that is not the App's is refused by the fake; the run exits 4 with a hint, pushes nothing, and prints no key material", async () => {
    const other = keyPair();
    const world = await appWorld({ key: other.privateKey });
    const run = await world.run('run');
    expect(run.code).toBe(4);
    expect(run.stderr).toContain("GitHub rejected the App's JWT while trying to ask which App the key belongs to (GET /app) (401)");
    expect(run.stderr).toContain(`check that ${APP_ID_ENV}=${APP_ID} is the App whose private key is in ${APP_KEY_ENV}`);
    expect([...(await world.remote.heads()).keys()]).toEqual(['main']);
    expect(world.github.installationTokens).toEqual([]);
    for (const line of keyLines(other.privateKey)) expect(run.stdout + run.stderr).not.toContain(line.slice(0, 16));
  });

  it("a malformed key exits 2 naming the variable, and a forge.botLogin that is not the App's bot user exits 4", async () => {
    const broken = app.privateKey.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!');
    const malformed = await appWorld({ key: broken });
    const run = await malformed.run('run');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`environment: ${APP_KEY_ENV}: is a malformed PEM private key (it does not parse)`);
    expect(malformed.github.calls).toEqual([]);
    for (const line of keyLines(broken)) expect(run.stdout + run.stderr).not.toContain(line.slice(0, 16));

    const pinned = await appWorld({ botLogin: 'someone-else[bot]' });
    const mismatch = await pinned.run('run');
    expect(mismatch.code).toBe(4);
    expect(mismatch.stderr).toContain("forge.botLogin is someone-else[bot], but the GitHub App's bot user is gitops-helper[bot]");
    expect(pinned.github.pulls).toEqual([]);
    expect([...(await pinned.remote.heads()).keys()]).toEqual(['main']);
  });
});
