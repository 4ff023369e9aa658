import { asArray, asRecord, violationFor } from '../objects.ts';
import type { Policy, RenderedObject, Violation } from '../types.ts';

/** A `job_name` matcher in a PromQL selector: `job_name="x"` or `job_name=~"re"` (negations select nothing to check). */
const JOB_NAME_MATCHER = /\bjob_name\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"/g;
const NAMESPACE_MATCHER = /\bnamespace\s*=\s*"((?:[^"\\]|\\.)*)"/;
// A CronJob's Jobs are named `<cronjob>-<scheduled time in minutes since the epoch>` (kubernetes
// pkg/controller/cronjob/utils.go, getJobName/getTimeHashInMinutes), so a regex alert is tested against such a name.
const CRONJOB_SAMPLE_SUFFIX = '-29393280';

const unescapeRegex = (value: string): string => value.replace(/\\(.)/g, '$1');

/**
 * An alert on a Job the overlay does not render never fires, silently: it survived a rename once already (the
 * per-version `dbos-migrate-<version>` Jobs became the one `dbos-migrate-schema`). kube-state-metrics labels its
 * kube_job_* series with the Job's name in `job_name`; Prometheus anchors `=~` regexes at both ends.
 */
export const alertJobRendered: Policy = {
  id: 'alert-job-rendered',
  title: 'Every PrometheusRule job_name matcher selects a Job the same overlay renders',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const jobs = render.objects
        .filter(({ object }) => object.kind === 'Job' || object.kind === 'CronJob')
        .map(({ object }) => ({
          namespace: object.metadata?.namespace,
          names: object.kind === 'Job' ? [object.metadata?.name ?? ''] : [`${object.metadata?.name ?? ''}${CRONJOB_SAMPLE_SUFFIX}`],
          exact: object.kind === 'Job',
        }));
      for (const rendered of render.objects.filter(({ object }) => object.kind === 'PrometheusRule')) {
        for (const group of asArray(asRecord(rendered.object.spec).groups)) {
          for (const rule of asArray(asRecord(group).rules)) {
            const { alert, expr } = asRecord(rule);
            if (typeof alert !== 'string' || typeof expr !== 'string') continue;
            checkExpr(rendered, alert, expr, jobs, violations, render.id);
          }
        }
      }
    }
    return violations;
  },
};

function checkExpr(
  rendered: RenderedObject,
  alert: string,
  expr: string,
  jobs: Array<{ namespace: string | undefined; names: string[]; exact: boolean }>,
  violations: Violation[],
  renderId: string,
): void {
  const namespace = NAMESPACE_MATCHER.exec(expr)?.[1];
  const candidates = jobs.filter((job) => namespace === undefined || job.namespace === unescapeRegex(namespace));
  for (const [, operator, raw] of expr.matchAll(JOB_NAME_MATCHER)) {
    const value = unescapeRegex(raw!);
    let matches: (name: string) => boolean;
    if (operator === '=') {
      matches = (name) => name === value;
    } else {
      let pattern: RegExp;
      try {
        pattern = new RegExp(`^(?:${value})$`);
      } catch {
        violations.push(
          violationFor(rendered, 'alert-job-rendered', `alert ${alert}: job_name=~"${value}" is not a valid regular expression`, 'fix the regular expression'),
        );
        continue;
      }
      matches = (name) => pattern.test(name);
    }
    const hit = candidates.some((job) => (operator === '=' ? job.exact : true) && job.names.some(matches));
    if (hit) continue;
    const names =
      jobs
        .filter((job) => job.exact)
        .map((job) => job.names[0])
        .join(', ') || 'none';
    violations.push(
      violationFor(
        rendered,
        'alert-job-rendered',
        `alert ${alert} selects job_name${operator}"${value}"${namespace === undefined ? '' : ` in namespace ${namespace}`}, but ${renderId} renders no such Job (Jobs: ${names}), so it can never fire`,
        'name the Job the overlay renders (kube-state-metrics reports it as job_name), or drop the alert',
      ),
    );
  }
}
