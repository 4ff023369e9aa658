import { asRecord, containerPath, containerWord, podContainers, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

export const noPrivilegeEscalation: Policy = {
  id: 'no-privilege-escalation',
  title: 'Every container sets allowPrivilegeEscalation: false',
  check(ctx) {
    const violations: Violation[] = [];
    for (const { rendered, ref } of podContainers(ctx)) {
      if (asRecord(ref.container.securityContext).allowPrivilegeEscalation === false) continue;
      violations.push(
        violationFor(
          rendered,
          'no-privilege-escalation',
          `${containerWord(ref)} does not set allowPrivilegeEscalation: false`,
          `set securityContext.allowPrivilegeEscalation: false on ${containerPath(rendered.object, ref)}`,
          { fields: ['allowPrivilegeEscalation'] },
        ),
      );
    }
    return violations;
  },
};
