import { asArray, asRecord, labelsOf, objectRef, violationFor } from '../objects.ts';
import type { K8sObject, Policy, Render, RenderedObject, Violation } from '../types.ts';
import { STAGE_LABEL, STAGES } from './stage-label.ts';
import { applications, argoSourcePath, dependsOnClosure, fluxKustomizations, fluxPath } from './sync-engines.ts';

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
    // An application's directory is what its own Argo CD Application syncs: its waves must hold there too.
    for (const overlay of [...overlays, ...ctx.renders.filter((r) => r.kind === 'app')]) {
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
    }
    for (const overlay of overlays) {
      // The platform's stage renders and every application's chain (Kustomizations appending a stage filter).
      const stages = ctx.renders.filter((r) => (r.kind === 'flux-stage' || r.kind === 'flux-app') && r.env === overlay.env);
      if (stages.length > 0) violations.push(...checkFluxStages(overlay, stages));
    }
    violations.push(...checkApplicationChains(ctx.renders));
    violations.push(...checkEverySyncUnit(ctx.renders));
    return violations;
  },
};

/** The stage a Flux render applies: a stage directory's name, or the stage filter a Kustomization appends last. */
export function fluxStageOf(render: Render): string {
  if (render.kind === 'flux-app') {
    const suffix = render.kustomization?.split('-').pop() ?? '';
    if ((STAGES as readonly string[]).includes(suffix)) return suffix;
  }
  return render.id.split('/').pop()!;
}

/**
 * Once an engine syncs applications one by one (an Argo CD Application or a Flux chain per application directory),
 * an application directory it has no unit for is never deployed by it: every application of the environment needs
 * its own.
 */
function checkEverySyncUnit(renders: Render[]): Violation[] {
  const violations: Violation[] = [];
  const appDirs = renders.filter((r) => r.kind === 'app').map((r) => ({ env: r.env, id: r.id }));
  for (const engine of renders.filter((r) => r.kind === 'argocd' || r.kind === 'flux')) {
    const paths = new Set(
      engine.kind === 'argocd' ? applications(engine).map((a) => argoSourcePath(a.object)) : fluxKustomizations(engine).map((k) => fluxPath(k.object)),
    );
    const dirs = appDirs.filter((d) => d.env === engine.env);
    if (!dirs.some((d) => paths.has(d.id))) continue;
    for (const dir of dirs) {
      if (paths.has(dir.id)) continue;
      const app = dir.id.split('/').pop()!;
      violations.push({
        rule: 'sync-order',
        file: `${engine.id}/kustomization.yaml`,
        object: engine.kind === 'argocd' ? `Application/argocd/app-${app}` : `Kustomization/flux-system/app-${app}-*`,
        message: `${engine.id} syncs the environment's applications one by one but has no ${engine.kind === 'argocd' ? 'Application' : 'Kustomization chain'} for ${dir.id}, so it is never deployed`,
        fix:
          engine.kind === 'argocd'
            ? `add clusters/${engine.env}/argocd/apps/${app}.yaml (Application app-${app}, path ${dir.id}) and list it in clusters/${engine.env}/argocd/apps/kustomization.yaml`
            : `add clusters/${engine.env}/flux/apps/${app}.yaml (app-${app}-${STAGES.join('|')}, path ./${dir.id}) and list it in clusters/${engine.env}/flux/apps/kustomization.yaml`,
      });
    }
  }
  return violations;
}

/**
 * Each application's Flux chain keeps the stage order on its own: its foundation waits for the platform's, and each
 * later stage waits for the one before, so a secret decrypts before the migration and the migration finishes
 * before a version's pods start, for that application, whatever another application's chain is doing.
 */
