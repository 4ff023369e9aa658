import { asArray, asRecord, labelsOf, objectRef, violationFor } from '../objects.ts';
import type { K8sObject, Policy, PolicyContext, Render, RenderedObject, Violation } from '../types.ts';
import { STAGE_LABEL, STAGES } from './stage-label.ts';

/** Trigger metadata fields that name an HTTP endpoint KEDA polls (metrics-api `url`, prometheus `serverAddress`). */
const URL_FIELDS = ['url', 'serverAddress'];

/** The Service a trigger URL points at when it is an in-cluster Service name; undefined for any other host. */
export function serviceOfUrl(raw: string, defaultNamespace: string): { name: string; namespace: string } | undefined {
  let host: string;
  try {
    host = new URL(raw).hostname;
  } catch {
    return undefined;
  }
  const parts = host.split('.');
  if (parts.length === 1) return { name: parts[0]!, namespace: defaultNamespace };
  if (parts.length === 2) return { name: parts[0]!, namespace: parts[1]! };
  if (parts[2] === 'svc' && (parts.length === 3 || parts.slice(3).join('.') === 'cluster.local')) return { name: parts[0]!, namespace: parts[1]! };
  return undefined;
}

function stageIndex(object: K8sObject): number {
  return (STAGES as readonly string[]).indexOf(labelsOf(object)[STAGE_LABEL] ?? '');
}

/**
 * A trigger whose target Service does not exist yet errors; the ScaledObject is then not Ready, Argo CD's built-in
 * health for keda.sh/ScaledObject (argo-cd resource_customizations/keda.sh/ScaledObject/health.lua) reports it
 * Degraded, and a wave waits for every resource in it to be healthy before the next wave starts (Argo CD docs, "Sync
 * Phases and Waves"). A target synced in a later stage is therefore never created on a fresh cluster.
 */
export const triggerTargetStage: Policy = {
  id: 'trigger-target-stage',
  title: "A KEDA trigger's target Service is synced in the same or an earlier stage than its ScaledObject",
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const services = new Map<string, RenderedObject>();
      for (const rendered of render.objects) {
        if (rendered.object.kind === 'Service') services.set(`${rendered.object.metadata?.namespace ?? ''}/${rendered.object.metadata?.name ?? ''}`, rendered);
      }
      for (const rendered of render.objects) {
        if (rendered.object.kind !== 'ScaledObject') continue;
        const namespace = rendered.object.metadata?.namespace ?? '';
        const ownStage = stageIndex(rendered.object);
        asArray(asRecord(rendered.object.spec).triggers).forEach((raw, index) => {
          const trigger = asRecord(raw);
          const metadata = asRecord(trigger.metadata);
          for (const field of URL_FIELDS) {
            const url = metadata[field];
            if (typeof url !== 'string') continue;
            const target = serviceOfUrl(url, namespace);
            if (!target) continue;
            const where = `trigger ${index} (${String(trigger.type)}) ${field} ${url}`;
            const service = services.get(`${target.namespace}/${target.name}`);
            if (!service) {
              violations.push(
                violationFor(
                  rendered,
                  'trigger-target-stage',
                  `${where} targets Service ${target.namespace}/${target.name}, which ${render.id} does not render, so on a fresh cluster the trigger errors and the ScaledObject is never Ready`,
                  'point the trigger at a Service this overlay renders in the same or an earlier stage',
                ),
              );
              continue;
            }
            const targetStage = stageIndex(service.object);
            if (ownStage < 0 || targetStage <= ownStage) continue;
            violations.push(
              violationFor(
                rendered,
                'trigger-target-stage',
                `${where} targets ${objectRef(service.object)} in stage "${STAGES[targetStage]}", after this ScaledObject's stage "${STAGES[ownStage]}": on a fresh cluster the trigger errors, the ScaledObject is not Ready (Argo CD's ScaledObject health: Degraded) and its stage never completes, so the Service is never applied`,
                `move the ScaledObject to stage "${STAGES[targetStage]}" (as components/app-latest does) or target a Service of stage "${STAGES[ownStage]}" or earlier`,
              ),
            );
          }
        });
      }
    }
    return violations;
  },
};

/** The `keda` chart from a Helm repository (`chart: keda`) or an OCI repository whose path ends in `/keda`. */
function isKedaChart(chart: unknown, repoURL: unknown): boolean {
  return chart === 'keda' || (typeof repoURL === 'string' && repoURL.startsWith('oci://') && /\/keda\/?$/.test(repoURL));
}

/** A HelmRelease `chartRef` naming an OCIRepository of the keda chart. */
function isKedaOciRef(objects: readonly RenderedObject[], chartRef: Record<string, unknown>): boolean {
  if (chartRef.kind !== 'OCIRepository') return false;
  return objects.some(
    ({ object }) => object.kind === 'OCIRepository' && object.metadata?.name === chartRef.name && isKedaChart(undefined, asRecord(object.spec).url),
  );
}

interface KedaInstall {
  restricted: boolean;
  namespace: string;
  source: RenderedObject;
}

