import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { discoverRenderTargets, type RenderTarget } from './discover.ts';
import { UsageError } from './errors.ts';
import { POLICIES } from './policies/index.ts';
import { appendComponents, copyRenderedTrees } from './flux-components.ts';
import { asArray, asRecord } from './objects.ts';
import { fluxKustomizations, fluxPath } from './policies/sync-engines.ts';
import { objectIdentity, renderTarget, type ObjectAttribution, type RenderOptions } from './render.ts';
import { checkSchemas, SCHEMA_RULE, UNKNOWN_FIELD_RULE, UNKNOWN_KIND_RULE } from './schema.ts';
import { explainRenderError, type RenderErrorCause } from './render-errors.ts';
import type { Render, Violation, ViolationSite } from './types.ts';

export const RENDER_RULE = 'render';

/** Rule ids `--only` accepts: the policies plus the checks every render gets. */
export function knownRules(): string[] {
  return [RENDER_RULE, SCHEMA_RULE, UNKNOWN_KIND_RULE, UNKNOWN_FIELD_RULE, ...POLICIES.map((p) => p.id)];
}

export interface ValidateOptions {
  root: string;
  /** Run only this rule (render failures are always reported: nothing else can be checked without a render). */
  only?: string;
  kubectl?: string;
  /** Renders run at once; the machines are small, and kustomize is quick. */
  concurrency?: number;
  /** One line per finished step (a render, the schema pass, the policies); the CLI shows them only on a terminal. */
  onProgress?: (line: string) => void;
}

export interface ValidateResult {
  root: string;
  renders: Array<Pick<Render, 'id' | 'kind' | 'env' | 'wallMs' | 'originAnnotations' | 'error'> & { objects: number }>;
  objects: number;
  violations: Violation[];
  /** Wall time of each phase, for the bench; renders run concurrently, so renderMs is less than their sum. */
  timings: { renderMs: number; schemaMs: number; policyMs: Record<string, number> };
}

async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  });
  await Promise.all(workers);
  return results;
}

/**
 * One violation per rule, file, object and message, however many renders show it (an overlay, its Argo CD and Flux
 * entry points, its stages, other environments); the places it shows up are merged into `where`, once each.
 */
function dedupe(violations: Violation[]): Violation[] {
  const byKey = new Map<string, Violation>();
  for (const violation of violations) {
    const key = `${violation.rule}\0${violation.file}\0${violation.object}\0${violation.message}`;
    const first = byKey.get(key);
    if (!first) {
      byKey.set(key, violation.where ? { ...violation, where: [...violation.where] } : violation);
      continue;
    }
    for (const site of violation.where ?? []) {
      first.where ??= [];
      if (!first.where.some((s) => s.env === site.env && s.file === site.file)) first.where.push(site);
    }
  }
  return [...byKey.values()];
}

/**
 * One violation per root cause, however many entry points it breaks (an overlay and each Flux stage built on it,
 * every environment sharing a broken base): the cause first, then which renders it breaks.
 */
function renderErrorViolations(root: string, renders: Render[]): Violation[] {
  const byCause = new Map<string, { cause: RenderErrorCause; renders: Render[] }>();
  for (const render of renders) {
    if (render.error === undefined) continue;
    const cause = explainRenderError(render.error, root, render.path ?? render.id);
    const key = `${cause.file}\0${cause.cause}`;
    const group = byCause.get(key) ?? { cause, renders: [] };
    group.renders.push(render);
    byCause.set(key, group);
  }
  return [...byCause.values()].map(({ cause, renders: broken }) => {
    const where: ViolationSite[] = [];
    for (const render of broken) {
      const explained = explainRenderError(render.error!, root, render.path ?? render.id);
      // The nearest overlay-side directory on the way to the bad reference, as for any other violation.
      const overlayDir = [...explained.chain].reverse().find((dir) => !dir.startsWith('base/')) ?? render.path ?? render.id;
      const site = { env: render.env, file: `${overlayDir}/kustomization.yaml` };
      if (!where.some((s) => s.env === site.env && s.file === site.file)) where.push(site);
    }
    const via = cause.chain.length > 1 ? ` (through ${cause.chain.slice(1).join(' › ')})` : '';
    return {
      rule: RENDER_RULE,
      file: cause.file,
      object: broken[0]!.id,
      message: `${cause.cause}; kustomize cannot render ${broken.map((r) => r.id).join(', ')}${via}`,
      fix: `fix the reference in ${cause.file}, then check with \`kubectl kustomize ${broken[0]!.path ?? broken[0]!.id}\``,
      where,
    };
  });
}

