import { asArray, asRecord, objectRef } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';
import { applications, fluxKustomizations, fluxPath, waveOf } from './sync-engines.ts';

/**
 * Kinds kstatus (Flux's `wait`) reports Current as soon as they exist, because their readiness is a condition
 * its generic rules do not read; a Kustomization that applies them waits only with a healthCheckExprs entry.
 */
export const FLUX_CEL_KINDS: ReadonlyArray<{ apiVersion: string; kind: string; condition: string }> = [
  { apiVersion: 'bitnami.com/v1alpha1', kind: 'SealedSecret', condition: 'Synced' },
  { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', condition: 'Ready' },
  { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', condition: 'Ready' },
];

const APPLICATION_HEALTH_KEY = 'resource.customizations.health.argoproj.io_Application';

function shipsApplicationHealth(data: Record<string, unknown>): boolean {
  const direct = data[APPLICATION_HEALTH_KEY];
  if (typeof direct === 'string' && direct.trim() !== '') return true;
  const legacy = data['resource.customizations'];
  return typeof legacy === 'string' && /argoproj\.io\/Application:\s*\n\s+health\.lua:/.test(legacy);
}

/**
 * Ordering only holds if the engine can tell when the earlier step is healthy. Flux: every kind kstatus cannot
 * judge needs a healthCheckExprs entry in the Kustomization that waits for it. Argo CD: an app-of-apps that
 * orders Applications by sync wave needs the argoproj.io/Application health check it no longer ships.
 */
export const healthCheckShipped: Policy = {
  id: 'health-check-shipped',
  title: 'Every rendered kind an ordered sync waits on can be health-checked by the engine with what the repo ships',
  check(ctx) {
    const violations: Violation[] = [];
    for (const flux of ctx.renders.filter((r) => r.kind === 'flux')) {
      for (const kustomization of fluxKustomizations(flux)) {
        const spec = asRecord(kustomization.object.spec);
        if (spec.wait !== true) continue;
        const target = fluxPath(kustomization.object);
        const applied = ctx.renders.find((r) => r.id === target && (r.kind === 'overlay' || r.kind === 'flux-stage') && r.env === flux.env);
        if (!applied) continue;
        const exprs = asArray(spec.healthCheckExprs).map(asRecord);
        for (const need of FLUX_CEL_KINDS) {
          if (!applied.objects.some((r) => r.object.apiVersion === need.apiVersion && r.object.kind === need.kind)) continue;
          const entry = exprs.find((e) => e.apiVersion === need.apiVersion && e.kind === need.kind);
          if (entry && typeof entry.current === 'string' && entry.current.includes(need.condition)) continue;
          violations.push({
            rule: 'health-check-shipped',
            file: kustomization.file,
            object: objectRef(kustomization.object),
            message:
              `applies ${need.kind} objects and waits, but has no healthCheckExprs entry for ${need.apiVersion} ${need.kind} whose current expression reads its ${need.condition} condition; ` +
              'kstatus counts it ready as soon as it exists, so the next stage starts too early (Flux docs, components/kustomize/kustomizations.md "Health check expressions"; fluxcd/flux2 RFC-0009)',
            fix: `add to spec.healthCheckExprs: {apiVersion: ${need.apiVersion}, kind: ${need.kind}, current: <${need.condition} is True>, failed: <${need.condition} is False>}`,
          });
        }
      }
    }
    for (const argo of ctx.renders.filter((r) => r.kind === 'argocd')) {
      const apps = applications(argo);
      const waves = new Set(apps.map((a) => waveOf(a.object)));
      if (waves.size < 2) continue;
      const shipped = argo.objects.some(
        (r) =>
          r.object.kind === 'ConfigMap' &&
          r.object.metadata?.name === 'argocd-cm' &&
          (r.object.metadata?.namespace ?? 'argocd') === 'argocd' &&
          shipsApplicationHealth(asRecord(r.object.data)),
      );
      if (shipped) continue;
      const last = [...apps].sort((a, b) => waveOf(b.object) - waveOf(a.object))[0]!;
      violations.push({
        rule: 'health-check-shipped',
        file: last.file,
        object: objectRef(last.object),
        message:
          `is ordered after other Applications by sync wave (${waveOf(last.object)}), but ${argo.id} ships no argoproj.io/Application health check, so Argo CD treats every Application as healthy at once and the waves do not wait ` +
          '(argo-cd docs, operator-manual/health.md "Argocd App": removed from the defaults in 1.8, argoproj/argo-cd#3781)',
        fix: `include clusters/common/argocd/health (argocd-cm with ${APPLICATION_HEALTH_KEY}) in ${argo.id}/kustomization.yaml`,
      });
    }
    return violations;
  },
};