/** KEDA as the entry points install it: an Argo CD Application or a Flux HelmRelease of the `keda` chart. */
export function kedaInstalls(ctx: PolicyContext, env: string): KedaInstall[] {
  const installs: KedaInstall[] = [];
  for (const render of ctx.renders.filter((r) => r.env === env)) {
    for (const rendered of render.objects) {
      const { object } = rendered;
      const spec = asRecord(object.spec);
      let values: Record<string, unknown> | undefined;
      let namespace: string | undefined;
      if (object.kind === 'Application' && isKedaChart(asRecord(spec.source).chart, asRecord(spec.source).repoURL)) {
        values = asRecord(asRecord(asRecord(spec.source).helm).valuesObject);
        namespace = String(asRecord(spec.destination).namespace ?? 'default');
      } else if (
        object.kind === 'HelmRelease' &&
        (asRecord(asRecord(spec.chart).spec).chart === 'keda' || isKedaOciRef(render.objects, asRecord(spec.chartRef)))
      ) {
        values = asRecord(spec.values);
        namespace = String(spec.targetNamespace ?? object.metadata?.namespace ?? 'default');
      }
      if (values === undefined || namespace === undefined) continue;
      const restricted = asRecord(asRecord(asRecord(values.permissions).operator).restrict).secret === true;
      installs.push({ restricted, namespace, source: rendered });
    }
  }
  return installs;
}

function secretRefs(object: K8sObject): Array<{ name: string; key: string }> {
  return asArray(asRecord(object.spec).secretTargetRef).map((raw) => {
    const ref = asRecord(raw);
    return { name: String(ref.name), key: String(ref.key) };
  });
}

/** Whether the overlay renders a Secret source named `name` with `key` in `namespace` (a SealedSecret; plain Secrets are no-plain-secret's concern). */
function hasSecret(render: Render, namespace: string, name: string, key: string): boolean {
  return render.objects.some(({ object }) => {
    if (object.metadata?.namespace !== namespace || object.metadata?.name !== name) return false;
    if (object.kind === 'SealedSecret') return key in asRecord(asRecord(object.spec).encryptedData);
    if (object.kind === 'Secret') return key in asRecord(object.data) || key in asRecord(object.stringData);
    return false;
  });
}

const RESTRICT_RULE =
  'with permissions.operator.restrict.secret: true (KEDA_RESTRICT_SECRET_ACCESS) KEDA reads Secrets only in its own namespace and asks for ClusterTriggerAuthentication (KEDA docs, "Restrict Secret Access"; kedacore/keda#3668, #4893)';

/**
 * While KEDA's Secret access is restricted, a namespaced TriggerAuthentication's secretTargetRef is looked up in KEDA's
 * namespace, not the ScaledObject's, so every trigger using it fails; a ClusterTriggerAuthentication works only when its
 * Secrets exist in KEDA's namespace.
 */
export const kedaRestrictedSecretAuth: Policy = {
  id: 'keda-restricted-secret-auth',
  title: "While KEDA's Secret access is restricted, triggers authenticate through a ClusterTriggerAuthentication whose Secrets are in KEDA's namespace",
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const restricted = kedaInstalls(ctx, render.env).filter((install) => install.restricted);
      if (restricted.length === 0) continue;
      const kedaNamespace = restricted[0]!.namespace;
      const clusterAuths = new Map<string, RenderedObject>();
      for (const rendered of render.objects) {
        if (rendered.object.kind === 'ClusterTriggerAuthentication') clusterAuths.set(rendered.object.metadata?.name ?? '', rendered);
        if (rendered.object.kind === 'TriggerAuthentication' && secretRefs(rendered.object).length > 0) {
          violations.push(
            violationFor(
              rendered,
              'keda-restricted-secret-auth',
              `uses secretTargetRef in a namespaced TriggerAuthentication, but ${RESTRICT_RULE}; every trigger using it fails`,
              `replace it with a ClusterTriggerAuthentication whose Secret is sealed for namespace ${kedaNamespace}`,
            ),
          );
        }
      }
      for (const rendered of render.objects) {
        if (rendered.object.kind !== 'ScaledObject') continue;
        asArray(asRecord(rendered.object.spec).triggers).forEach((raw, index) => {
          const ref = asRecord(asRecord(raw).authenticationRef);
          if (ref.name === undefined) return;
          const kind = String(ref.kind ?? 'TriggerAuthentication');
          if (kind !== 'ClusterTriggerAuthentication') {
            violations.push(
              violationFor(
                rendered,
                'keda-restricted-secret-auth',
                `trigger ${index} authenticates through ${kind}/${String(ref.name)}, but ${RESTRICT_RULE}`,
                `set authenticationRef.kind: ClusterTriggerAuthentication and keep its Secret in namespace ${kedaNamespace}`,
              ),
            );
            return;
          }
          const auth = clusterAuths.get(String(ref.name));
          if (!auth) {
            violations.push(
              violationFor(
                rendered,
                'keda-restricted-secret-auth',
                `trigger ${index} names ClusterTriggerAuthentication/${String(ref.name)}, which ${render.id} does not render`,
                'render the ClusterTriggerAuthentication in the foundation stage (base/keda-auth)',
              ),
            );
          }
        });
      }
      for (const [, auth] of clusterAuths) {
        for (const ref of secretRefs(auth.object)) {
          if (hasSecret(render, kedaNamespace, ref.name, ref.key)) continue;
          violations.push(
            violationFor(
              auth,
              'keda-restricted-secret-auth',
              `reads Secret ${ref.name} key ${ref.key}, but ${render.id} renders no such SealedSecret in KEDA's namespace ${kedaNamespace}, and ${RESTRICT_RULE}`,
              `seal it for ${kedaNamespace}/${ref.name}: pnpm secrets:seal --env ${render.env} --name ${ref.name} --namespace ${kedaNamespace} --key ${ref.key}, and list it in overlays/${render.env}/secrets/kustomization.yaml`,
            ),
          );
        }
      }
    }
    return violations;
  },
};
