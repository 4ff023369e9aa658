/**
 * A reproducible transcript of the evidence gate, run by hand (not a test):
 *
 *   pnpm exec tsx packages/bot/scripts/evidence-transcript.ts [--out FILE]
 *
 * It starts a throwaway PostgreSQL (testkit) with the real DBOS system database schema and the read-only drain reader
 * role, writes workflow rows for dev's latest version of dbos-app (0.2.0 in overlays/dev), and runs the real CLI
 * against a temporary clone of this repository's HEAD with the reader's URL in DBOS_DRAIN_DATABASE_URL_DEV. In the
 * clone only, dev's 0.2.0 pins a made-up non-zero digest (the committed examples pin the all-zero placeholder, which
 * promotion refuses before it asks the gate) and the config sets `rollback: propose` on dev for step 3:
 *
 *   1. fail: 6 SUCCESS, 4 ERROR  -> `pnpm bot plan --task version-add --env staging` refuses to promote 0.2.0
 *   2. pass: 20 SUCCESS          -> the same command proposes 0.2.0 into staging, with the evidence table
 *   3. fail again, `rollback: propose` on dev
 *                                -> `pnpm bot plan --task rollback --env dev` proposes rolling dev back to 0.1.0
 *
 * plus `pnpm bot evidence --env dev --app dbos-app --version 0.2.0` before each plan. It prints every command and its
 * output (the database URL only as the variable's name) and writes nothing to this repository: `plan` reads only, the
 * registry is the offline catalog, the forge the local one, and the clone lives in a temp directory.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDbosSystemDatabase, startPostgres } from '@dbos-gitops/testkit';
import { createDrainReader, seedFinishedWorkflows } from '@dbos-gitops/drain/testing';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const APP = 'dbos-app';
const BAD = '0.2.0';
const HOUR = 3_600_000;

const out: string[] = [];
function print(text: string): void {
  process.stdout.write(text);
  out.push(text);
}

/** Runs `pnpm --silent bot ...` in the repository with the reader's URL in the environment; prints it as a shell line. */
async function bot(args: string[], env: Record<string, string>): Promise<number> {
  const shown = Object.keys(env)
    .map((name) => `${name}=…`)
    .join(' ');
  print(`\n$ ${shown} pnpm bot ${args.join(' ')}\n`);
  const child = spawn('pnpm', ['--silent', 'bot', ...args], {
    cwd: ROOT,
    // No forge or registry credentials: the local forge and the offline catalog; nothing is written anywhere.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const code = await new Promise<number>((done) => child.on('close', (c) => done(c ?? 1)));
  print(`${text}[exit ${code}]\n`);
  return code;
}

async function main(): Promise<void> {
  const outFile = process.argv.includes('--out') ? resolve(process.argv[process.argv.indexOf('--out') + 1]!) : null;
  const pg = await startPostgres();
  const scratch = await mkdtemp(join(tmpdir(), 'evidence-transcript-'));
  const stop = async () => {
    await pg.stop();
    await rm(scratch, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(143)));
  try {
    const sys = await createDbosSystemDatabase(pg);
    const reader = await createDrainReader(pg, sys.database);
    const sql = (text: string, params: unknown[] = []) => pg.query(text, params, sys.database);
    const env = { DBOS_DRAIN_DATABASE_URL_DEV: reader.url };
    print(`# Evidence gate transcript: PostgreSQL ${pg.host}:${pg.port}, real DBOS schema, read-only drain reader role\n`);
    const repo = join(scratch, 'repo');
    execFileSync('git', ['clone', '--quiet', ROOT, repo]);
    const pins = join(repo, 'overlays/dev/apps/dbos-app/versions/0-2-0/kustomization.yaml');
    const digest = `sha256:${createHash('sha256').update('dbos-app 0.2.0, evidence transcript').digest('hex')}`;
    const pinned = (await readFile(pins, 'utf8')).replace(`digest: sha256:${'0'.repeat(64)}`, `digest: ${digest}`);
    if (!pinned.includes(digest)) throw new Error(`${pins} no longer pins the placeholder digest`);
    await writeFile(pins, pinned);
    execFileSync('git', [
      '-C',
      repo,
      '-c',
      'user.name=transcript',
      '-c',
      'user.email=transcript@example.invalid',
      'commit',
      '--quiet',
      '-am',
      'transcript: a non-zero digest for dev 0.2.0',
    ]);
    print(`# a clone of HEAD in ${repo}; there dev's 0.2.0 pins ${digest}\n`);

    /** dev's executors of 0.1.0 and 0.2.0 registered (0.2.0 two days ago: past dev's 1d soak, staging's promotionSoak);
     * `statuses` finished in the last hour. */
    const rows = async (statuses: Record<string, number>) => {
      await seedFinishedWorkflows(
        { query: sql },
        {
          app: APP,
          registered: { '0.1.0': 30 * 24 * HOUR, [BAD]: 48 * HOUR },
          version: BAD,
          statuses,
          finishedAgoMs: HOUR / 2,
          startedAgoMs: HOUR,
          executor: 'dev-executor-1',
        },
      );
      print(
        `\n# dbos.workflow_status of ${APP} ${BAD} in dev: ${Object.entries(statuses)
          .map(([s, n]) => `${n} ${s}`)
          .join(', ')}\n`,
      );
    };

    print('## 1. Promotion refused on fail\n');
    await rows({ SUCCESS: 6, ERROR: 4 });
    await bot(['evidence', '--env', 'dev', '--app', APP, '--version', BAD, '--json', '--repo', repo], env);
    await bot(['plan', '--task', 'version-add', '--env', 'staging', '--source', 'catalog', '--repo', repo], env);

    print('\n## 2. Promotion granted on pass\n');
    await rows({ SUCCESS: 20 });
    await bot(['evidence', '--env', 'dev', '--app', APP, '--version', BAD, '--repo', repo], env);
    await bot(['plan', '--task', 'version-add', '--env', 'staging', '--source', 'catalog', '--repo', repo], env);

    print('\n## 3. rollback: propose on dev, gate fails: a rollback plan\n');
    const config = join(repo, '.github/gitops-bot.yaml');
    const committed = await readFile(config, 'utf8');
    const withPropose = committed.replace('  - name: dev\n    overlay: overlays/dev\n', '  - name: dev\n    overlay: overlays/dev\n    rollback: propose\n');
    if (withPropose === committed) throw new Error('the committed config no longer starts dev as "- name: dev / overlay: overlays/dev"');
    await writeFile(config, withPropose);
    print(`\n# in the clone's .github/gitops-bot.yaml, dev gets \`rollback: propose\`\n`);
    await rows({ SUCCESS: 6, ERROR: 4 });
    await bot(['plan', '--task', 'rollback', '--env', 'dev', '--source', 'catalog', '--repo', repo], env);
  } finally {
    await stop();
  }
  if (outFile) await writeFile(outFile, out.join(''));
}

main().catch((error: unknown) => {
  process.stderr.write(`evidence-transcript: ${(error as Error)?.message ?? error}\n`);
  process.exit(1);
});
