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

export class DrainUnknownError extends Error {
  override readonly name = 'DrainUnknownError';
  readonly reason: DrainUnknownReason;

  constructor(reason: DrainUnknownReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Credential-bearing libpq keys, as `key=value` in a libpq string or a URL query, wherever they appear in text. */
const CREDENTIAL_PAIR = /\b(password|sslpassword|passfile|sslkey|options)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'"]+)/gi;

/** Replaces the userinfo of every URL and every credential `key=value` in free text (a driver's message) with `***`. */
export function redactUrls(text: string): string {
  // scheme://userinfo@host → scheme://***@host; userinfo may contain ':' and '/', the last '@' before the host ends it.
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s@]*@/gi, '$1***@')
    .replace(CREDENTIAL_PAIR, '$1$2***');
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
