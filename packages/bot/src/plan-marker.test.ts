import { describe, expect, it } from 'vitest';
import { inspectMarker, markClosedForHold, markerFor, readMarker } from './plan.ts';

const BRANCH = 'bot/image-update/dev/dex';
const memory = { pins: [{ image: 'dex', tag: '1.1.0', digest: `sha256:${'a'.repeat(64)}` }] };
const written = `Body text\n\n${markerFor({ task: 'image-update', env: 'dev', subject: 'dex', memory })}\n`;
const forged = (payload: unknown) => `x\n<!-- gitops-bot: ${JSON.stringify(payload)} -->`;
/** The marker shape a deployed bot wrote before task memory existed; its open PRs must keep working. */
const valid = { task: 'image-update', env: 'dev', subject: 'dex', changes: [{ image: 'dex', tag: '1.1.0', digest: 'sha256:1' }] };
const current = { task: 'image-update', env: 'dev', subject: 'dex', memory: { pins: [{ image: 'dex', tag: '1.1.0', digest: 'sha256:1' }] } };

describe('PR markers are untrusted input', () => {
  it('reads back exactly what markerFor writes, on its own branch', () => {
    expect(inspectMarker(written, BRANCH)).toEqual({
      marker: { task: 'image-update', env: 'dev', subject: 'dex', memory: { pins: [{ image: 'dex', tag: '1.1.0', digest: `sha256:${'a'.repeat(64)}` }] } },
    });
    expect(inspectMarker('no marker here', BRANCH)).toEqual({ absent: true });
  });

  it('reads a marker of the old shape (changes) as memory { pins }, so the open PRs of a deployed bot keep working', () => {
    expect(inspectMarker(forged(valid), BRANCH)).toEqual({ marker: current });
  });

  it.each([
    ['an extra field beside memory', { ...current, revoke: 'gitops-prod-key' }, /wrong shape/],
    ['memory that is not an object', { ...current, memory: ['dex'] }, /wrong shape/],
    ['an oversized string in memory', { ...current, memory: { note: 'x'.repeat(10_000) } }, /wrong shape|longer than/],
    ['both memory and changes', { ...current, changes: valid.changes }, /wrong shape/],
  ])('refuses a memory marker with %s', (_what, payload, problem) => {
    expect(inspectMarker(forged(payload), BRANCH)).toEqual({ problem: expect.stringMatching(problem) });
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
