import { execFile, spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { GitError, PushRejectedError, StalePlanError } from '../errors.ts';
import { CatFileBatch } from './cat-file.ts';
import type { FileEdit } from '../plan.ts';
import type { TreeReader } from '../repo/tree.ts';

export interface GitIdentity {
  name: string;
  email: string;
}

export interface GitStats {
  pushes: number;
}

/** One git config entry that carries a credential (e.g. `http.https://github.com/.extraheader`). */
export interface GitConfigEntry {
  key: string;
  value: string;
}

/** How the temporary clone reaches the remote: the URL without credentials, and the credentials beside it. */
export interface GitAccess {
  /** Never carries userinfo: this is what the clone's `.git/config` records as `remote.origin.url`. */
  remote: string;
  /** Handed to git only through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n` in its environment. */
  credentials: GitConfigEntry[];
  /** Where the credentials came from, for the log (names only, never values). */
  sources: string[];
}

const CREDENTIAL_HEADER = /^http\..*\.extraheader$/i;

function basicHeader(user: string, password: string): string {
  return `AUTHORIZATION: basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** `http.<url>.extraheader` entries of a checkout's own config: where actions/checkout leaves the job's token. */
function checkoutCredentials(checkoutDir: string): Promise<GitConfigEntry[]> {
  return new Promise((resolve) => {
    // The output holds the header value; it is read in-process and never printed.
    execFile(
      'git',
      ['-C', checkoutDir, 'config', '--local', '--includes', '--get-regexp', '^http\\..*\\.extraheader$'],
      { encoding: 'utf8' },
      (error, stdout) => {
        if (error) return resolve([]);
        const entries: GitConfigEntry[] = [];
        for (const line of stdout.split('\n')) {
          const space = line.indexOf(' ');
          if (space <= 0) continue;
          const key = line.slice(0, space);
          if (CREDENTIAL_HEADER.test(key)) entries.push({ key, value: line.slice(space + 1) });
        }
        resolve(entries);
      },
    );
  });
}

/**
 * Works out how the bot's temporary clone authenticates without ever writing a credential into its `.git/config`
 * or onto a command line: userinfo in the remote URL is moved into an `Authorization` header; the `extraheader`
 * that actions/checkout persisted in the checkout's local config (which a separate clone does not inherit) is passed
 * on; otherwise `GITHUB_TOKEN` authenticates a remote on the Actions server (`GITHUB_SERVER_URL`).
 */
export async function resolveGitAccess(remote: string, options: { checkoutDir?: string | null; env?: NodeJS.ProcessEnv } = {}): Promise<GitAccess> {
  const env = options.env ?? {};
  const credentials: GitConfigEntry[] = [];
  const sources: string[] = [];
  let cleaned = remote;
  let url: URL | null = null;
  if (/^https?:\/\//i.test(remote)) {
    try {
      url = new URL(remote);
    } catch {
      throw new GitError('the remote is not a valid URL', 'pass --remote as https://host/owner/repo.git (credentials through the environment, not the URL)');
    }
    if (url.username || url.password) {
      credentials.push({ key: `http.${url.origin}/.extraheader`, value: basicHeader(decodeURIComponent(url.username), decodeURIComponent(url.password)) });
      sources.push('the remote URL (moved into a header; the clone records the URL without it)');
      url.username = '';
      url.password = '';
      cleaned = url.toString();
    }
  }
  if (credentials.length === 0 && options.checkoutDir) {
    const inherited = await checkoutCredentials(options.checkoutDir);
    if (inherited.length > 0) {
      credentials.push(...inherited);
      sources.push(`the checkout's http.<url>.extraheader (${inherited.map((entry) => entry.key).join(', ')})`);
    }
  }
  const token = env.GITHUB_TOKEN;
  if (credentials.length === 0 && token && url) {
    let server: URL | null = null;
    try {
      server = new URL(env.GITHUB_SERVER_URL || 'https://github.com');
    } catch {
      server = null;
    }
    if (server && server.origin === url.origin) {
      credentials.push({ key: `http.${server.origin}/.extraheader`, value: basicHeader('x-access-token', token) });
      sources.push(`GITHUB_TOKEN for ${server.origin}`);
    }
  }
  return { remote: cleaned, credentials, sources };
}

