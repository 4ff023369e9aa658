/**
 * Applications as the policies see them. An environment runs many DBOS applications on one control plane; an
 * object belongs to the application named by its `dbos.dev/app` label (components/app-identity puts it on every
 * object of an application and on its pod templates, never in a selector). An application's executors are its
 * Deployments labelled with a version; its migration is its Job.
 */
import { APP_VERSION_LABEL } from '@dbos-gitops/sealing/names';
import { asRecord, labelsOf } from '../objects.ts';
import type { K8sObject, Render, RenderedObject } from '../types.ts';

/** Not in @dbos-gitops/sealing/names yet: no package but validate reads it. */
export const APP_LABEL = 'dbos.dev/app';

export interface AppVersion {
  slug: string;
  deployments: RenderedObject[];
  scaledObjects: RenderedObject[];
  podDisruptionBudgets: RenderedObject[];
  jobs: RenderedObject[];
}

export interface Application {
  name: string;
  /** Every object of the render labelled with this application. */
  objects: RenderedObject[];
  /** By version slug, in the order the render lists them. */
  versions: Map<string, AppVersion>;
  /** The `app` label of the executors' pod templates (the name the network policies and the Service select on). */
  executorPodApps: Set<string>;
  /** Jobs of the application (its schema migration). */
  jobs: RenderedObject[];
  /** The `app` label of the Jobs' pod templates. */
  migrationPodApps: Set<string>;
  services: RenderedObject[];
}

export function appOf(object: K8sObject): string | undefined {
  const app = labelsOf(object)[APP_LABEL];
  return typeof app === 'string' && app !== '' ? app : undefined;
}

/** Pod template labels of a pod-bearing object; undefined for other kinds. */
export function podTemplateLabels(object: K8sObject): Record<string, unknown> | undefined {
  const spec = asRecord(object.spec);
  if (object.kind === 'CronJob')
    return asRecord(asRecord(asRecord(asRecord(spec.jobTemplate).spec).template).metadata).labels as Record<string, unknown> | undefined;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(object.kind ?? '')) {
    return asRecord(asRecord(spec.template).metadata).labels as Record<string, unknown> | undefined;
  }
  return undefined;
}

function podApp(object: K8sObject): string | undefined {
  const app = asRecord(podTemplateLabels(object)).app;
  return typeof app === 'string' ? app : undefined;
}

/** Every application a render holds, by name, in the order the render first shows each. */
export function applicationsOf(render: Render): Map<string, Application> {
  const apps = new Map<string, Application>();
  for (const rendered of render.objects) {
    const name = appOf(rendered.object);
    if (name === undefined) continue;
    let app = apps.get(name);
    if (!app) {
      app = { name, objects: [], versions: new Map(), executorPodApps: new Set(), jobs: [], migrationPodApps: new Set(), services: [] };
      apps.set(name, app);
    }
    app.objects.push(rendered);
    const { object } = rendered;
    if (object.kind === 'Service') app.services.push(rendered);
    if (object.kind === 'Job') {
      app.jobs.push(rendered);
      const pod = podApp(object);
      if (pod) app.migrationPodApps.add(pod);
    }
    const slug = labelsOf(object)[APP_VERSION_LABEL];
    if (slug === undefined) continue;
    let version = app.versions.get(slug);
    if (!version) {
      version = { slug, deployments: [], scaledObjects: [], podDisruptionBudgets: [], jobs: [] };
      app.versions.set(slug, version);
    }
    if (object.kind === 'Deployment') {
      version.deployments.push(rendered);
      const pod = podApp(object);
      if (pod) app.executorPodApps.add(pod);
    } else if (object.kind === 'ScaledObject') version.scaledObjects.push(rendered);
    else if (object.kind === 'PodDisruptionBudget') version.podDisruptionBudgets.push(rendered);
    else if (object.kind === 'Job') version.jobs.push(rendered);
  }
  return apps;
}

/** The pod `app` labels of every application's executors in a render (what `dbos.dev/app-version Exists` selects). */
export function executorPodApps(render: Render): string[] {
  return [...new Set([...applicationsOf(render).values()].flatMap((app) => [...app.executorPodApps]))].sort();
}

/** The pod `app` labels of every pod an application owns: executors and migrations (what `dbos.dev/app Exists` selects). */
export function applicationPodApps(render: Render): string[] {
  return [...new Set([...applicationsOf(render).values()].flatMap((app) => [...app.executorPodApps, ...app.migrationPodApps]))].sort();
}

/** The value of an env var set literally on any container of a Deployment's pod template. */
export function envValue(object: K8sObject, name: string): string | undefined {
  const containers = (asRecord(asRecord(asRecord(object.spec).template).spec).containers ?? []) as unknown[];
  for (const container of Array.isArray(containers) ? containers : []) {
    const env = asRecord(container).env;
    for (const entry of Array.isArray(env) ? env : []) {
      const e = asRecord(entry);
      if (e.name === name && typeof e.value === 'string') return e.value;
    }
  }
  return undefined;
}
