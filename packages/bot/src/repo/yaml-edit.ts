import { isAlias, isMap, isScalar, isSeq, parseAllDocuments, Scalar, visit, type Document, type YAMLMap } from 'yaml';
import { YamlEditError } from '../errors.ts';
import { HOLD_COMMENT } from './holds.ts';

/**
 * Surgical YAML edits. We never re-serialise a document: we locate the scalar's source span through the parser's
 * node ranges and splice new text into exactly that span, in the scalar's own quoting style. Comments, key order,
 * anchors, blank lines and document markers therefore survive byte for byte.
 */

export function parseDocuments(text: string, file: string): Document.Parsed[] {
  const documents = parseAllDocuments(text, { keepSourceTokens: false });
  const list = Array.isArray(documents) ? documents : [documents];
  for (const document of list) {
    const error = document.errors[0];
    if (error) {
      const pos = error.linePos?.[0];
      throw new YamlEditError(file, `not valid YAML${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${error.message.split('\n')[0]}`);
    }
  }
  return list;
}

/** Render `value` as scalar source text in the given style, falling back to double quotes when a plain scalar
 * would change type (e.g. `1.10` would read back as the number 1.1). */
export function renderScalar(value: string, style: Scalar.Type | undefined, file: string): string {
  switch (style) {
    case Scalar.QUOTE_SINGLE:
      return `'${value.replaceAll("'", "''")}'`;
    case Scalar.QUOTE_DOUBLE:
      return JSON.stringify(value);
    case Scalar.BLOCK_FOLDED:
    case Scalar.BLOCK_LITERAL:
      throw new YamlEditError(file, `refusing to rewrite a block scalar with "${value}"`, 'write the value as a plain or quoted scalar');
    default: {
      const plainReadsBack = /^[A-Za-z0-9][A-Za-z0-9._:@/+-]*$/.test(value) && readsBackAsString(value);
      return plainReadsBack ? value : JSON.stringify(value);
    }
  }
}

function readsBackAsString(plain: string): boolean {
  const [document] = parseAllDocuments(`v: ${plain}\n`) as Document.Parsed[];
  const parsed = document?.toJS() as { v?: unknown } | undefined;
  return parsed?.v === plain;
}

export interface ScalarLocation {
  start: number;
  end: number;
  style: Scalar.Type | undefined;
  value: string;
}

/** Source span of a scalar value node; aliases and non-scalars are refused because editing them would change other places. */
export function scalarLocation(node: unknown, file: string, what: string, aliasedAnchors?: Set<string>): ScalarLocation {
  if (isAlias(node)) {
    throw new YamlEditError(
      file,
      `${what} is an alias (*${node.source}); editing it would change every other use of the anchor`,
      `write ${what} as a literal value`,
    );
  }
  if (!isScalar(node) || !node.range) throw new YamlEditError(file, `${what} is not a scalar`);
  if (node.anchor && aliasedAnchors?.has(node.anchor)) {
    throw new YamlEditError(
      file,
      `${what} carries the anchor &${node.anchor}, which is used elsewhere; editing it would change those places too`,
      `give ${what} its own literal value`,
    );
  }
  return { start: node.range[0], end: node.range[1], style: node.type, value: String(node.value) };
}

export interface Splice {
  start: number;
  end: number;
  text: string;
}

/** Apply non-overlapping splices; offsets refer to the original text. */
export function applySplices(text: string, splices: Splice[], file: string): string {
  const sorted = [...splices].sort((a, b) => b.start - a.start);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.end > sorted[i - 1]!.start) throw new YamlEditError(file, 'two edits overlap');
  }
  let out = text;
  for (const splice of sorted) out = out.slice(0, splice.start) + splice.text + out.slice(splice.end);
  return out;
}

/** One entry of a kustomization `images:` list, with where its fields live in the source. */
export interface ImageEntry {
  name: string;
  newName: string | null;
  newTag: string | null;
  digest: string | null;
  /** `# gitops-bot: hold` on or directly above the entry. */
  held: boolean;
  documentIndex: number;
  itemIndex: number;
}

function imagesSeq(document: Document.Parsed) {
  const contents = document.contents;
  if (!isMap(contents)) return null;
  const images = contents.get('images', true);
  return isSeq(images) ? images : null;
}

function fieldString(map: YAMLMap, key: string): string | null {
  const node = map.get(key, true);
  if (node === undefined || node === null) return null;
  if (isScalar(node)) return node.value === null ? null : String(node.value);
  if (isAlias(node)) return null;
  return null;
}

/**
 * Entries already read, by file and exact text. A run reads each environment's pins file in several places (the
 * config's tree check, image-update, promotion from the next environment); parsing it once instead of each time was
 * a third of the planning CPU at 100 environments. Bounded, and only successful reads are kept (a bad file throws
 * again, with the same error, every time it is read).
 */
