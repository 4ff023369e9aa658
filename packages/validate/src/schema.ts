import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { violationFor } from './objects.ts';
import { fieldShape, unknownFields } from './strict-fields.ts';
import type { RenderedObject, Violation } from './types.ts';

/**
 * Packages that ship generated models, in lookup order. Each exposes `<pkg>/<group>/<version>` (core: `v1`),
 * whose exports include one class per kind with static `apiVersion`, `kind` and a `validate()` method.
 */
const MODEL_PACKAGES = [
  'kubernetes-models',
  '@kubernetes-models/sealed-secrets',
  '@kubernetes-models/keda',
  '@kubernetes-models/flux-cd',
  '@kubernetes-models/argo-cd',
  '@kubernetes-models/cert-manager',
  '@kubernetes-models/prometheus-operator',
  '@kubernetes-models/gateway-api',
];

interface ModelClass {
  apiVersion: string;
  kind: string;
  new (data: unknown): { validate(): void };
}

interface KindTable {
  models: Map<string, ModelClass>;
  /** Directory of the generated models for this apiVersion, where the `.d.ts` field lists live. */
  dir: string;
}

const tableByApiVersion = new Map<string, Promise<KindTable | undefined>>();

function isModelClass(value: unknown): value is ModelClass {
  return (
    typeof value === 'function' && typeof (value as { kind?: unknown }).kind === 'string' && typeof (value as { apiVersion?: unknown }).apiVersion === 'string'
  );
}

const packageDirs = new Map<string, string | undefined>();

/** The installed package directory, found the way Node does: node_modules folders from here upwards. */
function packageDir(pkg: string): string | undefined {
  if (packageDirs.has(pkg)) return packageDirs.get(pkg);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  let found: string | undefined;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', pkg);
    if (existsSync(path.join(candidate, 'package.json'))) {
      found = candidate;
      break;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  packageDirs.set(pkg, found);
  return found;
}

async function loadTable(apiVersion: string): Promise<KindTable | undefined> {
  // A `/` in the group would let a crafted apiVersion reach other package paths; real groups never have one.
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return undefined;
  for (const pkg of MODEL_PACKAGES) {
    const dir = packageDir(pkg);
    // Checking the file first keeps a missing group a plain "not here", the same under Node and under vite.
    if (!dir || !existsSync(path.join(dir, apiVersion, 'index.js'))) continue;
    const mod = (await import(`${pkg}/${apiVersion}`)) as Record<string, unknown>;
    const models = new Map<string, ModelClass>();
    for (const value of Object.values(mod)) {
      if (isModelClass(value) && value.apiVersion === apiVersion) models.set(value.kind, value);
    }
    if (models.size > 0) return { models, dir: path.join(dir, apiVersion) };
  }
  return undefined;
}

async function tableFor(apiVersion: string): Promise<KindTable | undefined> {
  let table = tableByApiVersion.get(apiVersion);
  if (!table) {
    table = loadTable(apiVersion);
    tableByApiVersion.set(apiVersion, table);
  }
  return table;
}

export async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  return (await tableFor(apiVersion))?.models.get(kind);
}

interface AjvError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function describeErrors(errors: AjvError[]): string {
  const lines = errors.slice(0, 5).map((error) => {
    const at = (error.instancePath ?? '')
      .replace(/^\//, '')
      .replace(/\/(\d+)(?=\/|$)/g, '[$1]')
      .replace(/\//g, '.');
    const extra = error.params?.additionalProperty ? ` (${String(error.params.additionalProperty)})` : '';
    return `${at || '(root)'} ${error.message ?? 'is invalid'}${extra}`;
  });
  const more = errors.length > 5 ? `; and ${errors.length - 5} more` : '';
  return lines.join('; ') + more;
}

export const SCHEMA_RULE = 'schema';
export const UNKNOWN_KIND_RULE = 'unknown-kind';
export const UNKNOWN_FIELD_RULE = 'unknown-field';

/** Validates every object against its published schema; an apiVersion/kind no package knows is a violation. */
export async function checkSchemas(objects: RenderedObject[]): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const rendered of objects) {
    const { apiVersion, kind } = rendered.object;
    if (!apiVersion || !kind) {
      violations.push(violationFor(rendered, SCHEMA_RULE, 'object has no apiVersion or kind', 'give the object both apiVersion and kind'));
      continue;
    }
    const table = await tableFor(apiVersion);
    const Model = table?.models.get(kind);
    if (!table || !Model) {
      violations.push(
        violationFor(
          rendered,
          UNKNOWN_KIND_RULE,
          `no schema is known for apiVersion "${apiVersion}" kind "${kind}", so the object cannot be checked`,
          "use a served apiVersion for this kind (check for a typo or a removed beta version), or add the CRD's model package to packages/validate/src/schema.ts",
        ),
      );
      continue;
    }
    try {
      new Model(rendered.object).validate();
    } catch (error) {
      const errors = (error as { errors?: AjvError[] }).errors;
      const detail = Array.isArray(errors) && errors.length > 0 ? describeErrors(errors) : (error as Error).message;
      violations.push(
        violationFor(
          rendered,
          SCHEMA_RULE,
          `does not match the ${apiVersion} ${kind} schema: ${detail}`,
          `correct the named field(s) to the type and shape the ${kind} API defines`,
        ),
      );
    }
    const shape = fieldShape(table.dir, kind);
    const unknown = shape ? unknownFields(rendered.object, shape) : [];
    if (unknown.length > 0) {
      violations.push(
        violationFor(
          rendered,
          UNKNOWN_FIELD_RULE,
          `has field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} that the ${apiVersion} ${kind} schema does not declare; the API server drops or rejects ${unknown.length > 1 ? 'them' : 'it'}`,
          `correct the spelling or remove ${unknown.length > 1 ? 'them' : 'it'} (known spec fields: ${[...(shape?.spec ?? [])].join(', ') || 'see the API reference'})`,
        ),
      );
    }
  }
  return violations;
}
