/**
 * Bench of the retirement read (not a test): fills the real DBOS schema with N rows (six versions, ~0.4 % in
 * flight) and prints the median time of the quiet-since query and of the whole DatabaseDrainSource.read
 * (connect, in-flight counts, quiet-since, orphan probe, in one transaction), plus the quiet-since query plan.
 * dbos.workflow_status has no index on application_version or updated_at, so quiet-since is a sequential scan:
 * this shows what that costs at the row counts of a real system database.
 *
 * Run: pnpm exec tsx packages/bot/bench/quiet-since.ts   (BENCH_SIZES=100000,1000000 BENCH_RUNS=7)
 */
import { createDbosSystemDatabase } from '@dbos-gitops/testkit';
import { startPostgres } from '@dbos-gitops/testkit';
import { DatabaseDrainSource, QUIET_SINCE_SQL } from '../src/sources/drain/source.ts';
import { createDrainReader } from '@dbos-gitops/drain/testing';

const SIZES = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const VERSIONS = ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0'];
const BATCH = 500_000;

const fill = (from: number, to: number): string => `
  INSERT INTO dbos.workflow_status (workflow_uuid, status, name, executor_id, application_version, application_name, created_at, updated_at)
  SELECT 'wf-' || i,
         CASE WHEN b < 40 AND v <> 0 THEN (ARRAY['PENDING','ENQUEUED','DELAYED'])[(b % 3) + 1] WHEN b < 240 THEN 'ERROR' ELSE 'SUCCESS' END,
         'checkout', 'exec-' || (i % 40),
         (ARRAY[${VERSIONS.map((version) => `'${version}'`).join(',')}])[v + 1],
         'shop', 1700000000000 + i * 10, 1700000000000 + i * 10 + 500
    FROM generate_series(${from}, ${to}) AS i
   CROSS JOIN LATERAL (SELECT i % ${VERSIONS.length} AS v, (hashint4(i) & 2147483647) % 10000 AS b) k`;

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const server = await startPostgres();
try {
  const sys = await createDbosSystemDatabase(server);
  const reader = await createDrainReader(server, sys.database);
  const indexes = await server.query<{ indexdef: string }>(
    `SELECT indexdef FROM pg_indexes WHERE schemaname = 'dbos' AND tablename = 'workflow_status' ORDER BY indexname`,
    [],
    sys.database,
  );
  console.log(`indexes on dbos.workflow_status:\n  ${indexes.rows.map((row) => row.indexdef).join('\n  ')}\n`);
  await server.query(
    `INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name) SELECT v, v, 1700000000000 + row_number() OVER (), 'shop' FROM unnest(ARRAY[${VERSIONS.map((version) => `'${version}'`).join(',')}]) AS v`,
    [],
    sys.database,
  );
  let filled = 0;
  for (const size of SIZES) {
    for (let from = filled; from < size; from += BATCH) await server.query(fill(from, Math.min(size, from + BATCH) - 1), [], sys.database);
    filled = size;
    await server.query('ANALYZE dbos.workflow_status', [], sys.database);
    // 1.0.0 (v = 0) has nothing in flight: the version a retirement would look at.
    const quiet: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const start = performance.now();
      await server.query(QUIET_SINCE_SQL, ['1.0.0', 'shop'], sys.database);
      quiet.push(performance.now() - start);
    }
    const source = new DatabaseDrainSource({ databaseUrl: reader.url });
    const reads: number[] = [];
    let last: Awaited<ReturnType<DatabaseDrainSource['read']>> | undefined;
    for (let run = 0; run < RUNS; run++) {
      const start = performance.now();
      last = await source.read({ appName: 'shop', versions: ['1.0.0', '1.1.0'], quietPeriodMs: 3_600_000 });
      reads.push(performance.now() - start);
    }
    const plan = await server.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, BUFFERS) ${QUIET_SINCE_SQL.replace('$1', `'1.0.0'`).replaceAll('$1', `'1.0.0'`).replaceAll('$2', `'shop'`)}`,
      [],
      sys.database,
    );
    console.log(
      `rows ${size.toLocaleString('en')}: quiet-since query median ${median(quiet).toFixed(1)} ms; full retirement read (2 versions, connect included) median ${median(reads).toFixed(1)} ms`,
    );
    console.log(
      `  1.0.0: ${JSON.stringify({ ...last!.versions[0], orphans: last!.versions[0]!.orphans.length })}; 1.1.0 in flight: ${last!.versions[1]!.inFlight}`,
    );
    console.log(`  plan:\n    ${plan.rows.map((row) => row['QUERY PLAN']).join('\n    ')}\n`);
  }
} finally {
  await server.stop();
}
