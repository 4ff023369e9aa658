import { UsageError } from './errors.ts';

export type SealingScope = 'strict' | 'namespace-wide' | 'cluster-wide';

export const SCOPES: readonly SealingScope[] = ['strict', 'namespace-wide', 'cluster-wide'];

export const NAMESPACE_WIDE_ANNOTATION = 'sealedsecrets.bitnami.com/namespace-wide';
export const CLUSTER_WIDE_ANNOTATION = 'sealedsecrets.bitnami.com/cluster-wide';

export function parseScope(value: string): SealingScope {
  // kubeseal treats an empty --scope as the default (strict).
  if (value === '') return 'strict';
  if ((SCOPES as readonly string[]).includes(value)) return value as SealingScope;
  throw new UsageError(`--scope must be one of: ${SCOPES.join(', ')} (got "${value}")`);
}

/**
 * The RSA-OAEP label binds ciphertext to where it may be unsealed. The controller recomputes it from the
 * SealedSecret's own metadata, so a value sealed for one name/namespace does not decrypt under another.
 */
export function encryptionLabel(namespace: string, name: string, scope: SealingScope): string {
  switch (scope) {
    case 'cluster-wide':
      return '';
    case 'namespace-wide':
      return namespace;
    case 'strict':
      return `${namespace}/${name}`;
  }
}

/** Cluster-wide wins over namespace-wide when both are set, as in the controller. */
export function scopeFromAnnotations(annotations: Readonly<Record<string, unknown>> | undefined): SealingScope {
  if (annotations?.[CLUSTER_WIDE_ANNOTATION] === 'true') return 'cluster-wide';
  if (annotations?.[NAMESPACE_WIDE_ANNOTATION] === 'true') return 'namespace-wide';
  return 'strict';
}

/** The annotations kubeseal writes for a scope: none for strict. */
export function scopeAnnotations(scope: SealingScope): Record<string, string> {
  if (scope === 'namespace-wide') return { [NAMESPACE_WIDE_ANNOTATION]: 'true' };
  if (scope === 'cluster-wide') return { [CLUSTER_WIDE_ANNOTATION]: 'true' };
  return {};
}
