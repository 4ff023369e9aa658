import path from 'node:path';
import { asArray, asRecord, labelsOf, POD_BEARING_KINDS, violationFor } from '../objects.ts';
import type { K8sObject, Policy, Violation } from '../types.ts';
import { APP_LABEL, podTemplateLabels } from './applications.ts';

const RULE = 'app-label';

/** Kinds whose selector picks pods and is immutable once created (Deployment, StatefulSet, DaemonSet, Job, ReplicaSet). */
const IMMUTABLE_SELECTOR_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

/** The label keys a workload's, Service's or PDB's selector uses (NetworkPolicy peers may use any label: they are mutable). */
function selectorKeys(object: K8sObject): string[] {
  const spec = asRecord(object.spec);
  if (object.kind === 'Service') return Object.keys(asRecord(spec.selector));
  if (!IMMUTABLE_SELECTOR_KINDS.has(object.kind ?? '') && object.kind !== 'PodDisruptionBudget') return [];
  const selector = asRecord(spec.selector);
  return [...Object.keys(asRecord(selector.matchLabels)), ...asArray(selector.matchExpressions).map((e) => String(asRecord(e).key))];
}

/**
 * Every object rendered from overlays/<env>/apps/<app> carries dbos.dev/app: <app>, on its pod template too (the
 * bot, the network policies and the isolation rules find an application by it); no selector uses it, because a
 * Deployment's selector is immutable and a new label in it would make every sync of a live version fail.
 */
export const appLabel: Policy = {
  id: RULE,
  title: `Every object of overlays/<env>/apps/<app> (and its pod template) carries ${APP_LABEL}: <app>; no workload, Service or PDB selector uses ${APP_LABEL}`,
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'app')) {
      const app = path.posix.basename(render.id);
      for (const rendered of render.objects) {
        const value = labelsOf(rendered.object)[APP_LABEL];
        if (value !== app) {
          violations.push(
            violationFor(
              rendered,
              RULE,
              `is rendered from ${render.id} but ${value === undefined ? `has no ${APP_LABEL} label` : `is labelled ${APP_LABEL}: ${value}`}, so it is not counted as ${app}'s`,
              `list base/components/app-identity in ${render.id}/kustomization.yaml (it labels every object from identity.yaml's name), and keep name: ${app} there`,
            ),
          );
        }
        if (rendered.object.kind && POD_BEARING_KINDS.has(rendered.object.kind)) {
          const podValue = asRecord(podTemplateLabels(rendered.object))[APP_LABEL];
          if (podValue !== app) {
            violations.push(
              violationFor(
                rendered,
                RULE,
                `its pod template ${podValue === undefined ? `has no ${APP_LABEL} label` : `is labelled ${APP_LABEL}: ${String(podValue)}`}, so the application's network policies do not select its pods`,
                `label pod templates too (includeTemplates: true) with ${APP_LABEL}: ${app}`,
              ),
            );
          }
        }
      }
    }
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      for (const rendered of render.objects) {
        if (!selectorKeys(rendered.object).includes(APP_LABEL)) continue;
        violations.push(
          violationFor(
            rendered,
            RULE,
            `selects on ${APP_LABEL}; a Deployment's selector is immutable, so adding it makes every sync of a live version fail (and a Service or PDB selector must match the Deployment's)`,
            `label with includeSelectors: false for ${APP_LABEL} (metadata and pod templates only)`,
          ),
        );
      }
    }
    return violations;
  },
};
