import { describe, expect, it } from 'vitest';
import { DrainUnknownError } from './errors.ts';
import {
  appendObservation,
  decideRetirement,
  emptyDrainHistory,
  forgetVersion,
  observationsFromRead,
  parseDrainHistory,
  type DrainObservation,
  type RetirementInput,
} from './retirement.ts';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-23T12:00:00Z');
const at = (hoursAgo: number): string => new Date(NOW - hoursAgo * HOUR).toISOString();
const obs = (hoursAgo: number, inFlight: number | 'unknown'): DrainObservation => ({ at: at(hoursAgo), inFlight });

/** Hourly readings from `from` hours ago to now. */
const hourly = (from: number, value: (h: number) => number | 'unknown'): DrainObservation[] =>
  Array.from({ length: from + 1 }, (_, i) => obs(from - i, value(from - i)));

const base = (overrides: Partial<RetirementInput> = {}): RetirementInput => ({
  version: '1.0.0',
  latestVersion: '2.0.0',
  serviceSelects: '2.0.0',
  observations: hourly(30, () => 0),
  quietPeriodMs: 24 * HOUR,
  maxGapMs: 2 * HOUR,
  now: NOW,
  ...overrides,
});

describe('decideRetirement', () => {
  it('retires an old version that read zero for the whole quiet period', () => {
    const d = decideRetirement(base());
    expect(d.retire).toBe(true);
    expect(d.evidence.zeroSince).toBe(at(30));
    expect(d.evidence.quietForMs).toBe(30 * HOUR);
    expect(d.evidence.largestGapMs).toBe(HOUR);
    expect(d.reasons[0]).toMatch(/read zero in flight for 1d 6h/);
  });

  it('keeps the latest version and the version the Service selects', () => {
    expect(decideRetirement(base({ latestVersion: '1.0.0' })).retire).toBe(false);
    const selected = decideRetirement(base({ serviceSelects: '1.0.0' }));
    expect(selected.retire).toBe(false);
    expect(selected.reasons.join()).toContain("The application's Service still selects 1.0.0.");
    // Named after the application whose version it is.
    expect(decideRetirement(base({ serviceSelects: '1.0.0', appName: 'orders' })).reasons.join()).toContain('The orders Service still selects 1.0.0.');
    expect(decideRetirement(base({ serviceSelects: 'unknown', appName: 'orders' })).reasons.join()).toContain(
      'It is unknown which version the orders Service selects.',
    );
  });

  it('keeps when the latest version or the Service selection is unknown', () => {
    expect(decideRetirement(base({ latestVersion: null })).reasons.join()).toMatch(/latest application version is unknown/);
    expect(decideRetirement(base({ serviceSelects: 'unknown' })).retire).toBe(false);
    expect(decideRetirement(base({ serviceSelects: null })).retire).toBe(false);
  });

  it('keeps when the newest reading is unknown or non-zero', () => {
    const unknownLast = [...hourly(30, () => 0).slice(0, -1), { ...obs(0, 'unknown'), detail: 'conductor-unavailable' }];
    const d = decideRetirement(base({ observations: unknownLast }));
    expect(d.retire).toBe(false);
    expect(d.reasons.join()).toMatch(/failed: conductor-unavailable; unknown is not zero/);
    const busy = decideRetirement(base({ observations: [...hourly(30, () => 0).slice(0, -1), obs(0, 2)] }));
    expect(busy.retire).toBe(false);
    expect(busy.reasons.join()).toMatch(/2 workflow\(s\) in flight/);
  });

  it('restarts the quiet period after any non-zero or unknown reading', () => {
    const blip = hourly(30, (h) => (h === 10 ? 1 : 0));
    const d = decideRetirement(base({ observations: blip }));
    expect(d.retire).toBe(false);
    expect(d.evidence.zeroSince).toBe(at(9));
    const unknownBlip = decideRetirement(base({ observations: hourly(30, (h) => (h === 5 ? 'unknown' : 0)) }));
    expect(unknownBlip.retire).toBe(false);
    expect(unknownBlip.evidence.zeroSince).toBe(at(4));
  });

  it('flips exactly when the zero run reaches the quiet period', () => {
    const observations = hourly(24, () => 0);
    expect(decideRetirement(base({ observations, now: NOW - 1 })).retire).toBe(false);
    expect(decideRetirement(base({ observations: observations.slice(0, -1), now: NOW })).retire).toBe(true);
  });

  it('keeps when readings leave a gap wider than maxGapMs (the quiet period is not covered)', () => {
    const sparse = [obs(30, 0), obs(1, 0), obs(0, 0)];
    const d = decideRetirement(base({ observations: sparse }));
    expect(d.retire).toBe(false);
    expect(d.evidence.largestGapMs).toBe(29 * HOUR);
    // The newest reading must itself be recent.
    const stale = decideRetirement(base({ observations: hourly(30, () => 0).map((o) => ({ ...o, at: new Date(Date.parse(o.at) - 5 * HOUR).toISOString() })) }));
    expect(stale.retire).toBe(false);
  });

  it('keeps with no readings, malformed readings, future readings or a bad quiet period', () => {
    expect(decideRetirement(base({ observations: [] })).retire).toBe(false);
    expect(decideRetirement(base({ observations: [...hourly(30, () => 0), { at: 'yesterday', inFlight: 0 }] })).retire).toBe(false);
    expect(decideRetirement(base({ observations: [...hourly(30, () => 0), { at: at(0), inFlight: -1 }] })).retire).toBe(false);
    expect(decideRetirement(base({ observations: [...hourly(30, () => 0), obs(-3, 0)] })).retire).toBe(false);
    expect(decideRetirement(base({ quietPeriodMs: 0 })).retire).toBe(false);
    expect(decideRetirement(base({ quietPeriodMs: Number.NaN })).retire).toBe(false);
  });

  it('keeps while orphaned workflows exist and says how to resume them', () => {
    const d = decideRetirement(
      base({
        orphans: [
          {
            workflowId: 'wf-1',
            executorId: 'gone',
            version: '1.0.0',
            workflowName: 'w',
            updatedAt: at(50),
            ageMs: 50 * HOUR,
            fix: 'dbos workflow resume wf-1 --sys-db-url "$DBOS_SYSTEM_DATABASE_URL"',
          },
        ],
      }),
    );
    expect(d.retire).toBe(false);
    expect(d.reasons.join()).toContain('dbos workflow resume wf-1');
    expect(d.reasons.join()).toContain('2d 2h');
  });

  it('does not depend on the order readings are given in', () => {
    const shuffled = [...hourly(30, (h) => (h === 26 ? 3 : 0))].reverse();
    const d = decideRetirement(base({ observations: shuffled }));
    expect(d.evidence.zeroSince).toBe(at(25));
    expect(d.retire).toBe(true);
  });
});

