import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startConductorFake, type ConductorFake } from '@dbos-gitops/testkit';
import { createBareRemote, createFixture, DBOS_APP_CONDUCTOR_NAME, runRotation } from '../../testing/rotation-fixture.ts';
import { main } from '../cli.ts';
import { GitWorkspace, resolveGitAccess } from '../git/workspace.ts';
import { LocalForge } from '../sources/forge/local.ts';
import { TOKEN_ANNOTATION } from '../tasks/secret-rotation/index.ts';
import { REPO_ROOT } from '../../testing/version-fixture.ts';
import { startGitHttpRemote, type GitHttpRemote } from '../../testing/git-http-remote.ts';

/**
 * The bot as a real child process (the CLI entry, as `pnpm bot run` starts it) against a remote served over HTTP
 * that demands the token the way github.com does, and the Conductor fake. Signals are sent at the dangerous moment:
 * after "created Conductor API key", while the branch is being pushed (a pre-receive hook holds the push open).
 */
const CLI = join(REPO_ROOT, 'packages/bot/src/cli.ts');
const TSX = pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
// Async: the HTTP remote runs in this process, so a synchronous git call against it would block its own server.
const run = promisify(execFile);
const SETTINGS = { org: 'acme_org', permissions: ['websocket.connect'], tokenPrefix: 'gitops' };

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface World {
  conductor: ConductorFake;
  http: GitHttpRemote;
  /** The bare repository behind the HTTP remote. */
  bare: string;
  /** A checkout as actions/checkout leaves it: origin is the HTTP URL, the token only in its local config. */
  checkout: string;
  /** The bot's TMPDIR and HOME: nothing else writes there, so leftovers are the bot's. */
  tmp: string;
  home: string;
  token: string;
  oldName: string;
  heads(): string;
}

/**
 * `extraheader`: as actions/checkout leaves it. `origin-url`: as some CI systems leave it (the token in the origin
 * URL of the checkout); the bot must move it out of the URL before cloning.
 */
async function world(credentialsIn: 'extraheader' | 'origin-url' = 'extraheader'): Promise<World> {
  const conductor = await startConductorFake({ org: 'acme_org' });
  cleanups.push(() => conductor.stop());
  const old = conductor.addToken({ tokenName: 'gitops-dev-old', appNames: ['shop-app'], permissions: ['websocket.connect'] });
  const fixture = await createFixture({
    oldApiKey: old.secret,
    apiKeyAnnotations: { 'dbos.dev/rotated-at': '2025-01-01T00:00:00.000Z', [TOKEN_ANNOTATION]: old.tokenName },
  });
  cleanups.push(() => fixture.dispose());
  await fixture.write(
    '.github/gitops-bot.yaml',
    [
      'version: 1',
      'environments:',
      '  - name: dev',
      '    overlay: overlays/dev',
      'forge:',
      '  type: local',
      '  baseBranch: main',
      'apps:',
      '  - name: dbos-app',
      '    repository: registry.example/dbos-app',
      `    conductorAppName: ${DBOS_APP_CONDUCTOR_NAME}`,
      'secretRotation:',
      '  maxAge: 90d',
      '  conductor:',
      '    org: acme_org',
      `    url: ${conductor.url}`,
      '    adminKeyEnv: CONDUCTOR_ADMIN_API_KEY',
      '    permissions: [websocket.connect]',
      '    tokenPrefix: gitops',
      '',
    ].join('\n'),
  );
  // The bot checks the config against the tree before planning: the environment's overlay must exist.
  await fixture.write(
    'overlays/dev/kustomization.yaml',
    ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'resources:', '  - apps/dbos-app/secrets/conductor-api-key.sealed.yaml', ''].join(
      '\n',
    ),
  );
  const scratch = mkdtempSync(join(tmpdir(), 'rotation-interrupts-'));
  cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
  const projects = join(scratch, 'projects');
  mkdirSync(projects);
  const bare = join(projects, 'gitops.git');
  createBareRemote(fixture.root, bare);
  const token = `ghs_${randomBytes(18).toString('base64url')}`;
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  const http = await startGitHttpRemote(projects, `basic ${basic}`);
  cleanups.push(() => http.stop());

  // actions/checkout: `git init`, origin without credentials, the token as an extraheader in the LOCAL config only
  // (written to the file here so the test's own command lines never carry it), then fetch and check out.
  const checkout = join(scratch, 'checkout');
  const home = join(scratch, 'home');
  const tmp = join(scratch, 'tmp');
  mkdirSync(home);
  mkdirSync(tmp);
  const gitEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, GIT_TERMINAL_PROMPT: '0' };
  execFileSync('git', ['init', '--quiet', '--initial-branch=main', checkout], { env: gitEnv });
  if (credentialsIn === 'extraheader') {
    appendFileSync(
      join(checkout, '.git/config'),
      `[remote "origin"]\n\turl = ${http.url}gitops.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[http "${http.url}"]\n\textraheader = AUTHORIZATION: basic ${basic}\n`,
    );
  } else {
    appendFileSync(
      join(checkout, '.git/config'),
      `[remote "origin"]\n\turl = ${http.url.replace('http://', `http://x-access-token:${token}@`)}gitops.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n`,
    );
  }
  await run('git', ['-C', checkout, 'fetch', '--quiet', 'origin', '+refs/heads/main:refs/remotes/origin/main'], { env: gitEnv });
  execFileSync('git', ['-C', checkout, 'checkout', '--quiet', 'main'], { env: gitEnv });

  const heads = () => execFileSync('git', ['--git-dir', bare, 'for-each-ref', '--format=%(refname) %(objectname)'], { encoding: 'utf8' });
  return { conductor, http, bare, checkout, tmp, home, token, oldName: old.tokenName, heads };
}

