import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, formatHelp, parseCommand, runReporting, type CliIo, type CommandSpec } from '@dbos-gitops/cli-kit';
import ts from 'typescript';

/**
 * A package is used through its name and its `exports` (`@dbos-gitops/<pkg>`, `@dbos-gitops/<pkg>/testing`), never
 * through a relative path into its folder: a relative path skips the dependency declaration, the exports map and
 * the package's own build, so nothing notices when the other package moves a file. Biome's noRestrictedImports
 * matches import strings, not where they resolve, so this check resolves every relative import itself.
 */

export interface CrossPackageImport {
  /** Repository-relative, POSIX separators. */
  file: string;
  line: number;
  specifier: string;
  /** The package folder the importing file belongs to, e.g. `packages/bot`. */
  from: string;
  /** The package folder the import resolves into, or null when it leaves `packages/` altogether. */
  into: string | null;
}

const SOURCE_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs']);
const SKIPPED_DIRECTORIES = new Set(['node_modules', 'dist', '.git']);

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRECTORIES.has(entry.name)) files.push(...sourceFiles(path.join(dir, entry.name)));
    } else if (entry.isFile() && SOURCE_EXTENSIONS.has(path.extname(entry.name)) && !entry.name.endsWith('.d.ts')) {
      files.push(path.join(dir, entry.name));
    }
  }
  return files;
}

/** `packages/<name>` for a path inside one, else null. */
function packageOf(root: string, absolute: string): string | null {
  const parts = path.relative(root, absolute).split(path.sep);
  return parts[0] === 'packages' && parts.length > 2 ? `packages/${parts[1]}` : null;
}

/**
 * Every relative import (static, `export … from`, dynamic `import()`, `require()`) in `packages/<a>/` that resolves
 * into another package's folder or out of `packages/` altogether. The TypeScript scanner reads the imports, so
 * strings and comments that merely look like imports are not counted.
 */
export function findCrossPackageImports(root: string): CrossPackageImport[] {
  const packagesDir = path.join(root, 'packages');
  const found: CrossPackageImport[] = [];
  for (const packageName of readdirSync(packagesDir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()) {
    const from = `packages/${packageName}`;
    for (const file of sourceFiles(path.join(packagesDir, packageName)).sort()) {
      const text = readFileSync(file, 'utf8');
      const { importedFiles } = ts.preProcessFile(text, true, true);
      for (const imported of importedFiles) {
        const specifier = imported.fileName;
        if (!specifier.startsWith('./') && !specifier.startsWith('../')) continue;
        const into = packageOf(root, path.resolve(path.dirname(file), specifier));
        if (into === from) continue;
        found.push({
          file: path.relative(root, file).split(path.sep).join('/'),
          line: text.slice(0, imported.pos).split('\n').length,
          specifier,
          from,
          into,
        });
      }
    }
  }
  return found;
}

export function describeImport(found: CrossPackageImport): string {
  const where = found.into === null ? `outside packages/ (${found.from} may import only its own files and packages by name)` : `into ${found.into}`;
  const fix =
    found.into === null
      ? 'move what it needs into the package, or make it a package'
      : `import @dbos-gitops/${found.into.slice('packages/'.length)} (add a subpath to its package.json "exports" if needed) and declare it in ${found.from}/package.json`;
  return `${found.file}:${found.line} imports '${found.specifier}', which reaches ${where}\n  fix: ${fix}`;
}

const spec: CommandSpec<{ json: { type: 'boolean'; description: string } }> = {
  usage: 'pnpm lint (or: tsx scripts/check-imports.ts [--json])',
  summary:
    'Fails when a file in packages/<a>/ imports another package, or anything outside packages/, by a relative path. ' +
    'Packages import each other by name (@dbos-gitops/<pkg>), through their exports. Reads the tree, writes nothing.',
  flags: { json: { type: 'boolean', description: 'print the offending imports as a JSON array instead of lines' } },
  notes: ['Exit codes: 0 none found, 1 found, 64 usage.'],
};

export async function main(argv: readonly string[], io: CliIo, root: string): Promise<number> {
  return runReporting(io, async () => {
    const parsed = parseCommand(spec, argv);
    if (parsed.kind === 'help') {
      io.stdout(formatHelp(spec));
      return EXIT.ok;
    }
    if (parsed.kind === 'version') {
      io.stdout('check-imports (dbos-gitops workspace)\n');
      return EXIT.ok;
    }
    const found = findCrossPackageImports(root);
    if (parsed.values.json) io.stdout(`${JSON.stringify(found, null, 2)}\n`);
    else if (found.length === 0) io.stdout('check-imports: no import reaches into another package\n');
    else io.stdout(`${found.map(describeImport).join('\n')}\ncheck-imports: ${found.length} relative import(s) cross a package boundary\n`);
    return found.length === 0 ? EXIT.ok : EXIT.failure;
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const io: CliIo = { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text), env: process.env };
  process.exitCode = await main(process.argv.slice(2), io, fileURLToPath(new URL('..', import.meta.url)));
}
