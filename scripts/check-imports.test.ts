import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findCrossPackageImports, main } from './check-imports.ts';

let root: string | undefined;

afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
  root = undefined;
});

async function tree(files: Record<string, string>): Promise<string> {
  root = await mkdtemp(path.join(tmpdir(), 'check-imports-'));
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  return root;
}

function capture() {
  const out = { stdout: '', stderr: '' };
  const io = {
    stdout: (text: string) => {
      out.stdout += text;
    },
    stderr: (text: string) => {
      out.stderr += text;
    },
    env: {},
  };
  return { out, io };
}

describe('findCrossPackageImports', () => {
  it('reports relative imports into another package or out of packages/, in every import form, and nothing else', async () => {
    const dir = await tree({
      'packages/a/src/own.ts': 'export const own = 1;\n',
      'packages/a/src/deep/use.ts': [
        "import { own } from '../own.ts';",
        "import { helper } from '@dbos-gitops/b';",
        "import { fixture } from '../../../b/src/fixture.ts';",
        "export { other } from '../../../b/src/other.ts';",
        'const later = await import("../../../b/src/lazy.ts");',
        "// import { inComment } from '../../../b/src/comment.ts';",
        'const text = "import x from \'../../../b/src/string.ts\'";',
        "import config from '../../../../scripts/config.ts';",
      ].join('\n'),
      'packages/b/test/uses-a.cjs': "const a = require('../../a/src/own.ts');\n",
      'packages/b/node_modules/dep/index.ts': "import '../../../a/src/own.ts';\n",
    });
    expect(findCrossPackageImports(dir)).toEqual([
      { file: 'packages/a/src/deep/use.ts', line: 3, specifier: '../../../b/src/fixture.ts', from: 'packages/a', into: 'packages/b' },
      { file: 'packages/a/src/deep/use.ts', line: 4, specifier: '../../../b/src/other.ts', from: 'packages/a', into: 'packages/b' },
      { file: 'packages/a/src/deep/use.ts', line: 5, specifier: '../../../b/src/lazy.ts', from: 'packages/a', into: 'packages/b' },
      { file: 'packages/a/src/deep/use.ts', line: 8, specifier: '../../../../scripts/config.ts', from: 'packages/a', into: null },
      { file: 'packages/b/test/uses-a.cjs', line: 1, specifier: '../../a/src/own.ts', from: 'packages/b', into: 'packages/a' },
    ]);
  });

  it('a package importing its own files, however deep, and other packages by name passes', async () => {
    const dir = await tree({
      'packages/a/src/x/y/z.ts': "import { w } from '../../w.ts';\nimport { b } from '@dbos-gitops/b/testing';\n",
      'packages/a/src/w.ts': 'export const w = 1;\n',
      'packages/a/scripts/run.ts': "import { w } from '../src/w.ts';\n",
    });
    expect(findCrossPackageImports(dir)).toEqual([]);
  });
});

describe('check-imports command', () => {
  it('exits 1 and names the file, line, specifier and fix; exits 0 on a clean tree', async () => {
    const dir = await tree({ 'packages/a/src/x.ts': "import '../../b/src/y.ts';\n", 'packages/b/src/y.ts': '' });
    const dirty = capture();
    expect(await main([], dirty.io, dir)).toBe(1);
    expect(dirty.out.stdout).toContain("packages/a/src/x.ts:1 imports '../../b/src/y.ts', which reaches into packages/b");
    expect(dirty.out.stdout).toContain('fix: import @dbos-gitops/b');
    await writeFile(path.join(dir, 'packages/a/src/x.ts'), "import '@dbos-gitops/b';\n");
    const clean = capture();
    expect(await main(['--'], clean.io, dir)).toBe(0);
    expect(clean.out.stdout).toBe('check-imports: no import reaches into another package\n');
  });

  it('--json prints the list; --help explains every flag; an unknown flag is a usage error that does not echo its value', async () => {
    const dir = await tree({ 'packages/a/src/x.ts': "import '../../b/src/y.ts';\n" });
    const json = capture();
    expect(await main(['--json'], json.io, dir)).toBe(1);
    expect(JSON.parse(json.out.stdout)).toMatchObject([{ file: 'packages/a/src/x.ts', into: 'packages/b' }]);
    const help = capture();
    expect(await main(['--help'], help.io, dir)).toBe(0);
    expect(help.out.stdout).toContain('--json');
    const usage = capture();
    expect(await main(['--token=hunter2'], usage.io, dir)).toBe(64);
    expect(usage.out.stderr).toContain('error:');
    expect(usage.out.stderr).not.toContain('hunter2');
  });
});
