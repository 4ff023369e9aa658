import { violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

export const noPlainSecret: Policy = {
  id: 'no-plain-secret',
  title: 'No render contains a plain Secret (SealedSecret only)',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders) {
      for (const rendered of render.objects) {
        if (rendered.object.kind !== 'Secret' || rendered.object.apiVersion !== 'v1') continue;
        violations.push(
          violationFor(
            rendered,
            'no-plain-secret',
            `a plain Secret is rendered by ${render.id}; its values would sit in git readable by anyone with the repo`,
            "delete it from git and seal it instead: kubeseal (or the repo's sealing package) into secrets/<name>.sealed.yaml as a SealedSecret",
          ),
        );
      }
    }
    return violations;
  },
};