/**
 * Rules that judge a whole environment (network flows, sync order) name a file but not an object's render; when that
 * file sits in one environment's folder, that is where the violation shows up.
 */
function withEnvironmentFromPath(violation: Violation): Violation {
  if (violation.where) return violation;
  const env = /^(?:overlays|clusters)\/([^/]+)\//.exec(violation.file)?.[1];
  return env && env !== 'common' ? { ...violation, where: [{ env, file: violation.file }] } : violation;
}

/** Rules keep their registry order; within a rule, by file then object, so a report reads top-down through the tree. */
function sortWithinRules(violations: Violation[]): Violation[] {
  const ruleOrder = new Map(knownRules().map((rule, index) => [rule, index]));
  return violations
    .map((violation, index) => ({ violation, index }))
    .sort(
      (a, b) =>
        (ruleOrder.get(a.violation.rule) ?? 0) - (ruleOrder.get(b.violation.rule) ?? 0) ||
        a.violation.file.localeCompare(b.violation.file) ||
        a.violation.object.localeCompare(b.violation.object) ||
        a.index - b.index,
    )
    .map(({ violation }) => violation);
}

/**
 * The Flux Kustomizations that append `spec.components` (each application's stage chain): found in the flux renders,
 * each built as Flux builds it (flux-components.ts) in one temporary copy of the tree. Builds of the same spec.path
 * edit the same file, so they run one after another; different paths run side by side. Attribution is borrowed by
 * object identity from the render of that path (or of its environment's overlay).
 */
async function renderFluxComponentBuilds(
  root: string,
  firstPass: Render[],
  base: RenderOptions,
  concurrency: number,
  progress: (line: string) => void,
): Promise<Render[]> {
  const builds: RenderTarget[] = [];
  for (const render of firstPass.filter((r) => r.kind === 'flux' && r.error === undefined)) {
    for (const { object } of fluxKustomizations(render)) {
      const components = asArray(asRecord(object.spec).components);
      const target = fluxPath(object);
      if (components.length === 0 || target === undefined) continue;
      const name = `${object.metadata?.name ?? '<no name>'}`;
      builds.push({
        id: `${target} › Kustomization/${name}`,
        kind: 'flux-app',
        env: render.env,
        dir: target,
        path: target,
        kustomization: name,
        components: components.map(String),
      } as RenderTarget & { components: string[] });
    }
  }
  if (builds.length === 0) return [];
  const attribution = (target: string, env: string) => {
    const source =
      firstPass.find((r) => r.id === target && r.error === undefined && r.originAnnotations) ??
      firstPass.find((r) => r.kind === 'overlay' && r.env === env && r.error === undefined && r.originAnnotations);
    return source
      ? new Map(source.objects.map((o) => [objectIdentity(o.object), { file: o.file, kustomizations: o.source?.kustomizations ?? [] }]))
      : undefined;
  };
  const byPath = new Map<string, Array<RenderTarget & { components: string[] }>>();
  for (const build of builds as Array<RenderTarget & { components: string[] }>) byPath.set(build.path!, [...(byPath.get(build.path!) ?? []), build]);
  const copy = await copyRenderedTrees(root);
  try {
    const groups = await mapBounded([...byPath.values()], concurrency, async (group) => {
      const results: Render[] = [];
      for (const build of group) {
        const restore = await appendComponents(copy.root, { path: build.path!, components: build.components });
        try {
          const knownFiles = attribution(build.path!, build.env);
          const { components: _components, ...target } = build;
          const render = await renderTarget({ ...target, dir: path.join(copy.root, build.path!) }, knownFiles ? { ...base, knownFiles } : base);
          // kustomize names files in the copy; the reader needs the repository's paths.
          if (render.error !== undefined) render.error = render.error.split(copy.root).join(root);
          results.push(render);
          progress(`rendered ${build.id}${render.error !== undefined ? ': failed' : ''}`);
        } finally {
          await restore();
        }
      }
      return results;
    });
    return groups.flat();
  } finally {
    await copy.remove();
  }
}