/** Variables simple-git refuses to pass through unless told; ambient ones are dropped, ours are allowed by name. */
const GUARDED = new Set(['editor', 'pager', 'prefix', 'ssh_askpass', 'visual']);

function gitEnvironment(credentials: GitConfigEntry[]): { env: Record<string, string>; allow: string[] } {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    const lower = name.toLowerCase();
    if (value === undefined || lower.startsWith('git') || GUARDED.has(lower)) continue;
    env[name] = value;
  }
  // Fail at once instead of waiting for a password on a terminal nobody watches.
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_CONFIG_COUNT = String(credentials.length);
  credentials.forEach((entry, index) => {
    env[`GIT_CONFIG_KEY_${index}`] = entry.key;
    env[`GIT_CONFIG_VALUE_${index}`] = entry.value;
  });
  return { env, allow: Object.keys(env).filter((name) => name.startsWith('GIT_')) };
}

function gitFailure(error: unknown, what: string): GitError {
  // simple-git's message is git's stderr; strip anything that looks like credentials embedded in a URL.
  const message = String((error as Error).message ?? error)
    .replace(/\/\/[^@/\s]+@/g, '//***@')
    .split('\n')
    .filter(Boolean)
    .slice(0, 3)
    .join(' ');
  return new GitError(`git could not ${what}: ${message}`);
}

/** One `ls-tree -z` entry of `ref`, or null when nothing is at `path`. Throws when git itself fails (bad ref, corrupt object). */
async function treeEntry(git: SimpleGit, ref: string, path: string): Promise<{ type: string; name: string } | null> {
  const output = await git.raw(['ls-tree', '-z', '--full-tree', ref, '--', path]);
  const entry = output.split('\0').find(Boolean);
  if (entry === undefined) return null;
  const [meta, name] = [entry.slice(0, entry.indexOf('\t')), entry.slice(entry.indexOf('\t') + 1)];
  return { type: meta.split(' ')[1] ?? '', name };
}

/**
 * Read a revision of a git repository as a tree, without a checkout. Fails closed: only a path that is absent
 * from the revision reads as missing (null, or [] for a directory). A bad ref, a corrupt object, a directory
 * read as a file, or any other git failure throws, because a task that took it for "missing" would plan on a
 * tree that is not the real one (e.g. propose adding a version that exists).
 */
export function gitTree(git: SimpleGit, ref: string, describe: string): TreeReader {
  const fail = (error: unknown, what: string) => gitFailure(error, `read ${what} from ${describe}`);
  return {
    describe,
    async read(path) {
      try {
        return await git.raw(['cat-file', 'blob', `${ref}:${path}`]);
      } catch (error) {
        // cat-file cannot tell "no such path" from any other failure; ls-tree can, and fails itself on a bad ref.
        let entry: Awaited<ReturnType<typeof treeEntry>>;
        try {
          entry = await treeEntry(git, ref, path);
        } catch (lookup) {
          throw fail(lookup, path);
        }
        if (entry === null) return null;
        throw entry.type === 'tree' ? new GitError(`${path} in ${describe} is a directory, not a file`) : fail(error, path);
      }
    },
    async list(dir) {
      const prefix = dir.replace(/\/+$/, '');
      let output: string;
      try {
        output = await git.raw(['ls-tree', '-z', '--full-tree', ref, '--', `${prefix}/`]);
      } catch (error) {
        throw fail(error, `${prefix}/`);
      }
      const names: string[] = [];
      for (const entry of output.split('\0').filter(Boolean)) {
        const tab = entry.indexOf('\t');
        const name = entry
          .slice(tab + 1)
          .split('/')
          .pop()!;
        names.push(entry.slice(0, tab).split(' ')[1] === 'tree' ? `${name}/` : name);
      }
      if (names.length === 0) {
        // Git stores no empty directories, so nothing listed means absent, unless the path is a file.
        const entry = await treeEntry(git, ref, prefix).catch((error: unknown) => {
          throw fail(error, prefix);
        });
        if (entry !== null && entry.type !== 'tree') throw new GitError(`${prefix} in ${describe} is a file, not a directory`);
      }
      return names.sort();
    },
  };
}

