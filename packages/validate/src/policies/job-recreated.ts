import { asRecord, objectRef, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';
import { fluxKustomizations } from './sync-engines.ts';

const SYNC_OPTIONS = 'argocd.argoproj.io/sync-options';
const HOOK = 'argocd.argoproj.io/hook';

/**
 * A migration must run once per change, not once per sync. Argo CD's Replace=true/Force=true delete and
 * re-create the object on every sync, and gitops-engine does it already in the dry run, before the earlier
 * waves' Secrets exist; Flux's spec.force re-creates whatever has an immutable change, and a Job that
 * garbage-collects itself is re-created by every reconciliation.
 */
export const jobRecreated: Policy = {
  id: 'job-recreated-every-sync',
  title: 'No Job is deleted and re-created on every sync: Argo CD hooks, not Replace/Force; no Flux spec.force',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      for (const rendered of render.objects) {
        if (rendered.object.kind !== 'Job') continue;
        const annotations = rendered.object.metadata?.annotations ?? {};
        const options = (annotations[SYNC_OPTIONS] ?? '').split(',').map((o) => o.trim());
        const hook = annotations[HOOK];
        const recreating = options.filter((o) => o === 'Replace=true' || o === 'Force=true');
        if (recreating.length > 0) {
          violations.push(
            violationFor(
              rendered,
              'job-recreated-every-sync',
              `has ${SYNC_OPTIONS}: ${recreating.join(',')}, so Argo CD deletes and re-creates it on every sync, and during the dry run before the Secrets of earlier waves exist ` +
                '(argo-cd docs, user-guide/sync-options.md "Replace Resource Instead Of Applying Changes"; argoproj/gitops-engine#623)',
              `drop ${recreating.join(' and ')}; make it a Sync hook in its wave: ${HOOK}: Sync and argocd.argoproj.io/hook-delete-policy: BeforeHookCreation`,
            ),
          );
        }
        const ttl = asRecord(rendered.object.spec).ttlSecondsAfterFinished;
        if (ttl !== undefined && hook === undefined) {
          violations.push(
            violationFor(
              rendered,
              'job-recreated-every-sync',
              `sets spec.ttlSecondsAfterFinished: ${String(ttl)} without being an Argo CD hook, so once it is garbage-collected Argo CD self-heal and every Flux reconciliation re-create it and run it again`,
              'remove spec.ttlSecondsAfterFinished (a hook is cleaned up by its hook-delete-policy instead)',
            ),
          );
        }
      }
    }
    for (const render of ctx.renders.filter((r) => r.kind === 'flux')) {
      for (const kustomization of fluxKustomizations(render)) {
        if (asRecord(kustomization.object.spec).force !== true) continue;
        violations.push({
          rule: 'job-recreated-every-sync',
          file: kustomization.file,
          object: objectRef(kustomization.object),
          message:
            'sets spec.force: true, so every object it applies is deleted and re-created on any immutable-field change; Flux documents it for temporary use ' +
            '(Flux docs, components/kustomize/kustomizations.md "Force")',
          fix: 'remove spec.force; annotate only the Job that needs it with kustomize.toolkit.fluxcd.io/force: enabled (fluxcd/kustomize-controller#787)',
        });
      }
    }
    return violations;
  },
};
