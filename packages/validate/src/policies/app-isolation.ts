import path from 'node:path';
import { asRecord, objectRef, violationFor } from '../objects.ts';
import { objectIdentity } from '../render.ts';
import type { Policy, Render, RenderedObject, Violation } from '../types.ts';
import { appOf, podTemplateLabels } from './applications.ts';

const RULE = 'app-isolation';

/** The sync unit an environment's render belongs to: the platform, or one application. */
function unitOf(render: Render): string {
  return render.kind === 'platform' ? 'the platform' : `application ${path.posix.basename(render.id)}`;
}

/** Whether a Service's selector picks a pod template's labels (every selector pair present). */
function selects(selector: Record<string, unknown>, labels: Record<string, unknown>): boolean {
  const pairs = Object.entries(selector);
  return pairs.length > 0 && pairs.every(([key, value]) => labels[key] === value);
}

/**
 * Each application is its own sync unit (an Argo CD Application, a Flux chain): an object two units render is owned
 * by both, so one unit's sync overwrites or prunes the other's. A Service of one application that selects another's
 * pods sends its traffic to executors of another application and version.
 */
export const appIsolation: Policy = {
  id: RULE,
  title: "No object is rendered by two applications, or by an application and the platform; no application's Service selects another application's pods",
  check(ctx) {
    const violations: Violation[] = [];
    const envs = new Set(ctx.renders.map((r) => r.env));
    for (const env of envs) {
      const units = ctx.renders.filter((r) => r.env === env && (r.kind === 'platform' || r.kind === 'app'));
      const owners = new Map<string, Array<{ unit: string; rendered: RenderedObject }>>();
      for (const unit of units) {
        for (const rendered of unit.objects) {
          const key = objectIdentity(rendered.object);
          owners.set(key, [...(owners.get(key) ?? []), { unit: unitOf(unit), rendered }]);
        }
      }
      for (const list of owners.values()) {
        if (list.length < 2) continue;
        violations.push(
          violationFor(
            list[1]!.rendered,
            RULE,
            `is rendered by ${list.map((o) => o.unit).join(' and ')} in ${env}, so each of their syncs overwrites (or prunes) it for the other`,
            'give each application its own objects (names from identity.yaml); a shared object belongs to overlays/<env>/platform',
          ),
        );
      }
    }
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const pods = render.objects
        .map((rendered) => ({ rendered, labels: asRecord(podTemplateLabels(rendered.object)) }))
        .filter((p) => podTemplateLabels(p.rendered.object) !== undefined);
      for (const service of render.objects.filter((r) => r.object.kind === 'Service')) {
        const app = appOf(service.object);
        if (app === undefined) continue;
        const selector = asRecord(asRecord(service.object.spec).selector);
        for (const pod of pods) {
          if (!selects(selector, pod.labels)) continue;
          const podApp = pod.labels['dbos.dev/app'];
          if (podApp === app) continue;
          violations.push(
            violationFor(
              service,
              RULE,
              `is ${app}'s Service but selects the pods of ${objectRef(pod.rendered.object)} (${podApp === undefined ? 'no application' : `application ${String(podApp)}`})`,
              `select app: ${app} and one of ${app}'s versions in overlays/${render.env}/apps/${app}/versions/service.yaml`,
            ),
          );
        }
      }
    }
    return violations;
  },
};
