/**
 * Re-creates the example environments' sealing certificates and SealedSecrets (see src/example-environments.ts).
 * Prints only paths and public fingerprints.
 *
 *   pnpm exec tsx packages/sealing/scripts/seal-example-environments.ts [dev|staging|prod ...]
 */
import { fileURLToPath } from 'node:url';
import type { CommandSpec } from '@dbos-gitops/cli-kit';
import { UsageError } from '../src/errors.ts';
import { bootstrapExampleEnvironment, EXAMPLE_ENVIRONMENTS, type ExampleEnvironment } from '../src/example-environments.ts';
import { printer, runScript } from './lib/cli.ts';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

const SEAL_EXAMPLES = {
  usage: 'pnpm exec tsx packages/sealing/scripts/seal-example-environments.ts [ENV ...]',
  summary:
    'Re-creates the example environments: for each, a fresh sealing key pair whose certificate replaces ' +
    'clusters/<env>/sealed-secrets-cert.pem (the private key is dropped) and every SealedSecret of overlays/<env>/platform/secrets and overlays/<env>/apps/<app>/secrets, ' +
    'sealed from random or placeholder values. Only for the examples: a real environment uses secrets:bootstrap.',
  flags: {},
  positionals: {
    name: 'ENV',
    description: `the environments to re-create, of ${EXAMPLE_ENVIRONMENTS.join(', ')} (default all)`,
    max: EXAMPLE_ENVIRONMENTS.length,
  },
  notes: ['exit codes: 0 written, 64 usage (an environment that is not an example).'],
} satisfies CommandSpec;

runScript(SEAL_EXAMPLES, 'seal-example-environments', async (_flags, io, positionals) => {
  const unknown = positionals.filter((name) => !(EXAMPLE_ENVIRONMENTS as readonly string[]).includes(name));
  // Names only, never echoed: a positional may be anything, and these are checked against a fixed list.
  if (unknown.length > 0) throw new UsageError(`${unknown.length} argument(s) are not example environments`, `choose from ${EXAMPLE_ENVIRONMENTS.join(', ')}`);
  const selected = (positionals.length > 0 ? positionals : EXAMPLE_ENVIRONMENTS) as readonly ExampleEnvironment[];
  const now = new Date();
  const echo = printer(io);
  for (const environment of selected) await bootstrapExampleEnvironment(environment, { root: repoRoot, now, log: echo });
});