/**
 * Holds every push open until the test calls `release()`, then accepts it (`exit 0`) or refuses it (`exit 1`): a
 * signal sent after "created Conductor API key" therefore lands while the branch is being pushed, on any machine load.
 */
function holdPushes(bare: string, outcome: 0 | 1): { release(): void } {
  const flag = join(bare, 'release-pushes');
  writeFileSync(join(bare, 'hooks', 'pre-receive'), `#!/bin/sh\ncat >/dev/null\nwhile [ ! -e '${flag}' ]; do sleep 0.05; done\nexit ${outcome}\n`);
  chmodSync(join(bare, 'hooks', 'pre-receive'), 0o755);
  return { release: () => writeFileSync(flag, '') };
}

interface Child {
  stderr: () => string;
  stdout: () => string;
  /** Resolves once stderr contains `text`. */
  waitFor(text: string): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  /** The signal to the bot's whole process group (its git children too), as when a container or job is killed. */
  killGroup(signal: NodeJS.Signals): void;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startBot(
  w: World,
  args: string[],
  extraEnv: Record<string, string> = {},
  command: { file: string; args: string[] } = { file: process.execPath, args: ['--import', TSX, CLI, ...args] },
): Child {
  const child = spawn(command.file, command.args, {
    cwd: w.checkout,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: w.home, TMPDIR: w.tmp, CONDUCTOR_ADMIN_API_KEY: w.conductor.adminKey, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  let stdout = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    for (const waiter of waiters.splice(0)) {
      if (stderr.includes(waiter.text)) waiter.resolve();
      else waiters.push(waiter);
    }
  });
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  });
  return {
    stderr: () => stderr,
    stdout: () => stdout,
    waitFor: (text) =>
      new Promise<void>((resolve, reject) => {
        if (stderr.includes(text)) return resolve();
        waiters.push({ text, resolve });
        void exit.then(({ code, signal }) => reject(new Error(`the bot exited (${code ?? signal}) before printing "${text}":\n${stderr}`)));
      }),
    kill: (signal) => child.kill(signal),
    killGroup: (signal) => process.kill(-child.pid!, signal),
    exit,
  };
}

const botClones = (w: World): string[] => readdirSync(w.tmp).filter((name) => name.startsWith('gitops-bot-'));

