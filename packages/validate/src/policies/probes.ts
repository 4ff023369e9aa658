import { containerPath, containersOf, containerWord, LONG_RUNNING_KINDS, podSpecOf, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

/** Without both probes a stuck executor keeps its queue slots and receives traffic (App guide: readiness, liveness). */
export const probes: Policy = {
  id: 'probes',
  title: 'Every long-running container has a readiness and a liveness probe',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders) {
      for (const rendered of render.objects) {
        const { object } = rendered;
        if (!object.kind || !LONG_RUNNING_KINDS.has(object.kind)) continue;
        const podSpec = podSpecOf(object);
        if (!podSpec) continue;
        for (const ref of containersOf(podSpec, false)) {
          const missing = ['readinessProbe', 'livenessProbe'].filter((probe) => !ref.container[probe]);
          if (missing.length === 0) continue;
          violations.push(
            violationFor(
              rendered,
              'probes',
              `${containerWord(ref)} has no ${missing.join(' and no ')}`,
              `add ${missing.join(' and ')} (httpGet on the health endpoint) to ${containerPath(object, ref)}`,
              { fields: missing },
            ),
          );
        }
      }
    }
    return violations;
  },
};
