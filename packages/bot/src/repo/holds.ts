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
