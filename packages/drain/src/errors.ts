import { EXIT } from '@dbos-gitops/cli-kit';

/**
 * Every way a drain read can fail. Each one means "not drained": a caller must never turn any of them into zero.
 */
export type DrainUnknownReason =
  | 'invalid-input'
  | 'connection-refused'
  | 'dns'
  | 'timeout'
  | 'aborted'
  | 'authentication'
  | 'database-missing'
  | 'schema-missing'
  | 'schema-outdated'
  | 'permission-denied'
  | 'latest-version-unknown'
  | 'conductor-unavailable'
  | 'conductor-auth'
  | 'conductor-http'
  | 'conductor-malformed'
  | 'unexpected';

/** What to do, per reason; printed as `what to do:` by cli-kit's single catch. Never holds a value. */
const HINTS: Record<DrainUnknownReason, string> = {
  'invalid-input': 'give the drain reader a postgresql:// URL (percent-encode special characters in the password); the value is not shown',
  'connection-refused': 'check that the database is running and that this host may reach it (NetworkPolicy egress, firewall)',
  dns: 'check the database host name in the drain reader URL',
  timeout: 'check the network path to the database, or raise the timeout',
  aborted: 'run again; the read was cancelled before it finished',
  authentication: "reseal the drain reader URL with the role's current password (pnpm secrets:seal --name dbos-drain-reader --key database-url)",
  'database-missing': 'point the drain reader URL at the DBOS system database of the application',
  'schema-missing': 'run the migration Job (dbos migrate) once, so the dbos schema exists',
  'schema-outdated': "run the migration Job with a dbos-migrate image at least as new as the newest live version's DBOS SDK",
  'permission-denied': 'grant the drain reader role its read-only access (the SQL from secrets:bootstrap, or drainReaderRoleSql)',
  'latest-version-unknown': 'make sure the latest version has started once, so it is registered in dbos.application_versions',
  'conductor-unavailable': 'check that Conductor is up and reachable, then run again',
  'conductor-auth': 'check the Conductor API key the bot reads',
  'conductor-http': 'check the Conductor URL, organization and application name',
  'conductor-malformed': 'check that the Conductor release matches the API this bot reads (see the README), then report it',
  unexpected: 'run again with DEBUG=gitops for details, and report it if it persists',
};

/** Every reason is "the drain signal is unknown": exit 10 from any entry point, so nothing retires. */
export class DrainUnknownError extends Error {
  override readonly name = 'DrainUnknownError';
  readonly reason: DrainUnknownReason;
  readonly hint: string;
  readonly exitCode = EXIT.drainUnknown;

  constructor(reason: DrainUnknownReason, message: string) {
    super(message);
    this.reason = reason;
    this.hint = HINTS[reason];
  }
}

/** Credential-bearing libpq keys, as `key=value` in a libpq string or a URL query, wherever they appear in text. */
const CREDENTIAL_PAIR = /\b(password|sslpassword|passfile|sslkey|options)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'"]+)/gi;

/** Replaces the userinfo of every URL and every credential `key=value` in free text (a driver's message) with `***`. */
export function redactUrls(text: string): string {
  // scheme://userinfo@host → scheme://***@host; userinfo may contain ':' and '/', the last '@' before the host ends it.
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s@]*@/gi, '$1***@').replace(CREDENTIAL_PAIR, '$1$2***');
}

/** Removes known secrets (passwords, API keys) from a message, then any URL password left. */
export function scrub(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret || secret.length < 3) continue;
    out = out.split(secret).join('***');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join('***');
  }
  return redactUrls(out);
}
