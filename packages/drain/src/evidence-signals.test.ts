import { describe, expect, it } from 'vitest';
import { executorsSignal } from './evidence-conductor.ts';
import { formatSignal, judgeSignals, SIGNALS_NOT_READ, type EvidenceSignals } from './evidence.ts';

const pass = { verdict: 'pass' as const, reasons: ['12 workflows succeeded'] };
const read = (count: number, of = 2) => ({ status: 'read' as const, count, of, detail: 'd' });

describe('the signals on top of the database verdict', () => {
  it('not configured changes nothing; configured and above zero keeps the pass', () => {
    expect(judgeSignals(pass, SIGNALS_NOT_READ, '1.0.0')).toBe(pass);
    expect(judgeSignals(pass, { podsReady: read(1), executorsConnected: read(2) }, '1.0.0')).toBe(pass);
  });

  it('zero or unreadable turns a pass into unknown with each reason; an unknown keeps its own reasons too', () => {
    const signals: EvidenceSignals = { podsReady: read(0), executorsConnected: { status: 'unreadable', reason: 'Conductor answered 503' } };
    expect(judgeSignals(pass, signals, '1.0.0')).toEqual({
      verdict: 'unknown',
      reasons: ['pods Ready of 1.0.0: none (d).', 'Conductor executors connected of 1.0.0 could not be read: Conductor answered 503'],
    });
    const unknown = { verdict: 'unknown' as const, reasons: ['Not enough data'] };
    expect(judgeSignals(unknown, signals, '1.0.0').reasons).toHaveLength(3);
    expect(judgeSignals(unknown, signals, '1.0.0').reasons[0]).toBe('Not enough data');
  });

  it('a fail stays a fail, reasons unchanged', () => {
    const fail = { verdict: 'fail' as const, reasons: ['4 of 10 failed'] };
    expect(judgeSignals(fail, { podsReady: read(0), executorsConnected: read(0) }, '1.0.0')).toBe(fail);
  });

  it('prints each state', () => {
    expect(formatSignal({ status: 'not-configured' })).toBe('not read (not configured)');
    expect(formatSignal({ status: 'unreadable', reason: 'x' })).toBe('unreadable: x');
    expect(formatSignal(read(1, 3))).toBe('1 of 3 (d)');
  });
});

describe("Conductor's executor list, per version", () => {
  const executor = (appVersion: string, status: string) => ({ executorId: `${appVersion}-${status}`, status, appVersion, hostname: null, updatedAt: null });

  it('counts HEALTHY (any case) and connected executors of exactly the version, and names the rest by status', () => {
    const list = [
      executor('1.0.0', 'HEALTHY'),
      executor('1.0.0', 'healthy'),
      executor('1.0.0', 'connected'),
      executor('1.0.0', 'DEAD'),
      executor('1.0.00', 'HEALTHY'),
    ];
    expect(executorsSignal(list, '1.0.0')).toEqual({ status: 'read', count: 3, of: 4, detail: '1 HEALTHY, 1 healthy, 1 connected, 1 DEAD' });
  });

  it('none of the version: zero, saying how many the application has', () => {
    expect(executorsSignal([executor('2.0.0', 'HEALTHY')], '1.0.0')).toEqual({
      status: 'read',
      count: 0,
      of: 0,
      detail: 'Conductor lists 1 executor(s) of the application, none of version 1.0.0',
    });
  });
});
