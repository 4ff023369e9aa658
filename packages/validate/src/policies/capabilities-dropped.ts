import { asArray, asRecord, containerPath, containersOf, containerWord, podSpecOf, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

export const capabilitiesDropped: Policy = {
  id: 'capabilities-dropped',
  title: 'Every container drops ALL Linux capabilities',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders) {
      for (const rendered of render.objects) {
        const podSpec = podSpecOf(rendered.object);
        if (!podSpec) continue;
        for (const ref of containersOf(podSpec, true)) {
          const drop = asArray(asRecord(asRecord(ref.container.securityContext).capabilities).drop);
          if (drop.includes('ALL')) continue;
          violations.push(
            violationFor(
              rendered,
              'capabilities-dropped',
              `${containerWord(ref)} does not drop ALL capabilities`,
              `set securityContext.capabilities.drop: ["ALL"] on ${containerPath(rendered.object, ref)}`,
            ),
          );
        }
      }
    }
    return violations;
  },
};
