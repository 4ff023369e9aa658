import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { isMap, isScalar, isSeq } from 'yaml';
import { APP_VERSION_LABEL } from '@dbos-gitops/sealing/names';
import type { AppConfig, BotConfig, EnvironmentConfig } from '../../config/schema.ts';
import { ConfigError, YamlEditError } from '../../errors.ts';
import { appVersionsDir } from '../../repo/apps.ts';
import type { TreeReader } from '../../repo/tree.ts';
import { parseDocuments, readImageEntries, renderScalar, scalarLocation, type ImageEntry } from '../../repo/yaml-edit.ts';
import type { FileEdit } from '../../plan.ts';
import type { TaskContext } from '../types.ts';
import { HOLD_COMMENT, hasHoldCommentLine, listHolds, type ListHold } from '../../repo/holds.ts';
import { tagVersion } from '../../sources/registry/tag-policy.ts';

/** The version tasks are enabled by the config's `apps:` list. */
export function appVersionsDisabledBy(config: BotConfig): string | null {
  return config.apps.length > 0 ? null : 'not enabled: .github/gitops-bot.yaml has no apps: entries';
}

/** Asked for by name without any application configured, a version task is a config error, never a silent no-op. */
export function requireApps(config: BotConfig): void {
  if (config.apps.length === 0)
    throw new ConfigError(
      'has no apps: entries, so versions cannot be added or retired',
      '.github/gitops-bot.yaml',
      'apps',
      'add apps: (name, repository, drain) to .github/gitops-bot.yaml, one entry per application',
    );
}

/**
 * The one template of an application-version directory (`overlays/<env>/apps/<app>/versions/<slug>/`) and the
 * surgical edits that add or remove one. The hand-written directories in overlays/*\/apps/*\/versions are this
 * template's output (a test compares them byte for byte), so the bot and humans write the same thing. The template is
 * the same for every application: the application's name (APP) is filled one level up, by its identity.yaml.
 */

export const APP_LATEST_COMPONENT = '../../../../../../base/components/app-latest';
const APP_VERSION_TEMPLATE = '../../../../../../base/app-version';
const APP_LATEST_COMMENT = '# Only the latest version: warm minimum and the queue-length trigger.';
export const MAX_SLUG_LENGTH = 40;

export interface VersionImage {
  /** kustomize images[].name: the template's `app` unless the application's config says otherwise. */
  name: string;
  /** Registry repository, e.g. `ghcr.io/example-org/dbos-app`. */
  newName: string;
  tag: string;
  digest: string;
}

/** The DNS-safe directory name of a version: lowercase, non-alphanumerics to `-`, trimmed, at most 40 characters.
 * When that collides with a directory holding a different version, a short hash of the version keeps it unique. */
export function appVersionSlug(version: string, taken: ReadonlyMap<string, string> = new Map()): string {
  const base = version
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (base === '')
    throw new YamlEditError(
      'versions',
      `version "${version}" has no letters or digits to build a directory name from`,
      'tag the app image with a semver version such as 1.5.0',
    );
  const plain = trimSlug(base, MAX_SLUG_LENGTH);
  const owner = taken.get(plain);
  if (owner === undefined || owner === version) return plain;
  const hash = createHash('sha256').update(version).digest('hex').slice(0, 6);
  return `${trimSlug(base, MAX_SLUG_LENGTH - 7)}-${hash}`;
}

function trimSlug(slug: string, max: number): string {
  return slug.slice(0, max).replace(/-+$/g, '');
}

function quoted(value: string): string {
  return JSON.stringify(value);
}