describe('interrupted rotation runs leave nothing behind (issue 8 items 3, 4)', () => {
  for (const [signal, code, credentialsIn] of [
    ['SIGTERM', 143, 'extraheader'],
    ['SIGINT', 130, 'extraheader'],
    ['SIGTERM', 143, 'origin-url'],
  ] as const) {
    it(`${signal} while the rotation branch is being pushed (token in the checkout's ${credentialsIn}): exit ${code}, the new key deleted, the remote unchanged, the temp clone removed, the token never in its .git/config`, async () => {
      const w = await world(credentialsIn);
      const pushes = holdPushes(w.bare, 0);
      const before = w.heads();
      const bot = startBot(w, ['run', '--task', 'secret-rotation']);
      await bot.waitFor('created Conductor API key gitops-dev-dbos-app-');
      // The dangerous moment: a key exists that no branch names yet. Look into the bot's clone before stopping it.
      const clones = botClones(w);
      expect(clones).toHaveLength(1);
      const config = readFileSync(join(w.tmp, clones[0]!, '.git', 'config'), 'utf8');
      expect(config).toContain(`url = ${w.http.url}gitops.git`);
      expect(config).not.toContain(w.token);
      expect(config.toLowerCase()).not.toContain('extraheader');
      expect(config.toLowerCase()).not.toContain('authorization');
      bot.kill(signal);
      pushes.release();

      const exit = await bot.exit;
      expect({ ...exit, stderr: exit.code === code ? '' : bot.stderr() }).toEqual({ code, signal: null, stderr: '' });
      expect(bot.stderr()).toMatch(new RegExp(`interrupted by ${signal}`));
      expect(bot.stderr()).toMatch(/deleted the new Conductor API key gitops-dev-dbos-app-\S+ \(dev\) again/);
      expect(w.conductor.tokens().map((token) => token.tokenName)).toEqual([w.oldName]);
      expect(w.heads()).toBe(before);
      expect(botClones(w)).toEqual([]);
      expect(existsSync(w.tmp)).toBe(true);
      for (const text of [bot.stderr(), bot.stdout()]) {
        expect(text).not.toContain(w.token);
        expect(text).not.toContain(w.conductor.adminKey);
      }
      // Every request the bot made to the remote carried the credential: none was tried without it first.
      expect(w.http.requests.length).toBeGreaterThan(0);
    });
  }

  it('SIGKILL right after the key was created: a re-run right after still rotates (no 409 on the same-minute name), and a later run deletes the orphan and says so, keeping the key the open branch names', async () => {
    const w = await world();
    const before = w.heads();
    // The killed run's push, if it gets that far, is held until after the kill and then refused: its branch never
    // lands, so the key it created is named nowhere.
    const pushes = holdPushes(w.bare, 1);
    const killed = startBot(w, ['run', '--task', 'secret-rotation']);
    await killed.waitFor('created Conductor API key gitops-dev-dbos-app-');
    killed.killGroup('SIGKILL');
    expect(await killed.exit).toEqual({ code: null, signal: 'SIGKILL' });
    pushes.release();
    const orphan = w.conductor.tokens().find((token) => token.tokenName !== w.oldName)!;
    expect(orphan.tokenName).toMatch(/^gitops-dev-dbos-app-\d{12}$/);
    expect(w.heads()).toBe(before);
    rmSync(join(w.bare, 'hooks', 'pre-receive'));

    const rerun = startBot(w, ['run', '--task', 'secret-rotation']);
    const rerunExit = await rerun.exit;
    expect({ ...rerunExit, stderr: rerunExit.code === 0 ? '' : rerun.stderr() }).toEqual({ code: 0, signal: null, stderr: '' });
    const fresh = w.conductor.tokens().filter((token) => token.tokenName !== w.oldName && token.tokenName !== orphan.tokenName);
    expect(fresh).toHaveLength(1);
    expect(w.conductor.calls.filter((call) => call.operation === 'createToken').map((call) => call.status)).toEqual([201, 201]);
    expect(rerun.stdout()).toContain(`${orphan.tokenName} is a bot-created key that nothing names yet; kept`);
    const branch = execFileSync(
      'git',
      ['--git-dir', w.bare, 'show', 'bot/secret-rotation/dev/dbos-app:overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml'],
      { encoding: 'utf8' },
    );
    expect((parse(branch) as { metadata: { annotations: Record<string, string> } }).metadata.annotations[TOKEN_ANNOTATION]).toBe(fresh[0]!.tokenName);

    // Two hours later: the orphan is past the grace period. The branch's key is not merged either, but the open
    // branch names it, so only the orphan goes.
    const output: string[] = [];
    const forgeFor = (workspace: GitWorkspace) =>
      new LocalForge(
        async () => [...(await workspace.botBranches()).keys()],
        (text) => output.push(text),
      );
    const twoHoursLater = new Date(Date.now() + 2 * 3600_000);
    // --dry-run only says what it would delete.
    const dry = await runRotation({ remote: w.bare, conductor: w.conductor, settings: SETTINGS, forgeFor, output, now: twoHoursLater, dryRun: true });
    expect(dry.cleanups).toEqual([]);
    expect(output.join('\n')).toContain(`would delete Conductor API key ${orphan.tokenName} in organization acme_org`);
    expect(w.conductor.tokens()).toHaveLength(3);
    const later = await runRotation({ remote: w.bare, conductor: w.conductor, settings: SETTINGS, forgeFor, output, now: twoHoursLater });
    expect(later.cleanups.filter((line) => line.startsWith('deleted'))).toEqual([
      expect.stringContaining(`deleted unused Conductor API key ${orphan.tokenName} (dev)`),
    ]);
    // The local forge cannot show the open branch's PR body, so only git proves the fresh key is in use: the guard
    // reads the branch and keeps it.
    expect(later.cleanups.filter((line) => line.startsWith('kept'))).toEqual([
      `kept Conductor API key ${fresh[0]!.tokenName} (dev): overlays/dev/apps/dbos-app/secrets/conductor-api-key.sealed.yaml on origin/bot/secret-rotation/dev/dbos-app records ${fresh[0]!.tokenName} as ${TOKEN_ANNOTATION}`,
    ]);
    expect(
      w.conductor
        .tokens()
        .map((token) => token.tokenName)
        .sort(),
    ).toEqual([fresh[0]!.tokenName, w.oldName].sort());
    expect(later.pushes).toBe(0);
    expect(w.conductor.violations).toEqual([]);
  });
});

