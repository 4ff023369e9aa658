import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unifiedDiff } from './diff.ts';

// Every diff `plan`, `plan --json` and `run --dry-run` print must be one `git apply` takes on the tree it was planned
// against. The old hand-written walk broke that in two ways: two edits within six lines of each other (nearby image
// entries, which share identical lines such as a tag or a placeholder digest) became overlapping hunks, and a file's
// final newline was counted as an extra empty line (and a missing one was never marked). The property holds the
// printed form to git itself, over overlay-like files with shared lines, edits, additions, deletions, new and deleted
// files, with and without a final newline.

const run = promisify(execFile);
const RUNS = 100;

let repo: string;

async function git(...args: string[]): Promise<string> {
  const { stdout } = await run('git', ['-c', 'user.name=diff-test', '-c', 'user.email=diff-test@example.invalid', ...args], { cwd: repo });
  return stdout;
}

beforeAll(async () => {
  repo = await mkdtemp(join(tmpdir(), 'unified-diff-'));
  await git('init', '--quiet');
});

afterAll(async () => {
  if (!repo) return;
  await rm(repo, { recursive: true, force: true });
  await rm(patchFile(), { force: true });
});

// Few distinct values, so entries share identical lines: the case the old walk got wrong.
const IMAGES = ['dbosdev/conductor', 'dbosdev/console', 'ghcr.io/dexidp/dex', 'dbos-migrate', 'dbos-gitops-bot'];
const TAGS = ['"0.0.0"', '"0.1.0"', '"0.2.0"', 'v2.45.1'];
const DIGESTS = ['0'.repeat(64), 'a'.repeat(64), `${'0'.repeat(63)}1`].map((hex) => `sha256:${hex}`);
const PATHS = [
  'overlays/dev/kustomization.yaml',
  'overlays/staging/kustomization.yaml',
  'overlays/dev/app-versions/kustomization.yaml',
  'overlays/dev/app-versions/0-2-0/kustomization.yaml',
  'overlays/dev/app-versions/0-2-0/version.patch.yaml',
];

interface ImageEntry {
  name: string;
  tag: string;
  digest: string;
}

const entryArb: fc.Arbitrary<ImageEntry> = fc.record({
  name: fc.constantFrom(...IMAGES),
  tag: fc.constantFrom(...TAGS),
  digest: fc.constantFrom(...DIGESTS),
});

// What a bot edit does to one entry: nothing, a new tag and/or digest (a bump or promotion), or removal.
const entryEditArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'keep' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('change' as const),
      tag: fc.option(fc.constantFrom(...TAGS), { nil: undefined }),
      digest: fc.option(fc.constantFrom(...DIGESTS), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'delete' as const }) },
);

interface OverlayFile {
  comment: string | null;
  entries: ImageEntry[];
  tail: string[];
  finalNewline: boolean;
}

const overlayArb: fc.Arbitrary<OverlayFile> = fc.record({
  comment: fc.option(fc.constantFrom('# gitops-bot: hold (waiting for the 0.2.0 migration)', '# Conductor and Console move together.'), { nil: null }),
  entries: fc.array(entryArb, { minLength: 1, maxLength: 8 }),
  tail: fc.subarray(['patches:', '  - path: hosts.patch.yaml', '  - path: scaling.patch.yaml', '  - path: app-rollout.patch.yaml']),
  finalNewline: fc.boolean(),
});

function render(file: OverlayFile): string {
  const lines = ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'images:'];
  for (const entry of file.entries) {
    if (file.comment && entry === file.entries[0]) lines.push(`  ${file.comment}`);
    lines.push(`  - name: ${entry.name}`, `    newTag: ${entry.tag}`, `    digest: ${entry.digest}`);
  }
  lines.push(...file.tail);
  return lines.join('\n') + (file.finalNewline ? '\n' : '');
}

// A modified file: per-entry edits, entries inserted anywhere, and possibly the final newline toggled.
const modifiedArb = overlayArb.chain((before) =>
  fc
    .record({
      edits: fc.array(entryEditArb, { minLength: before.entries.length, maxLength: before.entries.length }),
      inserts: fc.array(fc.tuple(fc.nat({ max: before.entries.length }), entryArb), { maxLength: 3 }),
      toggleNewline: fc.boolean(),
    })
    .map(({ edits, inserts, toggleNewline }) => {
      const entries: ImageEntry[] = [];
      before.entries.forEach((entry, index) => {
        const edit = edits[index]!;
        if (edit.kind === 'keep') entries.push(entry);
        if (edit.kind === 'change') entries.push({ ...entry, tag: edit.tag ?? entry.tag, digest: edit.digest ?? entry.digest });
      });
      for (const [at, entry] of inserts) entries.splice(Math.min(at, entries.length), 0, entry);
      const after: OverlayFile = { ...before, entries, finalNewline: toggleNewline ? !before.finalNewline : before.finalNewline };
      return { before: render(before), after: render(after) };
    }),
);

