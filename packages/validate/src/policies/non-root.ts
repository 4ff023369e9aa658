import { asRecord, containerPath, containerWord, podContainers, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

/** The seccomp profiles the restricted Pod Security level admits; `Unconfined` and no profile at all are rejected. */
const RESTRICTED_SECCOMP_TYPES = new Set(['RuntimeDefault', 'Localhost']);

/**
 * The `dbos` namespace enforces the restricted Pod Security level, which rejects pods that may run as root and pods
 * without a RuntimeDefault or Localhost seccomp profile; checking both here fails the PR instead of the rollout.
 */
export const nonRoot: Policy = {
  id: 'non-root',
  title: 'Every container runs with an effective runAsNonRoot: true and a RuntimeDefault or Localhost seccomp profile',
  check(ctx) {
    const violations: Violation[] = [];
    for (const { rendered, podSpec, ref } of podContainers(ctx)) {
      const podContext = asRecord(podSpec.securityContext);
      const containerContext = asRecord(ref.container.securityContext);
      const where = containerPath(rendered.object, ref);
      // The container's own setting overrides the pod's, in both directions.
      const containerLevel = containerContext.runAsNonRoot;
      const effective = containerLevel ?? podContext.runAsNonRoot;
      if (effective !== true) {
        const why = containerLevel === false ? 'sets runAsNonRoot: false' : 'does not run with runAsNonRoot: true (neither the pod nor the container sets it)';
        violations.push(
          violationFor(
            rendered,
            'non-root',
            `${containerWord(ref)} ${why}`,
            `set securityContext.runAsNonRoot: true on the pod (spec.template.spec.securityContext) or on ${where}, with a non-zero runAsUser if the image has no numeric USER`,
            { fields: ['runAsNonRoot'] },
          ),
        );
      }
      const containerSeccomp = asRecord(containerContext.seccompProfile).type;
      const seccomp = containerSeccomp ?? asRecord(podContext.seccompProfile).type;
      if (typeof seccomp === 'string' && RESTRICTED_SECCOMP_TYPES.has(seccomp)) continue;
      const why =
        seccomp === undefined
          ? 'has no seccomp profile (neither the pod nor the container sets securityContext.seccompProfile)'
          : `has seccomp profile ${JSON.stringify(seccomp)}${containerSeccomp === undefined ? ' from the pod' : ''}, which the restricted profile rejects`;
      violations.push(
        violationFor(
          rendered,
          'non-root',
          `${containerWord(ref)} ${why}`,
          `set securityContext.seccompProfile.type: RuntimeDefault (or Localhost with localhostProfile) on the pod (spec.template.spec.securityContext) or on ${where}`,
          { fields: ['seccompProfile'] },
        ),
      );
    }
    return violations;
  },
};
