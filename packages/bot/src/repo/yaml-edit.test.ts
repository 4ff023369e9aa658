import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { YamlEditError } from '../errors.ts';
import { readImageEntries, setImageEntries, setImageEntry } from './yaml-edit.ts';

const OLD = `sha256:${'a'.repeat(64)}`;
const NEW = `sha256:${'b'.repeat(64)}`;

/** Each case: a file, the entry to edit, the new tag, and the exact +/- lines git must report. */
const CORPUS: Array<{ name: string; text: string; image: string; tag: string; removed: string[]; added: string[] }> = [
  {
    name: 'comments, key order and plain scalars',
    text: `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization   # trailing comment
# comment above images
images:
  # the control plane
  - name: dbosdev/conductor   # inline comment on name
    newName: dbosdev/conductor
    newTag: 1.2.3 # keep me
    digest: ${OLD}

  - digest: ${OLD}
    newTag: 0.9.0
    name: other   # keys in unusual order
`,
    image: 'dbosdev/conductor',
    tag: '1.3.0',
    removed: ['    newTag: 1.2.3 # keep me', `    digest: ${OLD}`],
    added: ['    newTag: 1.3.0 # keep me', `    digest: ${NEW}`],
  },
  {
    name: 'double and single quotes keep their style',
    text: `images:
  - name: a
    newTag: "0.0.0"
    digest: '${OLD}'
  - name: b
    newTag: '1.0.0'
    digest: "${OLD}"
`,
    image: 'b',
    tag: "1.1.0-it's",
    removed: ["    newTag: '1.0.0'", `    digest: "${OLD}"`],
    added: ["    newTag: '1.1.0-it''s'", `    digest: "${NEW}"`],
  },
  {
    name: 'flow-style entry',
    text: `images:
  - {name: ghcr.io/dexidp/dex, newName: ghcr.io/dexidp/dex, newTag: v2.45.1, digest: ${OLD}}
  - name: x
    newTag: "1"
    digest: ${OLD}
`,
    image: 'ghcr.io/dexidp/dex',
    tag: 'v2.46.0',
    removed: [`  - {name: ghcr.io/dexidp/dex, newName: ghcr.io/dexidp/dex, newTag: v2.45.1, digest: ${OLD}}`],
    added: [`  - {name: ghcr.io/dexidp/dex, newName: ghcr.io/dexidp/dex, newTag: v2.46.0, digest: ${NEW}}`],
  },
  {
    name: 'anchors, aliases and block scalars elsewhere survive; an anchor on the tag is kept',
    text: `common: &labels
  app: dbos
labels: *labels
script: |
  echo "newTag: 1.0.0"
  exit 0
folded: >-
  long text
  folded
images:
  - name: alpine
    newTag: &alpineTag 3.22.1
    digest: ${OLD}
`,
    image: 'alpine',
    tag: '3.22.2',
    removed: ['    newTag: &alpineTag 3.22.1', `    digest: ${OLD}`],
    added: ['    newTag: &alpineTag 3.22.2', `    digest: ${NEW}`],
  },
  {
    name: 'multiple documents with --- and ... markers',
    text: `---
# first document has no images
kind: Component
...
---
images:
  - name: dbos-migrate
    newTag: "0.1.0"
    digest: ${OLD}
---
images:
  - name: unrelated
    newTag: "0.1.0"
    digest: ${OLD}
`,
    image: 'dbos-migrate',
    tag: '0.2.0',
    removed: ['    newTag: "0.1.0"', `    digest: ${OLD}`],
    added: ['    newTag: "0.2.0"', `    digest: ${NEW}`],
  },
  {
    name: 'a plain tag that would read back as a number is quoted',
    text: `images:
  - name: app
    newTag: 1.9
    digest: ${OLD}
`,
    image: 'app',
    tag: '1.10',
    removed: ['    newTag: 1.9', `    digest: ${OLD}`],
    added: ['    newTag: "1.10"', `    digest: ${NEW}`],
  },
  {
    name: 'a missing digest is inserted under newTag, nothing else moves',
    text: `images:
  - name: console
    newTag: "0.1.0" # tag only
    newName: dbosdev/console
`,
    image: 'console',
    tag: '0.2.0',
    removed: ['    newTag: "0.1.0" # tag only'],
    added: ['    newTag: "0.2.0" # tag only', `    digest: ${NEW}`],
  },
];

