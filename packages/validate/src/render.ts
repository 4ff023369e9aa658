import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { RenderTarget } from './discover.ts';
import { ToolError } from './errors.ts';
import type { K8sObject, ObjectSource, Render, RenderedObject } from './types.ts';

const ORIGIN_ANNOTATION = 'config.kubernetes.io/origin';
const TRANSFORMATIONS_ANNOTATION = 'alpha.config.kubernetes.io/transformations';

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runKubectl(args: string[], kubectl: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectl, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new ToolError(`"${kubectl}" was not found on PATH; install kubectl (1.27+ ships kustomize v5) or set KUBECTL to its path`)
          : new ToolError(`could not run ${kubectl}: ${error.message}`),
      );
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/**
 * kubectl wraps kustomize's message in a klog line (`E1130 12:00:00.000000 123 run.go:72] "command failed"
 * err="…"`, or `err=<` with a tab-indented block when the message has a newline); the reader only needs
 * kustomize's own words.
 */
export function cleanKustomizeMessage(stderr: string): string {
  const text = stderr.trim();
  const quoted = /err="((?:[^"\\]|\\.)*)"/.exec(text);
  const block = /err=<\n([\s\S]*?)\n\s*>/.exec(text);
  let message: string;
  if (quoted?.[1]) message = quoted[1].replace(/\\"/g, '"').replace(/\\'/g, "'");
  else if (block?.[1]) message = block[1].replace(/^\t/gm, '');
  else message = text.replace(/^[EWIF]\d{4} [^\]]*\]\s*/gm, '').replace(/^error:\s*/i, '');
  return message.replace(/\s+/g, ' ').trim() || 'kustomize failed without a message';
}

