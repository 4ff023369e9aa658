import type { KeyObject } from 'node:crypto';
import { stringify } from 'yaml';
import type { SealingCertificate } from './certificate.ts';
import { sealValue } from './crypto.ts';
import { UsageError } from './errors.ts';
import { encryptionLabel, scopeAnnotations, type SealingScope } from './scope.ts';

export const SEALED_SECRET_API_VERSION = 'bitnami.com/v1alpha1';
export const SEALED_SECRET_KIND = 'SealedSecret';

export interface ObjectMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface SealedSecretDocument {
  apiVersion: typeof SEALED_SECRET_API_VERSION;
  kind: typeof SEALED_SECRET_KIND;
  metadata: ObjectMetadata;
  spec: {
    template: { metadata: ObjectMetadata; type?: string };
    encryptedData: Record<string, string>;
  };
}

/** Where a sealed value may be unsealed: the three inputs of the OAEP label. */
export interface SealingTarget {
  name: string;
  /** May be empty only for cluster-wide scope, as kubeseal allows. */
  namespace: string;
  scope: SealingScope;
}

export interface SealSecretOptions extends Partial<Pick<SealingTarget, 'scope'>> {
  certificate: SealingCertificate | KeyObject;
  name: string;
  namespace: string;
  /** Raw values (what the workload reads), never base64 of Secret.data. */
  data: Readonly<Record<string, string | Uint8Array>>;
  /** Secret type; omitted from the document when Opaque, which is the default. */
  type?: string;
  /** Labels and annotations of the Secret the controller creates. */
  templateLabels?: Readonly<Record<string, string>>;
  templateAnnotations?: Readonly<Record<string, string>>;
  /** Extra annotations on the SealedSecret itself, for tools that read the repository (not copied to the Secret). */
  annotations?: Readonly<Record<string, string>>;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

export function validateTarget(target: SealingTarget): void {
  if (!DNS_SUBDOMAIN.test(target.name) || target.name.length > 253) {
    throw new UsageError(`"${target.name}" is not a valid Secret name: use lower-case letters, digits, "-" and "." (at most 253 characters)`);
  }
  if (target.namespace === '') {
    if (target.scope !== 'cluster-wide') {
      throw new UsageError('a namespace is required unless the scope is cluster-wide; pass --namespace');
    }
  } else if (!DNS_LABEL.test(target.namespace) || target.namespace.length > 63) {
    throw new UsageError(`"${target.namespace}" is not a valid namespace: use lower-case letters, digits and "-" (at most 63 characters)`);
  }
}

export function validateSecretKey(key: string): void {
  if (!SECRET_KEY.test(key) || key === '.' || key === '..' || key.length > 253) {
    throw new UsageError(`"${key}" is not a valid Secret key: use letters, digits, "-", "_" and "." (at most 253 characters)`);
  }
}

/** Seals each raw value for the target; the result goes into `spec.encryptedData`. */
export function encryptData(
  certificate: SealingCertificate | KeyObject,
  target: SealingTarget,
  data: Readonly<Record<string, string | Uint8Array>>,
): Record<string, string> {
  validateTarget(target);
  const publicKey = 'publicKey' in certificate ? certificate.publicKey : certificate;
  const label = encryptionLabel(target.namespace, target.name, target.scope);
  const encrypted: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) {
    validateSecretKey(key);
    encrypted[key] = sealValue(publicKey, value, label);
  }
  return encrypted;
}

/**
 * Builds the SealedSecret kubeseal would write for a Secret with these values: the scope annotations go on
 * the SealedSecret (the controller derives the label from them) and, because kubeseal copies the input
 * Secret's metadata into the template, on the template too.
 */
