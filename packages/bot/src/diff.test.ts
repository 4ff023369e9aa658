import { describe, expect, it } from 'vitest';
import { unifiedDiff } from './diff.ts';

describe('unifiedDiff', () => {
  it('shows changed lines with context, including at the end of a file', () => {
    const diff = unifiedDiff('k.yaml', 'a\nb\nc\nd\n', 'a\nb\nC\nD\n');
    expect(diff.split('\n').filter((line) => /^[-+][^-+]/.test(line))).toEqual(['-c', '-d', '+C', '+D']);
  });

  it('handles added and deleted files', () => {
    expect(unifiedDiff('n.yaml', null, 'x\n')).toMatch(/^--- \/dev\/null\n\+\+\+ b\/n\.yaml/);
    expect(unifiedDiff('n.yaml', 'x\n', null)).toMatch(/^--- a\/n\.yaml\n\+\+\+ \/dev\/null[\s\S]*\n-x/);
  });

  it('hunk headers carry start and count of each side, as unified diffs do', () => {
    const lines = unifiedDiff('n.yaml', null, 'x\ny').split('\n');
    expect(lines[2]).toBe('@@ -0,0 +1,2 @@');
    const before = Array.from({ length: 10 }, (_, index) => `l${index}`).join('\n');
    // Line 5 (l4) replaced by two lines: 3 lines of context on each side.
    const after = before.replace('l4', 'L4a\nL4b');
    expect(unifiedDiff('f', before, after).split('\n')[2]).toBe('@@ -2,7 +2,8 @@');
    // 'only\n' is one line. The old walk counted the empty string after the final newline as a second line
    // (`@@ -1,2 +0,0 @@` with a `-` line), which `git apply --check` rejects ("patch does not apply").
    expect(unifiedDiff('g', 'only\n', null).split('\n')[2]).toBe('@@ -1,1 +0,0 @@');
  });

  it('separate edits give separate hunks', () => {
    const before = Array.from({ length: 20 }, (_, index) => `line ${index}`).join('\n');
    const after = before.replace('line 2', 'LINE 2').replace('line 15', 'LINE 15');
    expect(unifiedDiff('f', before, after).match(/^@@/gm)).toHaveLength(2);
  });
});
