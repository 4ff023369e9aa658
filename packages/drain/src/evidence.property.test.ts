import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { judgeEvidence, type VersionEvidence } from './evidence.ts';

const HOUR = 3_600_000;
const READ_AT = Date.UTC(2026, 10, 30, 8, 0, 0);

const caseArb = fc.record({
  success: fc.nat(60),
  error: fc.nat(8),
  dead: fc.nat(4),
  cancelled: fc.nat(30),
  unowned: fc.nat(5),
  minSucceeded: fc.integer({ min: 1, max: 40 }),
  // The ratio as thousandths, so the reference can decide in exact integer arithmetic.
  permille: fc.integer({ min: 1, max: 999 }),
  soakMs: fc.integer({ min: 0, max: 4 * HOUR }),
  ranMs: fc.option(fc.integer({ min: 0, max: 4 * HOUR }), { nil: null }),
});

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

function evidenceOf(c: Case): VersionEvidence {
  const finished = c.success + c.error + c.dead + c.cancelled;
  return {
    appName: 'shop',
    version: '1.0.0',
    window: { start: new Date(READ_AT - c.soakMs).toISOString(), end: new Date(READ_AT).toISOString() },
    readAt: new Date(READ_AT).toISOString(),
    counts: { success: c.success, error: c.error, maxRecoveryAttemptsExceeded: c.dead, cancelled: c.cancelled, finished },
    errorRatio: finished === 0 ? null : (c.error + c.dead) / finished,
    unownedFailures: c.unowned,
    inFlight: 0,
    oldestInFlightAgeMs: null,
    registeredAt: c.ranMs === null ? null : new Date(READ_AT - c.ranMs).toISOString(),
  };
}

describe('judgeEvidence against an exact integer reference', () => {
  it('gives the verdict the documented rule gives, for every count, gate and soak', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const finished = c.success + c.error + c.dead + c.cancelled;
        const failures = c.error + c.dead;
        const missing = Math.max(0, c.minSucceeded - c.success);
        // failures / (finished + missing) > permille / 1000, without floating point.
        const fails = failures > 0 && failures * 1000 > c.permille * (finished + missing);
        const withinRatio = failures * 1000 <= c.permille * finished;
        const withinWorstCase = c.unowned === 0 || (failures + c.unowned) * 1000 <= c.permille * (finished + c.unowned);
        const soaked = c.ranMs !== null && c.ranMs >= c.soakMs;
        const passes = !fails && soaked && c.success >= c.minSucceeded && withinRatio && withinWorstCase;
        const expected = fails ? 'fail' : passes ? 'pass' : 'unknown';

        const verdict = judgeEvidence(evidenceOf(c), { minSucceeded: c.minSucceeded, maxErrorRatio: c.permille / 1000 }, { soakMs: c.soakMs });
        expect(verdict.verdict).toBe(expected);
        expect(verdict.reasons.length).toBeGreaterThan(0);
        for (const reason of verdict.reasons) expect(reason).toMatch(/^[A-Z0-9].*\.$/);
      }),
      { numRuns: 5000, seed: 20261130 },
    );
  });

  it('fail never depends on the soak, nor on unowned failures', () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 0, max: 100 * HOUR }), fc.nat(50), (c, otherSoak, otherUnowned) => {
        const gate = { minSucceeded: c.minSucceeded, maxErrorRatio: c.permille / 1000 };
        const a = judgeEvidence(evidenceOf(c), gate, { soakMs: c.soakMs }).verdict === 'fail';
        const b = judgeEvidence(evidenceOf({ ...c, unowned: otherUnowned }), gate, { soakMs: otherSoak }).verdict === 'fail';
        expect(a).toBe(b);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });
});
