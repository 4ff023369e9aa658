/**
 * Drain query bench: fills the real DBOS schema's dbos.workflow_status with 10^5 and then 10^7 rows (mostly terminal,
 * ~0.2 % in flight, six versions), ANALYZEs, and prints for each size the median time of the single-version drain
 * query and of the per-version listing, their EXPLAIN (ANALYZE, BUFFERS) plans, and the 10^7 / 10^5 ratio.
 * The naive `status IN (three literals)` form is timed too, to show why the index-friendly form exists.
 * The evidence query (src/evidence.ts) is timed and explained over a window holding the newest 20,000 rows of each
 * size (a soak window's worth of work; history grows, the window does not): terminal rows carry completed_at as DBOS
 * 5.x writes it, so its plan shows the completed_at index at work, and its ratio that the table's size does not matter.
 *
 * Run: pnpm bench:drain            (BENCH_SIZES=100000,1000000 to choose sizes; BENCH_RUNS=9 for more runs)
 */
import pg from 'pg';
import { startPostgres, createDbosSystemDatabase } from '@dbos-gitops/testkit';
import { PER_VERSION_SQL, SINGLE_VERSION_SQL } from '../src/database.ts';
import { VERSION_EVIDENCE_SQL } from '../src/evidence.ts';

const SIZES = (process.env.BENCH_SIZES ?? '100000,10000000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const BATCH = 1_000_000;
const APP = 'shop';
const VERSIONS = ['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0'];
const TARGET_VERSION = '1.4.0';

const NAIVE_SQL = `
  SELECT count(*) FROM dbos.workflow_status
   WHERE status IN ('PENDING', 'ENQUEUED', 'DELAYED') AND application_version = $1
     AND (application_name = $2 OR application_name IS NULL)`;

/*
 * Row i gets: version = i mod 6; status by a hash bucket of 10 000: 20 PENDING, 15 ENQUEUED, 5 DELAYED (0.4 %
 * in flight, heavier on newer versions because old ones have drained), 200 ERROR, 30 CANCELLED, 5 MAX_RECOVERY,
 * rest SUCCESS. 1 % unowned (NULL application_name), 1 % of another app.
 */
const fillSql = (from: number, to: number): string => `
  INSERT INTO dbos.workflow_status
    (workflow_uuid, status, name, queue_name, executor_id, application_version, application_name, created_at, updated_at,
     priority, delay_until_epoch_ms, completed_at)
  SELECT 'wf-' || lpad(i::text, 10, '0'),
         s.status,
         'checkout',
         CASE WHEN i % 3 = 0 THEN 'work' ELSE NULL END,
         'exec-' || (i % 40),
         v.version,
         CASE WHEN i % 100 = 7 THEN NULL WHEN i % 100 = 8 THEN 'billing' ELSE '${APP}' END,
         1700000000000 + i * 10,
         1700000000000 + i * 10 + 500,
         0,
         CASE WHEN s.status = 'DELAYED' THEN 1900000000000 ELSE NULL END,
         CASE WHEN s.status IN ('PENDING', 'ENQUEUED', 'DELAYED') THEN NULL ELSE 1700000000000 + i * 10 + 500 END
    FROM generate_series(${from}, ${to}) AS i
   CROSS JOIN LATERAL (SELECT (ARRAY[${VERSIONS.map((v) => `'${v}'`).join(',')}])[(i % ${VERSIONS.length}) + 1] AS version) v
   CROSS JOIN LATERAL (
     SELECT CASE
              WHEN b < 20 * (1 + i % ${VERSIONS.length}) / ${VERSIONS.length} THEN 'PENDING'
              WHEN b BETWEEN 20 AND 34 THEN 'ENQUEUED'
              WHEN b BETWEEN 35 AND 39 THEN 'DELAYED'
              WHEN b BETWEEN 40 AND 239 THEN 'ERROR'
              WHEN b BETWEEN 240 AND 269 THEN 'CANCELLED'
              WHEN b BETWEEN 270 AND 274 THEN 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'
              ELSE 'SUCCESS'
            END AS status
       FROM (SELECT (hashint4(i) & 2147483647) % 10000 AS b) h) s`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function timeQuery(c: pg.Client, sql: string, params: unknown[]): Promise<{ medianMs: number; runsMs: number[] }> {
  await c.query(sql, params); // warm the cache and the plan
  const runsMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    await c.query(sql, params);
    runsMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { medianMs: median(runsMs), runsMs };
}

async function explain(c: pg.Client, sql: string, params: unknown[]): Promise<string> {
  const { rows } = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
  return rows.map((r) => `    ${r['QUERY PLAN']}`).join('\n');
}

const fmt = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));

