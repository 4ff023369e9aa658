import { labelsOf, violationFor } from '../objects.ts';
import type { K8sObject, Policy, Violation } from '../types.ts';
import { VERSION_LABEL } from './app-versions.ts';
import { appOf } from './applications.ts';

import { STAGE_LABEL } from '@dbos-gitops/sealing/names';

export { STAGE_LABEL };
export const STAGES = ['foundation', 'migrations', 'workloads', 'routing'] as const;

/** Objects whose stage is fixed by the sync order itself (README, "Sync order"); others may pick any known stage. */
function requiredStage(object: K8sObject): string | undefined {
  if (object.kind === 'SealedSecret') return 'foundation';
  const versioned = labelsOf(object)[VERSION_LABEL] !== undefined;
  if (object.kind === 'Job') return 'migrations';
  if (object.kind === 'Deployment' && versioned) return 'workloads';
  // An application's Service points traffic at a version: only once that version's pods are ready.
  if (object.kind === 'Service' && appOf(object) !== undefined) return 'routing';
  return undefined;
}

/** Argo CD waves and the Flux stage Kustomizations are both derived from this label; an object without it never syncs in order. */
export const stageLabel: Policy = {
  id: 'stage-label',
  title: `Every object in an overlay carries a known ${STAGE_LABEL} label`,
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      for (const rendered of render.objects) {
        const stage = labelsOf(rendered.object)[STAGE_LABEL];
        const required = requiredStage(rendered.object);
        if (stage === undefined || !(STAGES as readonly string[]).includes(stage)) {
          violations.push(
            violationFor(
              rendered,
              'stage-label',
              stage === undefined
                ? `has no ${STAGE_LABEL} label, so neither Argo CD nor Flux knows when to apply it`
                : `has ${STAGE_LABEL}: "${stage}", which is not one of ${STAGES.join(', ')}`,
              `label it ${STAGE_LABEL}: ${required ?? `<${STAGES.join('|')}>`} (kustomize labels: in the folder's kustomization.yaml)`,
            ),
          );
        } else if (required && stage !== required) {
          violations.push(
            violationFor(
              rendered,
              'stage-label',
              `has ${STAGE_LABEL}: "${stage}", but a ${rendered.object.kind} must be in stage "${required}" for secrets to decrypt before migrations and migrations to finish before pods start`,
              `label it ${STAGE_LABEL}: ${required}`,
            ),
          );
        }
      }
    }
    return violations;
  },
};
