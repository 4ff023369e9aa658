import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';

/** Lines of context around each change: git's default, so a printed diff reads like `git diff`. */
const CONTEXT_LINES = 3;

/**
 * A unified diff of one file for printing plans (`plan`, `plan --json`, `run --dry-run`, PR bodies), in the form
 * `git apply` takes: `--- a/<path>` / `+++ b/<path>`, `/dev/null` for the side of a new or deleted file, and hunks
 * that never overlap. The hunks come from jsdiff (a maintained Myers diff) rather than our own line walk: the walk
 * emitted overlapping hunks when nearby entries shared identical lines, and `git apply --check` rejected them.
 * The result ends without a newline, so edits joined with '\n' read as one multi-file patch.
 */
export function unifiedDiff(path: string, before: string | null, after: string | null): string {
  const patch = createTwoFilesPatch(
    before === null ? '/dev/null' : `a/${path}`,
    after === null ? '/dev/null' : `b/${path}`,
    before ?? '',
    after ?? '',
    undefined,
    undefined,
    // Only the `---`/`+++` lines: jsdiff's default `Index:` line and `===` underline are not part of git's format.
    { context: CONTEXT_LINES, headerOptions: FILE_HEADERS_ONLY },
  );
  return patch.endsWith('\n') ? patch.slice(0, -1) : patch;
}
