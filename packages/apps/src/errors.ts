import { EXIT } from '@dbos-gitops/cli-kit';

/**
 * Every failure `apps:add` and `apps:remove` can explain: a message, what to do, and the README's exit code, printed by
 * cli-kit's single catch. Messages name files, flags and applications, never a secret value.
 */
export class AppsError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The command line cannot mean anything (64). */
export function usageError(message: string, hint = 'run the command with --help for its options'): AppsError {
  return new AppsError(message, hint, EXIT.usage);
}

/** The repository is not in a state the command can work on: a missing overlay, certificate, cluster file (2). */
export function treeError(message: string, hint: string): AppsError {
  return new AppsError(message, hint, EXIT.config);
}

/** A YAML file the command must edit has a shape it cannot edit surgically (7). */
export function yamlError(message: string, hint: string): AppsError {
  return new AppsError(message, hint, EXIT.yaml);
}

/** The drain signal is unknown or not zero: the application is not removed (10). */
export function notDrainedError(message: string, hint: string): AppsError {
  return new AppsError(message, hint, EXIT.drainUnknown);
}

/** SIGINT or SIGTERM: nothing was written (130/143). */
export class InterruptedError extends AppsError {
  constructor(readonly signal: 'SIGINT' | 'SIGTERM') {
    super(`interrupted by ${signal}; nothing was written`, 'run the command again', signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm);
  }
}

/** Throws the abort reason (an InterruptedError) once the signal has fired. */
export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof AppsError ? signal.reason : new InterruptedError('SIGINT');
}
