/**
 * What the cluster entry points say about how Argo CD and Flux will apply an overlay: which Application or
 * Kustomization applies which objects, in what order, after which add-ons. Shared by the policies that
 * check the engines' own rules (crd-installed, health-check-shipped).
 */
import path from 'node:path';
import { asArray, asRecord } from '../objects.ts';
import { renderTarget } from '../render.ts';
import type { K8sObject, PolicyContext, Render, RenderedObject } from '../types.ts';

export const WAVE_ANNOTATION = 'argocd.argoproj.io/sync-wave';

export function waveOf(object: K8sObject): number {
  const raw = object.metadata?.annotations?.[WAVE_ANNOTATION];
  const wave = raw === undefined ? 0 : Number(raw);
  return Number.isFinite(wave) ? wave : 0;
}

/** API group of an object (`''` for the core group). */
export function groupOf(object: K8sObject): string {
  const apiVersion = object.apiVersion ?? '';
  return apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
}

/** The chart an Argo CD Application installs: `spec.source.chart`, or the last segment of an OCI repoURL. */
export function argoChartOf(application: K8sObject): string | undefined {
  const source = asRecord(asRecord(application.spec).source);
  if (typeof source.chart === 'string') return source.chart;
  if (typeof source.repoURL === 'string' && source.repoURL.startsWith('oci://')) return source.repoURL.split('/').pop();
  return undefined;
}

export function argoSourcePath(application: K8sObject): string | undefined {
  const source = asRecord(asRecord(application.spec).source);
  return typeof source.path === 'string' && typeof source.chart !== 'string' && !String(source.repoURL ?? '').startsWith('oci://')
    ? source.path.replace(/^\.\//, '').replace(/\/$/, '')
    : undefined;
}

export function applications(render: Render): RenderedObject[] {
  return render.objects.filter((r) => r.object.kind === 'Application' && r.object.apiVersion?.startsWith('argoproj.io/'));
}

export function fluxKustomizations(render: Render): RenderedObject[] {
  return render.objects.filter((r) => r.object.kind === 'Kustomization' && r.object.apiVersion?.startsWith('kustomize.toolkit.fluxcd.io/'));
}

export function fluxPath(kustomization: K8sObject): string | undefined {
  const raw = asRecord(kustomization.spec).path;
  return typeof raw === 'string' ? path.posix.normalize(raw.replace(/^\.\//, '')).replace(/\/$/, '') : undefined;
}

/** Every Kustomization the given one waits for through dependsOn, transitively (same render, by name). */
export function dependsOnClosure(start: RenderedObject, all: RenderedObject[]): RenderedObject[] {
  const byName = new Map(all.map((k) => [k.object.metadata?.name ?? '', k]));
  const seen = new Set<string>();
  const result: RenderedObject[] = [];
  const queue = [start];
  while (queue.length > 0) {
    const current = queue.shift()!;
    for (const entry of asArray(asRecord(current.object.spec).dependsOn)) {
      const name = asRecord(entry).name;
      if (typeof name !== 'string' || seen.has(name)) continue;
      seen.add(name);
      const found = byName.get(name);
      if (found) {
        result.push(found);
        queue.push(found);
      }
    }
  }
  return result;
}

const extraRenders = new WeakMap<PolicyContext, Map<string, Promise<Render | undefined>>>();

/**
 * The objects a Flux Kustomization applies: an entry point validate already rendered when its path is one,
 * otherwise that directory rendered here with the same real kustomize (add-on controller folders).
 */
export function objectsAtPath(ctx: PolicyContext, relative: string, env: string): Promise<Render | undefined> {
  const known = ctx.renders.find((r) => r.id === relative);
  if (known) return Promise.resolve(known);
  let cache = extraRenders.get(ctx);
  if (!cache) {
    cache = new Map();
    extraRenders.set(ctx, cache);
  }
  let pending = cache.get(relative);
  if (!pending) {
    pending = renderTarget({ id: relative, kind: 'flux', env, dir: path.join(ctx.root, relative) }, { root: ctx.root }).then((r) =>
      r.error === undefined ? r : undefined,
    );
    cache.set(relative, pending);
  }
  return pending;
}

/** The charts a Flux render installs: HelmRelease chart.spec.chart, or the OCIRepository a chartRef names. */
export function fluxCharts(render: Render): string[] {
  const ociUrls = new Map<string, string>();
  for (const { object } of render.objects) {
    if (object.kind !== 'OCIRepository') continue;
    const url = asRecord(object.spec).url;
    if (typeof url === 'string') ociUrls.set(object.metadata?.name ?? '', url);
  }
  const charts: string[] = [];
  for (const { object } of render.objects) {
    if (object.kind !== 'HelmRelease') continue;
    const spec = asRecord(object.spec);
    const chart = asRecord(asRecord(spec.chart).spec).chart;
    if (typeof chart === 'string') {
      charts.push(chart);
      continue;
    }
    const ref = asRecord(spec.chartRef);
    const url = ref.kind === 'OCIRepository' && typeof ref.name === 'string' ? ociUrls.get(ref.name) : undefined;
    if (url) charts.push(url.split('/').pop()!);
  }
  return charts;
}