const imageEntriesRead = new Map<string, readonly ImageEntry[]>();
const IMAGE_ENTRIES_KEPT = 512;

/** Read every `images:` entry of a kustomization file (all documents). */
export function readImageEntries(text: string, file: string): ImageEntry[] {
  const key = `${file}\0${text}`;
  let entries = imageEntriesRead.get(key);
  if (!entries) {
    entries = parseImageEntries(text, file);
    if (imageEntriesRead.size >= IMAGE_ENTRIES_KEPT) imageEntriesRead.delete(imageEntriesRead.keys().next().value!);
    imageEntriesRead.set(key, entries);
  }
  // Copies: a caller may change its entries without changing what the next reader gets.
  return entries.map((entry) => ({ ...entry }));
}

function parseImageEntries(text: string, file: string): ImageEntry[] {
  const documents = parseDocuments(text, file);
  const entries: ImageEntry[] = [];
  documents.forEach((document, documentIndex) => {
    const seq = imagesSeq(document);
    if (!seq) return;
    seq.items.forEach((item, itemIndex) => {
      if (!isMap(item)) throw new YamlEditError(file, `images[${itemIndex}] is not a mapping`);
      const name = fieldString(item, 'name');
      if (!name) throw new YamlEditError(file, `images[${itemIndex}] has no name`);
      const range = item.range;
      let held = false;
      if (range) {
        // The entry's own lines, plus the comment lines directly above it.
        const lineStart = text.lastIndexOf('\n', range[0] - 1) + 1;
        let above = lineStart;
        for (;;) {
          const prevEnd = above - 1;
          if (prevEnd <= 0) break;
          const prevStart = text.lastIndexOf('\n', prevEnd - 1) + 1;
          if (!/^\s*#/.test(text.slice(prevStart, prevEnd))) break;
          above = prevStart;
        }
        const lineEnd = text.indexOf('\n', range[1]);
        held = HOLD_COMMENT.test(text.slice(above, lineEnd < 0 ? text.length : lineEnd));
      }
      entries.push({
        name,
        newName: fieldString(item, 'newName'),
        newTag: fieldString(item, 'newTag'),
        digest: fieldString(item, 'digest'),
        held,
        documentIndex,
        itemIndex,
      });
    });
  });
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) throw new YamlEditError(file, `images: has two entries named "${entry.name}"`, `keep one images: entry for "${entry.name}"`);
    seen.add(entry.name);
  }
  return entries;
}

/**
 * Set `newTag` and `digest` of the images: entry named `name`, touching only those two scalars.
 * A missing `digest:` key is inserted on its own line after `newTag:` with the same indentation (block style only).
 * Never adds a second entry.
 */
export function setImageEntry(text: string, file: string, name: string, next: { newTag: string; digest: string }): string {
  return setImageEntries(text, file, [{ name, ...next }]);
}

/**
 * {@link setImageEntry} for several entries at once, with one parse and one read-back instead of two per entry (a
 * promotion of 20 images parsed its file 40 times). The same edits, refusals and checks as one call per entry.
 */
export function setImageEntries(text: string, file: string, changes: ReadonlyArray<{ name: string; newTag: string; digest: string }>): string {
  const documents = parseDocuments(text, file);
  const splices: Splice[] = [];
  const aliasedOf = new Map<Document.Parsed, Set<string>>();
  for (const next of changes) {
    const { name } = next;
    let found = 0;
    for (const document of documents) {
      const seq = imagesSeq(document);
      if (!seq) continue;
      let aliased = aliasedOf.get(document);
      if (!aliased) {
        const names = new Set<string>();
        visit(document, { Alias: (_, alias) => void names.add(alias.source) });
        aliasedOf.set(document, names);
        aliased = names;
      }
      for (const item of seq.items) {
        if (!isMap(item) || fieldString(item, 'name') !== name) continue;
        found++;
        const tagNode = item.get('newTag', true);
        if (tagNode === undefined) throw new YamlEditError(file, `images entry "${name}" has no newTag`, `add newTag: to the "${name}" entry`);
        const tag = scalarLocation(tagNode, file, `images entry "${name}" newTag`, aliased);
        if (tag.value !== next.newTag) splices.push({ start: tag.start, end: tag.end, text: renderScalar(next.newTag, tag.style, file) });
        const digestNode = item.get('digest', true);
        if (digestNode !== undefined) {
          const digest = scalarLocation(digestNode, file, `images entry "${name}" digest`, aliased);
          if (digest.value !== next.digest) splices.push({ start: digest.start, end: digest.end, text: renderScalar(next.digest, digest.style, file) });
        } else {
          if (item.flow) throw new YamlEditError(file, `images entry "${name}" is in flow style and has no digest`, `add digest: to the "${name}" entry`);
          const tagPair = item.items.find((pair) => isScalar(pair.key) && pair.key.value === 'newTag')!;
          const keyStart = ((pair) => (isScalar(pair.key) && pair.key.range ? pair.key.range[0] : tag.start))(tagPair);
          const lineStart = text.lastIndexOf('\n', keyStart - 1) + 1;
          const indent = text.slice(lineStart, keyStart);
          const lineEnd = text.indexOf('\n', tag.end);
          const at = lineEnd < 0 ? text.length : lineEnd + 1;
          const prefix = lineEnd < 0 ? '\n' : '';
          splices.push({
            start: at,
            end: at,
            text: `${prefix}${/^\s*$/.test(indent) ? indent : ' '.repeat(indent.length)}digest: ${renderScalar(next.digest, undefined, file)}\n`,
          });
        }
      }
    }
    if (found === 0) throw new YamlEditError(file, `no images: entry named "${name}"`, `add an images: entry for "${name}"`);
    if (found > 1) throw new YamlEditError(file, `images: has ${found} entries named "${name}"`, `keep one images: entry for "${name}"`);
  }
  const out = applySplices(text, splices, file);
  // Belt and braces: the edited file must read back with exactly the new values and nothing else changed.
  const entries = readImageEntries(out, file);
  for (const next of changes) {
    const after = entries.find((entry) => entry.name === next.name);
    if (after?.newTag !== next.newTag || after.digest !== next.digest)
      throw new YamlEditError(file, `editing "${next.name}" did not read back as ${next.newTag}@${next.digest}`);
  }
  return out;
}

