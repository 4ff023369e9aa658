import { EXIT } from './exit-codes.ts';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/** What every typed error of the packages carries: a message, a hint saying what to do, and its exit code. */
export interface ReportableError {
  message: string;
  hint: string;
  exitCode: number;
}

export function isReportable(error: unknown): error is ReportableError {
  const e = error as Partial<ReportableError> | null;
  return !!e && typeof e.message === 'string' && typeof e.hint === 'string' && typeof e.exitCode === 'number';
}

/**
 * The single catch of an entry point: a typed error prints `error:` and `what to do:` and returns its code; anything
 * else is a bug (exit 1), with the stack only under DEBUG.
 */
export async function runReporting(io: CliIo, body: () => Promise<number>, debugName = 'gitops'): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (isReportable(error)) {
      io.stderr(`error: ${error.message}\n  what to do: ${error.hint}\n`);
      return error.exitCode;
    }
    io.stderr(
      `error: unexpected failure: ${(error as Error)?.message ?? String(error)}\n  what to do: this is a bug; rerun with DEBUG=${debugName} for details and report it\n`,
    );
    if (io.env.DEBUG?.includes(debugName)) io.stderr(`${(error as Error)?.stack ?? ''}\n`);
    return EXIT.failure;
  }
}

/** Progress lines go to stderr only on a terminal, so logs and pipes stay clean. */
export function progressReporter(io: CliIo, isTTY: boolean | undefined): (line: string) => void {
  return isTTY ? (line) => io.stderr(`… ${line}\n`) : () => {};
}
