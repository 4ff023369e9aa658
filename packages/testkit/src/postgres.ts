import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';

// Re-exported for the tests that import it from here.
export { freePort };

/**
 * A throwaway PostgreSQL server for tests: real binaries, loopback only, a free port, fsync off.
 * One server per test file is the intended use; call stop() in afterAll.
 */
export interface PostgresServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The postmaster's process id (not runuser's), so a caller can prove the server is gone after stop(). */
  readonly pid: number;
  /** Unix socket directory; also where the data directory lives. */
  readonly baseDir: string;
  /** Superuser role name (always `postgres`). */
  readonly superuser: string;
  /** Connection URL over TCP. Defaults to the superuser and the `postgres` database. */
  url(options?: { database?: string; user?: string; password?: string }): string;
  /** Runs SQL as the superuser in the given database (default `postgres`). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult<R>>;
  createDatabase(name: string, options?: { owner?: string }): Promise<void>;
  /** Creates a LOGIN role; returns its (test-time random unless given) password. */
  createRole(name: string, options?: { password?: string; superuser?: boolean }): Promise<string>;
  /** Stops the server (fast shutdown) and removes its files. Safe to call twice. */
  stop(): Promise<void>;
}

export class PostgresHarnessError extends Error {
  override readonly name = 'PostgresHarnessError';
}

export interface StartPostgresOptions {
  /** Directory with initdb/postgres; default: $PG_BIN_DIR, else /usr/lib/postgresql/15/bin, else the newest installed. */
  binDir?: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
  /** How long to wait for the server to accept connections. */
  startTimeoutMs?: number;
  /** The OS user the server runs as when this process is root (PostgreSQL refuses root); default `postgres`. */
  osUser?: string;
  /** Where the server's directory (data and socket) is created; default the OS temp dir. */
  parentDir?: string;
}

const DEFAULT_START_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 3;

export function findPostgresBinDir(explicit?: string): string {
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  if (process.env.PG_BIN_DIR) candidates.push(process.env.PG_BIN_DIR);
  candidates.push('/usr/lib/postgresql/15/bin');
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  }
  for (const dir of candidates) {
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  throw new PostgresHarnessError(
    `PostgreSQL server binaries not found (looked in ${candidates.join(', ')}). ` +
      'Install them with `apt-get install postgresql-15` (Debian 12: `apt-get install postgresql`) or set PG_BIN_DIR.',
  );
}

const runningAsRoot = (): boolean => process.getuid?.() === 0;

/** initdb and postgres refuse to run as root; as root we drop to an unprivileged OS user (`postgres`) with runuser. */
function command(bin: string, args: string[], osUser = 'postgres'): { file: string; args: string[] } {
  return runningAsRoot() ? { file: 'runuser', args: ['-u', osUser, '--', bin, ...args] } : { file: bin, args };
}

function cleanEnv(): NodeJS.ProcessEnv {
  // Ambient PG* variables (PGPORT, PGDATA, PGPASSWORD...) must not steer the test server.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.LC_ALL = 'C';
  return env;
}