function parseObjects(stdout: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(stdout)) {
    if (doc.errors.length > 0) throw new ToolError(`kustomize printed YAML that does not parse: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value && typeof value === 'object' && !Array.isArray(value)) objects.push(value as K8sObject);
  }
  return objects;
}

function repoRelative(wrapperDir: string, root: string, source: string): string | undefined {
  const relative = path.relative(root, path.resolve(wrapperDir, source));
  if (relative.startsWith('..') || path.isAbsolute(relative)) return undefined;
  return relative.split(path.sep).join('/');
}

/** Where a rendered object came from: its source file and the kustomizations whose transformers ran on it. */
export interface ObjectAttribution {
  file: string | undefined;
  kustomizations: string[];
}

/**
 * Reads kustomize's build-metadata annotations into repo-relative paths, then removes them so they never reach a
 * policy. `transformations` lists every kustomization whose transformers visited the object (innermost first),
 * which tells the version directory that pulled a shared base in; it does not say which transformer changed what.
 */
function takeAttribution(object: K8sObject, wrapperDir: string, root: string): ObjectAttribution {
  const annotations = object.metadata?.annotations;
  if (!annotations) return { file: undefined, kustomizations: [] };
  const origin = annotations[ORIGIN_ANNOTATION];
  const transformations = annotations[TRANSFORMATIONS_ANNOTATION];
  delete annotations[ORIGIN_ANNOTATION];
  delete annotations[TRANSFORMATIONS_ANNOTATION];
  if (Object.keys(annotations).length === 0 && object.metadata) delete object.metadata.annotations;
  let file: string | undefined;
  if (origin !== undefined) {
    const parsed = parseAllDocuments(origin)[0]?.toJS() as { path?: string; configuredIn?: string; repo?: string } | undefined;
    const source = parsed?.path ?? parsed?.configuredIn;
    if (source && !parsed?.repo) file = repoRelative(wrapperDir, root, source);
  }
  const kustomizations: string[] = [];
  if (transformations !== undefined) {
    const steps = parseAllDocuments(transformations)[0]?.toJS() as Array<{ configuredIn?: string }> | undefined;
    for (const step of Array.isArray(steps) ? steps : []) {
      const relative = step.configuredIn ? repoRelative(wrapperDir, root, step.configuredIn) : undefined;
      if (relative && !kustomizations.includes(relative)) kustomizations.push(relative);
    }
  }
  return { file, kustomizations };
}

export interface RenderOptions {
  root: string;
  kubectl?: string;
  /**
   * Source files already known by object identity (from the overlay a Flux stage filters). When given, the
   * target is rendered directly, without the origin wrapper that roughly doubles kustomize's time.
   */
  knownFiles?: Map<string, ObjectAttribution>;
}

/** What identifies an object across renders of the same overlay. */
export function objectIdentity(object: K8sObject): string {
  return `${object.apiVersion ?? ''}/${object.kind ?? ''}/${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

/**
 * Renders one entry point with real kustomize. It goes through a throw-away wrapper kustomization with
 * `buildMetadata: [originAnnotations, transformerAnnotations]` so every object names its source file and the
 * kustomizations that transformed it; kustomize refuses absolute
 * resource paths, so the wrapper points at the target relatively. If the wrapper fails where a direct
 * render works, the direct render is used and objects are attributed to the entry point's kustomization.
 */
export async function renderTarget(target: RenderTarget, options: RenderOptions): Promise<Render> {
  const kubectl = options.kubectl ?? process.env.KUBECTL ?? 'kubectl';
  const started = performance.now();
  const sourceOf = (kustomizations: string[]): ObjectSource => ({ root: options.root, env: target.env, renderId: target.id, kustomizations });
  const named = {
    id: target.id,
    kind: target.kind,
    env: target.env,
    ...(target.path ? { path: target.path } : {}),
    ...(target.kustomization ? { kustomization: target.kustomization } : {}),
  };
  const fallbackFile = `${target.path ?? target.id}/kustomization.yaml`;
  if (options.knownFiles) {
    const known = options.knownFiles;
    const direct = await runKubectl(['kustomize', target.dir], kubectl);
    const wallMs = performance.now() - started;
    if (direct.code !== 0) {
      return { ...named, objects: [], error: cleanKustomizeMessage(direct.stderr), originAnnotations: false, wallMs };
    }
    const objects = parseObjects(direct.stdout).map((object) => {
      const attribution = known.get(objectIdentity(object));
      return { object, file: attribution?.file ?? fallbackFile, source: sourceOf(attribution?.kustomizations ?? []) };
    });
    return { ...named, objects, originAnnotations: objects.every((o) => o.file !== fallbackFile), wallMs };
  }
  const wrapperDir = await mkdtemp(path.join(os.tmpdir(), 'validate-wrapper-'));
  try {
    const relativeTarget = path.relative(wrapperDir, target.dir).split(path.sep).join('/');
    await writeFile(
      path.join(wrapperDir, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${JSON.stringify(relativeTarget)}\nbuildMetadata: [originAnnotations, transformerAnnotations]\n`,
    );
    const wrapped = await runKubectl(['kustomize', wrapperDir], kubectl);
    if (wrapped.code === 0) {
      const objects: RenderedObject[] = parseObjects(wrapped.stdout).map((object) => {
        const attribution = takeAttribution(object, wrapperDir, options.root);
        return { object, file: attribution.file ?? fallbackFile, source: sourceOf(attribution.kustomizations) };
      });
      return { ...named, objects, originAnnotations: true, wallMs: performance.now() - started };
    }
    const direct = await runKubectl(['kustomize', target.dir], kubectl);
    const wallMs = performance.now() - started;
    if (direct.code !== 0) {
      return {
        ...named,
        objects: [],
        error: cleanKustomizeMessage(direct.stderr),
        originAnnotations: false,
        wallMs,
      };
    }
    const objects = parseObjects(direct.stdout).map((object) => ({ object, file: fallbackFile, source: sourceOf([]) }));
    return { ...named, objects, originAnnotations: false, wallMs };
  } finally {
    await rm(wrapperDir, { recursive: true, force: true });
  }
}
