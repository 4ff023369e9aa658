import { asArray, asRecord, labelsOf, objectRef, violationFor } from '../objects.ts';
import type { K8sObject, Policy, Render, RenderedObject, Violation } from '../types.ts';

import { APP_VERSION_LABEL as VERSION_LABEL } from '@dbos-gitops/sealing/names';

export { VERSION_LABEL };
const APP = 'dbos-app';

function isAppDeployment(object: K8sObject): boolean {
  if (object.kind !== 'Deployment') return false;
  const spec = asRecord(object.spec);
  const templateLabels = asRecord(asRecord(asRecord(spec.template).metadata).labels);
  return labelsOf(object).app === APP || templateLabels.app === APP;
}

/** KEDA owns the replica count; a number in git makes every sync fight the autoscaler. */
export const appReplicasUnset: Policy = {
  id: 'app-replicas-unset',
  title: 'Application Deployments leave spec.replicas to KEDA',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders) {
      for (const rendered of render.objects) {
        if (!isAppDeployment(rendered.object)) continue;
        const replicas = asRecord(rendered.object.spec).replicas;
        if (replicas === undefined) continue;
        violations.push(
          violationFor(
            rendered,
            'app-replicas-unset',
            `sets spec.replicas: ${String(replicas)}, but the version's ScaledObject owns the replica count`,
            'remove spec.replicas; set minReplicaCount on the ScaledObject instead',
          ),
        );
      }
    }
    return violations;
  },
};

interface VersionObjects {
  deployments: RenderedObject[];
  jobs: RenderedObject[];
  scaledObjects: RenderedObject[];
}

export function groupVersions(render: Render): Map<string, VersionObjects> {
  const versions = new Map<string, VersionObjects>();
  for (const rendered of render.objects) {
    const version = labelsOf(rendered.object)[VERSION_LABEL];
    if (!version) continue;
    let group = versions.get(version);
    if (!group) {
      group = { deployments: [], jobs: [], scaledObjects: [] };
      versions.set(version, group);
    }
    if (rendered.object.kind === 'Deployment') group.deployments.push(rendered);
    else if (rendered.object.kind === 'Job') group.jobs.push(rendered);
    else if (rendered.object.kind === 'ScaledObject') group.scaledObjects.push(rendered);
  }
  return versions;
}

function envValue(object: K8sObject, name: string): string | undefined {
  const containers = asArray(asRecord(asRecord(asRecord(object.spec).template).spec).containers);
  for (const container of containers) {
    for (const entry of asArray(asRecord(container).env)) {
      const e = asRecord(entry);
      if (e.name === name && typeof e.value === 'string') return e.value;
    }
  }
  return undefined;
}

function hasMetricsApiTrigger(scaledObject: K8sObject): boolean {
  return asArray(asRecord(scaledObject.spec).triggers).some((t) => asRecord(t).type === 'metrics-api');
}

/** Only executors of the same version recover its workflows, so each version is one complete, self-named unit. */
export const appVersionObjects: Policy = {
  id: 'app-version-objects',
  title: 'Each application version has one Deployment and one ScaledObject that targets it; the environment has one schema migration Job',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      violations.push(...checkMigrationJob(render));
      for (const [version, group] of groupVersions(render)) {
        const anchor = group.deployments[0] ?? group.jobs[0] ?? group.scaledObjects[0];
        if (!anchor) continue;
        const counts: Array<[string, RenderedObject[]]> = [
          ['Deployment', group.deployments],
          ['ScaledObject', group.scaledObjects],
        ];
        for (const [kind, list] of counts) {
          if (list.length === 1) continue;
          violations.push(
            violationFor(
              list[1] ?? anchor,
              'app-version-objects',
              `version "${version}" has ${list.length} ${kind} objects (${list.map((r) => objectRef(r.object)).join(', ') || 'none'}); it needs exactly one`,
              `make overlays/${render.env}/app-versions/${version}/ instantiate base/app-version once (one Deployment, one ScaledObject)`,
            ),
          );
        }
        const deployment = group.deployments[0];
        if (deployment) {
          const appVersion = envValue(deployment.object, 'DBOS__APPVERSION');
          if (!appVersion) {
            violations.push(
              violationFor(
                deployment,
                'app-version-objects',
                `version "${version}" Deployment does not set DBOS__APPVERSION, so executors register under a computed version and never see this version's workflows`,
                `set env DBOS__APPVERSION to the application version in overlays/${render.env}/app-versions/${version}/version.patch.yaml`,
              ),
            );
          }
        }
        for (const scaled of group.scaledObjects) {
          const target = asRecord(asRecord(scaled.object.spec).scaleTargetRef);
          const targetName = target.name;
          const kindOk = target.kind === undefined || target.kind === 'Deployment';
          if (deployment && targetName === deployment.object.metadata?.name && kindOk) continue;
          violations.push(
            violationFor(
              scaled,
              'app-version-objects',
              `version "${version}" ScaledObject targets ${String(target.kind ?? 'Deployment')}/${String(targetName)}, not its own Deployment${deployment ? ` ${String(deployment.object.metadata?.name)}` : ''}`,
              `set spec.scaleTargetRef.name to ${deployment ? String(deployment.object.metadata?.name) : `the version's Deployment`} (the same nameSuffix applies to both in base/app-version)`,
            ),
          );
        }
      }
    }
    return violations;
  },
};

