import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as names from './names.ts';

const packagesDir = fileURLToPath(new URL('../../', import.meta.url));

/** The code of a file without its comments, which may quote a name in prose (`dbos.dev/placeholder` clears once …). */
function code(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
}

/** Production TypeScript of every package (src/ and scripts/), without tests. */
function productionFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...productionFiles(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) files.push(full);
  }
  return files;
}

describe('annotation and label names', () => {
  it('are each spelled as a string literal in exactly one production file, names.ts', () => {
    const files = readdirSync(packagesDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .flatMap((entry) => ['src', 'scripts'].map((sub) => path.join(packagesDir, entry.name, sub)))
      .filter((dir) => {
        try {
          return readdirSync(dir) && true;
        } catch {
          return false;
        }
      })
      .flatMap(productionFiles);
    expect(Object.keys(names).length).toBeGreaterThan(0);
    for (const name of Object.values(names)) {
      // Quoted on both sides, so `dbos.dev/placeholder` does not match `dbos.dev/placeholder-keys`.
      const literal = new RegExp(`['"\`]${name.replaceAll('.', '\\.')}['"\`]`);
      const spelledIn = files.filter((file) => literal.test(code(file))).map((file) => path.relative(packagesDir, file));
      expect(spelledIn, name).toEqual(['sealing/src/names.ts']);
    }
  });
});
