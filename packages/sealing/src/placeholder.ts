import { UsageError } from './errors.ts';
import { PLACEHOLDER_ANNOTATION, PLACEHOLDER_KEYS_ANNOTATION } from './names.ts';

/**
 * Which keys of a SealedSecret still hold a placeholder value. `dbos.dev/placeholder: "true"` marks the secret (the
 * bot reports every marked secret as due); `dbos.dev/placeholder-keys` names the keys still waiting for a real value.
 * A mark without the key list (files written before it existed) means every key is a placeholder.
 *
 * Why the list: with only the mark, sealing one key of a two-key secret (or a typo'd key) had to either keep
 * reporting a finished secret or clear the mark while a real key was still unsealed. The list lets the mark clear
 * exactly when the last placeholder key is sealed.
 */

export interface SealedSecretKeys {
  keys: readonly string[];
  annotations: Readonly<Record<string, string>>;
}

/** The annotations that mark `keys` as placeholders (for a newly written SealedSecret). */
export function placeholderAnnotations(keys: readonly string[]): Record<string, string> {
  return { [PLACEHOLDER_ANNOTATION]: 'true', [PLACEHOLDER_KEYS_ANNOTATION]: [...keys].sort().join(',') };
}

/** The keys still holding a placeholder; empty when the secret is not marked. */
export function placeholderKeys(existing: SealedSecretKeys): string[] {
  if (existing.annotations[PLACEHOLDER_ANNOTATION] !== 'true') return [];
  const listed = existing.annotations[PLACEHOLDER_KEYS_ANNOTATION];
  if (listed === undefined) return [...existing.keys];
  return listed
    .split(',')
    .map((key) => key.trim())
    .filter(Boolean);
}

/**
 * Refuses keys the SealedSecret does not declare: a typo would add a stray key (which nothing reads) and leave the
 * real one unsealed. `allowNew` is the explicit way to add a key.
 */
export function assertDeclaredKeys(existing: SealedSecretKeys, keys: readonly string[], options: { allowNew: boolean; fileName: string; flag: string }): void {
  if (options.allowNew) return;
  const unknown = keys.filter((key) => !existing.keys.includes(key));
  if (unknown.length === 0) return;
  throw new UsageError(
    `${options.fileName} declares the key(s) ${[...existing.keys].sort().join(', ') || '(none)'}, not ${unknown.join(', ')}; ` +
      `check the spelling, or pass ${options.flag} to add a new key`,
  );
}

/** How the placeholder annotations change once `sealed` keys hold real values. */
export function placeholderAfterSealing(
  existing: SealedSecretKeys,
  sealed: readonly string[],
): { set: Record<string, string>; remove: string[]; remaining: string[] } {
  const before = placeholderKeys(existing);
  if (before.length === 0) return { set: {}, remove: [], remaining: [] };
  const remaining = before.filter((key) => !sealed.includes(key));
  if (remaining.length === 0) return { set: {}, remove: [PLACEHOLDER_ANNOTATION, PLACEHOLDER_KEYS_ANNOTATION], remaining };
  const value = [...remaining].sort().join(',');
  // Unchanged list: write nothing, so a re-run of the same sealing edits no annotation.
  if (existing.annotations[PLACEHOLDER_KEYS_ANNOTATION] === value) return { set: {}, remove: [], remaining };
  return { set: { [PLACEHOLDER_KEYS_ANNOTATION]: value }, remove: [], remaining };
}
