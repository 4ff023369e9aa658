import { isMap, isScalar, isSeq, parseDocument, type Pair, type YAMLSeq } from 'yaml';
import { yamlError } from './errors.ts';

/**
 * Surgical edits of block lists in YAML files people also edit (the bot config, an environment's image pins): a new
 * item is inserted as text after an existing one, an item is removed with exactly its own lines, and every other byte
 * (comments, order, quoting) stays as it was. The parse only locates; it never re-serializes.
 */

export interface ListItem {
  /** The parsed item (a plain value). */
  value: unknown;
  /** Offsets of the item's whole lines, the newline included. */
  lineStart: number;
  lineEnd: number;
  /** The indentation of its `- `. */
  indent: string;
}

export interface BlockList {
  items: ListItem[];
  /** The pair `key:` of the top-level map, to insert a first item after. */
  keyLineEnd: number;
}

/** The top-level `key:` block list of a single-document YAML file; null when the key is absent. */
export function topLevelList(text: string, file: string, key: string): BlockList | null {
  const document = parseDocument(text, { keepSourceTokens: false });
  if (document.errors.length > 0) throw yamlError(`${file} is not valid YAML (${document.errors[0]!.message.split('\n')[0]})`, `fix ${file} first`);
  const root = document.contents;
  if (!isMap(root)) throw yamlError(`${file} is not a YAML map`, `fix ${file} first`);
  const pair = root.items.find((item) => isScalar(item.key) && item.key.value === key) as Pair<unknown, unknown> | undefined;
  if (!pair) return null;
  const keyStart = isScalar(pair.key) && pair.key.range ? pair.key.range[0] : 0;
  const keyLineEnd = lineEndAt(text, keyStart);
  const seq = pair.value;
  if (seq === null || (isScalar(seq) && seq.value === null)) return { items: [], keyLineEnd };
  if (!isSeq(seq)) throw yamlError(`${file}: ${key}: is not a list`, `write ${key}: as a block list, one "- " item per entry`);
  if ((seq as YAMLSeq).flow) throw yamlError(`${file}: ${key}: is a flow list ([...])`, `write ${key}: as a block list, one "- " item per entry`);
  const items = (seq as YAMLSeq).items.map((item) => {
    const node = item as { range?: [number, number, number] | null };
    if (!node.range) throw yamlError(`${file}: an item of ${key}: has no position`, `fix ${file} first`);
    const lineStart = text.lastIndexOf('\n', node.range[0] - 1) + 1;
    const indent = /^[ \t]*/.exec(text.slice(lineStart))![0];
    return { value: (item as { toJSON(): unknown }).toJSON(), lineStart, lineEnd: lineEndAt(text, Math.max(node.range[1] - 1, node.range[0])), indent };
  });
  return { items, keyLineEnd };
}

function lineEndAt(text: string, offset: number): number {
  const newline = text.indexOf('\n', offset);
  return newline < 0 ? text.length : newline + 1;
}

/** Inserts `block` (whole lines, each ending in a newline) at `offset`, adding a missing newline before it. */
export function insertLines(text: string, offset: number, block: string): string {
  const before = text.slice(0, offset);
  return `${before}${before === '' || before.endsWith('\n') ? '' : '\n'}${block}${text.slice(offset)}`;
}

/** Removes exactly the lines of `item`. */
export function removeItem(text: string, item: ListItem): string {
  return text.slice(0, item.lineStart) + text.slice(item.lineEnd);
}

/** `name` of a map item, if it has one. */
export function itemName(item: ListItem): string | undefined {
  const value = item.value as { name?: unknown } | null;
  return typeof value?.name === 'string' ? value.name : undefined;
}
