import { asArray, asRecord, objectRef } from '../objects.ts';
import type { Policy, Render, RenderedObject, Violation } from '../types.ts';
import { applicationsOf } from './applications.ts';
import { describeSelector, isEmptySelector, type PodGroups, peerName, podGroupsOf, policyTypes, selectedApps } from './network-peers.ts';

/**
 * The long Conductor guide's allow matrix, with two changes of the current DBOS guides: the Console listens on container port 8080
 * (a NetworkPolicy names the pod port, not the Service's 80), and Conductor replicas forward requests to each other
 * directly (DBOS Self-Hosting Guide, "Network Access": "Conductor instances must reach each other directly").
 * The control plane's flows are the environment's; each application's executors add their own three.
 */
export const PLATFORM_FLOWS: readonly string[] = [
  'ingress-controller namespace → console:8080',
  'ingress-controller namespace → conductor:8090',
  'ingress-controller namespace → dex:5556',
  'console pod → conductor:8090',
  'conductor pod → conductor:8090',
  'conductor pod → dex:5556',
];

/** An application's executors (pod label `app: <executors>`): reached by the ingress (or gateway) and KEDA only, calling Conductor. */
export function applicationFlows(executors: string): string[] {
  return [`ingress-controller namespace → ${executors}:8080`, `${executors} pod → conductor:8090`, `keda namespace → ${executors}:8080`];
}

/** The whole matrix of an environment whose applications' executors carry these pod `app` labels. */
export function expectedFlows(executors: readonly string[]): string[] {
  return [...PLATFORM_FLOWS, ...executors.flatMap(applicationFlows)];
}

function targetNames(podSelector: unknown, groups: PodGroups): string[] {
  const apps = selectedApps(podSelector, groups);
  if (apps === undefined) return [`pods{${describeSelector(asRecord(podSelector))}}`];
  return apps[0] === '*' ? ['every pod'] : apps;
}

/** One name per peer pod group: a selector written once for every application's executors is one flow per application. */
function peerNames(peer: Record<string, unknown>, groups: PodGroups): string[] {
  if (peer.podSelector !== undefined && peer.namespaceSelector === undefined && peer.ipBlock === undefined) {
    const apps = selectedApps(peer.podSelector, groups);
    if (apps !== undefined && apps[0] !== '*') return apps.map((app) => `${app} pod`);
  }
  return [peerName(peer, groups)];
}

export interface Flow {
  flow: string;
  source: RenderedObject;
}

/** Every (source → target:port) an overlay's NetworkPolicies allow, each tied to the policy that allows it. */
export function allowedFlows(render: Render): Flow[] {
  const groups = podGroupsOf(render);
  const flows: Flow[] = [];
  for (const rendered of render.objects) {
    if (rendered.object.kind !== 'NetworkPolicy') continue;
    const spec = asRecord(rendered.object.spec);
    if (!policyTypes(spec).includes('Ingress')) continue;
    for (const target of targetNames(spec.podSelector, groups)) {
      for (const rawRule of asArray(spec.ingress)) {
        const rule = asRecord(rawRule);
        const peers = asArray(rule.from).map(asRecord);
        const ports = asArray(rule.ports).map(asRecord);
        const portNames = ports.length === 0 ? ['any port'] : ports.map((p) => (p.port === undefined ? 'any port' : String(p.port)));
        const names = peers.length === 0 ? ['anywhere'] : peers.flatMap((peer) => peerNames(peer, groups));
        for (const peer of names) {
          for (const port of portNames) flows.push({ flow: `${peer} → ${target}:${port}`, source: rendered });
        }
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
  title:
    'Each overlay denies ingress by default and allows exactly the flows of the Conductor guides, per application: its executors only from the ingress controller (or gateway) and KEDA, and to Conductor',
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
      const executors = [...new Set([...applicationsOf(render).values()].flatMap((app) => [...app.executorPodApps]))].sort();
      const expected = expectedFlows(executors);
      for (const flow of expected) {
        if (allowed.has(flow)) continue;
        violations.push({
          rule: 'network-policy-matrix',
          file: kustomization,
          object: 'NetworkPolicy/*',
          message: `${render.id} is missing the allowed flow "${flow}", so that traffic is dropped by the default deny`,
          fix: `add an ingress rule for "${flow}" to the NetworkPolicy selecting the target pods (base/network-policies, or base/app/network-policies for an application's executors)`,
        });
      }
      const reported = new Set<string>();
      for (const { flow, source } of flows) {
        if (expected.includes(flow)) continue;
        const key = `${objectRef(source.object)} ${flow}`;
        if (reported.has(key)) continue;
        reported.add(key);
        violations.push({
          rule: 'network-policy-matrix',
          file: source.file,
          object: objectRef(source.object),
          message: `allows the flow "${flow}", which is not in the Conductor guide's allow matrix`,
          fix: 'remove that peer or port from the ingress rule (peers are namespaceSelector on kubernetes.io/metadata.name or podSelector on app)',
        });
      }
    }
    return violations;
  },
};
