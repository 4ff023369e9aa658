/** Bad command-line input or an unusable --root: the caller must change the invocation (exit 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A required tool (kubectl, git) is missing or broke in a way that is not a finding about the repo (exit 2). */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}
