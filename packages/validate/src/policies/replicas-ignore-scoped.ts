import { asArray, asRecord, objectRef } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';
import { applications, fluxKustomizations } from './sync-engines.ts';

function coversReplicas(entry: Record<string, unknown>): boolean {
  const pointers = asArray(entry.jsonPointers).concat(asArray(entry.paths));
  const jq = asArray(entry.jqPathExpressions);
  return pointers.some((p) => p === '/spec/replicas') || jq.some((e) => typeof e === 'string' && /^\s*\.spec\.replicas\s*$/.test(e));
}

/**
 * Ignoring /spec/replicas is only right for workloads whose replicas git does not hold (the KEDA-scaled
 * executors). On every Deployment it also hides the Console's and Dex's counts: with RespectIgnoreDifferences
 * Argo CD never writes them to an existing Deployment and still reports Synced.
 */
export const replicasIgnoreScoped: Policy = {
  id: 'replicas-ignore-scoped',
  title: 'A /spec/replicas ignore rule names the workloads it is for, never every Deployment',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'argocd')) {
      for (const app of applications(render)) {
        asArray(asRecord(app.object.spec).ignoreDifferences).forEach((raw, index) => {
          const entry = asRecord(raw);
          if (!coversReplicas(entry) || (entry.kind !== undefined && entry.kind !== 'Deployment')) return;
          if (typeof entry.name === 'string' && entry.name !== '') return;
          violations.push({
            rule: 'replicas-ignore-scoped',
            file: app.file,
            object: objectRef(app.object),
            message:
              `spec.ignoreDifferences[${index}] ignores /spec/replicas on every Deployment of the Application, so (with RespectIgnoreDifferences) a replica count in git never reaches an existing Deployment while Argo CD shows Synced ` +
              '(argo-cd docs, user-guide/diffing.md and sync-options.md "Respect ignore difference configs")',
            fix: 'remove it when the autoscaled Deployments carry no spec.replicas in git (Argo CD then never diffs the field), or give the entry a name',
          });
        });
      }
    }
    for (const render of ctx.renders.filter((r) => r.kind === 'flux')) {
      for (const kustomization of fluxKustomizations(render)) {
        asArray(asRecord(kustomization.object.spec).ignore).forEach((raw, index) => {
          const entry = asRecord(raw);
          if (!coversReplicas(entry)) return;
          const target = asRecord(entry.target);
          if (entry.target !== undefined && (typeof target.name === 'string' || typeof target.labelSelector === 'string')) return;
          violations.push({
            rule: 'replicas-ignore-scoped',
            file: kustomization.file,
            object: objectRef(kustomization.object),
            message: `spec.ignore[${index}] drops /spec/replicas from every ${String(target.kind ?? 'object')} it applies, so a replica count in git never reaches the cluster (Flux docs, components/kustomize/kustomizations.md "Ignore")`,
            fix: 'scope the entry with target.labelSelector (e.g. dbos.dev/app-version, which only the autoscaled executors carry) or target.name to the autoscaled workloads',
          });
        });
      }
    }
    return violations;
  },
};