/** `kustomization.yaml` of one version directory. */
export function renderVersionKustomization(input: { version: string; slug: string; image: VersionImage; latest: boolean }): string {
  const { version, slug, image, latest } = input;
  const lines = [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    `# Application version ${version}. One version = this directory plus one line in ../kustomization.yaml; the gitops`,
    '# bot writes both from a template when a version ships and deletes them once the version has drained.',
    'resources:',
    `  - ${APP_VERSION_TEMPLATE}`,
    `nameSuffix: -${slug}`,
    'labels:',
    '  - pairs:',
    `      ${APP_VERSION_LABEL}: ${slug}`,
    '    includeSelectors: true',
    '    includeTemplates: true',
    'images:',
    `  - name: ${renderScalar(image.name, undefined, 'images')}`,
    `    newName: ${renderScalar(image.newName, undefined, 'images')}`,
    // Always quoted: a tag like 1.10 would otherwise read back as the number 1.1.
    `    newTag: ${quoted(image.tag)}`,
    `    digest: ${image.digest}`,
    ...(latest ? [APP_LATEST_COMMENT, 'components:', `  - ${APP_LATEST_COMPONENT}`] : []),
    'patches:',
    '  - path: version.patch.yaml',
    "# The KEDA query's version literal is copied from DBOS__APPVERSION, so the version is written once (in",
    "# version.patch.yaml) and the query cannot count another version's workflows. A replacement rather than a",
    "# patch because a strategic merge replaces the ScaledObject's whole triggers list and, running after",
    '# components, would drop the app-latest trigger. Field 7 of the query split on single quotes is the',
    '# version literal (base/app-version/workload/scaled-object.yaml).',
    'replacements:',
    "  # The ScaledObject scales this version's Deployment; set here, where the suffix is known, because kustomize resolves",
    "  # name references only once for the whole environment, where two applications' templates share one original name.",
    '  - source:',
    '      kind: Deployment',
    '      fieldPath: metadata.name',
    '    targets:',
    '      - select:',
    '          group: keda.sh',
    '          kind: ScaledObject',
    '        fieldPaths:',
    '          - spec.scaleTargetRef.name',
    '  - source:',
    '      kind: Deployment',
    '      fieldPath: spec.template.spec.containers.[name=APP].env.[name=DBOS__APPVERSION].value',
    '    targets:',
    '      - select:',
    '          group: keda.sh',
    '          kind: ScaledObject',
    '        fieldPaths:',
    '          - spec.triggers.[type=postgresql].metadata.query',
    '        options:',
    `          delimiter: "'"`,
    '          index: 7',
  ];
  return `${lines.join('\n')}\n`;
}

/** `version.patch.yaml`: the exact DBOS__APPVERSION, the only place the version string is written. */
export function renderVersionPatch(version: string): string {
  if (version.includes("'"))
    throw new YamlEditError(
      'version.patch.yaml',
      `version "${version}" contains a single quote, which would break the KEDA query`,
      'use a version without quotes',
    );
  return [
    '# The exact application version these executors run; DBOS stamps it on every workflow they start and they',
    '# only recover or dequeue workflows carrying it.',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: APP',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: APP',
    '          env:',
    '            - name: DBOS__APPVERSION',
    `              value: ${quoted(version)}`,
    '',
  ].join('\n');
}

export interface LiveVersion {
  slug: string;
  dir: string;
  /** The DBOS__APPVERSION of the directory (what DBOS stamps on workflows). */
  version: string;
  kustomizationFile: string;
  kustomization: string;
  patchFile: string;
  patch: string;
  image: ImageEntry | null;
  /** Includes the app-latest component. */
  latestComponent: boolean;
  /** `# gitops-bot: hold` in its kustomization.yaml. */
  held: boolean;
  /** Listed in versions/kustomization.yaml. */
  listed: boolean;
  /** The text after `# gitops-bot: hold` on the line directly above its line in versions/kustomization.yaml (a rolled-back
   * version, see {@link holdListEntry}); null: none. Holds it (and older) from version-add; retirement still drains it. */
  listHold: string | null;
}

export interface AppVersionsTree {
  env: string;
  /** The application (its `apps:` name and directory). */
  app: string;
  /** `overlays/<env>/apps/<app>/versions`. */
  base: string;
  listFile: string;
  list: string;
  serviceFile: string;
  service: string;
  /** The slug `service.yaml` selects; null when it has no `dbos.dev/app-version` selector. */
  serviceSelects: string | null;
  versions: LiveVersion[];
  /** The hold lines of the list and what each holds from version-add (repo/holds.ts). */
  holds: ListHold[];
}

