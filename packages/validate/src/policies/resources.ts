import { asRecord, containerPath, containerWord, podContainers, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

const REQUIRED = ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'];

/** Requests let the scheduler place pods and KEDA reason about capacity; limits stop one version starving another. */
export const resources: Policy = {
  id: 'resources',
  title: 'Every container and init container sets cpu and memory requests and limits',
  check(ctx) {
    const violations: Violation[] = [];
    for (const { rendered, ref } of podContainers(ctx)) {
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
          { fields: ['resources'] },
        ),
      );
    }
    return violations;
  },
};
