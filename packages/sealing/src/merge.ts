import { CST, parseAllDocuments, Parser } from 'yaml';
import { MergeTargetMismatchError, SealedSecretFormatError } from './errors.ts';
import { SEALED_SECRET_API_VERSION, SEALED_SECRET_KIND, validateSecretKey, type SealingTarget } from './document.ts';
import { encryptionLabel, scopeFromAnnotations } from './scope.ts';

/** What an existing SealedSecret file says about where its values may be unsealed. */
export interface ExistingSealedSecret extends SealingTarget {
  keys: string[];
  annotations: Record<string, string>;
  format: 'yaml' | 'json';
}

function stringMap(value: unknown): Record<string, string> {
  const result: Record<string, string> = {};
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, item] of Object.entries(value)) if (typeof item === 'string') result[key] = item;
  }
  return result;
}

function looksLikeJson(source: string): boolean {
  return source.trimStart().startsWith('{');
}

/**
 * Reads the identity of a SealedSecret file. The label comes from the top-level metadata, as in the
 * controller, so that is what is read here (not the template).
 */
export function readSealedSecret(source: string, fileName = 'the file'): ExistingSealedSecret {
  const documents = parseAllDocuments(source);
  if (!Array.isArray(documents) || documents.length !== 1) {
    throw new SealedSecretFormatError(`${fileName} must hold exactly one YAML or JSON document, a SealedSecret`);
  }
  const document = documents[0]!;
  if (document.errors.length > 0) {
    throw new SealedSecretFormatError(`${fileName} is not valid YAML: ${document.errors[0]!.message.split('\n')[0]}`);
  }
  const object = document.toJS() as Record<string, unknown> | null;
  if (!object || typeof object !== 'object' || object.kind !== SEALED_SECRET_KIND || object.apiVersion !== SEALED_SECRET_API_VERSION) {
    throw new SealedSecretFormatError(`${fileName} is not a SealedSecret (expected apiVersion ${SEALED_SECRET_API_VERSION}, kind ${SEALED_SECRET_KIND})`);
  }
  const metadata = (object.metadata ?? {}) as Record<string, unknown>;
  const spec = (object.spec ?? {}) as Record<string, unknown>;
  if (typeof metadata.name !== 'string' || metadata.name === '') {
    throw new SealedSecretFormatError(`${fileName} has no metadata.name`);
  }
  const encryptedData = spec.encryptedData;
  if (!encryptedData || typeof encryptedData !== 'object' || Array.isArray(encryptedData)) {
    throw new SealedSecretFormatError(`${fileName} has no spec.encryptedData map to merge into`);
  }
  const annotations = stringMap(metadata.annotations);
  return {
    name: metadata.name,
    namespace: typeof metadata.namespace === 'string' ? metadata.namespace : '',
    scope: scopeFromAnnotations(annotations),
    keys: Object.keys(encryptedData),
    annotations,
    format: looksLikeJson(source) ? 'json' : 'yaml',
  };
}

/**
 * Refuses a merge whose ciphertext the controller could not decrypt in this document: the scope must be the
 * same and the OAEP label computed from the document's own metadata must equal the one the values were
 * sealed with (so a namespace-wide value may go into any name in its namespace, a strict one only into its own).
 */
export function assertMergeTarget(existing: SealingTarget, requested: SealingTarget, fileName = 'the file'): void {
  if (existing.scope !== requested.scope) {
    throw new MergeTargetMismatchError(
      `${fileName} is sealed with ${existing.scope} scope but the values were sealed with ${requested.scope} scope; ` +
        `pass --scope ${existing.scope} or write a new file`,
    );
  }
  const existingLabel = encryptionLabel(existing.namespace, existing.name, existing.scope);
  const requestedLabel = encryptionLabel(requested.namespace, requested.name, requested.scope);
  if (existingLabel !== requestedLabel) {
    const what = existing.namespace !== requested.namespace ? 'namespace' : 'name';
    throw new MergeTargetMismatchError(
      `${fileName} is the SealedSecret ${existing.namespace || '<cluster-wide>'}/${existing.name} but the values were ` +
        `sealed for ${requested.namespace || '<cluster-wide>'}/${requested.name} (${what} differs); the controller ` +
        'would fail to decrypt them. Seal with the same --name and --namespace as the file, or write a new file',
    );
  }
}

