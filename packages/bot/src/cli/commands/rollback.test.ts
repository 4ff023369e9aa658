import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBareRemote, type BareRemote } from '@dbos-gitops/testkit';
import { versionFixtureFiles, versionsDirOf } from '../../../testing/version-fixture.ts';
import { main } from '../index.ts';

/* `pnpm bot rollback` end to end: a clone of a bare remote holding the version fixture, the local forge. */
const DIR = versionsDirOf('dev');
const BRANCH = 'bot/rollback/dev/dbos-app/2-0-0';

let remote: BareRemote;
let checkout: string;
beforeAll(async () => {
  remote = await createBareRemote(
    await versionFixtureFiles({
      environments: ['dev', 'staging'],
      versions: {
        dev: [
          { version: '1.0.0', digest: `sha256:${'1'.repeat(64)}` },
          { version: '2.0.0', digest: `sha256:${'2'.repeat(64)}`, latest: true },
        ],
        staging: [{ version: '1.0.0', digest: `sha256:${'1'.repeat(64)}`, latest: true }],
      },
      repository: 'ghcr.io/example-org/dbos-app',
    }),
  );
  checkout = await remote.clone();
});
afterAll(async () => remote?.cleanup());

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(['rollback', '--repo', checkout, '--remote', remote.url, '--forge', 'local', ...args], {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env: { PATH: process.env.PATH },
  });
  return { code, stdout, stderr };
}

/** run's --json object; the local forge prints the PR text it would open on stdout before it. */
function jsonOf(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.slice(stdout.search(/^\{$/m)));
}

describe('pnpm bot rollback', () => {
  it('refuses what it cannot plan with exit 2 (and the live versions), a missing --env with 64; pushes nothing', async () => {
    const retired = await cli(['--env', 'dev', '--to', '0.9.0']);
    expect(retired.code, retired.stderr).toBe(2);
    expect(retired.stderr).toContain('0.9.0 is not live in dev');
    expect(retired.stderr).toContain('roll back to a live version: 2.0.0 (2-0-0), 1.0.0 (1-0-0)');
    const unknown = await cli(['--env', 'qa']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown environment "qa"');
    expect((await cli(['--env', 'dev', '--app', 'orders'])).code).toBe(2);
    expect((await cli(['--env', 'staging'])).code).toBe(2);
    expect((await cli([])).code).toBe(64);
    expect(await remote.pushCount()).toBe(0);
  });

  it('--dry-run prints the PR and pushes nothing; then one branch, one PR; a second run writes nothing', async () => {
    const dry = await cli(['--env', 'dev', '--reason', 'error ratio 31%', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(BRANCH);
    expect(await remote.pushCount()).toBe(0);

    const first = await cli(['--env', 'dev', '--reason', 'error ratio 31%', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const result = jsonOf(first.stdout) as unknown as { applied: Array<{ branch: string; outcome: string }>; pushes: number };
    expect(result.applied).toEqual([expect.objectContaining({ branch: BRANCH, outcome: 'created' })]);
    expect(result.pushes).toBe(1);
    expect(first.stdout).toContain('would open PR bot/rollback/dev/dbos-app/2-0-0 → main: dev: roll back dbos-app from 2.0.0 to 1.0.0');
    expect(await remote.readFile(BRANCH, `${DIR}/kustomization.yaml`)).toContain('  # gitops-bot: hold version 2.0.0: error ratio 31%\n  - 2-0-0\n');
    expect(await remote.readFile(BRANCH, `${DIR}/service.yaml`)).toContain('dbos.dev/app-version: 1-0-0');
    expect([...(await remote.heads()).keys()].filter((head) => head.startsWith('bot/'))).toEqual([BRANCH]);

    const second = await cli(['--env', 'dev', '--reason', 'error ratio 31%', '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(jsonOf(second.stdout)).toMatchObject({ pushes: 0, forgeWrites: 0, closed: [] });
    expect(await remote.pushCount()).toBe(1);
  });
});
