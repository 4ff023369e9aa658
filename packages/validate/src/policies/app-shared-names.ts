import { asRecord, violationFor } from '../objects.ts';
import type { Policy, RenderedObject, Violation } from '../types.ts';
import { applicationsOf, envValue } from './applications.ts';

const VERSION_RULE = 'app-version-names-unique';
const ROUTE_RULE = 'app-routes-unique';

/**
 * The applications of an environment share its DBOS system database, and DBOS refuses to launch an executor whose
 * application version name another application registered there (DBOS 5.3 system_database.js: "names must be unique
 * across applications sharing a system database"). Two applications live with one version name would leave the
 * second one's executors crash-looping, so its workflows never start.
 */
export const appVersionNamesUnique: Policy = {
  id: VERSION_RULE,
  title: 'No two applications of an environment run the same DBOS application version name (they share one system database)',
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const owner = new Map<string, string>();
      for (const app of applicationsOf(render).values()) {
        for (const version of app.versions.values()) {
          for (const deployment of version.deployments) {
            const name = envValue(deployment.object, 'DBOS__APPVERSION');
            if (name === undefined) continue;
            const first = owner.get(name);
            if (first === undefined) owner.set(name, app.name);
            else if (first !== app.name)
              violations.push(
                violationFor(
                  deployment,
                  VERSION_RULE,
                  `runs DBOS version "${name}" of ${app.name}, which ${first} also runs in ${render.env}; DBOS refuses the second application's executors in their shared system database`,
                  `release ${app.name} under version names of its own (e.g. its own major version), so no two applications of ${render.env} share one`,
                ),
              );
          }
        }
      }
    }
    return violations;
  },
};

/** Where a route sends requests: one `host path` key per Ingress path or HTTPRoute hostname/path match. */
function routeKeys(rendered: RenderedObject): string[] {
  const { object } = rendered;
  const spec = asRecord(object.spec);
  if (object.kind === 'Ingress') {
    const rules = Array.isArray(spec.rules) ? spec.rules : [];
    return rules.flatMap((rule) => {
      const host = String(asRecord(rule).host ?? '*');
      const paths = asRecord(asRecord(rule).http).paths;
      return (Array.isArray(paths) ? paths : []).map((p) => `${host} ${String(asRecord(p).path ?? '/')}`);
    });
  }
  if (object.kind === 'HTTPRoute') {
    const hosts = Array.isArray(spec.hostnames) && spec.hostnames.length > 0 ? spec.hostnames.map(String) : ['*'];
    const rules = Array.isArray(spec.rules) ? spec.rules : [];
    const paths = rules.flatMap((rule) => {
      const matches = asRecord(rule).matches;
      return (Array.isArray(matches) && matches.length > 0 ? matches : [{}]).map((m) => String(asRecord(asRecord(m).path).value ?? '/'));
    });
    return hosts.flatMap((host) => paths.map((p) => `${host} ${p}`));
  }
  return [];
}

/**
 * Each application's route (its own Ingress or HTTPRoute) must not claim a host and path another route of the
 * environment claims: the controller would send one application's requests to the other's executors, or pick either.
 */
export const appRoutesUnique: Policy = {
  id: ROUTE_RULE,
  title: "No application's route claims a host and path that another route of the environment claims",
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const claimed = new Map<string, RenderedObject>();
      for (const rendered of render.objects) {
        for (const key of routeKeys(rendered)) {
          const first = claimed.get(key);
          if (!first) {
            claimed.set(key, rendered);
            continue;
          }
          violations.push(
            violationFor(
              rendered,
              ROUTE_RULE,
              `routes ${key.replace(' ', '')} in ${render.env}, which ${first.object.kind}/${String(asRecord(first.object.metadata).name)} routes too`,
              'give each application its own path (route.patch.yaml under ingress-nginx) or its own host (under the Gateway API)',
            ),
          );
        }
      }
    }
    return violations;
  },
};