const dir = mkdtempSync(join(tmpdir(), 'yaml-corpus-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd: dir, encoding: 'utf8' });
git('init', '--quiet');

function changedLines(diff: string, sign: '-' | '+'): string[] {
  return diff
    .split('\n')
    .filter((line) => line.startsWith(sign) && !line.startsWith(`${sign}${sign}${sign}`))
    .map((line) => line.slice(1));
}

describe('surgical image edits (git diff shows only the edited lines)', () => {
  for (const [index, fixture] of CORPUS.entries()) {
    it(fixture.name, () => {
      const file = `case-${index}.yaml`;
      writeFileSync(join(dir, file), fixture.text);
      git('add', file);
      git('commit', '--quiet', '-m', file);
      const edited = setImageEntry(fixture.text, file, fixture.image, { newTag: fixture.tag, digest: NEW });
      writeFileSync(join(dir, file), edited);
      const diff = git('diff', '--unified=0', '--', file);
      expect(changedLines(diff, '-')).toEqual(fixture.removed);
      expect(changedLines(diff, '+')).toEqual(fixture.added);

      // Semantically, only the entry's newTag and digest changed.
      const before = parseAllDocuments(fixture.text).map((document) => document.toJS());
      const after = parseAllDocuments(edited).map((document) => document.toJS());
      for (const document of before) {
        for (const entry of (document?.images ?? []) as Array<Record<string, unknown>>) {
          if (entry.name === fixture.image) Object.assign(entry, { newTag: fixture.tag, digest: NEW });
        }
      }
      expect(after).toEqual(before);
      // Editing again to the same values is a no-op.
      expect(setImageEntry(edited, file, fixture.image, { newTag: fixture.tag, digest: NEW })).toBe(edited);
    });
  }
});

describe('several entries in one edit', () => {
  it('gives the same text as one edit per entry, in any order, and refuses as they do', () => {
    const text = [
      '# pins',
      'images:',
      '  - name: a # keep',
      "    newTag: '1.0.0'",
      `    digest: ${OLD}`,
      '  - name: b',
      '    newTag: 1.0.0',
      `  - {name: c, newTag: "1.0.0", digest: ${OLD}}`,
      '',
    ].join('\n');
    const changes = [
      { name: 'a', newTag: '1.1.0', digest: NEW },
      { name: 'b', newTag: '1.10', digest: NEW },
      { name: 'c', newTag: '2.0.0', digest: NEW },
    ];
    const oneByOne = changes.reduce((current, { name, ...next }) => setImageEntry(current, 'k.yaml', name, next), text);
    expect(setImageEntries(text, 'k.yaml', changes)).toBe(oneByOne);
    expect(setImageEntries(text, 'k.yaml', [...changes].reverse())).toBe(oneByOne);
    expect(oneByOne).toContain("newTag: '1.1.0'");
    expect(oneByOne).toContain('newTag: "1.10"');
    expect(() => setImageEntries(text, 'k.yaml', [...changes, { name: 'd', newTag: '1', digest: NEW }])).toThrow(/no images: entry named "d"/);
  });
});

describe('refusals and reads', () => {
  it('refuses an aliased tag instead of changing the anchor behind it', () => {
    const text = `base: &tag 1.0.0\nimages:\n  - name: a\n    newTag: *tag\n    digest: ${OLD}\n`;
    expect(() => setImageEntry(text, 'k.yaml', 'a', { newTag: '2.0.0', digest: NEW })).toThrow(/alias/);
  });

  it('refuses an anchored tag that an alias elsewhere reuses', () => {
    const text = `images:\n  - name: a\n    newTag: &t 1.0.0\n    digest: ${OLD}\nalso: *t\n`;
    expect(() => setImageEntry(text, 'k.yaml', 'a', { newTag: '2.0.0', digest: NEW })).toThrow(/anchor &t/);
  });

  it('never appends an entry: an unknown name is an error', () => {
    const text = `images:\n  - name: a\n    newTag: "1"\n    digest: ${OLD}\n`;
    expect(() => setImageEntry(text, 'k.yaml', 'b', { newTag: '2', digest: NEW })).toThrow(YamlEditError);
  });

  it('rejects duplicate entries for one image', () => {
    const text = `images:\n  - name: a\n    newTag: "1"\n  - name: a\n    newTag: "2"\n`;
    expect(() => readImageEntries(text, 'k.yaml')).toThrow(/two entries named "a"/);
  });

  it('reads a file once per text: a caller changing its entries does not change what the next read returns', () => {
    const text = `images:\n  - name: a\n    newTag: "1"\n    digest: ${OLD}\n`;
    const first = readImageEntries(text, 'k.yaml');
    first[0]!.newTag = 'changed by a caller';
    expect(readImageEntries(text, 'k.yaml')[0]).toMatchObject({ name: 'a', newTag: '1', digest: OLD });
    // A bad file fails on every read, not only the first.
    const duplicate = `images:\n  - name: a\n  - name: a\n`;
    expect(() => readImageEntries(duplicate, 'k.yaml')).toThrow(/two entries named "a"/);
    expect(() => readImageEntries(duplicate, 'k.yaml')).toThrow(/two entries named "a"/);
  });

  it('reports malformed YAML with the file and line', () => {
    const error = (() => {
      try {
        readImageEntries('images:\n  - name: a\n   newTag: [\n', 'overlays/dev/kustomization.yaml');
      } catch (caught) {
        return caught as YamlEditError;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(YamlEditError);
    expect(error!.message).toMatch(/^overlays\/dev\/kustomization\.yaml: not valid YAML at line \d+/);
  });

  it('sees a hold comment on or directly above an entry, and only there', () => {
    const text = `images:\n  # gitops-bot: hold (waiting for the DB migration)\n  - name: a\n    newTag: "1"\n  - name: b\n    newTag: "1" # gitops-bot: hold\n  - name: c\n    newTag: "1"\n`;
    const held = Object.fromEntries(readImageEntries(text, 'k.yaml').map((entry) => [entry.name, entry.held]));
    expect(held).toEqual({ a: true, b: true, c: false });
  });
});

describe('rotation stamp in app-rollout.patch.yaml (issue 8 item 21)', () => {
  const STAMP = '2026-11-30T05:00:00.000Z';
  const head =
    '# Rolls the app pods.\n\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: dbos-app   # keep\nspec:\n  template:\n    metadata:\n      annotations:\n';

  it('changes only the stamp scalar, in its own quoting; comments, blank lines and the document marker survive', async () => {
    const { setRolloutStamp } = await import('../tasks/secret-rotation/index.ts');
    const text = `---\n${head}        other:   'x'\n        dbos.dev/conductor-api-key-rotated-at: '2026-01-01T00:00:00.000Z'  # stamp\n\n# trailing comment\n`;
    expect(setRolloutStamp(text, STAMP, 'p.yaml')).toBe(text.replace("'2026-01-01T00:00:00.000Z'", `'${STAMP}'`));
    const plain = `${head}        dbos.dev/conductor-api-key-rotated-at: 2026-01-01T00:00:00.000Z\n`;
    expect(setRolloutStamp(plain, STAMP, 'p.yaml')).toBe(plain.replace('2026-01-01T00:00:00.000Z', STAMP));
  });

  it('keeps CRLF, also on an inserted stamp line', async () => {
    const { setRolloutStamp } = await import('../tasks/secret-rotation/index.ts');
    const crlf = `${head}        dbos.dev/conductor-api-key-rotated-at: "2026-01-01T00:00:00.000Z"\n`.replaceAll('\n', '\r\n');
    expect(setRolloutStamp(crlf, STAMP, 'p.yaml')).toBe(crlf.replace('2026-01-01T00:00:00.000Z', STAMP));
    const missing = `${head}        other: "x"   # why\n# end\n`.replaceAll('\n', '\r\n');
    const inserted = setRolloutStamp(missing, STAMP, 'p.yaml');
    expect(inserted).toBe(
      missing.replace('        other: "x"   # why\r\n', `        other: "x"   # why\r\n        dbos.dev/conductor-api-key-rotated-at: "${STAMP}"\r\n`),
    );
    expect(inserted.replaceAll('\r\n', '')).not.toContain('\n');
  });

  it('refuses to invent the annotations mapping instead of re-serialising the file', async () => {
    const { setRolloutStamp } = await import('../tasks/secret-rotation/index.ts');
    expect(() => setRolloutStamp('apiVersion: apps/v1\nkind: Deployment\nspec: {}\n', STAMP, 'p.yaml')).toThrow(YamlEditError);
  });
});
