import { asArray, asRecord, containerPath, containerWord, podContainers, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

export const capabilitiesDropped: Policy = {
  id: 'capabilities-dropped',
  title: 'Every container drops ALL Linux capabilities',
  check(ctx) {
    const violations: Violation[] = [];
    for (const { rendered, ref } of podContainers(ctx)) {
      const drop = asArray(asRecord(asRecord(ref.container.securityContext).capabilities).drop);
      if (drop.includes('ALL')) continue;
      violations.push(
        violationFor(
          rendered,
          'capabilities-dropped',
          `${containerWord(ref)} does not drop ALL capabilities`,
          `set securityContext.capabilities.drop: ["ALL"] on ${containerPath(rendered.object, ref)}`,
          { fields: ['capabilities'] },
        ),
      );
    }
    return violations;
  },
};
