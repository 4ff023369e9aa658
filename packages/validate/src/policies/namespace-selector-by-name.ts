import { asArray, asRecord, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';
import { describeSelector, NAMESPACE_NAME_LABEL } from './network-peers.ts';

const RULE = 'namespace-selector-by-name';

/**
 * A namespace selected by a label anyone with namespace edit rights can set (app.kubernetes.io/name, team=...) can be
 * impersonated: label another namespace the same way and its pods get the flow. kubernetes.io/metadata.name is set by
 * the API server to the namespace's name and cannot be changed (Kubernetes docs, "Network Policies", targeting a
 * namespace by its name), so it is the only label a NetworkPolicy here may select namespaces by.
 */
function badKeys(selector: Record<string, unknown>): string[] {
  const keys = Object.keys(asRecord(selector.matchLabels)).filter((key) => key !== NAMESPACE_NAME_LABEL);
  for (const raw of asArray(selector.matchExpressions)) {
    const expression = asRecord(raw);
    if (expression.key !== NAMESPACE_NAME_LABEL || expression.operator !== 'In') keys.push(`${String(expression.key)} ${String(expression.operator)}`);
  }
  return keys;
}

export const namespaceSelectorByName: Policy = {
  id: RULE,
  title: `NetworkPolicy namespace selectors use ${NAMESPACE_NAME_LABEL}, which the API server sets, not an editable label`,
  check(ctx) {
    const violations: Violation[] = [];
    const seen = new Set<string>();
    for (const render of ctx.renders) {
      for (const rendered of render.objects) {
        if (rendered.object.kind !== 'NetworkPolicy') continue;
        const spec = asRecord(rendered.object.spec);
        const peers = [
          ...asArray(spec.ingress).flatMap((rule) =>
            asArray(asRecord(rule).from).map((peer, index) => ({ peer: asRecord(peer), where: `ingress from[${index}]` })),
          ),
          ...asArray(spec.egress).flatMap((rule) => asArray(asRecord(rule).to).map((peer, index) => ({ peer: asRecord(peer), where: `egress to[${index}]` }))),
        ];
        for (const { peer, where } of peers) {
          if (peer.namespaceSelector === undefined) continue;
          const selector = asRecord(peer.namespaceSelector);
          const keys = badKeys(selector);
          if (keys.length === 0) continue;
          const violation = violationFor(
            rendered,
            RULE,
            `selects namespaces by ${keys.join(', ')} (${where}: {${describeSelector(selector)}}); anyone who can label a namespace that way gets this flow. Kubernetes sets the immutable label ${NAMESPACE_NAME_LABEL} on every namespace for exactly this (Kubernetes docs, "Network Policies")`,
            `select the namespace by name: namespaceSelector: { matchLabels: { ${NAMESPACE_NAME_LABEL}: <namespace> } }`,
          );
          const key = `${violation.file} ${violation.object} ${violation.message}`;
          if (seen.has(key)) continue;
          seen.add(key);
          violations.push(violation);
        }
      }
    }
    return violations;
  },
};