describe('GitHub Actions as shipped: the workflow clones and pushes with the token actions/checkout persisted (issue 8 item 17)', () => {
  it("runs the workflow step's own command in an emulated checkout: a plain clone is refused, the bot authenticates through the inherited extraheader", async () => {
    const workflow = parse(readFileSync(join(REPO_ROOT, '.github/workflows/gitops-bot.yaml'), 'utf8')) as {
      jobs: Record<
        string,
        { permissions: Record<string, string>; steps: Array<{ uses?: string; with?: Record<string, unknown>; run?: string; env?: Record<string, string> }> }
      >;
    };
    const job = workflow.jobs.bot!;
    expect(job.permissions).toEqual({ contents: 'write', 'pull-requests': 'write', issues: 'write' });
    const checkoutStep = job.steps.find((step) => step.uses?.startsWith('actions/checkout@'))!;
    // The bot relies on the persisted credentials; turning them off would break the clone.
    expect(checkoutStep.with?.['persist-credentials']).not.toBe(false);
    const botStep = job.steps.find((step) => step.run?.includes('pnpm bot run'))!;
    expect(botStep.env?.GITHUB_TOKEN).toBe('${{ secrets.GITHUB_TOKEN }}');
    // The admin key reaches the bot under the variable name the config schema defaults to.
    expect(Object.keys(botStep.env ?? {})).toContain('CONDUCTOR_ADMIN_API_KEY');

    const w = await world();
    // What failed before: a second clone does not inherit the checkout's header.
    let plain = '';
    try {
      await run('git', ['clone', '--quiet', `${w.http.url}gitops.git`, join(w.tmp, 'plain')], {
        env: { PATH: process.env.PATH!, HOME: w.home, GIT_TERMINAL_PROMPT: '0' },
      });
    } catch (error) {
      plain = String((error as { stderr?: string }).stderr ?? '');
    }
    expect(plain).toMatch(/could not read Username/);
    rmSync(join(w.tmp, 'plain'), { recursive: true, force: true });

    // `pnpm bot` in the job is the CLI entry; a shim stands in for pnpm so the step's command runs verbatim.
    const bin = join(w.home, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'pnpm'), `#!/bin/sh\n[ "$1" = bot ] || exit 99\nshift\nexec "${process.execPath}" --import "${TSX}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'pnpm'), 0o755);
    const bot = startBot(
      w,
      [],
      { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, GITHUB_TOKEN: w.token, GITHUB_ACTIONS: 'true', TASK: 'secret-rotation', DRY_RUN: '' },
      { file: 'bash', args: ['-e', '-c', botStep.run!] },
    );
    const exit = await bot.exit;
    expect({ ...exit, stderr: exit.code === 0 ? '' : bot.stderr() }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(w.heads()).toContain('refs/heads/bot/secret-rotation/dev/dbos-app ');
    expect(w.http.requests.some((request) => request.path.endsWith('/git-receive-pack') && request.authorized)).toBe(true);
    expect(bot.stderr()).toContain("credentials from the checkout's http.<url>.extraheader");
    expect(botClones(w)).toEqual([]);
    for (const text of [bot.stderr(), bot.stdout()]) expect(text).not.toContain(w.token);
  });
});

describe('how the temporary clone authenticates (issue 8 items 4, 17)', () => {
  it('GITHUB_TOKEN authenticates a remote on the Actions server only; the clone records no credential; a token in --remote is refused', async () => {
    const w = await world();
    const remote = `${w.http.url}gitops.git`;
    const onServer = await resolveGitAccess(remote, { env: { GITHUB_TOKEN: w.token, GITHUB_SERVER_URL: w.http.url.replace(/\/$/, '') } });
    expect(onServer.sources).toEqual([`GITHUB_TOKEN for ${w.http.url.replace(/\/$/, '')}`]);
    const workspace = await GitWorkspace.clone(onServer, 'main', { name: 'bot', email: 'bot@example.invalid' });
    try {
      await workspace.commitAndPush('bot/auth-check', [{ path: 'auth-check.txt', before: null, after: 'ok\n' }], 'auth check', null);
      expect(readFileSync(join(workspace.dir, '.git', 'config'), 'utf8')).not.toContain(w.token);
    } finally {
      await workspace.dispose();
    }
    expect(w.heads()).toContain('refs/heads/bot/auth-check ');
    // The token never goes to another host: github.com is not this server.
    expect((await resolveGitAccess(remote, { env: { GITHUB_TOKEN: w.token } })).credentials).toEqual([]);
    expect((await resolveGitAccess('http://127.0.0.2:1/other.git', { env: { GITHUB_TOKEN: w.token, GITHUB_SERVER_URL: w.http.url } })).credentials).toEqual([]);
    // A URL with credentials is never cloned as it is, and never taken from argv.
    await expect(
      GitWorkspace.clone(remote.replace('http://', `http://x-access-token:${w.token}@`), 'main', { name: 'bot', email: 'bot@example.invalid' }),
    ).rejects.toMatchObject({ name: 'GitError' });
    const stderr: string[] = [];
    const code = await main(['run', '--remote', remote.replace('http://', 'http://x-access-token:ghs_fake@'), '--repo', w.checkout], {
      stdout: () => {},
      stderr: (text) => stderr.push(text),
      env: {},
    });
    expect(code).toBe(64);
    expect(stderr.join('')).toMatch(/--remote carries credentials/);
    expect(stderr.join('')).not.toContain('ghs_fake');
  });
});