/** Reads one application's live versions in an environment. Null when the application has no versions list there. */
export async function readAppVersionsTree(
  tree: TreeReader,
  env: string,
  overlay: string,
  app: { name: string; imageName: string },
): Promise<AppVersionsTree | null> {
  const { imageName } = app;
  const base = appVersionsDir(overlay, app.name);
  const listFile = posix.join(base, 'kustomization.yaml');
  const serviceFile = posix.join(base, 'service.yaml');
  const list = await tree.read(listFile);
  if (list === null) return null;
  const service = (await tree.read(serviceFile)) ?? '';
  const listItems = listResources(list, listFile);
  const listed = new Set(listItems.map((item) => item.value));
  const versions: LiveVersion[] = [];
  for (const name of await tree.list(base)) {
    if (!name.endsWith('/')) continue;
    const slug = name.slice(0, -1);
    const dir = posix.join(base, slug);
    const kustomizationFile = posix.join(dir, 'kustomization.yaml');
    const patchFile = posix.join(dir, 'version.patch.yaml');
    const kustomization = await tree.read(kustomizationFile);
    if (kustomization === null) continue;
    const patch = (await tree.read(patchFile)) ?? '';
    versions.push({
      slug,
      dir,
      version: readPatchVersion(patch, patchFile),
      kustomizationFile,
      kustomization,
      patchFile,
      patch,
      image: readImageEntries(kustomization, kustomizationFile).find((entry) => entry.name === imageName) ?? null,
      latestComponent: componentItems(kustomization, kustomizationFile).some((item) => item.value === APP_LATEST_COMPONENT),
      held: hasHoldCommentLine(kustomization),
      listed: listed.has(slug),
      listHold: listHoldAbove(list, listItems.find((item) => item.value === slug) ?? null),
    });
  }
  return {
    env,
    app: app.name,
    base,
    listFile,
    list,
    serviceFile,
    service,
    serviceSelects: service ? readServiceSelector(service, serviceFile) : null,
    versions,
    holds: listHolds(
      list,
      (offset) => {
        const slug = listItems.find((item) => item.lineStart === offset)?.value;
        return versions.find((live) => live.slug === slug)?.version ?? null;
      },
      (version) => tagVersion(version) !== null,
    ),
  };
}

/**
 * An application's versions in an environment it is configured for. Missing is a config error, not a skip: the
 * environment check (config/tree-check.ts) refuses it before any task runs; this guards planners called directly.
 */
export async function requireVersionsTree(context: Pick<TaskContext, 'tree'>, env: EnvironmentConfig, app: AppConfig): Promise<AppVersionsTree> {
  const tree = await readAppVersionsTree(context.tree, env.name, env.overlay, app);
  if (tree) return tree;
  const list = posix.join(appVersionsDir(env.overlay, app.name), 'kustomization.yaml');
  throw new ConfigError(
    `application "${app.name}" runs in environment "${env.name}" but ${list} does not exist in ${context.tree.describe}`,
    '.github/gitops-bot.yaml',
    'apps',
    `add overlays/${env.name}/apps/${app.name}/ (pnpm apps:add), or list only the environments it runs in under its environments:`,
  );
}

/** DBOS__APPVERSION from a version.patch.yaml. */
export function readPatchVersion(text: string, file: string): string {
  const match = /-\s+name:\s*DBOS__APPVERSION\s*\n\s+value:\s*(?:"([^"]*)"|'([^']*)'|(\S+))/.exec(text);
  const value = match?.[1] ?? match?.[2] ?? match?.[3];
  if (!value) throw new YamlEditError(file, 'has no DBOS__APPVERSION value', `set DBOS__APPVERSION in ${file}; it must equal the version the executors run`);
  return value;
}

interface SeqItem {
  value: string;
  /** Offsets of the item's whole line(s), including the newline. */
  lineStart: number;
  lineEnd: number;
}

function seqItems(text: string, file: string, key: string): { items: SeqItem[]; keyLine: { start: number; end: number } | null } {
  const [document] = parseDocuments(text, file);
  const contents = document?.contents;
  if (!isMap(contents)) return { items: [], keyLine: null };
  const pair = contents.items.find((item) => isScalar(item.key) && item.key.value === key);
  if (!pair) return { items: [], keyLine: null };
  const seq = pair.value;
  if (!isSeq(seq)) throw new YamlEditError(file, `${key}: is not a list`);
  if (seq.flow) throw new YamlEditError(file, `${key}: is a flow list ([...]); the bot edits block lists only`, `write ${key}: as one "- item" per line`);
  const keyStart = isScalar(pair.key) && pair.key.range ? pair.key.range[0] : 0;
  const keyLineStart = text.lastIndexOf('\n', keyStart - 1) + 1;
  const keyLineEndNl = text.indexOf('\n', keyStart);
  const items = seq.items.map((item, index) => {
    if (!isScalar(item) || !item.range) throw new YamlEditError(file, `${key}[${index}] is not a plain string`);
    const lineStart = text.lastIndexOf('\n', item.range[0] - 1) + 1;
    const nl = text.indexOf('\n', item.range[1]);
    return { value: String(item.value), lineStart, lineEnd: nl < 0 ? text.length : nl + 1 };
  });
  return { items, keyLine: { start: keyLineStart, end: keyLineEndNl < 0 ? text.length : keyLineEndNl + 1 } };
}

