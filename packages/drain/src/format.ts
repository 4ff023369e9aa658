import type { VersionDrain } from './database.ts';

/** The JSON the CLI prints: one object per version. */
export interface DrainJsonRow {
  version: string;
  pending: number;
  enqueued: number;
  delayed: number;
  inFlight: number;
  /** MAX_RECOVERY_ATTEMPTS_EXCEEDED workflows; null when the source cannot tell (never a made-up zero). */
  deadLettered: number | null;
}

export interface FormattableStatus {
  source: 'database' | 'conductor';
  readAt: string;
  versions: ReadonlyArray<VersionDrain & { deadLettered?: number }>;
  latestVersion?: string | null;
  unowned?: number;
  unversioned?: number;
}

export function toDrainJson(status: FormattableStatus): DrainJsonRow[] {
  return status.versions.map(({ version, pending, enqueued, delayed, inFlight, deadLettered }) => ({
    version,
    pending,
    enqueued,
    delayed,
    inFlight,
    deadLettered: deadLettered ?? null,
  }));
}

/** A fixed-width table for humans; the latest version is marked, notes follow the table. */
export function formatDrainTable(status: FormattableStatus): string {
  const header = ['VERSION', 'PENDING', 'ENQUEUED', 'DELAYED', 'IN FLIGHT', ''];
  const rows = status.versions.map((v) => [
    v.version,
    String(v.pending),
    String(v.enqueued),
    String(v.delayed),
    String(v.inFlight),
    v.version === status.latestVersion ? 'latest' : v.inFlight > 0 ? 'draining' : v.deadLettered ? 'dead-lettered' : 'drained',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), ...rows.map(line)];
  if (rows.length === 0) out.push('(no registered versions and nothing in flight)');
  out.push('');
  out.push(`source: ${status.source}, read at ${status.readAt}, latest version: ${status.latestVersion ?? 'unknown'}`);
  if (status.unversioned) {
    out.push(
      `${status.unversioned} in-flight workflow(s) have no application_version; counted in ${status.latestVersion ? `the latest version (${status.latestVersion})` : 'every version, since the latest is unknown'}.`,
    );
  }
  for (const v of status.versions) {
    if (!v.deadLettered) continue;
    out.push(
      `${v.deadLettered} workflow(s) of ${v.version} are dead-lettered (MAX_RECOVERY_ATTEMPTS_EXCEEDED): only an executor of ${v.version} can resume them; version-retire keeps ${v.version} until they are resumed, forked onto the latest version or cancelled.`,
    );
  }
  if (status.unowned) {
    out.push(`${status.unowned} in-flight workflow(s) have no application_name; counted because they may belong to this app.`);
  }
  return `${out.join('\n')}\n`;
}
