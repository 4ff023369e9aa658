import { APP_VERSION_LABEL } from '@dbos-gitops/sealing/names';
import { asArray, asRecord } from '../objects.ts';
import { APP_LABEL, applicationPodApps, executorPodApps } from './applications.ts';
import type { Render } from '../types.ts';

/** Set by the API server on every namespace and not editable (Kubernetes docs, "Network Policies": targeting a namespace by its name). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
/** The label this tree used before; read only so the matrices can still name such a peer while namespace-selector-by-name rejects it. */
const LEGACY_NAME_LABEL = 'app.kubernetes.io/name';

/** Namespaces whose proxies carry browser traffic into dbos: ingress-nginx's, or Envoy Gateway's (its proxies run in the controller namespace). */
export const INGRESS_CONTROLLER_NAMESPACES = new Set(['ingress-nginx', 'envoy-gateway-system']);

/**
 * Private, shared-address (CGNAT) and link-local IPv4 ranges. An egress rule to "the public internet" must except all
 * of them, or it also reaches in-cluster addresses and the cloud metadata service (169.254.169.254).
 */
export const NON_PUBLIC_RANGES: readonly string[] = ['10.0.0.0/8', '100.64.0.0/10', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16'];

export function describeSelector(selector: Record<string, unknown>): string {
  const matchLabels = asRecord(selector.matchLabels);
  const parts = Object.entries(matchLabels).map(([key, value]) => `${key}=${String(value)}`);
  for (const expression of asArray(selector.matchExpressions)) {
    const e = asRecord(expression);
    parts.push(`${String(e.key)} ${String(e.operator)} (${asArray(e.values).join(',')})`);
  }
  return parts.join(',');
}

export function isEmptySelector(selector: unknown): boolean {
  const s = asRecord(selector);
  return Object.keys(asRecord(s.matchLabels)).length === 0 && asArray(s.matchExpressions).length === 0;
}

/**
 * The pods an environment's applications own, by their `app` label: what the platform's policies written once for
 * every application select (`dbos.dev/app-version Exists`: every version's executors; `dbos.dev/app Exists`: the
 * executors and the migration Jobs).
 */
export interface PodGroups {
  executors: string[];
  applicationPods: string[];
}

/**
 * The `app` values a pod selector picks: `['*']` for every pod, the value of `app` for matchLabels, each value of an
 * `app In (...)` expression, and, given the environment's pod groups, the pods a `dbos.dev/app-version` or
 * `dbos.dev/app` Exists expression picks; undefined when the selector uses anything else (then it is named by its
 * labels).
 */
export function selectedApps(podSelector: unknown, groups?: PodGroups): string[] | undefined {
  if (isEmptySelector(podSelector)) return ['*'];
  const s = asRecord(podSelector);
  const labels = asRecord(s.matchLabels);
  const expressions = asArray(s.matchExpressions).map(asRecord);
  if (Object.keys(labels).length === 1 && typeof labels.app === 'string' && expressions.length === 0) return [labels.app];
  if (Object.keys(labels).length === 0 && expressions.length === 1) {
    const [e] = expressions;
    if (e!.key === 'app' && e!.operator === 'In') return asArray(e!.values).map(String);
    // An empty group selects no pod: naming it by its labels keeps the flow visible instead of dropping it.
    if (groups && e!.operator === 'Exists' && asArray(e!.values).length === 0) {
      if (e!.key === APP_VERSION_LABEL && groups.executors.length > 0) return groups.executors;
      if (e!.key === APP_LABEL && groups.applicationPods.length > 0) return groups.applicationPods;
    }
  }
  return undefined;
}

/** A namespace selector's namespace name when it selects exactly one namespace by name; undefined otherwise. */
export function selectedNamespace(selector: unknown): string | undefined {
  const s = asRecord(selector);
  const labels = asRecord(s.matchLabels);
  const expressions = asArray(s.matchExpressions).map(asRecord);
  if (Object.keys(labels).length === 0 && expressions.length === 1) {
    const [e] = expressions;
    const values = asArray(e!.values);
    return e!.key === NAMESPACE_NAME_LABEL && e!.operator === 'In' && values.length === 1 ? String(values[0]) : undefined;
  }
  if (expressions.length > 0 || Object.keys(labels).length !== 1) return undefined;
  const name = labels[NAMESPACE_NAME_LABEL] ?? labels[LEGACY_NAME_LABEL];
  return typeof name === 'string' ? name : undefined;
}

export function namespaceName(selector: unknown): string {
  if (isEmptySelector(selector)) return 'every namespace';
  const name = selectedNamespace(selector);
  if (name !== undefined) return INGRESS_CONTROLLER_NAMESPACES.has(name) ? 'ingress-controller namespace' : `${name} namespace`;
  return `namespaces{${describeSelector(asRecord(selector))}}`;
}

export function podName(selector: unknown, groups?: PodGroups): string {
  const apps = selectedApps(selector, groups);
  if (apps === undefined) return `pods{${describeSelector(asRecord(selector))}}`;
  if (apps[0] === '*') return 'every pod';
  return apps.map((app) => `${app} pod`).join(', ');
}

export function peerName(peer: Record<string, unknown>, groups?: PodGroups): string {
  if (peer.ipBlock) {
    const block = asRecord(peer.ipBlock);
    const except = asArray(block.except);
    return `ipBlock ${String(block.cidr)}${except.length > 0 ? ` except ${except.join(',')}` : ''}`;
  }
  const hasNamespace = peer.namespaceSelector !== undefined;
  const hasPod = peer.podSelector !== undefined;
  // A pod selector beside a namespace selector picks pods of that other namespace: not this environment's groups.
  if (hasNamespace && hasPod) return `${podName(peer.podSelector)} in ${namespaceName(peer.namespaceSelector)}`;
  if (hasNamespace) return namespaceName(peer.namespaceSelector);
  if (hasPod) return podName(peer.podSelector, groups);
  return 'anywhere';
}

/** Kubernetes: without policyTypes a policy is an Ingress policy, and also an Egress policy when it has egress rules. */
export function policyTypes(spec: Record<string, unknown>): string[] {
  const types = asArray(spec.policyTypes).map(String);
  if (types.length > 0) return types;
  return spec.egress !== undefined ? ['Ingress', 'Egress'] : ['Ingress'];
}

export function podGroupsOf(render: Render): PodGroups {
  return { executors: executorPodApps(render), applicationPods: applicationPodApps(render) };
}
