import { objectRef, violationFor } from '../objects.ts';
import type { Policy, Render, RenderedObject, Violation } from '../types.ts';
import {
  applications,
  argoChartOf,
  argoSourcePath,
  dependsOnClosure,
  fluxCharts,
  fluxKustomizations,
  fluxPath,
  groupOf,
  objectsAtPath,
  waveOf,
} from './sync-engines.ts';

/** API groups served by a CRD, and the add-on charts (as clusters/common names them) that install that CRD. */
export const CRD_INSTALLERS: Record<string, readonly string[]> = {
  'bitnami.com': ['sealed-secrets'],
  'keda.sh': ['keda'],
  'cert-manager.io': ['cert-manager'],
  // Envoy Gateway's chart (gateway-helm) ships the Gateway API CRDs with its own.
  'gateway.networking.k8s.io': ['gateway-helm'],
  'gateway.envoyproxy.io': ['gateway-helm'],
  'monitoring.coreos.com': ['prometheus-operator-crds', 'kube-prometheus-stack'],
};

/** Groups the API server serves without a CRD: core, the unqualified built-ins and *.k8s.io (except Gateway API). */
function builtIn(group: string): boolean {
  if (group === '' || !group.includes('.')) return true;
  return group.endsWith('.k8s.io') && !(group in CRD_INSTALLERS);
}

const ARGO_RULE =
  'Argo CD dry-runs every manifest of a sync first and fails the whole sync on a kind the API server does not know (argo-cd docs, user-guide/sync-options.md "Skip Dry Run for new custom resources types")';
const FLUX_RULE =
  'Flux dry-runs a Kustomization server-side and fails it on an unknown kind; CRDs come from a Kustomization it dependsOn (Flux docs, components/kustomize/kustomizations.md "Dependencies")';

/**
 * Custom kinds this rule knows an installer for. A group outside CRD_INSTALLERS has no schema model either,
 * so unknown-kind already stops it; reporting it twice would only bury that message.
 */
function crdObjects(render: Render): RenderedObject[] {
  return render.objects.filter((r) => !builtIn(groupOf(r.object)) && groupOf(r.object) in CRD_INSTALLERS);
}

function missing(object: RenderedObject, installed: Set<string>): string[] | undefined {
  const group = groupOf(object.object);
  const installers = CRD_INSTALLERS[group] ?? [];
  return installers.some((chart) => installed.has(chart)) ? undefined : [...installers];
}

function installersText(installers: string[]): string {
  return installers.join(' or ');
}

/**
 * A custom kind can only be applied once an earlier add-on has installed its CRD: for Argo CD an add-on
 * Application in a lower sync wave than the Application that applies the overlay, for Flux a HelmRelease in
 * a Kustomization the applying Kustomization depends on.
 */
export const crdInstalled: Policy = {
  id: 'crd-installed',
  title: 'Every custom kind an overlay renders has its CRD installed by an earlier add-on, in Argo CD and in Flux',
  async check(ctx) {
    const violations: Violation[] = [];
    for (const overlay of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const argo = ctx.renders.find((r) => r.kind === 'argocd' && r.env === overlay.env);
      if (argo) {
        const apps = applications(argo);
        for (const app of apps.filter((a) => argoSourcePath(a.object) === overlay.id)) {
          const wave = waveOf(app.object);
          const installed = new Set(
            apps
              .filter((a) => waveOf(a.object) < wave)
              .map((a) => argoChartOf(a.object))
              .filter((c): c is string => !!c),
          );
          for (const object of crdObjects(overlay)) {
            const need = missing(object, installed);
            if (!need) continue;
            violations.push(
              violationFor(
                object,
                'crd-installed',
                `is a ${String(object.object.kind)} (${groupOf(object.object)}), whose CRD no add-on Application before ${objectRef(app.object)} (wave ${wave}) installs. ${ARGO_RULE}`,
                `add an Application for ${installersText(need)} to ${argo.id} (clusters/common/argocd/controllers) with a sync wave below ${wave}`,
              ),
            );
          }
        }
      }
      const flux = ctx.renders.find((r) => r.kind === 'flux' && r.env === overlay.env);
      if (!flux) continue;
      const kustomizations = fluxKustomizations(flux);
      for (const kustomization of kustomizations) {
        const target = fluxPath(kustomization.object);
        if (target === undefined) continue;
        const applied = ctx.renders.find((r) => r.id === target && (r.kind === 'overlay' || r.kind === 'flux-stage') && r.env === overlay.env);
        if (!applied) continue;
        const installed = new Set<string>();
        for (const dependency of dependsOnClosure(kustomization, kustomizations)) {
          const dependencyPath = fluxPath(dependency.object);
          if (dependencyPath === undefined) continue;
          const render = await objectsAtPath(ctx, dependencyPath, overlay.env);
          for (const chart of render ? fluxCharts(render) : []) installed.add(chart);
        }
        for (const object of crdObjects(applied)) {
          const need = missing(object, installed);
          if (!need) continue;
          violations.push(
            violationFor(
              object,
              'crd-installed',
              `is a ${String(object.object.kind)} (${groupOf(object.object)}) applied by ${objectRef(kustomization.object)}, whose CRD no Kustomization it dependsOn installs. ${FLUX_RULE}`,
              `add a HelmRelease for ${installersText(need)} to a Kustomization that ${String(kustomization.object.metadata?.name)} dependsOn (clusters/common/flux/controllers)`,
            ),
          );
        }
      }
    }
    return violations;
  },
};
