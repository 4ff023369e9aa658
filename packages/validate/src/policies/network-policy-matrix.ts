import { asArray, asRecord, objectRef } from '../objects.ts';
import type { Policy, Render, RenderedObject, Violation } from '../types.ts';

/** Seed 000's allow matrix: every flow the DBOS control plane needs, and nothing more. */
export const EXPECTED_FLOWS: readonly string[] = [
  'ingress-controller namespace → console:80',
  'ingress-controller namespace → conductor:8090',
  'ingress-controller namespace → dbos-app:8080',
  'ingress-controller namespace → dex:5556',
  'console pod → conductor:8090',
  'dbos-app pod → conductor:8090',
  'conductor pod → dex:5556',
  'keda namespace → dbos-app:8080',
];

const INGRESS_CONTROLLERS = new Set(['ingress-nginx', 'envoy-gateway']);
const NAME_LABEL = 'app.kubernetes.io/name';

function describeSelector(selector: Record<string, unknown>): string {
  const matchLabels = asRecord(selector.matchLabels);
  const parts = Object.entries(matchLabels).map(([key, value]) => `${key}=${String(value)}`);
  for (const expression of asArray(selector.matchExpressions)) {
    const e = asRecord(expression);
    parts.push(`${String(e.key)} ${String(e.operator)} (${asArray(e.values).join(',')})`);
  }
  return parts.join(',');
}

function isEmptySelector(selector: unknown): boolean {
  const s = asRecord(selector);
  return Object.keys(asRecord(s.matchLabels)).length === 0 && asArray(s.matchExpressions).length === 0;
}

function targetName(podSelector: unknown): string {
  if (isEmptySelector(podSelector)) return 'every pod';
  const s = asRecord(podSelector);
  const labels = asRecord(s.matchLabels);
  if (Object.keys(labels).length === 1 && typeof labels.app === 'string' && asArray(s.matchExpressions).length === 0) {
    return labels.app;
  }
  return `pods{${describeSelector(s)}}`;
}

function namespaceName(selector: unknown): string {
  if (isEmptySelector(selector)) return 'every namespace';
  const s = asRecord(selector);
  const labels = asRecord(s.matchLabels);
  const name = labels[NAME_LABEL];
  if (Object.keys(labels).length === 1 && typeof name === 'string' && asArray(s.matchExpressions).length === 0) {
    return INGRESS_CONTROLLERS.has(name) ? 'ingress-controller namespace' : `${name} namespace`;
  }
  return `namespaces{${describeSelector(s)}}`;
}

function podName(selector: unknown): string {
  if (isEmptySelector(selector)) return 'every pod';
  const name = targetName(selector);
  return name.startsWith('pods{') ? name : `${name} pod`;
}

function peerName(peer: Record<string, unknown>): string {
  if (peer.ipBlock) return `ipBlock ${String(asRecord(peer.ipBlock).cidr)}`;
  const hasNamespace = peer.namespaceSelector !== undefined;
  const hasPod = peer.podSelector !== undefined;
  if (hasNamespace && hasPod) return `${podName(peer.podSelector)} in ${namespaceName(peer.namespaceSelector)}`;
  if (hasNamespace) return namespaceName(peer.namespaceSelector);
  if (hasPod) return podName(peer.podSelector);
  return 'anywhere';
}

export interface Flow {
  flow: string;
  source: RenderedObject;
}

function appliesToIngress(spec: Record<string, unknown>): boolean {
  const types = asArray(spec.policyTypes);
  // Without policyTypes Kubernetes treats every policy as an Ingress policy.
  return types.length === 0 || types.includes('Ingress');
}

/** Every (source → target:port) an overlay's NetworkPolicies allow, each tied to the policy that allows it. */
export function allowedFlows(render: Render): Flow[] {
  const flows: Flow[] = [];
  for (const rendered of render.objects) {
    if (rendered.object.kind !== 'NetworkPolicy') continue;
    const spec = asRecord(rendered.object.spec);
    if (!appliesToIngress(spec)) continue;
    const target = targetName(spec.podSelector);
    for (const rawRule of asArray(spec.ingress)) {
      const rule = asRecord(rawRule);
      const peers = asArray(rule.from).map(asRecord);
      const ports = asArray(rule.ports).map(asRecord);
      const portNames = ports.length === 0 ? ['any port'] : ports.map((p) => (p.port === undefined ? 'any port' : String(p.port)));
      const peerNames = peers.length === 0 ? ['anywhere'] : peers.map(peerName);
      for (const peer of peerNames) {
        for (const port of portNames) flows.push({ flow: `${peer} → ${target}:${port}`, source: rendered });
      }
    }
  }
  return flows;
}

function isDefaultDenyIngress(rendered: RenderedObject): boolean {
  if (rendered.object.kind !== 'NetworkPolicy') return false;
  const spec = asRecord(rendered.object.spec);
  return isEmptySelector(spec.podSelector) && asArray(spec.policyTypes).includes('Ingress') && asArray(spec.ingress).length === 0;
}

export const networkPolicyMatrix: Policy = {
  id: 'network-policy-matrix',
  title: 'Each overlay denies ingress by default and allows exactly the eight flows of the Conductor guide',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const kustomization = `${render.id}/kustomization.yaml`;
      if (!render.objects.some(isDefaultDenyIngress)) {
        violations.push({
          rule: 'network-policy-matrix',
          file: kustomization,
          object: `NetworkPolicy/default-deny-ingress`,
          message: `${render.id} has no default-deny ingress NetworkPolicy, so every pod accepts traffic from anywhere`,
          fix: 'include base/network-policies: a NetworkPolicy with podSelector: {}, policyTypes: [Ingress] and no ingress rules',
        });
      }
      const flows = allowedFlows(render);
      const allowed = new Set(flows.map((f) => f.flow));
      for (const expected of EXPECTED_FLOWS) {
        if (allowed.has(expected)) continue;
        violations.push({
          rule: 'network-policy-matrix',
          file: kustomization,
          object: 'NetworkPolicy/*',
          message: `${render.id} is missing the allowed flow "${expected}", so that traffic is dropped by the default deny`,
          fix: `add an ingress rule for "${expected}" to the NetworkPolicy selecting the target pods (base/network-policies)`,
        });
      }
      const reported = new Set<string>();
      for (const { flow, source } of flows) {
        if (EXPECTED_FLOWS.includes(flow)) continue;
        const key = `${objectRef(source.object)} ${flow}`;
        if (reported.has(key)) continue;
        reported.add(key);
        violations.push({
          rule: 'network-policy-matrix',
          file: source.file,
          object: objectRef(source.object),
          message: `allows the flow "${flow}", which is not in the Conductor guide's allow matrix`,
          fix: `remove that peer or port from the ingress rule (peers are namespaceSelector on ${NAME_LABEL} or podSelector on app)`,
        });
      }
    }
    return violations;
  },
};