async function run(bin: string, args: string[], what: string, osUser?: string): Promise<void> {
  const { file, args: fullArgs } = command(bin, args, osUser);
  await new Promise<void>((resolve, reject) => {
    const child = spawn(file, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', (err) => reject(new PostgresHarnessError(`${what} could not start: ${err.message}`)));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new PostgresHarnessError(`${what} failed (exit ${code}):\n${output.slice(-2000)}`))));
  });
}

async function ownedByPostgres(path: string, osUser = 'postgres'): Promise<void> {
  if (!runningAsRoot()) return;
  const { uid, gid } = await osUserIds(osUser);
  await chown(path, uid, gid);
}

/** The uid and gid of an OS user from /etc/passwd, or null when there is no such user. */
export async function findOsUser(name: string): Promise<{ uid: number; gid: number } | null> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function osUserIds(name: string): Promise<{ uid: number; gid: number }> {
  const ids = await findOsUser(name);
  if (!ids) {
    throw new PostgresHarnessError(
      `Running as root but there is no \`${name}\` OS user to run the server as. Install the Debian package \`postgresql-15\` (it creates the user) or run the tests as a non-root user.`,
    );
  }
  return ids;
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (value: string): string => `'${value.replace(/'/g, "''")}'`;

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const binDir = findPostgresBinDir(options.binDir);
  const osUser = options.osUser;
  const baseDir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'pg-test-'));
  const dataDir = join(baseDir, 'data');
  await mkdir(dataDir, { mode: 0o700 });
  await ownedByPostgres(baseDir, osUser);
  await ownedByPostgres(dataDir, osUser);

  // Loopback TCP requires a password (so tests can check wrong-password handling); the unix socket is
  // trusted and used only to set the superuser's test-time password.
  await run(
    join(binDir, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync'],
    'initdb',
    osUser,
  );

  const superPassword = randomBytes(18).toString('base64url');
  let child: ChildProcess | undefined;
  let port = 0;
  let lastError = '';
  for (let attempt = 0; attempt < PORT_ATTEMPTS && !child; attempt++) {
    port = await freePort();
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      port,
      unix_socket_directories: baseDir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: 100,
      ...options.settings,
    };
    const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const { file, args: fullArgs } = command(join(binDir, 'postgres'), args, osUser);
    const proc = spawn(file, fullArgs, { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv() });
    let log = '';
    proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const ready = await waitForSocket(baseDir, port, proc, options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    if (ready) child = proc;
    else {
      lastError = log;
      proc.kill('SIGKILL');
    }
  }
  if (!child) {
    await rm(baseDir, { recursive: true, force: true });
    throw new PostgresHarnessError(`PostgreSQL did not start after ${PORT_ATTEMPTS} attempts:\n${lastError}`);
  }
  const server = child;
  const killOnExit = (): void => {
    // Last resort if a test process exits without stop(): never leave a server behind.
    const pidLine = (() => {
      try {
        return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      } catch {
        return NaN;
      }
    })();
    if (Number.isInteger(pidLine) && pidLine > 0) {
      try {
        process.kill(pidLine, 'SIGQUIT');
      } catch {
        /* already gone */
      }
    }
    server.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const socketClient = async (database: string): Promise<pg.Client> => {
    const client = new pg.Client({ host: baseDir, port, user: 'postgres', database });
    await client.connect();
    return client;
  };
  {
    const c = await socketClient('postgres');
    try {
      await c.query(`ALTER ROLE postgres PASSWORD ${quoteLiteral(superPassword)}`);
    } finally {
      await c.end();
    }
  }

  const postmasterPid = await readFile(join(dataDir, 'postmaster.pid'), 'utf8')
    .then((text) => Number(text.split('\n')[0]))
    .catch(() => Number.NaN);
  let stopped = false;
  const api: PostgresServer = {
    host: '127.0.0.1',
    port,
    pid: Number.isInteger(postmasterPid) ? postmasterPid : (server.pid ?? 0),
    baseDir,
    superuser: 'postgres',
    url({ database = 'postgres', user = 'postgres', password } = {}) {
      const pw = user === 'postgres' && password === undefined ? superPassword : password;
      const auth = pw === undefined ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(pw)}`;
      return `postgresql://${auth}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    },
    async query(sql, params, database = 'postgres') {
      const c = await socketClient(database);
      try {
        // Without parameters use the simple protocol, so a test can send several statements at once.
        return params && params.length > 0 ? await c.query(sql, params) : await c.query(sql);
      } finally {
        await c.end();
      }
    },
    async createDatabase(name, { owner } = {}) {
      await api.query(`CREATE DATABASE ${quoteIdent(name)}${owner ? ` OWNER ${quoteIdent(owner)}` : ''}`);
    },
    async createRole(name, { password, superuser = false } = {}) {
      const pw = password ?? randomBytes(18).toString('base64url');
      await api.query(`CREATE ROLE ${quoteIdent(name)} LOGIN ${superuser ? 'SUPERUSER' : ''} PASSWORD ${quoteLiteral(pw)}`);
      return pw;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', killOnExit);
      if (server.exitCode === null && server.signalCode === null) {
        const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
        // SIGINT is PostgreSQL's "fast" shutdown. runuser does not forward it, so signal the postmaster
        // itself (its pid is the first line of postmaster.pid); fall back to the child we spawned.
        const postmasterPid = await readFile(join(dataDir, 'postmaster.pid'), 'utf8')
          .then((text) => Number(text.split('\n')[0]))
          .catch(() => NaN);
        try {
          if (Number.isInteger(postmasterPid) && postmasterPid > 0) process.kill(postmasterPid, 'SIGINT');
          else server.kill('SIGINT');
        } catch {
          server.kill('SIGINT');
        }
        const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(baseDir, { recursive: true, force: true });
    },
  };
  return api;
}

async function waitForSocket(socketDir: string, port: number, proc: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc.once('exit', () => (exited = true));
  while (Date.now() < deadline && !exited) {
    const c = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres' });
    try {
      await c.connect();
      await c.end();
      return true;
    } catch {
      await c.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}
