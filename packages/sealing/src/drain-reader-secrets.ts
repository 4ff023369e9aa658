/**
 * The drain reader's database URL is sealed twice, from one value: `dbos-drain-reader` in the application's
 * namespace (the bot's retirement check) and `dbos-drain-reader-keda` in KEDA's namespace, which
 * `ClusterTriggerAuthentication/dbos-drain-reader` (base/keda-auth) reads. KEDA runs with its Secret access
 * restricted and then reads Secrets only in its own namespace (KEDA docs, "Restrict Secret Access";
 * kedacore/keda#3668, #4893), so the first copy is no use to it. Strict scope binds each ciphertext to its own
 * namespace/name, so the same value cannot be shared by one file: every writer of one copy writes the other.
 */

export const DRAIN_READER_SECRET = 'dbos-drain-reader';
export const KEDA_DRAIN_READER_SECRET = 'dbos-drain-reader-keda';
export const DRAIN_READER_KEY = 'database-url';
/** Where both tools install KEDA (clusters/<env>); `secretTargetRef` of a ClusterTriggerAuthentication resolves there. */
export const DEFAULT_KEDA_NAMESPACE = 'keda';

export interface DrainReaderSecret {
  name: string;
  namespace: string;
  data: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Both sealed copies of one drain-reader URL, each for its own namespace and name. */
export function drainReaderSecrets(
  url: string,
  options: { namespace: string; kedaNamespace?: string; annotations?: Record<string, string> },
): DrainReaderSecret[] {
  const copy = (name: string, namespace: string): DrainReaderSecret => ({
    name,
    namespace,
    data: { [DRAIN_READER_KEY]: url },
    ...(options.annotations ? { annotations: { ...options.annotations } } : {}),
  });
  return [copy(DRAIN_READER_SECRET, options.namespace), copy(KEDA_DRAIN_READER_SECRET, options.kedaNamespace ?? DEFAULT_KEDA_NAMESPACE)];
}

/**
 * The other copy of a drain-reader secret, for sealing one value into both; null for every other secret or key.
 * Its namespace is the one the caller knows for it (the file's own, when the file exists).
 */
export function drainReaderPartner(name: string, key: string): string | null {
  if (key !== DRAIN_READER_KEY) return null;
  if (name === DRAIN_READER_SECRET) return KEDA_DRAIN_READER_SECRET;
  if (name === KEDA_DRAIN_READER_SECRET) return DRAIN_READER_SECRET;
  return null;
}
