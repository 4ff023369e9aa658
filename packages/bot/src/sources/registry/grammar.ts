/**
 * What a registry may hand us. A registry response is untrusted input: a tag or digest that breaks these grammars
 * would end up in a branch name, an image reference, `DBOS__APPVERSION` or a request path.
 */

/** The OCI distribution spec's tag grammar, anchored: no whitespace, no `+`, at most 128 characters. */
export const OCI_TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** The only digest form the bot pins (and the only one `image-pinned` accepts). */
export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

export function isOciTag(value: unknown): value is string {
  return typeof value === 'string' && OCI_TAG.test(value);
}

export function isSha256Digest(value: unknown): value is string {
  return typeof value === 'string' && SHA256_DIGEST.test(value);
}
