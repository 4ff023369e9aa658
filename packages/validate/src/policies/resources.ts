import { asRecord, containerPath, containersOf, containerWord, podSpecOf, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

const REQUIRED = ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'];

/** Requests let the scheduler place pods and KEDA reason about capacity; limits stop one version starving another. */
export const resources: Policy = {
  id: 'resources',
  title: 'Every container and init container sets cpu and memory requests and limits',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders) {
      for (const rendered of render.objects) {
        const podSpec = podSpecOf(rendered.object);
        if (!podSpec) continue;
        for (const ref of containersOf(podSpec, true)) {
          const declared = asRecord(ref.container.resources);
          const missing = REQUIRED.filter((key) => {
            const [section, resource] = key.split('.') as [string, string];
            const value = asRecord(declared[section])[resource];
            return value === undefined || value === null || value === '';
          });
          if (missing.length === 0) continue;
          violations.push(
            violationFor(
              rendered,
              'resources',
              `${containerWord(ref)} does not set resources ${missing.join(', ')}`,
              `set resources.${missing.join(', resources.')} on ${containerPath(rendered.object, ref)}`,
            ),
          );
        }
      }
    }
    return violations;
  },
};
