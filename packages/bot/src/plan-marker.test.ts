import { describe, expect, it } from 'vitest';
import { inspectMarker, markClosedForHold, markerFor, readMarker } from './plan.ts';

const BRANCH = 'bot/image-update/dev/dex';
const evidence = { changes: [{ image: 'dex', repository: 'ghcr.io/dexidp/dex', from: { tag: '1.0.0', digest: null }, to: { tag: '1.1.0', digest: `sha256:${'a'.repeat(64)}` }, created: null, source: 'registry' }], notes: [] };
const written = `Body text\n\n${markerFor({ task: 'image-update', env: 'dev', subject: 'dex', evidence })}\n`;
const forged = (payload: unknown) => `x\n<!-- gitops-bot: ${JSON.stringify(payload)} -->`;
const valid = { task: 'image-update', env: 'dev', subject: 'dex', changes: [{ image: 'dex', tag: '1.1.0', digest: 'sha256:1' }] };

describe('PR markers are untrusted input', () => {
  it('reads back exactly what markerFor writes, on its own branch', () => {
    expect(inspectMarker(written, BRANCH)).toEqual({ marker: { task: 'image-update', env: 'dev', subject: 'dex', changes: [{ image: 'dex', tag: '1.1.0', digest: `sha256:${'a'.repeat(64)}` }] } });
    expect(inspectMarker('no marker here', BRANCH)).toEqual({ absent: true });
  });

  it.each([
    ['another environment', { ...valid, env: 'prod' }, /names image-update\/prod\/dex, which is not its branch/],
    ['another task', { ...valid, task: 'secret-rotation' }, /not its branch/],
    ['an extra field', { ...valid, revoke: 'gitops-prod-key' }, /wrong shape/],
    ['an extra field in a change', { ...valid, changes: [{ ...valid.changes[0], secret: 'x' }] }, /wrong shape/],
    ['a number where a tag belongs', { ...valid, changes: [{ image: 'dex', tag: 99, digest: '' }] }, /wrong shape/],
    ['changes that are not a list', { ...valid, changes: 'all' }, /wrong shape/],
    ['a subject that is not branch-safe', { ...valid, subject: '../dex' }, /wrong shape/],
    ['an oversized tag', { ...valid, changes: [{ image: 'dex', tag: 'x'.repeat(10_000), digest: '' }] }, /wrong shape/],
  ])('refuses a marker with %s', (_what, payload, problem) => {
    const result = inspectMarker(forged(payload), BRANCH);
    expect(result).toEqual({ problem: expect.stringMatching(problem) });
  });

  it('refuses a body with two markers, an unclosed marker, or JSON that does not parse', () => {
    expect(inspectMarker(`${forged(valid)}\n${forged(valid)}`, BRANCH)).toEqual({ problem: expect.stringMatching(/more than one/) });
    expect(inspectMarker('<!-- gitops-bot: {"task":"image-update"', BRANCH)).toEqual({ problem: expect.stringMatching(/not closed/) });
    expect(inspectMarker('<!-- gitops-bot: {task: image-update} -->', BRANCH)).toEqual({ problem: expect.stringMatching(/not valid JSON/) });
    expect(readMarker(forged({ ...valid, extra: 1 }))).toBeNull();
  });

  it('markClosedForHold changes only the marker, which then reads back with closedFor: hold', () => {
    const closed = markClosedForHold(written)!;
    expect(closed.startsWith('Body text\n\n<!-- gitops-bot: ')).toBe(true);
    expect(closed.endsWith(' -->\n')).toBe(true);
    expect(inspectMarker(closed, BRANCH)).toEqual({ marker: expect.objectContaining({ closedFor: 'hold' }) });
    expect(markClosedForHold('no marker')).toBeNull();
  });
});