function checkApplicationChains(renders: Render[]): Violation[] {
  const violations: Violation[] = [];
  for (const flux of renders.filter((r) => r.kind === 'flux')) {
    const all = fluxKustomizations(flux);
    const byPath = new Map<string, RenderedObject[]>();
    for (const kustomization of all) {
      const target = fluxPath(kustomization.object);
      if (target === undefined || asArray(asRecord(kustomization.object.spec).components).length === 0) continue;
      if (!/^overlays\/[^/]+\/apps\/[^/]+$/.test(target)) continue;
      byPath.set(target, [...(byPath.get(target) ?? []), kustomization]);
    }
    for (const [target, chain] of byPath) {
      const stageOf = (k: RenderedObject) => {
        const suffix = (k.object.metadata?.name ?? '').split('-').pop() ?? '';
        return (STAGES as readonly string[]).indexOf(suffix);
      };
      const byStage = new Map(chain.map((k) => [stageOf(k), k]));
      STAGES.forEach((stage, index) => {
        const own = byStage.get(index);
        if (!own) {
          violations.push({
            rule: 'sync-order',
            file: chain[0]!.file,
            object: `Kustomization/flux-system/app-*-${stage}`,
            message: `the Flux chain of ${target} has no ${stage} stage (Kustomizations named app-<app>-${STAGES.join('|')}), so its ${stage} objects are never applied`,
            fix: `add app-<app>-${stage} with path ./${target} to the application's file under clusters/${flux.env}/flux/apps`,
          });
          return;
        }
        const waitsFor = dependsOnClosure(own, all);
        if (index === 0) {
          if (waitsFor.some((k) => fluxPath(k.object) !== target)) return;
          violations.push({
            rule: 'sync-order',
            file: own.file,
            object: objectRef(own.object),
            message: `the first stage of ${target}'s Flux chain depends on no platform Kustomization, so it can apply before the namespace and KEDA's authentication exist`,
            fix: 'make it dependsOn the platform foundation (dbos-foundation)',
          });
          return;
        }
        const previous = byStage.get(index - 1);
        if (!previous || waitsFor.includes(previous)) return;
        violations.push({
          rule: 'sync-order',
          file: own.file,
          object: objectRef(own.object),
          message: `stage ${stage} of ${target}'s Flux chain does not wait for its ${STAGES[index - 1]} stage (${String(previous.object.metadata?.name)}), so it can apply out of order`,
          fix: `make ${String(own.object.metadata?.name)} dependsOn ${String(previous.object.metadata?.name)}`,
        });
      });
    }
  }
  return violations;
}

function checkFluxStages(overlay: Render, stages: Render[]): Violation[] {
  const violations: Violation[] = [];
  const seenIn = new Map<string, string[]>();
  for (const stageRender of stages) {
    const stageName = fluxStageOf(stageRender);
    for (const rendered of stageRender.objects) {
      const key = identity(rendered.object);
      seenIn.set(key, [...(seenIn.get(key) ?? []), stageRender.kind === 'flux-app' ? String(stageRender.kustomization) : stageName]);
      const label = labelsOf(rendered.object)[STAGE_LABEL];
      if (label === stageName) continue;
      violations.push(
        violationFor(
          rendered,
          'sync-order',
          `is rendered by the Flux stage ${stageRender.id} but labelled ${STAGE_LABEL}: ${String(label)}`,
          stageRender.kind === 'flux-app'
            ? `append clusters/common/flux/stage-filters/${stageName} as the last of ${stageRender.kustomization}'s spec.components`
            : `filter ${stageRender.id}/kustomization.yaml to objects labelled ${STAGE_LABEL}=${stageName}`,
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
          ? `is in ${overlay.id} but in no Flux stage (clusters/${overlay.env}/flux/stages, or its application's chain under clusters/${overlay.env}/flux/apps), so Flux never applies it`
          : `is applied by ${found.length} Flux stages (${found.join(', ')}); it must be in exactly one`,
        `give it one known ${STAGE_LABEL} label and make each clusters/${overlay.env}/flux/stages/<stage> render the overlay filtered to that stage`,
      ),
    );
  }
  return violations;
}
