import { asRecord, containerPath, containersOf, containerWord, podSpecOf, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

export const noPrivilegeEscalation: Policy = {
  id: 'no-privilege-escalation',
  title: 'Every container sets allowPrivilegeEscalation: false',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders) {
      for (const rendered of render.objects) {
        const podSpec = podSpecOf(rendered.object);
        if (!podSpec) continue;
        for (const ref of containersOf(podSpec, true)) {
          if (asRecord(ref.container.securityContext).allowPrivilegeEscalation === false) continue;
          violations.push(
            violationFor(
              rendered,
              'no-privilege-escalation',
              `${containerWord(ref)} does not set allowPrivilegeEscalation: false`,
              `set securityContext.allowPrivilegeEscalation: false on ${containerPath(rendered.object, ref)}`,
            ),
          );
        }
      }
    }
    return violations;
  },
};
