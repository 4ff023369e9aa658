/**
 * Fetches an environment's current sealing certificate from its cluster (as `kubeseal --fetch-cert` does), prints its
 * key fingerprint and validity, writes clusters/<env>/sealed-secrets-cert.pem, and says what a key change means for the
 * SealedSecrets already committed.
 *
 *   pnpm secrets:fetch-cert --env prod --context prod-admin [--commit] [--reseal-hint]
 *
 * Controller flags and variables are kubeseal's (--controller-name/--controller-namespace,
 * SEALED_SECRETS_CONTROLLER_NAME/NAMESPACE); the default name is this repository's Helm release, `sealed-secrets`
 * (kubeseal's own default is `sealed-secrets-controller`).
 */
import type { CommandSpec } from '@dbos-gitops/cli-kit';
import { runScript } from './lib/cli.ts';

export const FETCH_CERT = {
  usage: 'pnpm secrets:fetch-cert --env ENV [--context KUBE_CONTEXT] [options]',
  summary:
    "Fetches the environment's current sealing certificate from its cluster (as kubeseal --fetch-cert does), writes " +
    'clusters/<env>/sealed-secrets-cert.pem, prints its key fingerprint and validity, and says what a key change means ' +
    'for the SealedSecrets already committed. Writes nothing else unless --commit.',
  flags: {
    env: { type: 'string', valueName: 'ENV', description: 'the environment whose certificate file is written (required)' },
    context: { type: 'string', valueName: 'KUBE_CONTEXT', description: "the kubeconfig context of the environment's cluster (default: the current context)" },
    kubeconfig: { type: 'string', valueName: 'FILE', description: 'cluster credentials (default $KUBECONFIG, then ~/.kube/config)' },
    'controller-name': {
      type: 'string',
      valueName: 'NAME',
      description: "the controller's Service (default sealed-secrets, this repository's Helm release) [$SEALED_SECRETS_CONTROLLER_NAME]",
    },
    'controller-namespace': {
      type: 'string',
      valueName: 'NS',
      description: "the controller's namespace (default kube-system) [$SEALED_SECRETS_CONTROLLER_NAMESPACE]",
    },
    commit: { type: 'boolean', description: 'git commit the certificate file (only that file) when it changed' },
    'reseal-hint': { type: 'boolean', description: 'after a key change, print the secrets:seal command for every committed key' },
    root: { type: 'string', valueName: 'DIR', description: 'the repository (default: the git work tree around the current directory)' },
    json: { type: 'boolean', description: 'print the report as JSON (certificate, key change, committed files) instead of lines' },
  },
  notes: [
    'exit codes: 0 written, 2 no certificate from the cluster (kubeconfig, controller, or an unusable answer), 6 git refused the commit, 64 usage (also an unknown --context).',
  ],
} satisfies CommandSpec;

runScript(FETCH_CERT, 'secrets:fetch-cert', async (flags, io) => (await import('./lib/fetch-cert.ts')).fetchCert(flags, io));
