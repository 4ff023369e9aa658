/**
 * The repository's hold convention, defined once: a `# gitops-bot: hold` comment. On or directly above an image
 * entry it holds that image; on its own line in a version's kustomization.yaml (or the list of versions) it holds
 * that version. Tasks never test for it themselves: the environment walk (tasks/shared/walk.ts) decides holds.
 */
export const HOLD_COMMENT = /#\s*gitops-bot:\s*hold\b/;

/** A line that is only the hold comment (leading spaces allowed), anywhere in `text`. */
const HOLD_COMMENT_LINE = new RegExp(`^\\s*${HOLD_COMMENT.source}`, 'm');

export function hasHoldCommentLine(text: string): boolean {
  return HOLD_COMMENT_LINE.test(text);
}

/**
 * What a hold line in an application's list of versions (`versions/kustomization.yaml`) holds from version-add:
 * - `version`: every version up to and including `upTo` (a re-proposal of a rolled-back version, or an older one), and
 *   nothing newer, so a fixed release still ships. Said explicitly (`# gitops-bot: hold version 2.0.0: <reason>`, what
 *   `pnpm bot rollback` writes, which keeps meaning 2.0.0 after version-retire has removed 2.0.0's own line), or by
 *   place: a plain hold line directly above a version's `- <slug>` line holds that version.
 * - `app`: any other hold line (e.g. at the top of the file), and one whose version does not order as a version (not
 *   semver): the application gets nothing new there until a human removes the line (fail closed).
 */
export type ListHold = { scope: 'app'; reason: string } | { scope: 'version'; upTo: string; reason: string };

const HOLD_LINE = new RegExp(`^[ \\t]*${HOLD_COMMENT.source}(.*)$`, 'gm');
const EXPLICIT_VERSION = /^version\s+(\S+?):?(?:\s+(.*))?$/;

/** The hold text naming `version` explicitly: `version 2.0.0: <reason>` (see {@link ListHold}). */
export function versionHoldText(version: string, reason: string): string {
  return `version ${version}: ${reason}`;
}

/**
 * Every hold line of a list of versions. `versionListedAfter(offset)` names the version whose list line starts at
 * `offset` (the line right after a hold line), or null when that is not a version's line; `isVersion` says whether a
 * version name orders (only then can "that version and older" be decided).
 */
export function listHolds(text: string, versionListedAfter: (offset: number) => string | null, isVersion: (text: string) => boolean): ListHold[] {
  const holds: ListHold[] = [];
  for (const match of text.matchAll(HOLD_LINE)) {
    const rest = match[1]!.trim();
    const explicit = EXPLICIT_VERSION.exec(rest);
    if (explicit) {
      const upTo = explicit[1]!;
      holds.push(isVersion(upTo) ? { scope: 'version', upTo, reason: explicit[2]?.trim() ?? '' } : { scope: 'app', reason: rest });
      continue;
    }
    const next = match.index + match[0].length + 1;
    const below = next <= text.length ? versionListedAfter(next) : null;
    holds.push(below !== null && isVersion(below) ? { scope: 'version', upTo: below, reason: rest } : { scope: 'app', reason: rest });
  }
  return holds;
}

/** The first hold that holds `version` (compare: semver order of two version names), or null. */
export function holdOn(holds: readonly ListHold[], version: string, compare: (a: string, b: string) => number): ListHold | null {
  return holds.find((hold) => hold.scope === 'app' || compare(version, hold.upTo) <= 0) ?? null;
}