export async function validateRepo(options: ValidateOptions): Promise<ValidateResult> {
  const root = path.resolve(options.root);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new UsageError(`--root ${options.root} is not a directory`, "point --root at the GitOps repository's top level");
  }
  if (options.only !== undefined && !knownRules().includes(options.only)) {
    // Echo only what looks like a rule id: anything else may be a value that lost its own flag.
    const shown = /^[a-z][a-z0-9-]{0,40}$/.test(options.only) ? ` "${options.only}"` : ' (not shown)';
    throw new UsageError(
      `unknown rule${shown} for --only; known rules: ${knownRules().join(', ')}`,
      'pick one of the known rules, or drop --only to run them all',
    );
  }
  const wants = (rule: string) => options.only === undefined || options.only === rule;
  const targets = discoverRenderTargets(root);
  const renderStarted = performance.now();
  const base = { root, ...(options.kubectl ? { kubectl: options.kubectl } : {}) };
  const concurrency = options.concurrency ?? 2;
  const progress = options.onProgress ?? (() => {});
  let renderedCount = 0;
  const renderOne = async (target: RenderTarget, renderOptions: RenderOptions) => {
    const render = await renderTarget(target, renderOptions);
    renderedCount += 1;
    progress(`rendered ${target.id} (${renderedCount}/${targets.length})${render.error !== undefined ? ': failed' : ''}`);
    return render;
  };
  // Flux stages are their overlay filtered by label: render overlays first and reuse their file attribution.
  const firstPass = targets.filter((t) => t.kind !== 'flux-stage');
  const rendered1 = await mapBounded(firstPass, concurrency, (target) => renderOne(target, base));
  const filesByEnv = new Map<string, Map<string, ObjectAttribution>>();
  for (const render of rendered1) {
    if (render.kind !== 'overlay' || render.error !== undefined || !render.originAnnotations) continue;
    filesByEnv.set(
      render.env,
      new Map(render.objects.map((o) => [objectIdentity(o.object), { file: o.file, kustomizations: o.source?.kustomizations ?? [] }])),
    );
  }
  const stageTargets = targets.filter((t) => t.kind === 'flux-stage');
  const rendered2 = await mapBounded(stageTargets, concurrency, (target) => {
    const knownFiles = filesByEnv.get(target.env);
    return renderOne(target, knownFiles ? { ...base, knownFiles } : base);
  });
  const order = new Map(targets.map((t, index) => [t.id, index]));
  const rendered3 = await renderFluxComponentBuilds(root, rendered1, base, concurrency, progress);
  const renders = [...[...rendered1, ...rendered2].sort((a, b) => order.get(a.id)! - order.get(b.id)!), ...rendered3];

  const renderMs = performance.now() - renderStarted;
  const violations: Violation[] = [];
  if (targets.length === 0) {
    violations.push({
      rule: RENDER_RULE,
      file: '.',
      object: 'overlays/*',
      message: `found no overlays/<env> or clusters/<env>/{argocd,flux} directory with a kustomization.yaml under ${root}`,
      fix: 'run from the repository root or pass --root DIR',
    });
  }
  violations.push(...renderErrorViolations(root, renders));
  const rendered = renders.filter((r) => r.error === undefined);
  const schemaStarted = performance.now();
  progress('checking schemas');
  if (wants(SCHEMA_RULE) || wants(UNKNOWN_KIND_RULE) || wants(UNKNOWN_FIELD_RULE)) {
    const schemaViolations = await checkSchemas(rendered.flatMap((r) => r.objects));
    violations.push(...schemaViolations.filter((v) => wants(v.rule)));
  }
  const schemaMs = performance.now() - schemaStarted;
  const policyMs: Record<string, number> = {};
  progress('checking the policy set');
  for (const policy of POLICIES) {
    if (!wants(policy.id)) continue;
    const started = performance.now();
    violations.push(...(await policy.check({ root, renders: rendered })));
    policyMs[policy.id] = performance.now() - started;
  }
  return {
    root,
    renders: renders.map((r) => ({
      id: r.id,
      kind: r.kind,
      env: r.env,
      wallMs: r.wallMs,
      originAnnotations: r.originAnnotations,
      objects: r.objects.length,
      ...(r.error !== undefined ? { error: r.error } : {}),
    })),
    objects: renders.reduce((sum, r) => sum + r.objects.length, 0),
    violations: sortWithinRules(dedupe(violations.map(withEnvironmentFromPath))),
    timings: { renderMs, schemaMs, policyMs },
  };
}
