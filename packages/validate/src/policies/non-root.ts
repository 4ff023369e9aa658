import { asRecord, containerPath, containerWord, podContainers, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

/** The `dbos` namespace enforces the restricted Pod Security level, which rejects pods that may run as root. */
export const nonRoot: Policy = {
  id: 'non-root',
  title: 'Every container runs with an effective runAsNonRoot: true',
  check(ctx) {
    const violations: Violation[] = [];
    for (const { rendered, podSpec, ref } of podContainers(ctx)) {
      const podLevel = asRecord(podSpec.securityContext).runAsNonRoot;
      const containerLevel = asRecord(ref.container.securityContext).runAsNonRoot;
      // The container's own setting overrides the pod's, in both directions.
      const effective = containerLevel ?? podLevel;
      if (effective === true) continue;
      const why = containerLevel === false ? 'sets runAsNonRoot: false' : 'does not run with runAsNonRoot: true (neither the pod nor the container sets it)';
      violations.push(
        violationFor(
          rendered,
          'non-root',
          `${containerWord(ref)} ${why}`,
          `set securityContext.runAsNonRoot: true on the pod (spec.template.spec.securityContext) or on ${containerPath(rendered.object, ref)}, with a non-zero runAsUser if the image has no numeric USER`,
        ),
      );
    }
    return violations;
  },
};