function listResources(text: string, file: string): SeqItem[] {
  return seqItems(text, file, 'resources').items;
}

function componentItems(text: string, file: string): SeqItem[] {
  return seqItems(text, file, 'components').items;
}

/** Appends `  - <slug>` after the last `resources:` item, with that item's indentation. */
export function addListEntry(text: string, file: string, slug: string): string {
  const items = listResources(text, file);
  if (items.some((item) => item.value === slug)) throw new YamlEditError(file, `already lists ${slug}`);
  const last = items.at(-1);
  if (!last) throw new YamlEditError(file, 'has no resources: list to append to', 'keep `resources:` with service.yaml and one line per version');
  const indent = /^[ \t]*/.exec(text.slice(last.lineStart))![0];
  const needsNewline = !text.slice(0, last.lineEnd).endsWith('\n');
  return `${text.slice(0, last.lineEnd)}${needsNewline ? '\n' : ''}${indent}- ${slug}\n${text.slice(last.lineEnd)}`;
}

/** Removes the `- <slug>` line of the `resources:` list. */
export function removeListEntry(text: string, file: string, slug: string): string {
  const item = listResources(text, file).find((candidate) => candidate.value === slug);
  if (!item) throw new YamlEditError(file, `does not list ${slug}`);
  return text.slice(0, item.lineStart) + text.slice(item.lineEnd);
}

/** Removes the app-latest component from a version's kustomization. A `components:` list left empty goes with its
 * key and the explanatory comment directly above it; other components stay. */
export function removeLatestComponent(text: string, file: string): string {
  const { items, keyLine } = seqItems(text, file, 'components');
  const item = items.find((candidate) => candidate.value === APP_LATEST_COMPONENT);
  if (!item || !keyLine) throw new YamlEditError(file, 'does not include the app-latest component');
  // The comment directly above `components:` explains app-latest only; it goes with it.
  const previousLineStart = text.lastIndexOf('\n', keyLine.start - 2) + 1;
  const comment =
    keyLine.start > 0 && text.slice(previousLineStart, keyLine.start - 1) === APP_LATEST_COMMENT ? { start: previousLineStart, end: keyLine.start } : null;
  if (items.length > 1) {
    const withoutItem = text.slice(0, item.lineStart) + text.slice(item.lineEnd);
    return comment ? withoutItem.slice(0, comment.start) + withoutItem.slice(comment.end) : withoutItem;
  }
  const start = comment?.start ?? keyLine.start;
  const end = Math.max(keyLine.end, ...items.map((candidate) => candidate.lineEnd));
  return text.slice(0, start) + text.slice(end);
}

function selectorNode(text: string, file: string) {
  const documents = parseDocuments(text, file);
  for (const document of documents) {
    const contents = document.contents;
    if (!isMap(contents) || (document.toJS() as { kind?: unknown } | null)?.kind !== 'Service') continue;
    const node = document.getIn(['spec', 'selector', APP_VERSION_LABEL], true);
    if (node !== undefined) return node;
  }
  return undefined;
}

export function readServiceSelector(text: string, file: string): string | null {
  const node = selectorNode(text, file);
  return node === undefined ? null : scalarLocation(node, file, `spec.selector["${APP_VERSION_LABEL}"]`).value;
}

/** Points the application's Service at another version, touching only that scalar. */
export function setServiceSelector(text: string, file: string, slug: string): string {
  const node = selectorNode(text, file);
  if (node === undefined)
    throw new YamlEditError(file, `the Service has no spec.selector "${APP_VERSION_LABEL}"`, `select the latest version with ${APP_VERSION_LABEL}: <slug>`);
  const location = scalarLocation(node, file, `spec.selector["${APP_VERSION_LABEL}"]`);
  return text.slice(0, location.start) + renderScalar(slug, location.style, file) + text.slice(location.end);
}