/** The line ending a file already uses, so an inserted line does not mix LF into a CRLF file. */
function lineEndingOf(text: string): '\r\n' | '\n' {
  return /\r\n/.test(text) ? '\r\n' : '\n';
}

/**
 * Set the string scalar at `path` (a chain of mapping keys) in a single-document file, touching only that scalar.
 * When the last key is missing but its parent mapping exists in block style, one line is inserted after the
 * parent's last entry with that entry's indentation and the file's line ending. Anything else (a missing parent,
 * a flow mapping, an alias) is refused, because adding it would mean re-serialising the file.
 */
export function setMappingScalar(text: string, file: string, path: readonly string[], value: string): string {
  const documents = parseDocuments(text, file);
  if (documents.length !== 1) throw new YamlEditError(file, `expected one YAML document, found ${documents.length}`);
  const document = documents[0]!;
  const aliased = new Set<string>();
  visit(document, { Alias: (_, alias) => void aliased.add(alias.source) });
  const key = path[path.length - 1]!;
  const parentPath = path.slice(0, -1);
  const parent = parentPath.length === 0 ? document.contents : document.getIn(parentPath, true);
  const where = path.join('.');
  if (!isMap(parent)) {
    throw new YamlEditError(
      file,
      `${parentPath.join('.') || 'the document'} is not a mapping, so ${key} cannot be set`,
      `add ${where} to ${file} by hand and run again`,
    );
  }
  const node = parent.get(key, true);
  let out: string;
  if (node !== undefined) {
    const location = scalarLocation(node, file, where, aliased);
    if (location.value === value && typeof (node as Scalar).value === 'string') return text;
    // A plain scalar that would read back as a non-string (a timestamp-like value) is written double-quoted.
    out = applySplices(text, [{ start: location.start, end: location.end, text: renderScalar(value, location.style, file) }], file);
  } else {
    const last = parent.items.at(-1);
    if (parent.flow || !last || !isScalar(last.key) || !last.key.range) {
      throw new YamlEditError(
        file,
        `${parentPath.join('.')} is empty or in flow style, so ${key} cannot be added without rewriting it`,
        `add ${where} to ${file} by hand and run again`,
      );
    }
    const keyStart = last.key.range[0];
    const lineStart = text.lastIndexOf('\n', keyStart - 1) + 1;
    const indent = text.slice(lineStart, keyStart);
    if (!/^ *$/.test(indent))
      throw new YamlEditError(file, `${parentPath.join('.')} is not a plain block mapping`, `add ${where} to ${file} by hand and run again`);
    const valueEnd = isScalar(last.value) || isMap(last.value) || isSeq(last.value) ? (last.value.range?.[2] ?? last.value.range?.[1] ?? keyStart) : keyStart;
    const newline = lineEndingOf(text);
    const lineEnd = text.indexOf('\n', Math.max(valueEnd - 1, keyStart));
    const at = lineEnd < 0 ? text.length : lineEnd + 1;
    const prefix = lineEnd < 0 ? newline : '';
    out = applySplices(
      text,
      [{ start: at, end: at, text: `${prefix}${indent}${renderScalar(key, undefined, file)}: ${renderScalar(value, Scalar.QUOTE_DOUBLE, file)}${newline}` }],
      file,
    );
  }
  const [reread] = parseDocuments(out, file);
  if (reread!.getIn([...path]) !== value) throw new YamlEditError(file, `setting ${where} did not read back as "${value}"`);
  return out;
}
