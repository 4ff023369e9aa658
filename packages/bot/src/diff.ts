/** A compact unified diff for printing plans: common prefix and suffix lines trimmed, three lines of context. */
export function unifiedDiff(path: string, before: string | null, after: string | null): string {
  const a = before === null ? [] : before.split('\n');
  const b = after === null ? [] : after.split('\n');
  const header = `--- ${before === null ? '/dev/null' : `a/${path}`}\n+++ ${after === null ? '/dev/null' : `b/${path}`}`;
  const hunks: string[] = [];
  // Walk both files; emit a hunk for each run of differing lines (files from one scalar edit differ in few places).
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
    // Find the next resynchronisation point (small look-ahead is enough for line-preserving edits).
    let endA = i;
    let endB = j;
    search: for (let span = 1; span <= a.length - i + (b.length - j); span++) {
      for (let da = 0; da <= span; da++) {
        const db = span - da;
        if (i + da <= a.length && j + db <= b.length && (i + da === a.length ? j + db === b.length : a[i + da] === b[j + db])) {
          endA = i + da;
          endB = j + db;
          break search;
        }
      }
    }
    const from = Math.max(0, i - 3);
    const trailing = Math.min(a.length, endA + 3) - endA;
    // Standard `-start,count +start,count` header; an empty side is written as start 0 (`-0,0` for a new file).
    const oldCount = i - from + (endA - i) + trailing;
    const newCount = i - from + (endB - j) + trailing;
    const oldStart = oldCount === 0 ? from : from + 1;
    const newStart = newCount === 0 ? from + (j - i) : from + 1 + (j - i);
    const lines = [`@@ -${oldStart},${oldCount} +${newStart},${newCount} @@`];
    for (let k = from; k < i; k++) lines.push(` ${a[k]}`);
    for (let k = i; k < endA; k++) lines.push(`-${a[k]}`);
    for (let k = j; k < endB; k++) lines.push(`+${b[k]}`);
    for (let k = endA; k < endA + trailing; k++) lines.push(` ${a[k]}`);
    hunks.push(lines.join('\n'));
    i = endA;
    j = endB;
  }
  return [header, ...hunks].join('\n');
}
