/**
 * Seals ONE value for an environment into a platform secret, overlays/<env>/platform/secrets/<name>.sealed.yaml, or
 * with --app into that application's, overlays/<env>/apps/<app>/secrets/<name>.sealed.yaml (merged into the file, or
 * a new file). The value is never an argument (shell history, `ps`): a hidden prompt on a terminal, otherwise stdin.
 *
 *   pnpm secrets:seal --env dev --name conductor-license --key license-key
 *   printf %s "$VALUE" | pnpm secrets:seal --env prod --name gitops-bot --key github-token
 *   pnpm secrets:seal --env dev --app orders --name orders-conductor-api-key --key api-key --token-name my-orders-key
 *
 * The drain reader's URL is one value in two files (dbos-drain-reader for the bot, dbos-drain-reader-keda in KEDA's
 * namespace): naming either seals both from the one prompt, so KEDA never polls with a stale password.
 *
 * Prints only what it wrote.
 */
import type { CommandSpec } from '@dbos-gitops/cli-kit';
import { runScript } from './lib/cli.ts';

export const SEAL_VALUE = {
  usage: 'pnpm secrets:seal --env ENV --name SECRET --key KEY [options]',
  summary:
    'Seals ONE value into a platform secret, overlays/<env>/platform/secrets/<SECRET>.sealed.yaml, or with --app into ' +
    "that application's, overlays/<env>/apps/<APP>/secrets/<SECRET>.sealed.yaml: merged into the existing file (only that key and " +
    'its annotations change) or a new file. The value is read from a hidden prompt, or from stdin when stdin is not a ' +
    'terminal (all of it, minus one final newline); never from the command line. An existing file accepts only the ' +
    'keys it declares; dbos.dev/placeholder is removed once every placeholder key of the file holds a real value. ' +
    'dbos-drain-reader and dbos-drain-reader-keda (key database-url) are sealed together from the one value.',
  flags: {
    env: {
      type: 'string',
      valueName: 'ENV',
      description: 'the environment: writes under overlays/ENV, seals for clusters/ENV/sealed-secrets-cert.pem (required)',
    },
    app: {
      type: 'string',
      valueName: 'APP',
      description:
        "an application's secret (its database URL or Conductor API key, named in overlays/ENV/apps/APP/identity.yaml): writes overlays/ENV/apps/APP/secrets; without it, a platform secret",
    },
    name: { type: 'string', valueName: 'SECRET', description: 'the Secret name, also the file name (required)' },
    key: { type: 'string', valueName: 'KEY', description: 'the key inside the Secret to seal the value under (required)' },
    namespace: {
      type: 'string',
      valueName: 'NS',
      description: "the Secret's namespace (default: the existing file's, else dbos; keda for dbos-drain-reader-keda)",
    },
    scope: { type: 'string', valueName: 'SCOPE', description: "strict, namespace-wide or cluster-wide (default: the existing file's, else strict)" },
    cert: { type: 'string', valueName: 'FILE|URL', description: 'the sealing certificate (default clusters/ENV/sealed-secrets-cert.pem)' },
    'token-name': {
      type: 'string',
      valueName: 'NAME',
      description: "with --app and the app's Conductor API key secret: record the Conductor key's name, so the bot can revoke it later",
    },
    'add-key': { type: 'boolean', description: 'accept a key the existing file does not declare yet (without it a typo is refused)' },
    root: { type: 'string', valueName: 'DIR', description: 'the repository (default: the git work tree around the current directory)' },
    json: { type: 'boolean', description: 'print what was written as JSON ({ files: [...] }) instead of lines' },
  },
  notes: [
    'exit codes: 0 sealed, 2 certificate, a file for another target or an --app the environment does not have, 6 a file that cannot be read, 7 a file that is not an editable SealedSecret, 64 usage (also a key the file does not declare, an empty value), 130 cancelled at the prompt.',
  ],
} satisfies CommandSpec;

runScript(SEAL_VALUE, 'secrets:seal', async (flags, io) => (await import('./lib/seal-value.ts')).sealValue(flags, io));
