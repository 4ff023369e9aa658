import { EXIT, UsageError } from '@dbos-gitops/cli-kit';

/** Bad command-line input or an unusable --root: the caller must change the invocation (exit 64, cli-kit's). */
export { UsageError };

/**
 * A required tool (kubectl, git) is missing or broke in a way that is not a finding about the repository: exit 2,
 * the README's "fix the setup" code, so CI can tell it from violations (1).
 */
export class ToolError extends Error {
  override readonly name = 'ToolError';
  readonly exitCode = EXIT.config;
  constructor(
    message: string,
    readonly hint = "install kubectl 1.27 or newer (it ships kustomize v5) and git, or set KUBECTL to kubectl's path",
  ) {
    super(message);
  }
}
