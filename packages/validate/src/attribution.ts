/**
 * Names the overlay-side file behind a violation. The origin annotation names where an object was written (often a
 * shared `base/` file), but the person who broke it usually edited an overlay: an `images:` entry, a patch, or the
 * kustomization that pulled the object in. kustomize's `transformerAnnotations` lists every kustomization whose
 * transformers visited the object, not which one changed which field, so the `images:` entries and patches of those
 * kustomizations are read here and matched against the offending value.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { parseImageReference } from './policies/image-pinned.ts';
import type { K8sObject, RenderedObject } from './types.ts';

/** What a rule knows about the offending value: an image reference, or the field names a fix would touch. */
export type ViolationCause = { image: string } | { fields: readonly string[] };

const cache = new Map<string, unknown>();

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readKustomization(root: string, relative: string): Record<string, unknown> {
  const file = path.join(root, relative);
  if (!cache.has(file)) {
    let parsed: unknown;
    try {
      parsed = parse(readFileSync(file, 'utf8'));
    } catch {
      // Unreadable here means kustomize read it moments ago and it changed since; attribute to the fallback.
    }
    cache.set(file, parsed);
  }
  const value = cache.get(file);
  return isRecord(value) ? value : {};
}

function readText(root: string, relative: string): string {
  try {
    return readFileSync(path.join(root, relative), 'utf8');
  } catch {
    return '';
  }
}

/** The kustomization whose `images:` entry produced this exact reference; outermost wins, as kustomize applies it last. */
function imageEntryFile(root: string, kustomizations: readonly string[], image: string): string | undefined {
  const rendered = parseImageReference(image);
  for (const file of [...kustomizations].reverse()) {
    const images = readKustomization(root, file).images;
    if (!Array.isArray(images)) continue;
    const sets = images.some((entry) => {
      if (!isRecord(entry)) return false;
      const name = typeof entry.newName === 'string' ? entry.newName : entry.name;
      if (name !== rendered.repository) return false;
      if (entry.newTag !== undefined && String(entry.newTag) !== rendered.tag) return false;
      if (entry.digest !== undefined && entry.digest !== rendered.digest) return false;
      return true;
    });
    if (sets) return file;
  }
  return undefined;
}

function labelSelectorMatches(selector: string, labels: Record<string, string>): boolean {
  return selector.split(',').every((raw) => {
    const term = raw.trim();
    const notEqual = /^([^!=]+)!=(.*)$/.exec(term);
    if (notEqual) return labels[notEqual[1]!.trim()] !== notEqual[2]!.trim();
    const equal = /^([^!=]+)==?(.*)$/.exec(term);
    if (equal) return labels[equal[1]!.trim()] === equal[2]!.trim();
    return term === '' || term in labels;
  });
}

/** A name in a patch target is a regular expression on the name at the time the patch runs, before outer suffixes. */
function nameMatches(pattern: string, name: string): boolean {
  try {
    if (new RegExp(`^(?:${pattern})$`).test(name)) return true;
  } catch {
    // Not a valid pattern: compare literally below.
  }
  return name.startsWith(pattern);
}

function targetMatches(target: unknown, object: K8sObject): boolean {
  if (!isRecord(target)) return false;
  if (typeof target.kind === 'string' && target.kind !== object.kind) return false;
  if (typeof target.name === 'string' && !nameMatches(target.name, object.metadata?.name ?? '')) return false;
  if (typeof target.labelSelector === 'string' && !labelSelectorMatches(target.labelSelector, object.metadata?.labels ?? {})) return false;
  return true;
}

/** A strategic-merge patch without a target applies to the object of its own kind and name. */
function patchDocumentMatches(text: string, object: K8sObject): boolean {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    return false;
  }
  if (!isRecord(doc)) return false;
  const name = isRecord(doc.metadata) ? doc.metadata.name : undefined;
  return doc.kind === object.kind && typeof name === 'string' && nameMatches(name, object.metadata?.name ?? '');
}

/** The patch (file, or kustomization for an inline patch) that targets this object and writes one of the fields. */
function patchFile(root: string, kustomizations: readonly string[], object: K8sObject, fields: readonly string[]): string | undefined {
  const mentions = (text: string) => fields.some((field) => text.includes(field));
  for (const file of [...kustomizations].reverse()) {
    const kustomization = readKustomization(root, file);
    const dir = path.posix.dirname(file);
    const entries = [
      ...(Array.isArray(kustomization.patches) ? kustomization.patches : []),
      ...(Array.isArray(kustomization.patchesJson6902) ? kustomization.patchesJson6902 : []),
      ...(Array.isArray(kustomization.patchesStrategicMerge) ? kustomization.patchesStrategicMerge.map((p) => ({ smp: p })) : []),
    ];
    for (const entry of entries) {
      if (!isRecord(entry)) continue;
      const pathField = typeof entry.path === 'string' ? entry.path : typeof entry.smp === 'string' && !entry.smp.includes('\n') ? entry.smp : undefined;
      const patchFileName = pathField ? path.posix.normalize(path.posix.join(dir, pathField)) : undefined;
      const text = patchFileName
        ? readText(root, patchFileName)
        : typeof entry.patch === 'string'
          ? entry.patch
          : typeof entry.smp === 'string'
            ? entry.smp
            : '';
      if (!mentions(text)) continue;
      const applies = entry.target !== undefined ? targetMatches(entry.target, object) : patchDocumentMatches(text, object);
      if (applies) return patchFileName ?? file;
    }
  }
  return undefined;
}

const isSharedBase = (file: string) => file.startsWith('base/');

/**
 * The overlay-side file to blame: the `images:` entry's kustomization or the patch that set the offending value;
 * otherwise the object's own file when an overlay wrote it, or the nearest overlay kustomization that pulled it in.
 */
export function overlayFileFor(rendered: RenderedObject, cause?: ViolationCause): string | undefined {
  const source = rendered.source;
  if (!source) return undefined;
  const { root, kustomizations } = source;
  if (cause && 'image' in cause) {
    const file = imageEntryFile(root, kustomizations, cause.image);
    if (file) return file;
  }
  if (cause && 'fields' in cause) {
    const file = patchFile(root, kustomizations, rendered.object, cause.fields);
    if (file) return file;
  }
  if (!isSharedBase(rendered.file)) return rendered.file;
  return kustomizations.find((file) => !isSharedBase(file)) ?? `${source.renderId}/kustomization.yaml`;
}
