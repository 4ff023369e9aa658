export { DrainUnknownError, redactUrls, type DrainUnknownReason } from './errors.ts';
export {
  CREDENTIAL_KEYS,
  describeConnectionString,
  describeConnectionString as redactUrl,
  parseDatabaseUrl,
  type DatabaseConnection,
} from './connection-string.ts';
export {
  readDrainStatus,
  readVersionInFlight,
  readVersionInFlightAt,
  withDrainReadTransaction,
  PER_VERSION_SQL,
  SINGLE_VERSION_SQL,
  type DatabaseDrainStatus,
  type ReadDrainStatusOptions,
  type VersionDrain,
  type DatabaseVersionDrain,
  type Queryable,
} from './database.ts';
export { readOrphans, findOrphans, findStalledPending, STALLED_PENDING_SQL, resumeCommand, type OrphanedWorkflow, type ReadOrphansOptions } from './orphans.ts';
export {
  readDrainStatusFromConductor,
  conductorSearchUrl,
  IN_FLIGHT_STATUSES,
  type ConductorDrainOptions,
  type ConductorDrainStatus,
} from './conductor.ts';
export {
  decideRetirement,
  appendObservation,
  emptyDrainHistory,
  forgetVersion,
  parseDrainHistory,
  observationsFromRead,
  formatDuration,
  HISTORY_SCHEMA,
  type DrainHistory,
  type DrainObservation,
  type RetirementDecision,
  type RetirementEvidence,
  type RetirementInput,
} from './retirement.ts';
export { formatDrainTable, toDrainJson, type DrainJsonRow, type FormattableStatus } from './format.ts';
export { DRAIN_READER_ROLE, drainReaderGrantStatements, drainReaderRoleSql, type DrainReaderGrantOptions } from './reader-role.ts';
export {
  DEAD_LETTERED_STATUS,
  DEAD_LETTERED_PER_VERSION_SQL,
  DEAD_LETTERED_OF_VERSION_SQL,
  countDeadLettered,
  findDeadLettered,
  forkCommand,
  type DeadLetteredOfVersion,
  type DeadLetteredWorkflow,
} from './dead-letters.ts';
export {
  readVersionEvidence,
  judgeEvidence,
  verdictOfUnreadable,
  formatEvidenceDuration,
  formatSignal,
  judgeSignals,
  SIGNALS_NOT_READ,
  type EvidenceSignal,
  type EvidenceSignals,
  DEFAULT_EVIDENCE_GATE,
  TERMINAL_STATUSES,
  VERSION_EVIDENCE_SQL,
  type EvidenceCounts,
  type EvidenceGate,
  type EvidenceVerdict,
  type EvidenceVerdictKind,
  type JudgeTiming,
  type ReadVersionEvidenceOptions,
  type VersionEvidence,
} from './evidence.ts';
export { executorsSignal, readExecutorsSignal, type ExecutorsOptions } from './evidence-conductor.ts';
