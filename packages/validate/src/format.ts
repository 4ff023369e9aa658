import type { Violation } from './types.ts';
import type { ValidateResult } from './validate.ts';

export function summaryLine(result: ValidateResult): string {
  const count = result.violations.length;
  return `validate: ${result.objects} objects in ${result.renders.length} renders, ${count} violation${count === 1 ? '' : 's'}`;
}

/** `dev: overlays/dev/app-versions/0-1-0/kustomization.yaml; prod: overlays/prod/kustomization.yaml` */
function sites(violation: Violation): string {
  return (violation.where ?? []).map((site) => `${site.env}: ${site.file}`).join('; ');
}

/**
 * One block per violation: `file › Kind/namespace/name › rule-id: message`, then `in:` with each environment and
 * the overlay file that brought the offending value in (when known), then the fix; the summary line closes.
 */
export function formatHuman(result: ValidateResult): string {
  const blocks = result.violations.map(
    (v) => `${v.file} › ${v.object} › ${v.rule}: ${v.message}\n${v.where?.length ? `  in: ${sites(v)}\n` : ''}  fix: ${v.fix}`,
  );
  return `${[...blocks, summaryLine(result)].join('\n')}\n`;
}

export function formatJson(result: ValidateResult): string {
  return `${JSON.stringify({ ...result, summary: summaryLine(result) }, null, 2)}\n`;
}