/** The text of a `# gitops-bot: hold` line directly above a list item, or null. */
function listHoldAbove(text: string, item: SeqItem | null): string | null {
  if (!item || item.lineStart === 0) return null;
  const previousStart = text.lastIndexOf('\n', item.lineStart - 2) + 1;
  const line = text.slice(previousStart, item.lineStart - 1);
  const match = new RegExp(`^\\s*${HOLD_COMMENT.source}(.*)$`).exec(line);
  return match ? match[1]!.trim() : null;
}

/** A hold reason as one safe comment line: control characters and newlines cannot end the comment and inject YAML. */
export function holdReasonText(reason: string): string {
  const text = reason
    .replace(/\p{Cc}+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (text === '') throw new YamlEditError('versions', 'the hold reason is empty', 'say why, e.g. --reason "error ratio 30% after the switch"');
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/**
 * Holds a version in the list of versions: `# gitops-bot: hold <reason>` on its own line directly above the version's
 * `- <slug>` line. version-add reads the list's hold lines (repo/holds.ts): this one holds that version and older, so
 * the rolled-back version is not re-proposed while a newer fix still is; the version's own
 * kustomization.yaml stays free of holds, so version-retire removes it like any non-latest version once drained.
 * Unchanged when that exact line is already there.
 */
export function holdListEntry(text: string, file: string, slug: string, reason: string): string {
  const item = listResources(text, file).find((candidate) => candidate.value === slug);
  if (!item) throw new YamlEditError(file, `does not list ${slug}`);
  const line = `# gitops-bot: hold ${holdReasonText(reason)}`;
  if (listHoldAbove(text, item) === line.replace(/^# gitops-bot: hold /, '')) return text;
  const indent = /^[ \t]*/.exec(text.slice(item.lineStart))![0];
  return `${text.slice(0, item.lineStart)}${indent}${line}\n${text.slice(item.lineStart)}`;
}

/** Adds the app-latest component to a version's kustomization where the template has it: before `patches:`, with its
 * comment; appended to an existing `components:` list. The inverse of {@link removeLatestComponent}. */
export function addLatestComponent(text: string, file: string): string {
  const { items, keyLine } = seqItems(text, file, 'components');
  if (items.some((item) => item.value === APP_LATEST_COMPONENT)) throw new YamlEditError(file, 'already includes the app-latest component');
  if (keyLine) {
    const last = items.at(-1);
    const at = last ? last.lineEnd : keyLine.end;
    const indent = last ? /^[ \t]*/.exec(text.slice(last.lineStart))![0] : '  ';
    const needsNewline = !text.slice(0, at).endsWith('\n');
    return `${text.slice(0, at)}${needsNewline ? '\n' : ''}${indent}- ${APP_LATEST_COMPONENT}\n${text.slice(at)}`;
  }
  const block = `${APP_LATEST_COMMENT}\ncomponents:\n  - ${APP_LATEST_COMPONENT}\n`;
  const patches = /^patches:/m.exec(text);
  if (patches) return text.slice(0, patches.index) + block + text.slice(patches.index);
  return `${text}${text.endsWith('\n') ? '' : '\n'}${block}`;
}

/** The edits that make `slug` the latest of an application: the app-latest component leaves every other version and
 * joins `slug` (unless it has it), and the Service selects `slug`. Shared by version-add and rollback. */
export function switchLatestEdits(current: AppVersionsTree, slug: string): FileEdit[] {
  const edits: FileEdit[] = [];
  for (const previous of current.versions.filter((version) => version.latestComponent && version.slug !== slug)) {
    edits.push({
      path: previous.kustomizationFile,
      before: previous.kustomization,
      after: removeLatestComponent(previous.kustomization, previous.kustomizationFile),
    });
  }
  const target = current.versions.find((version) => version.slug === slug);
  if (target && !target.latestComponent)
    edits.push({ path: target.kustomizationFile, before: target.kustomization, after: addLatestComponent(target.kustomization, target.kustomizationFile) });
  if (current.service && current.serviceSelects !== slug)
    edits.push({ path: current.serviceFile, before: current.service, after: setServiceSelector(current.service, current.serviceFile, slug) });
  return edits;
}

/** The edits that add a version as the new latest: its directory, its list line, the app-latest component and the
 * Service selector moved to it. Every other byte of the tree is untouched. */
export function addVersionEdits(current: AppVersionsTree, input: { version: string; slug: string; image: VersionImage }): FileEdit[] {
  const dir = posix.join(current.base, input.slug);
  const edits: FileEdit[] = [
    { path: posix.join(dir, 'kustomization.yaml'), before: null, after: renderVersionKustomization({ ...input, latest: true }) },
    { path: posix.join(dir, 'version.patch.yaml'), before: null, after: renderVersionPatch(input.version) },
    { path: current.listFile, before: current.list, after: addListEntry(current.list, current.listFile, input.slug) },
  ];
  // The new directory is rendered with the component; the rest is the same move a rollback makes.
  edits.push(...switchLatestEdits(current, input.slug));
  return edits;
}

/** The edits that add a version WITHOUT switching to it (`switch: gated`): its directory (without the app-latest
 * component) and its list line; the Service and app-latest stay where they are until version-switch moves them. */
export function addIncomingVersionEdits(current: AppVersionsTree, input: { version: string; slug: string; image: VersionImage }): FileEdit[] {
  const dir = posix.join(current.base, input.slug);
  return [
    { path: posix.join(dir, 'kustomization.yaml'), before: null, after: renderVersionKustomization({ ...input, latest: false }) },
    { path: posix.join(dir, 'version.patch.yaml'), before: null, after: renderVersionPatch(input.version) },
    { path: current.listFile, before: current.list, after: addListEntry(current.list, current.listFile, input.slug) },
  ];
}

/**
 * The version waiting to be switched to in an environment with `switch: gated`: the newest live, listed version newer
 * than the latest (the one with app-latest, else the one the Service selects) that is not held in the list (a held
 * one was rolled back and must never be switched to). Null when there is none.
 */
export function incomingVersionOf(current: AppVersionsTree, compare: (a: string, b: string) => number): LiveVersion | null {
  const latest = current.versions.find((live) => live.latestComponent) ?? current.versions.find((live) => live.slug === current.serviceSelects);
  if (!latest) return null;
  const newer = current.versions.filter((live) => live.listed && live.listHold === null && compare(live.version, latest.version) > 0);
  return newer.sort((a, b) => compare(b.version, a.version))[0] ?? null;
}

/** The edits that retire a version: delete its files and its list line (one commit, one PR). */
export async function removeVersionEdits(tree: TreeReader, current: AppVersionsTree, version: LiveVersion): Promise<FileEdit[]> {
  const edits: FileEdit[] = [];
  for (const path of await listFilesRecursively(tree, version.dir)) {
    edits.push({ path, before: await tree.read(path), after: null });
  }
  if (version.listed) edits.push({ path: current.listFile, before: current.list, after: removeListEntry(current.list, current.listFile, version.slug) });
  return edits;
}

async function listFilesRecursively(tree: TreeReader, dir: string, depth = 0): Promise<string[]> {
  if (depth > 8) throw new YamlEditError(dir, 'is nested too deeply for a version directory');
  const out: string[] = [];
  for (const name of await tree.list(dir)) {
    const path = posix.join(dir, name.replace(/\/$/, ''));
    if (name.endsWith('/')) out.push(...(await listFilesRecursively(tree, path, depth + 1)));
    else out.push(path);
  }
  return out;
}

/*
 * The traffic ramp (`ramp: [10, 50]` with `switch: gated`, README "Ramping traffic"). While a version ramps, the
 * application directory includes one Component of its own, `ramp/`, listed right after app-identity: a Service
 * `<app>-<slug>` selecting exactly that version's pods and a JSON patch giving the HTTPRoute's one rule two weighted
 * backendRefs, the application's Service (the old latest) and that Service. Gateway API weights are proportional
 * (weight / sum of the rule's weights; 0 forwards nothing), so the percentages are written as weights summing to 100.
 * It sits after app-identity, not in the version's directory, because app-identity renames EVERY Service of the
 * application to the application's name; the Component's names are therefore concrete. Removing the directory and its
 * one line restores the application directory byte for byte.
 */

export const RAMP_DIR = 'ramp';
const APP_ROUTE_GATEWAY = /(^|\/)base\/components\/app-route-gateway$/;
const APP_IDENTITY = /(^|\/)base\/components\/app-identity$/;

export interface RampState {
  /** The version directory the ramp Service selects. */
  slug: string;
  /** Percent of new requests routed to it (1..99). */
  percent: number;
}

export interface AppRampTree {
  /** `overlays/<env>/apps/<app>`. */
  appDir: string;
  kustomizationFile: string;
  kustomization: string;
  /** The application's route is the Gateway API component (weights are possible). */
  gatewayRoute: boolean;
  /** `overlays/<env>/apps/<app>/ramp`. */
  rampDir: string;
  /** The ramp in progress, read from ramp/route.patch.yaml; null when none (no ramp/ directory). */
  ramp: RampState | null;
  /** The files of ramp/ as they are (for edits), path -> text. */
  rampFiles: Record<string, string>;
}

function rampFilesOf(rampDir: string) {
  return {
    kustomization: posix.join(rampDir, 'kustomization.yaml'),
    service: posix.join(rampDir, 'service.yaml'),
    patch: posix.join(rampDir, 'route.patch.yaml'),
  };
}

/** Reads the application directory's route and ramp. Null when it has no kustomization.yaml. */
export async function readAppRampTree(tree: TreeReader, overlay: string, app: { name: string }): Promise<AppRampTree | null> {
  const appDir = posix.dirname(appVersionsDir(overlay, app.name));
  const kustomizationFile = posix.join(appDir, 'kustomization.yaml');
  const kustomization = await tree.read(kustomizationFile);
  if (kustomization === null) return null;
  const components = componentItems(kustomization, kustomizationFile);
  const rampDir = posix.join(appDir, RAMP_DIR);
  const paths = rampFilesOf(rampDir);
  const rampFiles: Record<string, string> = {};
  for (const path of Object.values(paths)) {
    const text = await tree.read(path);
    if (text !== null) rampFiles[path] = text;
  }
  const listed = components.some((item) => item.value === RAMP_DIR);
  const patch = rampFiles[paths.patch];
  if (listed !== (patch !== undefined))
    throw new YamlEditError(
      listed ? paths.patch : kustomizationFile,
      listed ? `is missing, but ${kustomizationFile} lists the ${RAMP_DIR} component` : `does not list the ${RAMP_DIR} component, but ${paths.patch} exists`,
      `finish or undo the ramp by hand: either both (the ${RAMP_DIR}/ directory and its line under components:) or neither`,
    );
  return {
    appDir,
    kustomizationFile,
    kustomization,
    gatewayRoute: components.some((item) => APP_ROUTE_GATEWAY.test(item.value)),
    rampDir,
    ramp: patch === undefined ? null : readRampPatch(patch, paths.patch, app.name),
    rampFiles,
  };
}

/** The ramp's weights from ramp/route.patch.yaml, checked against the shape {@link renderRampPatch} writes. */
export function readRampPatch(text: string, file: string, app: string): RampState {
  const [document] = parseDocuments(text, file);
  const ops = document?.toJS() as unknown;
  const bad = (why: string): never => {
    throw new YamlEditError(
      file,
      `is not a ramp the bot wrote: ${why}`,
      `restore it from git, or remove the ${RAMP_DIR}/ component and its line to end the ramp`,
    );
  };
  if (!Array.isArray(ops)) return bad('not a list of JSON patch operations');
  const replace = ops.find((op) => op?.op === 'replace' && op?.path === '/spec/rules/0/backendRefs') as { value?: unknown } | undefined;
  const refs = replace?.value;
  if (!Array.isArray(refs) || refs.length !== 2) return bad('no replace of /spec/rules/0/backendRefs with two entries');
  const [old, next] = refs as Array<{ name?: unknown; weight?: unknown }>;
  if (old?.name !== app) return bad(`the first backendRef is not the Service ${app}`);
  const prefix = `${app}-`;
  if (typeof next?.name !== 'string' || !next.name.startsWith(prefix)) return bad(`the second backendRef is not a Service ${prefix}<version>`);
  const slug = next.name.slice(prefix.length);
  const [a, b] = [old.weight, next.weight];
  if (!Number.isInteger(a) || !Number.isInteger(b) || (a as number) + (b as number) !== 100 || (b as number) < 1 || (b as number) > 99)
    return bad('the weights are not two integers summing to 100 with 1..99 on the new version');
  return { slug, percent: b as number };
}

/** ramp/route.patch.yaml: the application's one HTTPRoute rule forwards `percent` of new requests to `<app>-<slug>`.
 * The `test` op makes kustomize refuse a route whose backends are not the single application Service it expects. */
export function renderRampPatch(app: string, slug: string, percent: number): string {
  if (!Number.isInteger(percent) || percent < 1 || percent > 99)
    throw new YamlEditError(RAMP_DIR, `ramp step ${percent} is not a whole percent between 1 and 99`);
  return [
    `# gitops-bot ramp: ${percent}% of new requests to ${app}-${slug}, ${100 - percent}% to ${app} (the latest version).`,
    "# Gateway API weights are proportional (weight / sum of the rule's weights); the bot writes them summing to 100.",
    '- op: test',
    '  path: /spec/rules/0/backendRefs',
    '  value:',
    `    - name: ${app}`,
    '      port: 8080',
    '- op: replace',
    '  path: /spec/rules/0/backendRefs',
    '  value:',
    `    - name: ${app}`,
    '      port: 8080',
    `      weight: ${100 - percent}`,
    `    - name: ${app}-${slug}`,
    '      port: 8080',
    `      weight: ${percent}`,
    '',
  ].join('\n');
}

function renderRampKustomization(app: string, slug: string): string {
  return [
    'apiVersion: kustomize.config.k8s.io/v1alpha1',
    'kind: Component',
    `# A traffic ramp of ${app} to version directory ${slug} (README "Ramping traffic"), written and removed by the gitops bot.`,
    '# Listed after app-identity, which would rename any Service of the application to its name: these names are final.',
    'resources:',
    '  - service.yaml',
    'patches:',
    '  - path: route.patch.yaml',
    '    target:',
    '      group: gateway.networking.k8s.io',
    '      kind: HTTPRoute',
    `      name: ${app}`,
    '',
  ].join('\n');
}

function renderRampService(app: string, slug: string, namespace: string): string {
  return [
    `# Exactly the pods of ${app} version directory ${slug}, so the HTTPRoute can weight them against the latest's Service.`,
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: ${app}-${slug}`,
    `  namespace: ${namespace}`,
    '  labels:',
    `    dbos.dev/app: ${app}`,
    '    dbos.dev/stage: routing',
    'spec:',
    '  selector:',
    `    app: ${app}`,
    `    ${APP_VERSION_LABEL}: ${slug}`,
    '  ports:',
    '    - name: http',
    '      port: 8080',
    '      targetPort: 8080',
    '',
  ].join('\n');
}

/** `  - ramp` directly after the app-identity component line (before sync-waves, which derives waves from labels). */
function addRampComponent(text: string, file: string): string {
  const items = componentItems(text, file);
  const identity = items.find((item) => APP_IDENTITY.test(item.value));
  if (!identity)
    throw new YamlEditError(file, 'has no app-identity component to put the ramp after', 'list ../../../../base/components/app-identity under components:');
  const indent = /^[ \t]*/.exec(text.slice(identity.lineStart))![0];
  return `${text.slice(0, identity.lineEnd)}${indent}- ${RAMP_DIR}\n${text.slice(identity.lineEnd)}`;
}

function removeRampComponent(text: string, file: string): string {
  const item = componentItems(text, file).find((candidate) => candidate.value === RAMP_DIR);
  if (!item) throw new YamlEditError(file, `does not list the ${RAMP_DIR} component`);
  return text.slice(0, item.lineStart) + text.slice(item.lineEnd);
}

/** The edits of one ramp step: the first creates ramp/ and its line; later ones rewrite the weights only. */
export function rampStepEdits(current: AppRampTree, app: string, slug: string, percent: number, namespace: string): FileEdit[] {
  const paths = rampFilesOf(current.rampDir);
  const patch = renderRampPatch(app, slug, percent);
  if (current.ramp) {
    if (current.ramp.slug !== slug) throw new YamlEditError(paths.patch, `ramps ${current.ramp.slug}, not ${slug}`);
    const before = current.rampFiles[paths.patch]!;
    return before === patch ? [] : [{ path: paths.patch, before, after: patch }];
  }
  return [
    { path: paths.kustomization, before: null, after: renderRampKustomization(app, slug) },
    { path: paths.service, before: null, after: renderRampService(app, slug, namespace) },
    { path: paths.patch, before: null, after: patch },
    { path: current.kustomizationFile, before: current.kustomization, after: addRampComponent(current.kustomization, current.kustomizationFile) },
  ];
}

/** The edits that end a ramp (the final switch, or its rollback): ramp/ and its line go, every weight with them. */
export function rampEndEdits(current: AppRampTree): FileEdit[] {
  if (!current.ramp) return [];
  return [
    ...Object.entries(current.rampFiles).map(([path, before]) => ({ path, before, after: null })),
    { path: current.kustomizationFile, before: current.kustomization, after: removeRampComponent(current.kustomization, current.kustomizationFile) },
  ];
}
