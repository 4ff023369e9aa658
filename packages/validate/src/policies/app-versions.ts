import { asArray, asRecord, labelsOf, objectRef, violationFor } from '../objects.ts';
import type { K8sObject, Policy, Render, RenderedObject, Violation } from '../types.ts';
import { APP_LABEL, type Application, appOf, applicationsOf, envValue } from './applications.ts';

import { APP_VERSION_LABEL as VERSION_LABEL } from '@dbos-gitops/sealing/names';

export { VERSION_LABEL };
/** An application's executors: what KEDA scales (an application's Deployment, or any Deployment of a version). */
function isAppDeployment(object: K8sObject): boolean {
  if (object.kind !== 'Deployment') return false;
  return appOf(object) !== undefined || labelsOf(object)[VERSION_LABEL] !== undefined;
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

function hasMetricsApiTrigger(scaledObject: K8sObject): boolean {
  return asArray(asRecord(scaledObject.spec).triggers).some((t) => asRecord(t).type === 'metrics-api');
}

const versionDir = (env: string, app: string, slug: string) => `overlays/${env}/apps/${app}/versions/${slug}`;

/** The string literals a KEDA postgresql query compares a column with (`column = '<literal>'`), in order. */
export function queryLiterals(query: string, column: string): string[] {
  return [...query.matchAll(new RegExp(`\\b${column}\\s*=\\s*'([^']*)'`, 'g'))].map((m) => m[1] ?? '');
}

/**
 * The version-scoped trigger must count exactly this application's workflows of exactly this version: another
 * application's (or version's) in-flight work would keep these executors up forever, or scale them to zero under it.
 */
function checkQuery(scaled: RenderedObject, app: string, version: string, appVersion: string | undefined, fixFile: string): Violation[] {
  const triggers = asArray(asRecord(scaled.object.spec).triggers).map(asRecord);
  const postgres = triggers.filter((t) => t.type === 'postgresql');
  if (postgres.length !== 1) {
    return [
      violationFor(
        scaled,
        RULE_COMPLETE,
        `version "${version}" of ${app} has ${postgres.length} postgresql triggers; it needs exactly one, counting its own in-flight workflows`,
        'keep the in-flight-workflows trigger of base/app-version/workload/scaled-object.yaml',
      ),
    ];
  }
  const query = asRecord(postgres[0]!.metadata).query;
  const text = typeof query === 'string' ? query : '';
  const names = queryLiterals(text, 'application_name');
  const versions = queryLiterals(text, 'application_version');
  const problems: string[] = [];
  if (names.length !== 1 || names[0] !== app)
    problems.push(`names application_name ${names.length ? names.map((n) => `'${n}'`).join(', ') : 'nowhere'}, not exactly '${app}'`);
  if (appVersion !== undefined && (versions.length !== 1 || versions[0] !== appVersion)) {
    problems.push(
      `names application_version ${versions.length ? versions.map((v) => `'${v}'`).join(', ') : 'nowhere'}, not exactly its DBOS__APPVERSION '${appVersion}'`,
    );
  }
  return problems.map((problem) =>
    violationFor(
      scaled,
      RULE_COMPLETE,
      `version "${version}" of ${app}: the postgresql trigger's query ${problem}, so it scales on other workflows than this version's`,
      `keep the replacements: block of ${fixFile} (it copies DBOS__APPVERSION into the query) and the app-identity component (it writes the application name)`,
    ),
  );
}

const RULE_COMPLETE = 'app-version-complete';

/**
 * Only executors of the same application version recover its workflows, so each version is one complete, self-named
 * unit: its Deployment, the ScaledObject that scales it on its own workflows, and its PDB.
 */
export const appVersionComplete: Policy = {
  id: RULE_COMPLETE,
  title:
    "Every live version of an application has one Deployment (with DBOS__APPVERSION), one PDB and one ScaledObject scaling that Deployment on that application's and version's workflows; every application has exactly one migration Job",
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      for (const rendered of render.objects) {
        if (labelsOf(rendered.object)[VERSION_LABEL] !== undefined && appOf(rendered.object) === undefined) {
          violations.push(
            violationFor(
              rendered,
              RULE_COMPLETE,
              `carries ${VERSION_LABEL} but no ${APP_LABEL}, so it is a version of no application`,
              'render versions only from overlays/<env>/apps/<app>/versions/<slug>, under the app-identity component',
            ),
          );
        }
      }
      for (const app of applicationsOf(render).values()) {
        violations.push(...checkMigrationJob(render, app));
        for (const [slug, group] of app.versions) {
          const dir = versionDir(render.env, app.name, slug);
          const anchor = group.deployments[0] ?? group.scaledObjects[0] ?? group.podDisruptionBudgets[0] ?? group.jobs[0];
          if (!anchor) continue;
          const counts: Array<[string, RenderedObject[]]> = [
            ['Deployment', group.deployments],
            ['ScaledObject', group.scaledObjects],
            ['PodDisruptionBudget', group.podDisruptionBudgets],
          ];
          for (const [kind, list] of counts) {
            if (list.length === 1) continue;
            violations.push(
              violationFor(
                list[1] ?? anchor,
                RULE_COMPLETE,
                `version "${slug}" of ${app.name} has ${list.length} ${kind} objects (${list.map((r) => objectRef(r.object)).join(', ') || 'none'}); it needs exactly one`,
                `make ${dir}/ instantiate base/app-version once (one Deployment, one ScaledObject, one PodDisruptionBudget)`,
              ),
            );
          }
          const deployment = group.deployments[0];
          const appVersion = deployment ? envValue(deployment.object, 'DBOS__APPVERSION') : undefined;
          if (deployment && !appVersion) {
            violations.push(
              violationFor(
                deployment,
                RULE_COMPLETE,
                `version "${slug}" Deployment does not set DBOS__APPVERSION, so executors register under a computed version and never see this version's workflows`,
                `set env DBOS__APPVERSION to the application version in ${dir}/version.patch.yaml`,
              ),
            );
          }
          for (const scaled of group.scaledObjects) {
            violations.push(...checkQuery(scaled, app.name, slug, appVersion, `${dir}/kustomization.yaml`));
            const target = asRecord(asRecord(scaled.object.spec).scaleTargetRef);
            const targetName = target.name;
            const kindOk = target.kind === undefined || target.kind === 'Deployment';
            if (deployment && targetName === deployment.object.metadata?.name && kindOk) continue;
            violations.push(
              violationFor(
                scaled,
                RULE_COMPLETE,
                `version "${slug}" ScaledObject targets ${String(target.kind ?? 'Deployment')}/${String(targetName)}, not its own Deployment${deployment ? ` ${String(deployment.object.metadata?.name)}` : ''}`,
                `set spec.scaleTargetRef.name to ${deployment ? String(deployment.object.metadata?.name) : `the version's Deployment`} (the replacements: block of ${dir}/kustomization.yaml copies the Deployment's name)`,
              ),
            );
          }
        }
      }
    }
    return violations;
  },
};

/**
 * An application's DBOS system schema is shared by every live version of it, so it is migrated once per application
 * with the newest migrate image: a Job per version would run concurrently against the same tables, and a
 * migrate-image bump would re-create every one of them.
 */
function checkMigrationJob(render: Render, app: Application): Violation[] {
  const fix = `keep base/app's migration Job once in overlays/${render.env}/apps/${app.name} (not in base/app-version)`;
  const violations: Violation[] = [];
  for (const job of app.jobs) {
    const version = labelsOf(job.object)[VERSION_LABEL];
    if (version === undefined) continue;
    violations.push(
      violationFor(
        job,
        RULE_COMPLETE,
        `is a migration Job of version "${version}" of ${app.name}; the system schema is shared by every version and is migrated once per application`,
        fix,
      ),
    );
  }
  if (app.jobs.length !== 1) {
    violations.push({
      rule: RULE_COMPLETE,
      file: `overlays/${render.env}/apps/${app.name}/kustomization.yaml`,
      object: `${render.id} ${app.name}`,
      message: `renders ${app.jobs.length} migration Jobs for ${app.name} (${app.jobs.map((r) => objectRef(r.object)).join(', ') || 'none'}); the application needs exactly one`,
      fix,
    });
  }
  return violations;
}

/**
 * Each application's Service sends new requests to its latest version only; older versions just finish their own
 * work. A Service that selected by `app` alone would spread traffic over every version.
 */
export const appService: Policy = {
  id: 'app-service',
  title:
    'Per environment and application exactly one Service labelled with the application, selecting its executors and the live latest version (the one with the metrics-api trigger)',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      for (const app of applicationsOf(render).values()) {
        const serviceFile = `overlays/${render.env}/apps/${app.name}/versions/service.yaml`;
        const live = [...app.versions.values()].filter((v) => v.deployments.length > 0);
        const latest = live.filter((v) => v.scaledObjects.some((s) => hasMetricsApiTrigger(s.object)));
        if (latest.length > 1) {
          violations.push(
            violationFor(
              latest[1]!.scaledObjects[0]!,
              'app-service',
              `${latest.length} versions of ${app.name} carry the metrics-api trigger (${latest.map((v) => v.slug).join(', ')}); only the latest should`,
              `include the app-latest component in the newest version of ${app.name} only`,
            ),
          );
        }
        // A traffic ramp's Service (the bot's ramp/ component, README "Ramping traffic") is named <app>-<slug> and selects
        // exactly that version: it is not the application's Service, but it must select a live version other than the
        // latest (the application's Service already sends the rest of the requests there) and the application's executors.
        const executors = [...app.executorPodApps];
        const rampFix = `let the bot end the ramp (version-switch), or remove overlays/${render.env}/apps/${app.name}/ramp/ and its line under components:`;
        const isRamp = (rendered: RenderedObject) => {
          const version = asRecord(asRecord(rendered.object.spec).selector)[VERSION_LABEL];
          return typeof version === 'string' && rendered.object.metadata?.name === `${app.name}-${version}`;
        };
        for (const ramp of app.services.filter(isRamp)) {
          const rampSelector = asRecord(asRecord(ramp.object.spec).selector);
          const version = rampSelector[VERSION_LABEL] as string;
          const why = !app.versions.get(version)?.deployments.length
            ? `is a ramp Service for version "${version}", which is not a live version of ${app.name} (no Deployment in ${render.id})`
            : latest.some((v) => v.slug === version)
              ? `is a ramp Service for version "${version}", which is already the latest of ${app.name}: the ramp should have ended with the switch`
              : executors.length > 0 && !(typeof rampSelector.app === 'string' && executors.includes(rampSelector.app))
                ? `selects app: ${String(rampSelector.app)}, not ${app.name}'s executors (app: ${executors.join(', ')})`
                : null;
          if (why) violations.push(violationFor(ramp, 'app-service', why, rampFix));
        }
        const services = app.services.filter((rendered) => !isRamp(rendered));
        if (services.length !== 1) {
          violations.push({
            rule: 'app-service',
            file: services[1]?.file ?? serviceFile,
            object: `Service/${app.name}`,
            message: `${render.id} renders ${services.length} Services labelled ${APP_LABEL}: ${app.name}${services.length ? ` (${services.map((r) => objectRef(r.object)).join(', ')})` : ''}; the application needs exactly one (besides a traffic ramp's <app>-<version> Service)`,
            fix: `keep one Service in ${serviceFile}`,
          });
          continue;
        }
        const service = services[0]!;
        const selector = asRecord(asRecord(service.object.spec).selector);
        if (executors.length > 0 && !(typeof selector.app === 'string' && executors.includes(selector.app))) {
          violations.push(
            violationFor(
              service,
              'app-service',
              `selects app: ${String(selector.app)}, not ${app.name}'s executors (app: ${executors.join(', ')})`,
              `set spec.selector.app to ${executors[0]} in ${serviceFile}`,
            ),
          );
        }
        const selected = selector[VERSION_LABEL];
        const latestNames = latest.map((v) => v.slug);
        if (typeof selected === 'string' && latestNames.includes(selected)) continue;
        const why =
          typeof selected !== 'string'
            ? `does not select a version (no ${VERSION_LABEL} in spec.selector), so it spreads traffic over every version`
            : !app.versions.get(selected)?.deployments.length
              ? `selects version "${selected}", which is not a live version of ${app.name} (no Deployment in ${render.id})`
              : `selects version "${selected}", which is not the latest of ${app.name} (the latest carries the metrics-api trigger${latestNames.length ? `: ${latestNames.join(', ')}` : '; none does'})`;
        violations.push(
          violationFor(
            service,
            'app-service',
            why,
            `set spec.selector.${VERSION_LABEL} to ${latestNames[0] ? `"${latestNames[0]}"` : 'the latest live version'} in ${serviceFile}`,
          ),
        );
      }
    }
    return violations;
  },
};