function sortedKeys(record: Record<string, unknown>): string[] {
  return Object.keys(record).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

type BlockMap = CST.BlockMap;

function findBlockMapItem(map: BlockMap, key: string): CST.BlockMap['items'][number] | undefined {
  return map.items.find((item) => item.key && CST.isScalar(item.key) && CST.resolveAsScalar(item.key)?.value === key);
}

function asBlockMap(token: CST.Token | null | undefined, path: string, fileName: string): BlockMap {
  if (token?.type !== 'block-map') {
    throw new SealedSecretFormatError(`${fileName}: ${path} is not a block mapping; only block-style YAML (as kubeseal writes it) can be edited in place`);
  }
  return token;
}

function endsWithNewline(tokens: CST.SourceToken[] | undefined): boolean {
  return tokens?.some((token) => token.type === 'newline') ?? false;
}

function newline(indent: number): CST.SourceToken {
  return { type: 'newline', offset: 0, indent, source: '\n' };
}

function space(width: number): CST.SourceToken {
  return { type: 'space', offset: 0, indent: 0, source: ' '.repeat(width) };
}

function newItem(key: string, value: string, indent: number, first: boolean, type: 'PLAIN' | 'QUOTE_DOUBLE'): BlockMap['items'][number] {
  return {
    // The first item of a nested map gets its indentation from the parent's separator.
    start: first ? [] : [space(indent)],
    key: CST.createScalarToken(key, { indent, implicitKey: true, end: [] }),
    sep: [
      { type: 'map-value-ind', offset: 0, indent, source: ':' },
      { type: 'space', offset: 0, indent, source: ' ' },
    ],
    value: CST.createScalarToken(value, { indent, type, end: [newline(indent)] }),
  };
}

/** Makes sure the map's last line ends in a line break, so an appended item starts on its own line. */
function terminateLastItem(map: BlockMap): void {
  const last = map.items[map.items.length - 1];
  // A block scalar's source always ends in a line break; a flow scalar at the end of the file may not.
  if (last?.value && last.value.type !== 'block-scalar' && CST.isScalar(last.value) && !endsWithNewline(last.value.end)) {
    last.value.end = [...(last.value.end ?? []), newline(map.indent)];
  }
}

/** Sets scalar entries of a block map in place: existing values keep their position, comments and quoting. */
function upsertEntries(map: BlockMap, entries: Record<string, string>, path: string, fileName: string, type: 'PLAIN' | 'QUOTE_DOUBLE'): void {
  for (const key of sortedKeys(entries)) {
    const value = entries[key]!;
    const existing = findBlockMapItem(map, key);
    if (existing) {
      if (!existing.value || !CST.isScalar(existing.value)) {
        throw new SealedSecretFormatError(`${fileName}: ${path}.${key} is not a scalar value`);
      }
      CST.setScalarValue(existing.value, value, type === 'PLAIN' ? {} : { type });
      continue;
    }
    terminateLastItem(map);
    map.items.push(newItem(key, value, map.indent, false, type));
  }
}

export interface MergeOptions {
  /**
   * Annotations to set on the SealedSecret itself (e.g. `dbos.dev/rotated-at` when a value is rotated). Existing
   * ones are replaced in place; a missing `metadata.annotations` map is appended to `metadata`.
   */
  annotations?: Record<string, string>;
  /** Annotations to delete (e.g. `dbos.dev/placeholder` once a real value is sealed); absent ones are ignored. */
  removeAnnotations?: readonly string[];
}

/**
 * Deletes an item from a block map. The first item takes its indentation from the parent's separator, so
 * when it goes, the next item gives up its own leading indentation.
 */
function removeItem(map: BlockMap, item: BlockMap['items'][number]): void {
  const index = map.items.indexOf(item);
  if (index === -1) return;
  map.items.splice(index, 1);
  const next = map.items[index];
  if (index === 0 && next && next.start[0]?.type === 'space') next.start = next.start.slice(1);
}

/**
 * Adds or replaces keys of `spec.encryptedData` (and optionally top-level annotations) by editing the concrete
 * syntax tree, so every other byte (comments, key order, quoting, indentation, other fields) stays as it was.
 */
function mergeYaml(source: string, encryptedData: Record<string, string>, fileName: string, options: MergeOptions): string {
  const tokens = [...new Parser().parse(source)];
  const documentToken = tokens.find((token): token is CST.Document => token.type === 'document');
  if (!documentToken) throw new SealedSecretFormatError(`${fileName} holds no YAML document`);
  const root = asBlockMap(documentToken.value, 'the document', fileName);
  const spec = findBlockMapItem(root, 'spec');
  const specMap = asBlockMap(spec?.value, 'spec', fileName);
  const dataItem = findBlockMapItem(specMap, 'encryptedData');
  const dataMap = asBlockMap(dataItem?.value, 'spec.encryptedData', fileName);
  upsertEntries(dataMap, encryptedData, 'spec.encryptedData', fileName, 'PLAIN');

  const annotations = options.annotations ?? {};
  const removals = options.removeAnnotations ?? [];
  if (removals.length > 0) {
    const metadataMap = asBlockMap(findBlockMapItem(root, 'metadata')?.value, 'metadata', fileName);
    const annotationsItem = findBlockMapItem(metadataMap, 'annotations');
    if (annotationsItem) {
      const annotationsMap = asBlockMap(annotationsItem.value, 'metadata.annotations', fileName);
      for (const key of removals) {
        const item = findBlockMapItem(annotationsMap, key);
        if (item) removeItem(annotationsMap, item);
      }
      // An empty block map would leave `annotations:` (null); drop the key instead.
      if (annotationsMap.items.length === 0) removeItem(metadataMap, annotationsItem);
    }
  }
  if (Object.keys(annotations).length > 0) {
    const metadataMap = asBlockMap(findBlockMapItem(root, 'metadata')?.value, 'metadata', fileName);
    const annotationsItem = findBlockMapItem(metadataMap, 'annotations');
    // YAML 1.1 readers (Kubernetes) would take "true" or a timestamp for a non-string: always double-quote.
    if (annotationsItem) {
      upsertEntries(asBlockMap(annotationsItem.value, 'metadata.annotations', fileName), annotations, 'metadata.annotations', fileName, 'QUOTE_DOUBLE');
    } else {
      const indent = metadataMap.indent;
      const nested = indent + 2;
      terminateLastItem(metadataMap);
      metadataMap.items.push({
        start: [space(indent)],
        key: CST.createScalarToken('annotations', { indent, implicitKey: true, end: [] }),
        sep: [{ type: 'map-value-ind', offset: 0, indent, source: ':' }, newline(indent), space(nested)],
        value: {
          type: 'block-map',
          offset: 0,
          indent: nested,
          items: sortedKeys(annotations).map((key, index) => newItem(key, annotations[key]!, nested, index === 0, 'QUOTE_DOUBLE')),
        },
      });
    }
  }
  return tokens.map((token) => CST.stringify(token)).join('');
}

/** JSON files are rewritten (kubeseal does the same); key order elsewhere is kept, encryptedData keys sorted. */
function mergeJson(source: string, encryptedData: Record<string, string>, fileName: string, options: MergeOptions): string {
  let object: { metadata: { annotations?: Record<string, string> }; spec: { encryptedData: Record<string, string> } };
  try {
    object = JSON.parse(source);
  } catch {
    throw new SealedSecretFormatError(`${fileName} is not valid JSON`);
  }
  const merged = { ...object.spec.encryptedData, ...encryptedData };
  object.spec.encryptedData = Object.fromEntries(sortedKeys(merged).map((key) => [key, merged[key]!]));
  if (options.removeAnnotations && object.metadata.annotations) {
    for (const key of options.removeAnnotations) delete object.metadata.annotations[key];
    if (Object.keys(object.metadata.annotations).length === 0) delete object.metadata.annotations;
  }
  if (options.annotations && Object.keys(options.annotations).length > 0) {
    object.metadata.annotations = { ...(object.metadata.annotations ?? {}), ...options.annotations };
  }
  return `${JSON.stringify(object, null, 2)}\n`;
}

/**
 * Merges freshly sealed values into the text of an existing SealedSecret after checking that they were sealed
 * for this very document. Returns the new text; the caller decides where to write it.
 */
export function mergeIntoSealedSecret(
  source: string,
  requested: SealingTarget,
  encryptedData: Record<string, string>,
  fileName = 'the file',
  options: MergeOptions = {},
): string {
  const existing = readSealedSecret(source, fileName);
  assertMergeTarget(existing, requested, fileName);
  for (const key of Object.keys(encryptedData)) validateSecretKey(key);
  for (const key of [...Object.keys(options.annotations ?? {}), ...(options.removeAnnotations ?? [])]) {
    if (key.startsWith('sealedsecrets.bitnami.com/')) {
      throw new MergeTargetMismatchError(`${fileName}: the scope annotation ${key} cannot change in a merge; re-seal into a new file`);
    }
  }
  return existing.format === 'json' ? mergeJson(source, encryptedData, fileName, options) : mergeYaml(source, encryptedData, fileName, options);
}