export function sealSecret(options: SealSecretOptions): SealedSecretDocument {
  const scope = options.scope ?? 'strict';
  const target: SealingTarget = { name: options.name, namespace: options.namespace, scope };
  const encryptedData = encryptData(options.certificate, target, options.data);
  if (Object.keys(encryptedData).length === 0) {
    throw new UsageError('nothing to seal: pass at least one --from-file KEY=PATH or --from-env KEY=VARIABLE');
  }
  const scoped = scopeAnnotations(scope);
  const topAnnotations = { ...(options.annotations ?? {}), ...scoped };
  const templateAnnotations = { ...(options.templateAnnotations ?? {}), ...scoped };
  const metadata: ObjectMetadata = { name: options.name };
  if (options.namespace !== '') metadata.namespace = options.namespace;
  if (Object.keys(topAnnotations).length > 0) metadata.annotations = topAnnotations;
  const templateMetadata: ObjectMetadata = { name: options.name };
  if (options.namespace !== '') templateMetadata.namespace = options.namespace;
  if (options.templateLabels && Object.keys(options.templateLabels).length > 0) {
    templateMetadata.labels = { ...options.templateLabels };
  }
  if (Object.keys(templateAnnotations).length > 0) templateMetadata.annotations = templateAnnotations;
  const template: SealedSecretDocument['spec']['template'] = { metadata: templateMetadata };
  if (options.type !== undefined && options.type !== '' && options.type !== 'Opaque') template.type = options.type;
  return {
    apiVersion: SEALED_SECRET_API_VERSION,
    kind: SEALED_SECRET_KIND,
    metadata,
    spec: { template, encryptedData },
  };
}

function sortedRecord(record: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (record === undefined) return undefined;
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function metadataAlphabetical(metadata: ObjectMetadata): Record<string, unknown> {
  const ordered: Record<string, unknown> = {};
  if (metadata.annotations) ordered.annotations = sortedRecord(metadata.annotations);
  if (metadata.labels) ordered.labels = sortedRecord(metadata.labels);
  ordered.name = metadata.name;
  if (metadata.namespace !== undefined) ordered.namespace = metadata.namespace;
  return ordered;
}

function metadataStructOrder(metadata: ObjectMetadata): Record<string, unknown> {
  const ordered: Record<string, unknown> = { name: metadata.name };
  if (metadata.namespace !== undefined) ordered.namespace = metadata.namespace;
  if (metadata.labels) ordered.labels = sortedRecord(metadata.labels);
  if (metadata.annotations) ordered.annotations = sortedRecord(metadata.annotations);
  return ordered;
}

/**
 * YAML as kubeseal writes it: its serializer goes through a map, so every level is in alphabetical key order.
 * Quoting follows YAML 1.1 (what Kubernetes' go-yaml reads), so "true" or a timestamp stays a string, and long
 * base64 values stay on one line.
 */
export function toYaml(document: SealedSecretDocument): string {
  const template: Record<string, unknown> = { metadata: metadataAlphabetical(document.spec.template.metadata) };
  if (document.spec.template.type !== undefined) template.type = document.spec.template.type;
  const ordered = {
    apiVersion: document.apiVersion,
    kind: document.kind,
    metadata: metadataAlphabetical(document.metadata),
    spec: { encryptedData: sortedRecord(document.spec.encryptedData), template },
  };
  return stringify(ordered, { version: '1.1', lineWidth: 0, minContentWidth: 0 });
}

/** JSON as kubeseal writes it: Go struct field order (kind first), map keys sorted, two-space indent. */
export function toJson(document: SealedSecretDocument): string {
  const template: Record<string, unknown> = { metadata: metadataStructOrder(document.spec.template.metadata) };
  if (document.spec.template.type !== undefined) template.type = document.spec.template.type;
  const ordered = {
    kind: document.kind,
    apiVersion: document.apiVersion,
    metadata: metadataStructOrder(document.metadata),
    spec: { template, encryptedData: sortedRecord(document.spec.encryptedData) },
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

export type OutputFormat = 'yaml' | 'json';

export function formatSealedSecret(document: SealedSecretDocument, format: OutputFormat): string {
  return format === 'json' ? toJson(document) : toYaml(document);
}
