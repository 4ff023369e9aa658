import type { ValidateResult } from './validate.ts';

export function summaryLine(result: ValidateResult): string {
  const count = result.violations.length;
  return `validate: ${result.objects} objects in ${result.renders.length} renders, ${count} violation${count === 1 ? '' : 's'}`;
}

/** One block per violation: `file › Kind/namespace/name › rule-id: message`, then the fix, then the summary line. */
export function formatHuman(result: ValidateResult): string {
  const blocks = result.violations.map((v) => `${v.file} › ${v.object} › ${v.rule}: ${v.message}\n  fix: ${v.fix}`);
  return [...blocks, summaryLine(result)].join('\n') + '\n';
}

export function formatJson(result: ValidateResult): string {
  return JSON.stringify({ ...result, summary: summaryLine(result) }, null, 2) + '\n';
}
