/**
 * Re-creates the example environments' sealing certificates and SealedSecrets (see src/example-environments.ts).
 * Prints only paths and public fingerprints.
 *
 *   pnpm exec tsx packages/sealing/scripts/seal-example-environments.ts [dev|staging|prod ...]
 */
import { fileURLToPath } from 'node:url';
import { bootstrapExampleEnvironment, EXAMPLE_ENVIRONMENTS, type ExampleEnvironment } from '../src/example-environments.ts';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((name) => !(EXAMPLE_ENVIRONMENTS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    process.stderr.write(`error: unknown environment ${unknown.join(', ')}; choose from ${EXAMPLE_ENVIRONMENTS.join(', ')}\n`);
    return 2;
  }
  const selected = (argv.length > 0 ? argv : EXAMPLE_ENVIRONMENTS) as readonly ExampleEnvironment[];
  const now = new Date();
  for (const environment of selected) {
    await bootstrapExampleEnvironment(environment, { root: repoRoot, now, log: (line) => process.stdout.write(`${line}\n`) });
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(1);
  },
);
