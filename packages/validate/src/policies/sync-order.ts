import { labelsOf, objectRef, violationFor } from '../objects.ts';
import type { K8sObject, Policy, Render, Violation } from '../types.ts';
import { STAGE_LABEL } from './stage-label.ts';

const WAVE_ANNOTATION = 'argocd.argoproj.io/sync-wave';
/** README "Sync order": the sync-waves component derives these from the stage label. */
export const WAVE_BY_STAGE: Record<string, string> = { foundation: '-2', migrations: '-1', workloads: '0', routing: '1' };

function identity(object: K8sObject): string {
  return `${object.apiVersion ?? ''} ${objectRef(object)}`;
}

/**
 * Both tools must apply an overlay in the same stage order: Argo CD through each object's sync wave, Flux
 * through one Kustomization per stage. An object with the wrong wave, or missing from every Flux stage (or in
 * two), syncs out of order or never.
 */
export const syncOrder: Policy = {
  id: 'sync-order',
  title: "Argo CD sync waves and the Flux stage renders both follow each object's stage label",
  check(ctx) {
    const violations: Violation[] = [];
    const overlays = ctx.renders.filter((r) => r.kind === 'overlay');
    for (const overlay of overlays) {
      for (const rendered of overlay.objects) {
        const stage = labelsOf(rendered.object)[STAGE_LABEL];
        const expected = stage === undefined ? undefined : WAVE_BY_STAGE[stage];
        if (expected === undefined) continue; // stage-label reports the label itself
        const wave = rendered.object.metadata?.annotations?.[WAVE_ANNOTATION];
        if (wave === expected) continue;
        violations.push(
          violationFor(
            rendered,
            'sync-order',
            wave === undefined
              ? `has no ${WAVE_ANNOTATION} annotation, so Argo CD applies it in wave 0 regardless of its stage "${stage}"`
              : `has ${WAVE_ANNOTATION}: "${wave}", but its stage "${stage}" means wave "${expected}"`,
            `include base/components/sync-waves last in ${overlay.id}/kustomization.yaml and do not hand-write sync waves`,
          ),
        );
      }
      const stages = ctx.renders.filter((r) => r.kind === 'flux-stage' && r.env === overlay.env);
      if (stages.length > 0) violations.push(...checkFluxStages(overlay, stages));
    }
    return violations;
  },
};

function checkFluxStages(overlay: Render, stages: Render[]): Violation[] {
  const violations: Violation[] = [];
  const seenIn = new Map<string, string[]>();
  for (const stageRender of stages) {
    const stageName = stageRender.id.split('/').pop()!;
    for (const rendered of stageRender.objects) {
      const key = identity(rendered.object);
      seenIn.set(key, [...(seenIn.get(key) ?? []), stageName]);
      const label = labelsOf(rendered.object)[STAGE_LABEL];
      if (label === stageName) continue;
      violations.push(
        violationFor(
          rendered,
          'sync-order',
          `is rendered by the Flux stage ${stageRender.id} but labelled ${STAGE_LABEL}: ${String(label)}`,
          `filter ${stageRender.id}/kustomization.yaml to objects labelled ${STAGE_LABEL}=${stageName}`,
        ),
      );
    }
  }
  for (const rendered of overlay.objects) {
    const found = seenIn.get(identity(rendered.object)) ?? [];
    if (found.length === 1) continue;
    violations.push(
      violationFor(
        rendered,
        'sync-order',
        found.length === 0
          ? `is in ${overlay.id} but in no Flux stage under clusters/${overlay.env}/flux/stages, so Flux never applies it`
          : `is applied by ${found.length} Flux stages (${found.join(', ')}); it must be in exactly one`,
        `give it one known ${STAGE_LABEL} label and make each clusters/${overlay.env}/flux/stages/<stage> render the overlay filtered to that stage`,
      ),
    );
  }
  return violations;
}
