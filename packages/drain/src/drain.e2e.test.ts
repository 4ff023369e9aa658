import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer, createDbosSystemDatabase, startDbosWorker, type DbosSystemDatabase, type DbosWorker } from '@dbos-gitops/testkit';
import { createDrainReader } from '../testing/drain-reader.ts';
import { readDrainStatus, type DatabaseDrainStatus } from './database.ts';
import { appendObservation, decideRetirement, emptyDrainHistory, observationsFromRead, type DrainHistory } from './retirement.ts';

/*
 * Real DBOS executors (TS SDK 5.3.0, child processes) against real PostgreSQL:
 * v1 enqueues long workflows, v2 starts and takes new work, v1 keeps running its own to completion, the drain
 * status tracks it, and the retirement decision flips only once v1 has read zero for the whole quiet period.
 */
const APP = 'shop';
const QUIET_MS = 3_000;
const POLL_MS = 400;

let pg: PostgresServer;
let sys: DbosSystemDatabase;
let readerUrl: string;
const workers: DbosWorker[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  sys = await createDbosSystemDatabase(pg);
  readerUrl = (await createDrainReader(pg, sys.database)).url;
});

afterAll(async () => {
  for (const w of workers) await w.stop();
  await pg?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inFlight = (s: DatabaseDrainStatus, v: string) => s.versions.find((x) => x.version === v)?.inFlight ?? -1;

describe('drain with real DBOS executors', () => {
  it('shows v1 in flight while v2 runs new work, then zero, and retires v1 only after the quiet period', async () => {
    const v1 = startDbosWorker({
      systemDatabaseUrl: sys.appUrl,
      appName: APP,
      version: '1.0.0',
      executorId: 'exec-v1',
      enqueueMs: [3000, 5000, 5000],
      concurrency: 2,
    });
    workers.push(v1);
    await v1.waitFor('enqueued', 40_000);
    expect(v1.enqueued).toHaveLength(3);

    const early = await readDrainStatus({ databaseUrl: readerUrl, appName: APP, versions: ['1.0.0', '2.0.0'] });
    expect(inFlight(early, '1.0.0')).toBe(3);

    const v2 = startDbosWorker({
      systemDatabaseUrl: sys.appUrl,
      appName: APP,
      version: '2.0.0',
      executorId: 'exec-v2',
      enqueueMs: [200, 200],
    });
    workers.push(v2);
    await v2.waitFor('enqueued', 40_000);

    let history: DrainHistory = emptyDrainHistory();
    let sawOverlap = false;
    let zeroSince: number | null = null;
    const decisions: Array<{ at: number; retire: boolean }> = [];
    const deadline = Date.now() + 40_000;
    let lastStatus: DatabaseDrainStatus | undefined;
    while (Date.now() < deadline) {
      const status = await readDrainStatus({ databaseUrl: readerUrl, appName: APP, versions: ['1.0.0', '2.0.0'] });
      lastStatus = status;
      expect(status.latestVersion).toBe('2.0.0');
      const obs = observationsFromRead(status, ['1.0.0']);
      history = appendObservation(history, '1.0.0', obs['1.0.0']!);
      const v1Count = inFlight(status, '1.0.0');
      if (v1Count > 0 && v2.finished.length > 0) sawOverlap = true;
      if (v1Count === 0 && zeroSince === null) zeroSince = Date.parse(status.readAt);
      if (v1Count > 0) zeroSince = null;

      const now = Date.parse(status.readAt);
      const decision = decideRetirement({
        version: '1.0.0',
        latestVersion: status.latestVersion,
        serviceSelects: '2.0.0',
        observations: history.versions['1.0.0']!,
        quietPeriodMs: QUIET_MS,
        maxGapMs: 5 * POLL_MS,
        now,
      });
      decisions.push({ at: now, retire: decision.retire });
      if (v1Count > 0) expect(decision.retire).toBe(false);
      if (decision.retire) {
        expect(zeroSince).not.toBeNull();
        expect(now - zeroSince!).toBeGreaterThanOrEqual(QUIET_MS);
        expect(decision.evidence.zeroSince).toBe(new Date(zeroSince!).toISOString());
        break;
      }
      await sleep(POLL_MS);
    }

    // v2 did new work while v1 still had its own in flight.
    expect(sawOverlap).toBe(true);
    // Each version ran only its own workflows: v2 never dequeued v1's.
    expect([...v1.finished].sort()).toEqual([...v1.enqueued].sort());
    expect([...v2.finished].sort()).toEqual([...v2.enqueued].sort());
    const rows = await pg.query<{ application_version: string; executor_id: string; status: string }>(
      `SELECT application_version, executor_id, status FROM dbos.workflow_status WHERE name = 'longTask'`,
      [],
      sys.database,
    );
    expect(rows.rows.filter((r) => r.application_version === '1.0.0').map((r) => r.executor_id)).toEqual(['exec-v1', 'exec-v1', 'exec-v1']);
    expect(rows.rows.every((r) => r.status === 'SUCCESS')).toBe(true);

    expect(inFlight(lastStatus!, '1.0.0')).toBe(0);
    // The decision flipped once, after a run of "keep" decisions that included zero readings inside the quiet period.
    expect(decisions.at(-1)!.retire).toBe(true);
    expect(decisions.filter((d) => d.retire)).toHaveLength(1);
    expect(decisions.some((d) => !d.retire && zeroSince !== null && d.at >= zeroSince && d.at - zeroSince < QUIET_MS)).toBe(true);
    console.log(
      `drain e2e: ${decisions.length} readings; v1 read zero from ${new Date(zeroSince!).toISOString()}, retire allowed after ${decisions.at(-1)!.at - zeroSince!} ms (quiet period ${QUIET_MS} ms)`,
    );
  }, 90_000);
});