/** A {@link TreeReader} that also knows a file's git mode (so a commit built from it keeps an executable bit). */
export interface SnapshotTree extends TreeReader {
  /** `100644`, `100755`, …; null when the path is absent or the listing could not be made. */
  modeOf(path: string): Promise<string | null>;
}

interface TreeIndexEntry {
  mode: string;
  type: string;
  oid: string;
}

/** A repository-relative path git could name as it is: no empty, `.` or `..` segment, no leading or trailing slash. */
function plainPath(path: string): boolean {
  return path !== '' && !/[\n\r\0]/.test(path) && path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/**
 * {@link gitTree} for a revision read many times in one run: one `ls-tree -r` lists every path once, and file
 * contents come from the workspace's single `cat-file --batch` process, each file read once. Same answers and the
 * same failures as gitTree: where the listing cannot be made (a bad ref, a corrupt tree) or for a path outside the
 * plain form, it asks gitTree, whose per-path errors stay exactly as they were.
 */
export function gitSnapshotTree(git: SimpleGit, objects: CatFileBatch, ref: string, describe: string): SnapshotTree {
  const fallback = gitTree(git, ref, describe);
  let index: Promise<{ entries: Map<string, TreeIndexEntry>; children: Map<string, string[]> } | null> | null = null;
  const load = () =>
    (index ??= git
      .raw(['ls-tree', '-r', '-t', '-z', '--full-tree', ref])
      .then((output) => {
        const entries = new Map<string, TreeIndexEntry>();
        const children = new Map<string, string[]>();
        for (const line of output.split('\0')) {
          if (!line) continue;
          const tab = line.indexOf('\t');
          const [mode, type, oid] = line.slice(0, tab).split(' ') as [string, string, string];
          const path = line.slice(tab + 1);
          entries.set(path, { mode, type, oid });
          const slash = path.lastIndexOf('/');
          const dir = slash < 0 ? '' : path.slice(0, slash);
          const name = path.slice(slash + 1) + (type === 'tree' ? '/' : '');
          const list = children.get(dir);
          if (list) list.push(name);
          else children.set(dir, [name]);
        }
        return { entries, children };
      })
      .catch(() => null));
  const reads = new Map<string, Promise<string | null>>();
  const readOnce = async (path: string): Promise<string | null> => {
    const loaded = plainPath(path) ? await load() : null;
    if (!loaded) return fallback.read(path);
    const entry = loaded.entries.get(path);
    if (!entry) return null;
    if (entry.type === 'tree') throw new GitError(`${path} in ${describe} is a directory, not a file`);
    if (entry.type !== 'blob') return fallback.read(path);
    let object: Awaited<ReturnType<CatFileBatch['read']>>;
    try {
      object = await objects.read(entry.oid);
    } catch (error) {
      throw gitFailure(error, `read ${path} from ${describe}`);
    }
    if (object?.type !== 'blob') throw gitFailure(new Error(`object ${entry.oid} is missing`), `read ${path} from ${describe}`);
    return object.content.toString('utf8');
  };
  return {
    describe,
    async modeOf(path) {
      const loaded = plainPath(path) ? await load() : null;
      return loaded?.entries.get(path)?.mode ?? null;
    },
    read(path) {
      let read = reads.get(path);
      if (!read) {
        read = readOnce(path);
        reads.set(path, read);
      }
      return read;
    },
    async list(dir) {
      const prefix = dir.replace(/\/+$/, '');
      const loaded = plainPath(prefix) ? await load() : null;
      if (!loaded) return fallback.list(dir);
      const names = loaded.children.get(prefix);
      if (names) return [...names].sort();
      const entry = loaded.entries.get(prefix);
      if (entry && entry.type !== 'tree') throw new GitError(`${prefix} in ${describe} is a file, not a directory`);
      return [];
    },
  };
}

/**
 * A private clone of the remote in a temporary directory. Every edit is applied here, never in the user's checkout,
 * so a failure at any step leaves their working tree untouched; the remote only changes on a successful push.
 */
export class GitWorkspace {
  readonly stats: GitStats = { pushes: 0 };
  /** Reads every object this run asks for through one git process; closed by {@link dispose}. */
  private readonly objects: CatFileBatch;
  private base: SnapshotTree | null = null;
  private constructor(
    readonly dir: string,
    readonly git: SimpleGit,
    readonly remote: string,
    readonly baseBranch: string,
    readonly _identity: GitIdentity,
    /** git's environment (credentials included), for the git processes the workspace runs itself. */
    private readonly env: Record<string, string>,
  ) {
    this.objects = new CatFileBatch(dir, env);
  }

  /**
   * `access` carries the remote without credentials plus the credentials, which reach git only through its
   * environment (see {@link resolveGitAccess}); a plain remote string is cloned as it is. `signal` aborts the clone.
   */
  static async clone(remote: string | GitAccess, baseBranch: string, identity: GitIdentity, options: { signal?: AbortSignal } = {}): Promise<GitWorkspace> {
    const access: GitAccess = typeof remote === 'string' ? { remote, credentials: [], sources: [] } : remote;
    if (/^[a-z]+:\/\/[^/@\s]*@/i.test(access.remote)) {
      throw new GitError(
        'refusing to clone a remote URL that carries credentials',
        'pass the URL without user:password@ and the credentials through the environment',
      );
    }
    const dir = await mkdtemp(join(tmpdir(), 'gitops-bot-'));
    const config = [`user.name=${identity.name}`, `user.email=${identity.email}`, 'commit.gpgsign=false'];
    const { env, allow } = gitEnvironment(access.credentials);
    const make = (baseDir?: string, signal?: AbortSignal): SimpleGit =>
      simpleGit({
        ...(baseDir ? { baseDir } : {}),
        config,
        allowEnvironment: allow,
        unsafe: { allowUnsafeConfigEnvCount: true },
        ...(signal ? { abort: signal } : {}),
      }).env(env);
    try {
      await make(undefined, options.signal).clone(access.remote, dir, ['--no-tags', '--branch', baseBranch, '--single-branch']);
      const git = make(dir);
      // Bot branches as remote-tracking refs, so their current content can be compared without a checkout.
      await make(dir, options.signal).raw(['fetch', '--no-tags', 'origin', '+refs/heads/bot/*:refs/remotes/origin/bot/*']);
      return new GitWorkspace(dir, git, access.remote, baseBranch, identity, env);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw gitFailure(error, `clone ${access.remote} (branch ${baseBranch})`);
    }
  }

  /**
   * The base branch as fetched at clone time. One reader for the whole run, so every file is read (and listed) once:
   * nothing in a run moves `origin/<base>` (the runner builds its commits on top of it and pushes them elsewhere).
   */
  baseTree(): TreeReader {
    this.base ??= gitSnapshotTree(this.git, this.objects, `origin/${this.baseBranch}`, `origin/${this.baseBranch} of ${this.remote}`);
    return this.base;
  }

  /** `path` on the base branch and on each of `branches` (bot branches, as fetched); refs without the file are left out. */
  async readRefs(path: string, branches: readonly string[]): Promise<Array<{ ref: string; text: string }>> {
    const fetched = await this.botBranches();
    const names = [`origin/${this.baseBranch}`, ...branches.filter((branch) => fetched.has(branch)).map((branch) => `origin/${branch}`)];
    const found: Array<{ ref: string; text: string }> = [];
    for (const ref of names) {
      const text = await gitTree(this.git, ref, ref).read(path);
      if (text !== null) found.push({ ref, text });
    }
    return found;
  }

  /** `bot/…` branch → commit, as fetched at clone time. */
  async botBranches(): Promise<Map<string, string>> {
    const output = await this.git.raw(['for-each-ref', '--format=%(refname:strip=3) %(objectname)', 'refs/remotes/origin/bot/']);
    const heads = new Map<string, string>();
    for (const line of output.split('\n').filter(Boolean)) {
      const [branch, sha] = line.split(' ');
      heads.set(branch!, sha!);
    }
    return heads;
  }

  /**
   * True when `branch` on the remote already has exactly the edited files' new content. `commit`: the branch's commit
   * as fetched (from {@link botBranches}), read through the workspace's cat-file process instead of a git process
   * per file; without it, or for a path that cannot be asked that way, each file is read as before.
   */
  async branchHasEdits(branch: string, edits: FileEdit[], commit?: string): Promise<boolean> {
    if (commit && /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(commit) && edits.every((edit) => plainPath(edit.path))) {
      let same = true;
      for (const edit of edits) {
        let object: Awaited<ReturnType<CatFileBatch['read']>>;
        try {
          object = await this.objects.read(`${commit}:${edit.path}`);
        } catch (error) {
          throw gitFailure(error, `read ${edit.path} from ${branch}`);
        }
        // A directory (or anything but a file) where an edit expects a file: let the per-file read fail as it did.
        if (object && object.type !== 'blob') return this.branchHasEdits(branch, edits);
        if ((object ? object.content.toString('utf8') : null) !== edit.after) same = false;
      }
      return same;
    }
    const tree = gitTree(this.git, `origin/${branch}`, branch);
    for (const edit of edits) {
      if ((await tree.read(edit.path)) !== edit.after) return false;
    }
    return true;
  }

  /**
   * Build `branch` as one commit on top of the base branch and push it. `expected` is the remote commit the branch had
   * when read (null: it did not exist); `--force-with-lease` refuses the push if anyone moved it since.
   */
  async commitAndPush(branch: string, edits: FileEdit[], message: string, expected: string | null): Promise<string> {
    const base = this.baseTree();
    for (const edit of edits) {
      if ((await base.read(edit.path)) !== edit.before) throw new StalePlanError(edit.path, branch);
    }
    try {
      await this.git.raw(['checkout', '--quiet', '-B', branch, `origin/${this.baseBranch}`]);
      await this.git.raw(['reset', '--quiet', '--hard', `origin/${this.baseBranch}`]);
      for (const edit of edits) {
        const path = join(this.dir, edit.path);
        if (edit.after === null) await unlink(path).catch(() => {});
        else {
          await mkdir(dirname(path), { recursive: true });
          await writeFile(path, edit.after);
        }
      }
      await this.git.raw(['add', '--all', '--', ...edits.map((edit) => edit.path)]);
      await this.git.raw(['commit', '--quiet', '--no-verify', '-m', message]);
    } catch (error) {
      throw gitFailure(error, `commit ${branch}`);
    }
    const lease = `--force-with-lease=refs/heads/${branch}:${expected ?? ''}`;
    try {
      await this.git.raw(['push', '--quiet', '--porcelain', lease, 'origin', `HEAD:refs/heads/${branch}`]);
    } catch (error) {
      const text = String((error as Error).message);
      if (/rejected|stale info|non-fast-forward|fetch first|failed to push/i.test(text)) {
        throw new PushRejectedError(
          branch,
          text
            .replace(/\/\/[^@/\s]+@/g, '//***@')
            .split('\n')
            .find((line) => /rejected|!/.test(line))
            ?.trim() ?? 'rejected by the remote',
        );
      }
      throw gitFailure(error, `push ${branch}`);
    }
    this.stats.pushes++;
    return (await this.git.revparse(['HEAD'])).trim();
  }

  /**
   * One commit per request, each on top of the base branch, built without a checkout: one `git fast-import` process
   * writes them all (a checkout, reset, add and commit per branch was four git processes and a worktree rewrite
   * each). Refuses a request whose edits no longer match the base branch (StalePlanError) before writing anything.
   * Returns the commits in request order; nothing is pushed.
   */
  async commitEach(requests: ReadonlyArray<{ branch: string; edits: FileEdit[]; message: string }>): Promise<string[]> {
    if (requests.length === 0) return [];
    const base = this.baseTree() as SnapshotTree;
    for (const { branch, edits } of requests) {
      for (const edit of edits) {
        if ((await base.read(edit.path)) !== edit.before) throw new StalePlanError(edit.path, branch);
      }
      // As `git commit` did: a commit that changes nothing is an error, not an empty commit.
      if (edits.every((edit) => edit.after === edit.before)) throw new GitError(`git could not commit ${branch}: nothing to commit (no edit changes a file)`);
    }
    let baseCommit: string;
    try {
      baseCommit = (await this.git.raw(['rev-parse', '--verify', '--end-of-options', `origin/${this.baseBranch}^{commit}`])).trim();
    } catch (error) {
      throw gitFailure(error, `read origin/${this.baseBranch}`);
    }
    // fast-import's identity line cannot hold these; git commit dropped them as well.
    const clean = (text: string) => text.replace(/[<>\n\r\0]/g, '').trim();
    const who = `${clean(this._identity.name)} <${clean(this._identity.email)}> ${Math.floor(Date.now() / 1000)} +0000`;
    const quote = (path: string) => `"${path.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;
    const chunks: Buffer[] = [];
    const data = (text: string) => {
      const bytes = Buffer.from(text, 'utf8');
      chunks.push(Buffer.from(`data ${bytes.length}\n`), bytes, Buffer.from('\n'));
    };
    for (const [index, { edits, message }] of requests.entries()) {
      chunks.push(Buffer.from(`commit refs/gitops-bot/staging/${index}\nmark :${index + 1}\nauthor ${who}\ncommitter ${who}\n`));
      data(message.endsWith('\n') ? message : `${message}\n`);
      chunks.push(Buffer.from(`from ${baseCommit}\n`));
      for (const edit of edits) {
        if (edit.after === null) {
          chunks.push(Buffer.from(`D ${quote(edit.path)}\n`));
          continue;
        }
        const mode = (await base.modeOf(edit.path)) === '100755' ? '100755' : '100644';
        chunks.push(Buffer.from(`M ${mode} inline ${quote(edit.path)}\n`));
        data(edit.after);
      }
      chunks.push(Buffer.from('\n'));
    }
    chunks.push(Buffer.from('done\n'));
    const marks = join(this.dir, '.git', 'gitops-bot-marks');
    try {
      await this.runGit(['fast-import', '--quiet', '--done', `--export-marks=${marks}`], Buffer.concat(chunks));
      const commits = new Map<string, string>();
      for (const line of (await readFile(marks, 'utf8')).split('\n')) {
        const [mark, sha] = line.split(' ');
        if (mark && sha) commits.set(mark, sha);
      }
      return requests.map((request, index) => {
        const sha = commits.get(`:${index + 1}`);
        if (!sha) throw new Error(`fast-import wrote no commit for ${request.branch}`);
        return sha;
      });
    } catch (error) {
      throw gitFailure(error, `commit ${requests.map((request) => request.branch).join(', ')}`);
    } finally {
      await rm(marks, { force: true });
    }
  }

  /**
   * Pushes each commit to its branch, every branch with its own `--force-with-lease` (`expected`: the commit the
   * branch had when read; null: it must not exist), in one `git push` per 100 branches. Not `--atomic`: a branch the
   * remote refuses (a lease that no longer holds, a hook) must not keep the others from landing. Returns, per branch,
   * null when it landed, else git's reason from the `--porcelain` report. Throws only when the first push reports no
   * branch at all (the remote could not be reached), since then nothing landed.
   */
  async pushEach(updates: ReadonlyArray<{ branch: string; sha: string; expected: string | null }>): Promise<Map<string, string | null>> {
    const results = new Map<string, string | null>();
    for (let start = 0; start < updates.length; start += 100) {
      const chunk = updates.slice(start, start + 100);
      const args = [
        'push',
        '--porcelain',
        ...chunk.map(({ branch, expected }) => `--force-with-lease=refs/heads/${branch}:${expected ?? ''}`),
        'origin',
        ...chunk.map(({ branch, sha }) => `${sha}:refs/heads/${branch}`),
      ];
      const { stdout, stderr, code } = await this.runGit(args, null, { allowFailure: true });
      const reported = new Map<string, string | null>();
      // `<flag>\t<from>:<to>\t<summary>`; the flag `!` is a refused ref, every other flag a ref that was updated.
      for (const line of stdout.split('\n')) {
        const [flag, refs, summary] = line.split('\t');
        if (flag === undefined || refs === undefined || flag.length !== 1) continue;
        const to = refs.slice(refs.indexOf(':') + 1);
        if (!to.startsWith('refs/heads/')) continue;
        reported.set(to.slice('refs/heads/'.length), flag === '!' ? (summary ?? 'rejected').trim() || 'rejected' : null);
      }
      const failure = gitFailure(new Error(stderr || `git push exited with ${code}`), `push ${chunk.map(({ branch }) => branch).join(', ')}`);
      // Nothing landed yet: fail as a single push did. After an earlier chunk landed, its branches must still get
      // their PRs (or be put back), so this chunk's branches are reported as refused instead.
      if (reported.size === 0 && code !== 0 && start === 0) throw failure;
      for (const { branch } of chunk) {
        const outcome = reported.has(branch) ? reported.get(branch)! : reported.size === 0 && code !== 0 ? failure.message : 'git did not report this branch';
        results.set(branch, outcome);
        if (outcome === null) this.stats.pushes++;
      }
    }
    return results;
  }

  /** {@link restoreBranch} for many branches in one push, each with its own lease; returns the branches it could not restore. */
  async restoreEach(items: ReadonlyArray<{ branch: string; pushedSha: string; previous: string | null }>): Promise<string[]> {
    if (items.length === 0) return [];
    const args = [
      'push',
      '--porcelain',
      ...items.map(({ branch, pushedSha }) => `--force-with-lease=refs/heads/${branch}:${pushedSha}`),
      'origin',
      ...items.map(({ branch, previous }) => (previous ? `${previous}:refs/heads/${branch}` : `:refs/heads/${branch}`)),
    ];
    const { stdout } = await this.runGit(args, null, { allowFailure: true }).catch(() => ({ stdout: '' }));
    const restored = new Set<string>();
    for (const line of stdout.split('\n')) {
      const [flag, refs] = line.split('\t');
      if (!flag || flag === '!' || refs === undefined) continue;
      const to = refs.slice(refs.indexOf(':') + 1);
      if (to.startsWith('refs/heads/')) restored.add(to.slice('refs/heads/'.length));
    }
    return items.map(({ branch }) => branch).filter((branch) => !restored.has(branch));
  }

  /** git in the clone with the workspace's environment (credentials only there); `input` goes to its stdin. */
  private runGit(args: string[], input: Buffer | null, options: { allowFailure?: boolean } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
    return new Promise((resolve, reject) => {
      const child = spawn('git', args, { cwd: this.dir, env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-4000)));
      child.stdin.on('error', () => {});
      child.on('error', reject);
      child.on('close', (code) => {
        if (code !== 0 && !options.allowFailure) reject(new Error(stderr.trim() || `git ${args[0]} exited with ${code}`));
        else resolve({ stdout, stderr, code: code ?? 1 });
      });
      child.stdin.end(input ?? undefined);
    });
  }

  /** Undo our own push after a later step failed: delete the branch we created, or put the previous commit back. */
  async restoreBranch(branch: string, pushedSha: string, previous: string | null): Promise<void> {
    const lease = `--force-with-lease=refs/heads/${branch}:${pushedSha}`;
    await this.git.raw(['push', '--quiet', lease, 'origin', previous ? `${previous}:refs/heads/${branch}` : `:refs/heads/${branch}`]);
  }

  /** Re-read one bot branch from the remote (after a lost race). */
  async refreshBranch(branch: string): Promise<string | null> {
    await this.git.raw(['fetch', '--no-tags', 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`]).catch(() => {});
    const output = await this.git.raw(['ls-remote', '--heads', 'origin', branch]).catch(() => '');
    return output.split(/\s+/)[0] || null;
  }

  async dispose(): Promise<void> {
    this.objects.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Local git facts for `plan` without network: remote-tracking `bot/*` branches as last fetched. */
export async function localBotBranches(repoDir: string): Promise<string[]> {
  const git = simpleGit({ baseDir: repoDir });
  const output = await git.raw(['for-each-ref', '--format=%(refname:strip=3)', 'refs/remotes/origin/bot/']).catch(() => '');
  return output.split('\n').filter(Boolean);
}
