import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { K8sObject, PolicyContext, Render } from '../types.ts';
import { alertJobRendered } from './alert-job-rendered.ts';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

function render(objects: K8sObject[]): Render {
  return {
    id: 'overlays/prod',
    kind: 'overlay',
    env: 'prod',
    objects: objects.map((object) => ({ object, file: 'base/components/monitoring/prometheus-rule.yaml' })),
    originAnnotations: true,
    wallMs: 0,
  };
}

const job = (name: string, kind = 'Job'): K8sObject => ({ apiVersion: 'batch/v1', kind, metadata: { name, namespace: 'dbos' } });
const rule = (...exprs: string[]): K8sObject => ({
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: { name: 'dbos', namespace: 'dbos' },
  spec: { groups: [{ name: 'g', rules: exprs.map((expr, index) => ({ alert: `A${index}`, expr })) }] },
});
const check = (objects: K8sObject[]) => alertJobRendered.check({ root: repoRoot, renders: [render(objects)] } as PolicyContext);

describe('alert-job-rendered', () => {
  it('flags an alert naming a Job the overlay does not render (the per-version migration Jobs that became dbos-migrate-schema)', async () => {
    const violations = await check([
      job('dbos-migrate-schema'),
      rule(
        'kube_job_failed{namespace="dbos", job_name="dbos-migrate-0-1-0", condition="true"} == 1',
        'kube_job_failed{namespace="dbos", job_name=~"dbos-migrate-[0-9].*"} == 1',
      ),
    ]);
    expect(violations).toHaveLength(2);
    expect(violations[0]).toMatchObject({
      rule: 'alert-job-rendered',
      object: 'PrometheusRule/dbos/dbos',
      file: 'base/components/monitoring/prometheus-rule.yaml',
    });
    expect(violations[0]!.message).toBe(
      'alert A0 selects job_name="dbos-migrate-0-1-0" in namespace dbos, but overlays/prod renders no such Job (Jobs: dbos-migrate-schema), so it can never fire',
    );
    expect(violations[1]!.message).toContain('alert A1 selects job_name=~"dbos-migrate-[0-9].*"');
  });

  it("accepts exact and anchored-regex matches of a rendered Job, and regexes over a CronJob's Jobs", async () => {
    const objects = [job('dbos-migrate-schema'), job('gitops-bot-version-retire', 'CronJob')];
    expect(
      await check([
        ...objects,
        rule(
          'kube_job_failed{job_name="dbos-migrate-schema"} == 1',
          'kube_job_failed{job_name=~"dbos-migrate-.+"} == 1',
          'kube_job_failed{job_name=~"gitops-bot-version-retire-.*"} > 0',
        ),
      ]),
    ).toEqual([]);
    // Anchored as Prometheus anchors: a prefix alone does not match, and a CronJob's own name is no Job's name.
    expect(
      await check([...objects, rule('kube_job_failed{job_name=~"dbos-migrate"} == 1', 'kube_job_failed{job_name="gitops-bot-version-retire"} == 1')]),
    ).toHaveLength(2);
    // Another namespace's Job of the same name does not count.
    expect(await check([...objects, rule('kube_job_failed{namespace="other", job_name="dbos-migrate-schema"} == 1')])).toHaveLength(1);
  });

  it('passes the prod overlay as committed', async () => {
    const output = execFileSync('kubectl', ['kustomize', `${repoRoot}overlays/prod`], { maxBuffer: 64 << 20 }).toString();
    const objects = parseAllDocuments(output).map((document) => document.toJS() as K8sObject);
    expect(objects.some((object) => object.kind === 'PrometheusRule')).toBe(true);
    expect(await check(objects)).toEqual([]);
  });
});
