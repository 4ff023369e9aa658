import { isMap, isScalar, parseDocument, type YAMLMap } from 'yaml';
import { treeError, yamlError } from './errors.ts';
import { insertLines, itemName, removeItem, topLevelList, type ListItem } from './yaml-lists.ts';

/**
 * The application's lines in `.github/gitops-bot.yaml`: its `apps:` entry and its migration image's `images:` entry.
 * Inserted and removed as text, so every comment and the order of everything else survive (a test checks).
 */

const CONFIG_FILE = '.github/gitops-bot.yaml';

export interface AppEntry {
  name: string;
  repository: string;
  environments: readonly string[];
}

/** Adds the application (or, when it is there already, the environments it did not list yet). */
export function addAppEntry(text: string, entry: AppEntry): string {
  const list = topLevelList(text, CONFIG_FILE, 'apps');
  const existing = list?.items.find((item) => itemName(item) === entry.name);
  if (existing) {
    const current = existing.value as { repository?: unknown; environments?: unknown };
    if (current.repository !== entry.repository)
      throw treeError(
        `${CONFIG_FILE} already has apps: ${entry.name} with another repository`,
        `use --repository ${String(current.repository)}, or choose another --name`,
      );
    // Without environments: the application runs in every environment already.
    if (!Array.isArray(current.environments)) return text;
    const merged = [...(current.environments as string[])];
    for (const env of entry.environments) if (!merged.includes(env)) merged.push(env);
    return setEnvironments(text, 'apps', existing, merged);
  }
  if (list === null) {
    return insertLines(text, text.length, `\napps:\n${renderApp('  ', entry)}`);
  }
  const last = list.items.at(-1);
  return insertLines(text, last ? last.lineEnd : list.keyLineEnd, renderApp(last?.indent ?? '  ', entry));
}

function renderApp(indent: string, entry: AppEntry): string {
  const inner = `${indent}  `;
  return [`${indent}- name: ${entry.name}`, `${inner}repository: ${entry.repository}`, `${inner}environments: [${entry.environments.join(', ')}]`, ''].join(
    '\n',
  );
}

/**
 * Adds an `images:` entry for a migration image after the last `*-migrate` entry (or the last entry), pinned only where
 * the application runs (`environments:`); when it is there already, adds the environments its list lacks.
 */
export function addMigrateImageEntry(text: string, image: { name: string; repository: string; environments: readonly string[] }): string {
  const list = topLevelList(text, CONFIG_FILE, 'images');
  const existing = list?.items.find((item) => itemName(item) === image.name);
  if (existing) {
    const current = existing.value as { repository?: unknown; environments?: unknown };
    if (current.repository !== image.repository)
      throw treeError(`${CONFIG_FILE} already has images: ${image.name} with another repository`, `use --migrate-repository ${String(current.repository)}`);
    // Without environments: the image is pinned in every environment already.
    if (!Array.isArray(current.environments)) return text;
    const merged = [...(current.environments as string[])];
    for (const env of image.environments) if (!merged.includes(env)) merged.push(env);
    return merged.length === current.environments.length ? text : setEnvironments(text, 'images', existing, merged);
  }
  const block = (indent: string): string =>
    [
      `${indent}- name: ${image.name}`,
      `${indent}  id: ${image.name}`,
      `${indent}  repository: ${image.repository}`,
      `${indent}  environments: [${image.environments.join(', ')}]`,
      '',
    ].join('\n');
  if (list === null) return insertLines(text, text.length, `\nimages:\n${block('  ')}`);
  const anchor = list.items.filter((item) => itemName(item)?.endsWith('-migrate')).at(-1) ?? list.items.at(-1);
  return insertLines(text, anchor ? anchor.lineEnd : list.keyLineEnd, block(anchor?.indent ?? '  '));
}

/** The migration image leaves environment(s): its `environments:` list keeps `remaining` (none: use removeImageEntry). */
export function removeImageEnvironment(text: string, name: string, remaining: readonly string[]): string {
  const item = topLevelList(text, CONFIG_FILE, 'images')?.items.find((candidate) => itemName(candidate) === name);
  if (!item || !Array.isArray((item.value as { environments?: unknown }).environments)) return text;
  return setEnvironments(text, 'images', item, remaining);
}

/**
 * Takes environment `env` away from the application: with `remaining` environments left, its `environments:` list says
 * so; with none left, its entry goes.
 */
export function removeAppEnvironment(text: string, name: string, remaining: readonly string[]): string {
  const item = topLevelList(text, CONFIG_FILE, 'apps')?.items.find((candidate) => itemName(candidate) === name);
  if (!item) return text;
  if (remaining.length === 0) return removeEntry(text, 'apps', item);
  return setEnvironments(text, 'apps', item, remaining);
}

export function removeImageEntry(text: string, name: string): string {
  const item = topLevelList(text, CONFIG_FILE, 'images')?.items.find((candidate) => itemName(candidate) === name);
  return item ? removeEntry(text, 'images', item) : text;
}

/** Removes an entry's lines; the list's last entry leaves `key: []`, since a bare `key:` reads as null, which the schema refuses. */
function removeEntry(text: string, key: string, item: ListItem): string {
  const list = topLevelList(text, CONFIG_FILE, key)!;
  const without = removeItem(text, item);
  if (list.items.length > 1) return without;
  const keyLine = new RegExp(`^${key}:[ \t]*(#.*)?$`, 'm');
  return without.replace(keyLine, (line) => line.replace(`${key}:`, `${key}: []`));
}

/** Replaces the item's `environments:` value with a flow list, or adds the key after `name:` when it has none. */
function setEnvironments(text: string, key: 'apps' | 'images', item: ListItem, environments: readonly string[]): string {
  const flow = `[${environments.join(', ')}]`;
  const document = parseDocument(text);
  const entries = (document.contents as YAMLMap).get(key, true) as unknown as { items: unknown[] };
  const map = entries.items.find((node) => isMap(node) && (node as YAMLMap).get('name') === itemName(item)) as YAMLMap | undefined;
  if (!map) throw yamlError(`${CONFIG_FILE}: ${key}: ${String(itemName(item))} is not a map`, `fix ${CONFIG_FILE} first`);
  const pair = map.items.find((candidate) => isScalar(candidate.key) && candidate.key.value === 'environments');
  const value = pair?.value as { range?: [number, number, number] } | undefined;
  if (pair && value?.range) {
    const [start, end] = value.range;
    // A block list's range ends at the next line; keep that newline.
    const trimmedEnd = text.slice(start, end).endsWith('\n') ? end - 1 : end;
    return text.slice(0, start) + flow + text.slice(trimmedEnd);
  }
  const namePair = map.items.find((candidate) => isScalar(candidate.key) && candidate.key.value === 'name');
  const nameKey = namePair?.key as { range?: [number, number, number] } | undefined;
  if (!nameKey?.range) throw yamlError(`${CONFIG_FILE}: ${key}: ${String(itemName(item))} has no name:`, `fix ${CONFIG_FILE} first`);
  const nameLineStart = text.lastIndexOf('\n', nameKey.range[0] - 1) + 1;
  const column = nameKey.range[0] - nameLineStart;
  const nameLineEnd = text.indexOf('\n', nameKey.range[0]) + 1;
  return insertLines(text, nameLineEnd, `${' '.repeat(column)}environments: ${flow}\n`);
}
