import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The model packages validate types but accept any extra field, so a typo like `sepc:` or `spec.replica`
 * passes and the API server silently drops it. The generated `.d.ts` files list every declared field, so the
 * top level and `spec` are checked against them here. Deeper levels are left alone to stay cheap.
 */
export interface FieldShape {
  top: Set<string>;
  /** Undefined when spec is untyped or a free-form map. */
  spec?: Set<string>;
}

const PROPERTY = /^\s*"([^"]+)"\??:/;

function isComment(line: string): boolean {
  const trimmed = line.trim();
  return trimmed.startsWith('/**') || trimmed.startsWith('*') || trimmed.startsWith('//');
}

function braceDelta(line: string): number {
  let delta = 0;
  for (const char of line.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if (char === '{') delta++;
    else if (char === '}') delta--;
  }
  return delta;
}

/** Property names declared directly in the block that opens on `lines[start]`; undefined if it has an index signature. */
function blockProperties(lines: string[], start: number): { names: Set<string>; lines: Map<string, number> } | undefined {
  const names = new Set<string>();
  const positions = new Map<string, number>();
  let depth = braceDelta(lines[start] ?? '');
  for (let i = start + 1; i < lines.length && depth > 0; i++) {
    const line = lines[i]!;
    if (isComment(line)) continue;
    if (depth === 1) {
      if (/^\s*\[key: string\]/.test(line)) return undefined;
      const match = PROPERTY.exec(line);
      if (match) {
        names.add(match[1]!);
        positions.set(match[1]!, i);
      }
    }
    depth += braceDelta(line);
  }
  return { names, lines: positions };
}

/**
 * The `declare class` block, not the interface: an interface may `extend` a shared one (HTTPRouteSpec extends
 * CommonRouteSpec for parentRefs), while the generated class repeats every inherited field.
 */
function firstClass(text: string, name?: string): { lines: string[]; start: number } | undefined {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => (name ? line.startsWith(`export declare class ${name} `) : line.startsWith('export declare class ')));
  return start >= 0 ? { lines, start } : undefined;
}

const cache = new Map<string, FieldShape | undefined>();

export function fieldShape(modelDir: string, kind: string): FieldShape | undefined {
  const key = `${modelDir}\0${kind}`;
  if (cache.has(key)) return cache.get(key);
  const shape = readShape(modelDir, kind);
  cache.set(key, shape);
  return shape;
}

function readShape(modelDir: string, kind: string): FieldShape | undefined {
  const file = path.join(modelDir, `${kind}.d.ts`);
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  const found = firstClass(text, kind);
  if (!found) return undefined;
  const top = blockProperties(found.lines, found.start);
  if (!top) return undefined;
  const shape: FieldShape = { top: top.names };
  const specLine = top.lines.get('spec');
  if (specLine === undefined) return shape;
  const declaration = found.lines[specLine]!;
  if (/:\s*\{\s*$/.test(declaration)) {
    const inline = blockProperties(found.lines, specLine);
    if (inline) shape.spec = inline.names;
    return shape;
  }
  const typeName = /:\s*([A-Za-z0-9_]+);\s*$/.exec(declaration)?.[1];
  if (!typeName) return shape;
  const importFrom = new RegExp(`import \\{[^}]*\\b${typeName}\\b[^}]*\\} from "(\\.[^"]+)\\.js"`).exec(text)?.[1];
  if (!importFrom) return shape;
  const specFile = path.resolve(modelDir, `${importFrom}.d.ts`);
  if (!existsSync(specFile)) return shape;
  const specInterface = firstClass(readFileSync(specFile, 'utf8'));
  if (!specInterface) return shape;
  const spec = blockProperties(specInterface.lines, specInterface.start);
  if (spec) shape.spec = spec.names;
  return shape;
}

/**
 * Fields served by the controller versions this repo targets but newer than the pinned model packages.
 * Each entry names its source; remove it once the model package catches up.
 */
const NEWER_THAN_MODELS: Record<string, readonly string[]> = {
  // kustomize-controller v1.9 `spec.ignore` (drift ignore rules, fluxcd/kustomize-controller#1627); flux-cd 4.0.0 predates it.
  'kustomize.toolkit.fluxcd.io/v1/Kustomization': ['spec.ignore'],
};

/** Field paths present in the object but not declared by its model, e.g. `sepc` or `spec.replica`. */
export function unknownFields(object: Record<string, unknown>, shape: FieldShape): string[] {
  const allowed = NEWER_THAN_MODELS[`${String(object.apiVersion)}/${String(object.kind)}`] ?? [];
  const unknown = Object.keys(object).filter((key) => !shape.top.has(key));
  const spec = object.spec;
  if (shape.spec && spec && typeof spec === 'object' && !Array.isArray(spec)) {
    for (const key of Object.keys(spec)) if (!shape.spec.has(key)) unknown.push(`spec.${key}`);
  }
  return unknown.filter((field) => !allowed.includes(field));
}
