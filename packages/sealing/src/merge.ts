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
    throw new SealedSecretFormatError(
      `${fileName} is not a SealedSecret (expected apiVersion ${SEALED_SECRET_API_VERSION}, kind ${SEALED_SECRET_KIND})`,
    );
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
  if (!token || token.type !== 'block-map') {
    throw new SealedSecretFormatError(
      `${fileName}: ${path} is not a block mapping; only block-style YAML (as kubeseal writes it) can be edited in place`,
    );
  }
  return token;
}

function endsWithNewline(tokens: CST.SourceToken[] | undefined): boolean {
  return tokens?.some((token) => token.type === 'newline') ?? false;
}

/**
 * Adds or replaces keys of `spec.encryptedData` by editing the concrete syntax tree, so every other byte
 * (comments, key order, quoting, indentation, other documents' fields) stays exactly as it was.
 */
function mergeYaml(source: string, encryptedData: Record<string, string>, fileName: string): string {
  const tokens = [...new Parser().parse(source)];
  const documentToken = tokens.find((token): token is CST.Document => token.type === 'document');
  if (!documentToken) throw new SealedSecretFormatError(`${fileName} holds no YAML document`);
  const root = asBlockMap(documentToken.value, 'the document', fileName);
  const spec = findBlockMapItem(root, 'spec');
  const specMap = asBlockMap(spec?.value, 'spec', fileName);
  const dataItem = findBlockMapItem(specMap, 'encryptedData');
  const dataMap = asBlockMap(dataItem?.value, 'spec.encryptedData', fileName);
  for (const key of sortedKeys(encryptedData)) {
    const value = encryptedData[key]!;
    const existing = findBlockMapItem(dataMap, key);
    if (existing) {
      if (!existing.value || !CST.isScalar(existing.value)) {
        throw new SealedSecretFormatError(`${fileName}: spec.encryptedData.${key} is not a scalar value`);
      }
      CST.setScalarValue(existing.value, value);
      continue;
    }
    const last = dataMap.items[dataMap.items.length - 1];
    // A block scalar's source always ends in a line break; a flow scalar at the end of the file may not.
    if (last?.value && last.value.type !== 'block-scalar' && CST.isScalar(last.value) && !endsWithNewline(last.value.end)) {
      last.value.end = [...(last.value.end ?? []), { type: 'newline', offset: 0, indent: dataMap.indent, source: '\n' }];
    }
    const indent = dataMap.indent;
    dataMap.items.push({
      start: [{ type: 'space', offset: 0, indent: 0, source: ' '.repeat(indent) }],
      key: CST.createScalarToken(key, { indent, implicitKey: true, end: [] }),
      sep: [
        { type: 'map-value-ind', offset: 0, indent, source: ':' },
        { type: 'space', offset: 0, indent, source: ' ' },
      ],
      value: CST.createScalarToken(value, {
        indent,
        end: [{ type: 'newline', offset: 0, indent, source: '\n' }],
      }),
    });
  }
  return tokens.map((token) => CST.stringify(token)).join('');
}

/** JSON files are rewritten (kubeseal does the same); key order elsewhere is kept, encryptedData keys sorted. */
function mergeJson(source: string, encryptedData: Record<string, string>, fileName: string): string {
  let object: { spec: { encryptedData: Record<string, string> } };
  try {
    object = JSON.parse(source);
  } catch {
    throw new SealedSecretFormatError(`${fileName} is not valid JSON`);
  }
  const merged = { ...object.spec.encryptedData, ...encryptedData };
  object.spec.encryptedData = Object.fromEntries(sortedKeys(merged).map((key) => [key, merged[key]!]));
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
): string {
  const existing = readSealedSecret(source, fileName);
  assertMergeTarget(existing, requested, fileName);
  for (const key of Object.keys(encryptedData)) validateSecretKey(key);
  return existing.format === 'json'
    ? mergeJson(source, encryptedData, fileName)
    : mergeYaml(source, encryptedData, fileName);
}
