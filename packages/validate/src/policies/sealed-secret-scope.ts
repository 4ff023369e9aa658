import { asRecord, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

const CLUSTER_WIDE = 'sealedsecrets.bitnami.com/cluster-wide';
const NAMESPACE_WIDE = 'sealedsecrets.bitnami.com/namespace-wide';

/**
 * The controller decrypts with the label `<namespace>/<name>` taken from the SealedSecret's own metadata, while
 * kubeseal sealed with the template's. A kustomize namePrefix/nameSuffix/namespace transform changes only the
 * former, and the secret then silently never decrypts.
 */
export const sealedSecretScope: Policy = {
  id: 'sealed-secret-scope',
  title: 'Every SealedSecret keeps the name and namespace it was sealed for',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders) {
      for (const rendered of render.objects) {
        const { object } = rendered;
        if (object.kind !== 'SealedSecret') continue;
        const annotations = object.metadata?.annotations ?? {};
        if (annotations[CLUSTER_WIDE] === 'true') continue;
        const namespaceWide = annotations[NAMESPACE_WIDE] === 'true';
        const template = asRecord(asRecord(asRecord(object.spec).template).metadata);
        const problems: string[] = [];
        const name = object.metadata?.name;
        const namespace = object.metadata?.namespace;
        if (!namespace) problems.push('has no namespace, so the sealing scope cannot match');
        if (typeof template.namespace !== 'string') problems.push('spec.template.metadata has no namespace');
        else if (namespace && template.namespace !== namespace) {
          problems.push(`is rendered in namespace "${namespace}" but sealed for "${template.namespace}"`);
        }
        if (!namespaceWide) {
          if (typeof template.name !== 'string') problems.push('spec.template.metadata has no name');
          else if (template.name !== name) problems.push(`is rendered as "${String(name)}" but sealed for "${template.name}"`);
        }
        if (problems.length === 0) continue;
        violations.push(
          violationFor(
            rendered,
            'sealed-secret-scope',
            `${namespaceWide ? 'namespace-wide' : 'strict-scope'} SealedSecret ${problems.join('; ')}; the controller will fail to decrypt it`,
            'keep namePrefix/nameSuffix/namespace transforms away from secrets (or exclude SealedSecret from them), or reseal for the rendered name and namespace',
          ),
        );
      }
    }
    return violations;
  },
};