/**
 * The DBOS system schema is shared by every live version, so it is migrated once per environment with the
 * newest migrate image: a Job per version would run concurrently against the same tables, and a
 * migrate-image bump would re-create every one of them.
 */
function checkMigrationJob(render: Render): Violation[] {
  const jobs = render.objects.filter((r) => r.object.kind === 'Job');
  const fix = `list base/app-version/migration once in ${render.id}/kustomization.yaml, not in base/app-version`;
  const violations: Violation[] = [];
  for (const job of jobs) {
    const version = labelsOf(job.object)[VERSION_LABEL];
    if (version === undefined) continue;
    violations.push(
      violationFor(
        job,
        'app-version-objects',
        `is a migration Job of version "${version}"; the system schema is shared by every version and is migrated once per environment`,
        fix,
      ),
    );
  }
  if (jobs.length !== 1) {
    violations.push({
      rule: 'app-version-objects',
      file: `${render.id}/kustomization.yaml`,
      object: render.id,
      message: `renders ${jobs.length} migration Jobs (${jobs.map((r) => objectRef(r.object)).join(', ') || 'none'}); the environment needs exactly one`,
      fix,
    });
  }
  return violations;
}

/** The Service sends new requests to the latest version only; older versions just finish their own work. */
export const appService: Policy = {
  id: 'app-service',
  title: 'Exactly one Service/dbos-app, selecting the live latest version (the one with the metrics-api trigger)',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const versions = groupVersions(render);
      const latest = [...versions.entries()].filter(
        ([, group]) => group.deployments.length > 0 && group.scaledObjects.some((s) => hasMetricsApiTrigger(s.object)),
      );
      if (latest.length > 1) {
        const [, second] = latest[1]!;
        violations.push(
          violationFor(
            second.scaledObjects[0]!,
            'app-service',
            `${latest.length} versions carry the metrics-api trigger (${latest.map(([v]) => v).join(', ')}); only the latest should`,
            'include the app-latest component in the newest version only',
          ),
        );
      }
      const services = render.objects.filter((r) => r.object.kind === 'Service' && r.object.metadata?.name === APP);
      if (services.length !== 1) {
        violations.push({
          rule: 'app-service',
          file: services[1]?.file ?? `${render.id}/app-versions/service.yaml`,
          object: `Service/${APP}`,
          message: `${render.id} renders ${services.length} Service/${APP} objects; it needs exactly one`,
          fix: `keep one Service named ${APP} in overlays/${render.env}/app-versions/service.yaml`,
        });
        continue;
      }
      const service = services[0]!;
      const selected = asRecord(asRecord(service.object.spec).selector)[VERSION_LABEL];
      const latestNames = latest.map(([v]) => v);
      if (typeof selected === 'string' && latestNames.includes(selected)) continue;
      const why =
        typeof selected !== 'string'
          ? `does not select a version (no ${VERSION_LABEL} in spec.selector), so it spreads traffic over every version`
          : !versions.get(selected)?.deployments.length
            ? `selects version "${selected}", which has no Deployment in ${render.id}`
            : `selects version "${selected}", which is not the latest (the latest carries the metrics-api trigger${latestNames.length ? `: ${latestNames.join(', ')}` : '; none does'})`;
      violations.push(
        violationFor(
          service,
          'app-service',
          why,
          `set spec.selector.${VERSION_LABEL} to ${latestNames[0] ? `"${latestNames[0]}"` : 'the latest live version'} in overlays/${render.env}/app-versions/service.yaml`,
        ),
      );
    }
    return violations;
  },
};