/** The evidence window of a table of `size` rows: its newest 20,000 rows (row i finishes at 1700000000000 + i * 10 + 500). */
const EVIDENCE_WINDOW_ROWS = 20_000;
const evidenceParams = (size: number): unknown[] => [
  TARGET_VERSION,
  APP,
  1700000000000 + Math.max(0, size - EVIDENCE_WINDOW_ROWS) * 10,
  1700000000000 + size * 10 + 500,
];

async function measure(c: pg.Client, size: number): Promise<{ single: number; perVersion: number; naive: number; inFlight: number; evidence: number }> {
  const { rows } = await c.query<{ n: string }>(`SELECT count(*) AS n FROM dbos.workflow_status WHERE status IN ('PENDING', 'ENQUEUED') OR status = 'DELAYED'`);
  const inFlight = Number(rows[0]!.n);
  const single = await timeQuery(c, SINGLE_VERSION_SQL, [TARGET_VERSION, APP]);
  const perVersion = await timeQuery(c, PER_VERSION_SQL, [APP]);
  const naive = await timeQuery(c, NAIVE_SQL, [TARGET_VERSION, APP]);
  const evidence = await timeQuery(c, VERSION_EVIDENCE_SQL, evidenceParams(size));
  console.log(`in-flight rows (all apps, all versions): ${inFlight.toLocaleString('en-US')}`);
  console.log(`single-version drain query (${TARGET_VERSION}): median ${fmt(single.medianMs)} ms over ${RUNS} runs [${single.runsMs.map(fmt).join(', ')}]`);
  console.log(`per-version listing:                 median ${fmt(perVersion.medianMs)} ms over ${RUNS} runs [${perVersion.runsMs.map(fmt).join(', ')}]`);
  console.log(`naive status IN (3) query:           median ${fmt(naive.medianMs)} ms over ${RUNS} runs`);
  console.log(`evidence query (newest 20,000 rows): median  ${fmt(evidence.medianMs)} ms over ${RUNS} runs [${evidence.runsMs.map(fmt).join(', ')}]`);
  console.log(`\n  plan, single-version drain query:\n${await explain(c, SINGLE_VERSION_SQL, [TARGET_VERSION, APP])}`);
  console.log(`\n  plan, per-version listing:\n${await explain(c, PER_VERSION_SQL, [APP])}`);
  console.log(`\n  plan, naive status IN (3) query:\n${await explain(c, NAIVE_SQL, [TARGET_VERSION, APP])}`);
  console.log(`\n  plan, evidence query (window of the newest 20,000 rows):\n${await explain(c, VERSION_EVIDENCE_SQL, evidenceParams(size))}`);
  return { single: single.medianMs, perVersion: perVersion.medianMs, naive: naive.medianMs, inFlight, evidence: evidence.medianMs };
}