describe('drain history', () => {
  it('appends, prunes by age and count, forgets, and round-trips through JSON', () => {
    let h = emptyDrainHistory();
    for (let i = 10; i >= 0; i--) h = appendObservation(h, '1.0.0', obs(i, 0), { retainMs: 5 * HOUR });
    expect(h.versions['1.0.0']!.map((o) => o.at)).toEqual([5, 4, 3, 2, 1, 0].map(at));
    h = appendObservation(h, '1.0.0', obs(0, 'unknown'), { maxEntries: 3 });
    expect(h.versions['1.0.0']).toHaveLength(3);
    h = appendObservation(h, '2.0.0', { ...obs(0, 4), source: 'database' });
    const back = parseDrainHistory(JSON.parse(JSON.stringify(h)));
    expect(back).toEqual(h);
    expect(Object.keys(forgetVersion(back, '1.0.0').versions)).toEqual(['2.0.0']);
  });

  it('rejects a corrupt stored history instead of starting empty', () => {
    expect(() => parseDrainHistory(null)).toThrow(DrainUnknownError);
    expect(() => parseDrainHistory({ schema: 'other', versions: {} })).toThrow(/schema/);
    expect(() => parseDrainHistory({ schema: 'dbos-gitops/drain-history/v1', versions: { a: [{ at: 'x', inFlight: 0 }] } })).toThrow(/ISO time/);
    expect(() => parseDrainHistory({ schema: 'dbos-gitops/drain-history/v1', versions: { a: [{ at: at(0), inFlight: 'zero' }] } })).toThrow(/count/);
  });

  it('turns a read into observations; a failed read or a missing version becomes unknown', () => {
    const read = { readAt: at(0), source: 'database' as const, versions: [{ version: '1.0.0', inFlight: 0 }] };
    const fromRead = observationsFromRead(read, ['1.0.0', '0.9.0']);
    expect(fromRead['1.0.0']).toEqual({ at: at(0), inFlight: 0, source: 'database' });
    expect(fromRead['0.9.0']!.inFlight).toBe('unknown');
    const failed = observationsFromRead(new DrainUnknownError('timeout', 'slow'), ['1.0.0'], new Date(NOW));
    expect(failed['1.0.0']).toEqual({ at: at(0), inFlight: 'unknown', detail: 'timeout' });
  });
});
