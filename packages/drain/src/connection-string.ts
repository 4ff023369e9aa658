import { DrainUnknownError } from './errors.ts';

/**
 * The one place a database connection string is parsed for use and turned into text for people (PR bodies, commit
 * messages, logs, errors). Everything else shows `describeConnectionString(...)`, never the input.
 *
 * Why so strict: a password with an unencoded `/`, `?` or `#` (`postgresql://u:1234/word@host/db`) still parses, but
 * the tail of the password lands in the path, query or fragment, so "redact the password field" would print the rest
 * of it. Such input is refused as ambiguous, and nothing that failed to parse is ever echoed.
 */

/** Query parameters shown as they are; every other parameter (password, sslpassword, sslkey, passfile, options...)
 * is dropped from the description, and its value is treated as a secret. */
const SHOWN_PARAMETERS = new Set(['sslmode', 'connect_timeout', 'target_session_attrs']);
const SAFE_VALUE = /^[A-Za-z0-9_.-]{1,64}$/;
/** libpq parameter names are lower-case words; anything else in a query is the tail of a mis-encoded password. */
const PARAMETER_NAME = /^[a-z_]{1,64}$/;
/** libpq keys that carry a credential, in URLs and in `key=value` strings. */
export const CREDENTIAL_KEYS = ['password', 'sslpassword', 'passfile', 'sslkey', 'sslcert', 'sslcrl', 'sslrootcert', 'krbsrvname', 'gsslib', 'options'];

const ENCODING_HINT =
  'Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE with reserved characters in the password percent-encoded (/ %2F, ? %3F, # %23, @ %40, : %3A, % %25, space %20).';

export interface DatabaseConnection {
  /** The input, for the driver only. */
  readonly url: string;
  readonly host: string;
  readonly database: string;
  readonly user: string;
  /** Every credential in the input (userinfo password and credential query values), raw and percent-encoded. */
  readonly secrets: string[];
  /** Safe to print: scheme, host, port, database and harmless parameters; never user, password or secret values. */
  readonly display: string;
}

function invalid(message: string): DrainUnknownError {
  return new DrainUnknownError('invalid-input', message);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function looksLikeKeyValue(input: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\//i.test(input.trim()) && /(^|\s)[a-z_]+\s*=/i.test(input);
}

/**
 * Parses a PostgreSQL URL, refusing anything ambiguous. The error never contains the input, only its length and what
 * to fix, because the input is a secret until proven otherwise.
 */
export function parseDatabaseUrl(input: unknown): DatabaseConnection {
  if (typeof input !== 'string' || input.trim() === '') throw invalid('The database URL is required and must be a non-empty string.');
  const size = `(${input.length} characters, not shown because it may contain a password)`;
  if (looksLikeKeyValue(input)) {
    throw invalid(`The database URL is a libpq key=value string ${size}; only URLs are accepted. ${ENCODING_HINT}`);
  }
  // Whitespace, control characters and a backslash are never part of a well-formed URL; WHATWG parsing would
  // silently drop or rewrite some of them, so the host shown could differ from the one used.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters in untrusted input are exactly what this refuses
  if (/[\s\u0000-\u001f\u007f\\]/.test(input))
    throw invalid(`The database URL contains whitespace, a control character or a backslash ${size}. ${ENCODING_HINT}`);
  let parsed: URL;
  try {
    parsed = new URL(input);
  } catch {
    throw invalid(`The database URL is not a valid URL ${size}. ${ENCODING_HINT}`);
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw invalid(`The database URL must start with postgresql:// ${size}.`);
  }
  if (input.includes('#'))
    throw invalid(
      `The database URL contains "#" ${size}: a PostgreSQL URL has no fragment, so it is part of a password that must be percent-encoded. ${ENCODING_HINT}`,
    );
  if (!parsed.hostname) throw invalid(`The database URL has no host ${size}. ${ENCODING_HINT}`);
  if (!/^\/?[^/@]*$/.test(parsed.pathname)) {
    throw invalid(
      `The database URL's path is not one database name ${size}; a "/" or "@" there is usually an unencoded character of the password. ${ENCODING_HINT}`,
    );
  }
  const secrets: string[] = [];
  const addSecret = (value: string): void => {
    if (!value) return;
    secrets.push(value, safeDecode(value), encodeURIComponent(safeDecode(value)));
  };
  addSecret(parsed.password);
  const shown: string[] = [];
  for (const [name, value] of parsed.searchParams) {
    if (!PARAMETER_NAME.test(name)) {
      throw invalid(
        `The database URL's query has a parameter that is not a libpq keyword ${size}; a "?" in a password must be percent-encoded. ${ENCODING_HINT}`,
      );
    }
    if (SHOWN_PARAMETERS.has(name) && SAFE_VALUE.test(value)) shown.push(`${name}=${value}`);
    else addSecret(value);
  }
  const database = safeDecode(parsed.pathname.replace(/^\//, '')) || 'postgres';
  const display = `${parsed.protocol}//${parsed.host}/${encodeURIComponent(database)}${shown.length > 0 ? `?${shown.join('&')}` : ''}`;
  return { url: input, host: parsed.hostname, database, user: safeDecode(parsed.username), secrets: [...new Set(secrets)], display };
}

/**
 * What may be shown of a connection string or service URL anywhere (PR body, commit message, log, error): scheme,
 * host, port and the database or path; never userinfo, never a query value that could be a credential, never input
 * that did not parse.
 */
export function describeConnectionString(input: unknown): string {
  if (typeof input !== 'string') return '(no URL)';
  try {
    return parseDatabaseUrl(input).display;
  } catch {
    // Not a database URL: an http(s) service URL (Conductor) is shown without userinfo, query and fragment.
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters in untrusted input are exactly what this refuses
  if (!/[\s\u0000-\u001f\u007f\\#]/.test(input) && !looksLikeKeyValue(input)) {
    try {
      const parsed = new URL(input);
      if ((parsed.protocol === 'http:' || parsed.protocol === 'https:') && !parsed.pathname.includes('@'))
        return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
    } catch {
      // falls through to the placeholder
    }
  }
  return `(a URL of ${input.length} characters, not shown because it did not parse and may contain a password)`;
}