async function main(): Promise<void> {
  const server = await startPostgres({
    settings: { shared_buffers: '512MB', maintenance_work_mem: '512MB', max_wal_size: '8GB', checkpoint_timeout: '30min', work_mem: '64MB' },
  });
  const results: Array<{ size: number; label: string; single: number; perVersion: number; naive: number; inFlight: number; evidence: number }> = [];
  try {
    const sys = await createDbosSystemDatabase(server);
    const c = new pg.Client({ connectionString: sys.adminUrl });
    await c.connect();
    try {
      for (const v of VERSIONS) {
        await c.query(`INSERT INTO dbos.application_versions (version_id, version_name, version_timestamp, application_name) VALUES ($1, $1, $2, $3)`, [
          v,
          1700000000000 + VERSIONS.indexOf(v),
          APP,
        ]);
      }
      // The real schema's secondary indexes, so the fill can drop them and rebuild them exactly (a bulk build beats
      // row-by-row upkeep). The primary key stays: zero-padded ids arrive in order, so it only grows at its right edge.
      const { rows: indexes } = await c.query<{ indexname: string; indexdef: string }>(
        `SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.schemaname = 'dbos' AND i.tablename = 'workflow_status'
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)`,
      );
      let filled = 0;
      for (const size of SIZES) {
        const t0 = Date.now();
        for (const idx of indexes) await c.query(`DROP INDEX dbos."${idx.indexname}"`);
        for (let from = filled + 1; from <= size; from += BATCH) {
          const to = Math.min(size, from + BATCH - 1);
          await c.query(fillSql(from, to));
          process.stdout.write(`  filled ${to.toLocaleString('en-US')} rows (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
        }
        filled = size;
        const t1 = Date.now();
        for (const idx of indexes) await c.query(idx.indexdef);
        await c.query('VACUUM ANALYZE dbos.workflow_status');
        const t2 = Date.now();
        const { rows: shape } = await c.query<{ status: string; n: string }>(
          `SELECT status, count(*) AS n FROM dbos.workflow_status GROUP BY status ORDER BY 2 DESC`,
        );
        const { rows: sizeRow } = await c.query<{ s: string }>(`SELECT pg_size_pretty(pg_total_relation_size('dbos.workflow_status')) AS s`);

        console.log(`\n=== ${size.toLocaleString('en-US')} rows (${sizeRow[0]!.s} with indexes) ===`);
        console.log(`fill ${((t1 - t0) / 1000).toFixed(1)} s, index rebuild + VACUUM ANALYZE ${((t2 - t1) / 1000).toFixed(1)} s`);
        console.log(`statuses: ${shape.map((r) => `${r.status}=${Number(r.n).toLocaleString('en-US')}`).join(', ')}`);
        results.push({ size, label: `${size.toLocaleString('en-US')} rows`, ...(await measure(c, size)) });
      }

      // History grows, in-flight work does not: keep the in-flight rows of the first size only, so the largest table
      // has as few in-flight rows as the smallest. This isolates the effect of table size from that of in-flight count.
      const smallest = SIZES[0]!;
      const largest = SIZES.at(-1)!;
      if (largest > smallest) {
        const t = Date.now();
        const { rowCount } = await c.query(
          `UPDATE dbos.workflow_status SET status = 'SUCCESS', delay_until_epoch_ms = NULL, completed_at = updated_at
            WHERE (status IN ('PENDING', 'ENQUEUED') OR status = 'DELAYED') AND workflow_uuid > 'wf-' || lpad('${smallest}', 10, '0')`,
        );
        await c.query('VACUUM ANALYZE dbos.workflow_status');
        console.log(`\n=== ${largest.toLocaleString('en-US')} rows, in-flight rows only among the first ${smallest.toLocaleString('en-US')} ===`);
        console.log(`${(rowCount ?? 0).toLocaleString('en-US')} in-flight rows completed, VACUUM ANALYZE: ${((Date.now() - t) / 1000).toFixed(1)} s`);
        results.push({
          size: largest,
          label: `${largest.toLocaleString('en-US')} rows, same in-flight rows as ${smallest.toLocaleString('en-US')}`,
          ...(await measure(c, largest)),
        });
      }
    } finally {
      await c.end();
    }
  } finally {
    await server.stop();
  }
  const first = results[0];
  if (first) {
    const r = (a: number, b: number) => (a / b).toFixed(1);
    console.log('\nratios against the first size:');
    for (const res of results.slice(1)) {
      console.log(
        `  ${res.label} / ${first.label} (rows x${res.size / first.size}, in-flight rows x${r(res.inFlight, first.inFlight)}): ` +
          `single-version x${r(res.single, first.single)}, per-version listing x${r(res.perVersion, first.perVersion)}, naive x${r(res.naive, first.naive)}, ` +
          `evidence x${r(res.evidence, first.evidence)}`,
      );
    }
  }
}

await main();
