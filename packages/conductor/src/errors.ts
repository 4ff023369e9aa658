export type ConductorFailure =
  /** 401: the admin key is missing, wrong or deleted. */
  | 'auth'
  /** 403: the key lacks the permission (token.write, application.read, ...). */
  | 'forbidden'
  | 'not-found'
  /** 409: e.g. an API key of that name exists already. */
  | 'conflict'
  /** 400/415/422: Conductor rejected the request body or a path parameter. */
  | 'invalid'
  /** 5xx (or no answer) after the bounded retries. */
  | 'unavailable'
  /** A request whose outcome is unknown (connection lost after sending a write): never retried blindly. */
  | 'unknown-outcome'
  /** The answer did not have the documented shape. */
  | 'malformed';

const HINTS: Record<ConductorFailure, string> = {
  auth: 'check the admin API key the bot reads from its environment variable (never print it); create a new one in the DBOS Console if it was deleted',
  forbidden: "give the bot's admin key the token.read, token.write and application.read permissions",
  'not-found': 'check the Conductor organization and application names in the bot config',
  conflict: 'an API key of that name exists already; delete it in the DBOS Console if nothing uses it, or run again a minute later',
  invalid: 'check the app names and permissions configured for the rotated key',
  unavailable: 'Conductor did not answer successfully; check that it runs and is reachable from the bot, then run again',
  'unknown-outcome': 'the connection broke after the request was sent; run again, the bot deletes keys it created but did not commit',
  malformed: 'the Conductor API answered in a shape the bot does not know; check the Conductor version against packages/testkit/openapi/conductor-subset.json',
};

/** Why a request got no answer at all: the client's timeout, the caller's abort, or the network. */
export type NoAnswer = 'timeout' | 'aborted' | 'network';

/**
 * A Conductor API failure. The message names the operation and status, never a key. It has the shape every entry
 * point reports (`message`, `hint`, `exitCode` 10: the README's "signal unknown"), without depending on any of them.
 */
export class ConductorError extends Error {
  override readonly name = 'ConductorError';
  readonly exitCode = 10;
  readonly hint: string;
  constructor(
    readonly failure: ConductorFailure,
    readonly operation: string,
    readonly status: number | undefined,
    /** Conductor's own words (a problem's `detail`, scrubbed of the key), or why there was no answer. */
    readonly detail: string,
    readonly noAnswer?: NoAnswer,
  ) {
    super(`Conductor ${operation} failed${status === undefined ? '' : ` (HTTP ${status})`}: ${detail}`);
    this.hint = HINTS[failure];
  }
}

export function failureForStatus(status: number): ConductorFailure {
  if (status === 401) return 'auth';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status >= 500) return 'unavailable';
  return 'invalid';
}
