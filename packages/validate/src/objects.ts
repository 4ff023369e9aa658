import { overlayFileFor, type ViolationCause } from './attribution.ts';
import type { K8sObject, PolicyContext, RenderedObject, Violation } from './types.ts';

export function objectRef(object: K8sObject): string {
  const kind = object.kind ?? '<no kind>';
  const name = object.metadata?.name ?? '<no name>';
  const namespace = object.metadata?.namespace;
  return namespace ? `${kind}/${namespace}/${name}` : `${kind}/${name}`;
}

export function violationFor(rendered: RenderedObject, rule: string, message: string, fix: string, cause?: ViolationCause): Violation {
  const violation: Violation = { rule, file: rendered.file, object: objectRef(rendered.object), message, fix };
  const overlayFile = overlayFileFor(rendered, cause);
  if (rendered.source && overlayFile) violation.where = [{ env: rendered.source.env, file: overlayFile }];
  return violation;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function labelsOf(object: K8sObject): Record<string, string> {
  return object.metadata?.labels ?? {};
}

export interface ContainerRef {
  container: Record<string, unknown>;
  name: string;
  /** `containers` or `initContainers`, as the field is spelled in the pod spec. */
  field: 'containers' | 'initContainers';
  index: number;
}

export const POD_BEARING_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob']);
export const LONG_RUNNING_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** The pod spec of a pod-bearing object; undefined for every other kind. */
export function podSpecOf(object: K8sObject): Record<string, unknown> | undefined {
  if (!object.kind || !POD_BEARING_KINDS.has(object.kind)) return undefined;
  const spec = asRecord(object.spec);
  if (object.kind === 'CronJob') {
    return asRecord(asRecord(asRecord(asRecord(spec.jobTemplate).spec).template).spec);
  }
  return asRecord(asRecord(spec.template).spec);
}

export function containersOf(podSpec: Record<string, unknown>, includeInit: boolean): ContainerRef[] {
  const fields: Array<'containers' | 'initContainers'> = includeInit ? ['initContainers', 'containers'] : ['containers'];
  const result: ContainerRef[] = [];
  for (const field of fields) {
    asArray(podSpec[field]).forEach((raw, index) => {
      const container = asRecord(raw);
      result.push({ container, name: String(container.name ?? `#${index}`), field, index });
    });
  }
  return result;
}

/** Every container (and init container) of every pod-bearing object in every render: what the per-container policies walk. */
export function* podContainers(ctx: PolicyContext): Generator<{ rendered: RenderedObject; podSpec: Record<string, unknown>; ref: ContainerRef }> {
  for (const render of ctx.renders) {
    for (const rendered of render.objects) {
      const podSpec = podSpecOf(rendered.object);
      if (!podSpec) continue;
      for (const ref of containersOf(podSpec, true)) yield { rendered, podSpec, ref };
    }
  }
}

/** The path a fix targets, e.g. `spec.template.spec.containers[name=app]`. */
export function containerPath(object: K8sObject, ref: ContainerRef): string {
  const prefix = object.kind === 'CronJob' ? 'spec.jobTemplate.spec.template.spec' : 'spec.template.spec';
  return `${prefix}.${ref.field}[name=${ref.name}]`;
}

export function containerWord(ref: ContainerRef): string {
  return ref.field === 'initContainers' ? `init container "${ref.name}"` : `container "${ref.name}"`;
}
