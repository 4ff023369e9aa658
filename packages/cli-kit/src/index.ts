export { EXIT, type ExitCode } from './exit-codes.ts';
export { formatHelp, parseCommand, UsageError, type CommandSpec, type FlagSpec, type FlagSpecs, type FlagValues, type Parsed } from './command.ts';
export { isReportable, progressReporter, runReporting, type CliIo, type ReportableError } from './run.ts';