interface FileEdit {
  path: string;
  before: string | null;
  after: string | null;
}

const fileEditArb = (path: string): fc.Arbitrary<FileEdit> =>
  fc.oneof(
    { weight: 4, arbitrary: modifiedArb.map(({ before, after }) => ({ path, before, after })) },
    { weight: 1, arbitrary: overlayArb.map((file) => ({ path, before: null, after: render(file) })) },
    { weight: 1, arbitrary: overlayArb.map((file) => ({ path, before: render(file), after: null })) },
  );

// One plan's edits: up to all the paths, each at most once; a no-op edit is not a change a plan prints.
const planEditsArb = fc
  .uniqueArray(fc.constantFrom(...PATHS), { minLength: 1, maxLength: PATHS.length })
  .chain((paths) => fc.tuple(...paths.map(fileEditArb)))
  .filter((edits) => edits.every((edit) => edit.before !== edit.after));

async function resetTree(edits: FileEdit[]): Promise<void> {
  await git('rm', '-r', '--quiet', '--cached', '--ignore-unmatch', '.');
  await git('clean', '-fdxq');
  for (const edit of edits) {
    if (edit.before === null) continue;
    await mkdir(dirname(join(repo, edit.path)), { recursive: true });
    await writeFile(join(repo, edit.path), edit.before);
  }
  await git('add', '-A');
}

async function readTree(edits: FileEdit[]): Promise<Array<string | null>> {
  return Promise.all(
    edits.map((edit) =>
      readFile(join(repo, edit.path), 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : Promise.reject(error))),
    ),
  );
}

// The patch file sits beside the repository, so `git add -A` never picks it up.
const patchFile = (): string => `${repo}.patch`;

/** The failure git reports, or null: `--index` holds the patch to both the index and the work tree. */
async function gitApplyCheck(patch: string): Promise<string | null> {
  await writeFile(patchFile(), patch);
  try {
    await git('apply', '--check', '--index', patchFile());
    return null;
  } catch (error) {
    return (error as { stderr?: string }).stderr ?? String(error);
  }
}

async function gitApply(patch: string): Promise<void> {
  await writeFile(patchFile(), patch);
  await git('apply', '--index', patchFile());
}

/** The patch as a person saves it from `plan --json` (`jq -r`) or copies it from `run --dry-run`: newline-terminated. */
const asPatch = (text: string): string => `${text}\n`;

describe('unifiedDiff output is a patch git applies', () => {
  it('every per-file diff passes `git apply --check`, and the diffs joined as the runner prints them turn before into after', async () => {
    await fc.assert(
      fc.asyncProperty(planEditsArb, async (edits) => {
        await resetTree(edits);
        for (const edit of edits) {
          expect(await gitApplyCheck(asPatch(unifiedDiff(edit.path, edit.before, edit.after))), edit.path).toBeNull();
        }
        // runner.ts prints a plan's diffs joined with '\n'; that text is one multi-file patch.
        await gitApply(asPatch(edits.map((edit) => unifiedDiff(edit.path, edit.before, edit.after)).join('\n')));
        expect(await readTree(edits)).toEqual(edits.map((edit) => edit.after));
      }),
      { numRuns: RUNS },
    );
  });

  it('two edits within six lines of each other: the old walk printed them as overlapping hunks', async () => {
    // fast-check's shrunk counterexample against the old walk (the issue's `@@ -23,8 …` then `@@ -27,8 …`): a new
    // digest on one entry and a new tag on the next, which share their other lines. The walk printed `@@ -4,7 +4,7 @@`
    // then `@@ -6,6 +6,6 @@` for one file, and `git apply --check` answered "patch does not apply".
    const entry = (name: string, tag: string, digest: string): ImageEntry => ({ name, tag, digest });
    const before = render({
      comment: null,
      entries: [entry('dbosdev/conductor', '"0.0.0"', DIGESTS[0]!), entry('dbos-migrate', '"0.0.0"', DIGESTS[0]!)],
      tail: [],
      finalNewline: true,
    });
    const after = render({
      comment: null,
      entries: [entry('dbosdev/conductor', '"0.0.0"', DIGESTS[1]!), entry('dbos-migrate', '"0.1.0"', DIGESTS[0]!)],
      tail: [],
      finalNewline: true,
    });
    const edit = { path: PATHS[0]!, before, after };
    await resetTree([edit]);
    const diff = unifiedDiff(edit.path, before, after);
    expect(diff.match(/^@@/gm)).toHaveLength(1);
    expect(await gitApplyCheck(asPatch(diff))).toBeNull();
    await gitApply(asPatch(diff));
    expect(await readTree([edit])).toEqual([after]);
  });
});
