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

/** Replaces the password of every URL in `text` with `***`. */
export function redactUrls(text: string): string {
  // scheme://user:password@host → scheme://user:***@host; the password may itself contain ':' but never '@' unescaped.
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s@/]*@/gi, '$1***@');
}

/** A database URL with its password hidden, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return redactUrls(url);
  }
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
