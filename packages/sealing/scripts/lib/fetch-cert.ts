// Loaded by ../fetch-cert.ts once its command line parsed, so --help never loads what sealing needs.
import type { FETCH_CERT } from '../fetch-cert.ts';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { CliIo, FlagValues } from '@dbos-gitops/cli-kit';
import { $ } from 'zx';
import { controllerFromEnv, fetchCertificateFromCluster, loadKubeConfig } from '../../src/cert-source.ts';
import { parseCertificate, type SealingCertificate } from '../../src/certificate.ts';
import { CertificateFetchError, RepositoryError, UsageError } from '../../src/errors.ts';
import { readSealedSecret } from '../../src/merge.ts';
import { printer, repoRoot, validateEnvironment } from './cli.ts';
import { certificatePath, secretsDirectory } from './sealed-files.ts';

/** What --json prints: the same facts as the text lines. */
interface FetchCertReport {
  environment: string;
  path: string;
  controller: string;
  context: string;
  certificate: { keyFingerprint: string; keyBits: number; certificateSha256: string; notBefore: string; notAfter: string } | null;
  previousKeyFingerprint: string | null;
  keyChanged: boolean;
  sealedFiles: Array<{ path: string; verdict: string }>;
  resealCommands: string[];
  committed: boolean;
}

const HELM_RELEASE_NAME = 'sealed-secrets';
const DAY_MS = 86_400_000;

function describeCertificate(certificate: SealingCertificate, now: Date): string {
  const daysLeft = Math.floor((certificate.notAfter.getTime() - now.getTime()) / DAY_MS);
  return [
    `  key fingerprint:  ${certificate.keyFingerprint} (RSA-${certificate.keyBits}; the controller logs this name)`,
    `  certificate:      SHA-256 ${certificate.certificateSha256}`,
    `  valid:            ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()} (${daysLeft} days left)`,
  ].join('\n');
}

async function lastCommitTime(root: string, path: string): Promise<number | null> {
  const result = await $({ quiet: true, nothrow: true, cwd: root })`git log -1 --format=%ct -- ${path}`;
  const seconds = Number.parseInt(result.stdout.trim(), 10);
  return result.exitCode === 0 && Number.isFinite(seconds) ? seconds : null;
}

/** The body of `pnpm secrets:fetch-cert`; its flags are the spec's in ../fetch-cert.ts. */
export async function fetchCert(flags: FlagValues<(typeof FETCH_CERT)['flags']>, io: CliIo): Promise<number | void> {
  // Text lines as they happen; with --json nothing until the report is complete.
  const echo = flags.json ? () => {} : printer(io);
  const report: FetchCertReport = {
    environment: '',
    path: '',
    controller: '',
    context: '',
    certificate: null,
    previousKeyFingerprint: null,
    keyChanged: true,
    sealedFiles: [],
    resealCommands: [],
    committed: false,
  };
  const env = validateEnvironment(flags.env);
  const root = await repoRoot(flags.root);
  const fromEnv = controllerFromEnv(process.env);
  const controller = {
    name: flags['controller-name'] ?? (process.env.SEALED_SECRETS_CONTROLLER_NAME ? fromEnv.name : HELM_RELEASE_NAME),
    namespace: flags['controller-namespace'] ?? fromEnv.namespace,
  };
  const kubeConfig = loadKubeConfig({ kubeconfigPath: flags.kubeconfig, env: process.env });
  if (flags.context) {
    if (!kubeConfig.getContexts().some((context) => context.name === flags.context)) {
      throw new UsageError(`the kubeconfig has no context "${flags.context}"`, 'list them with `kubectl config get-contexts` and pass one with --context');
    }
    kubeConfig.setCurrentContext(flags.context);
  }
  const context = kubeConfig.getCurrentContext();
  const pem = await fetchCertificateFromCluster(kubeConfig, controller);
  const now = new Date();
  let fetched: SealingCertificate;
  try {
    fetched = parseCertificate(pem, { now });
  } catch (error) {
    throw new CertificateFetchError(
      `the controller ${controller.namespace}/${controller.name} answered with an unusable certificate: ${(error as Error).message}`,
    );
  }

  const path = certificatePath(root, env);
  const relativePath = relative(root, path);
  const previousPem = existsSync(path) ? await readFile(path, 'utf8') : null;
  let previous: SealingCertificate | null = null;
  if (previousPem !== null) {
    try {
      previous = parseCertificate(previousPem, { allowInvalidDates: true });
    } catch {
      previous = null;
    }
  }
  const previousCommit = previousPem === null ? null : await lastCommitTime(root, relativePath);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, fetched.pem);
  Object.assign(report, {
    environment: env,
    path: relativePath,
    controller: `${controller.namespace}/${controller.name}`,
    context,
    certificate: {
      keyFingerprint: fetched.keyFingerprint,
      keyBits: fetched.keyBits,
      certificateSha256: fetched.certificateSha256,
      notBefore: fetched.notBefore.toISOString(),
      notAfter: fetched.notAfter.toISOString(),
    },
    previousKeyFingerprint: previous?.keyFingerprint ?? null,
    keyChanged: !(previous && previous.keyFingerprint === fetched.keyFingerprint),
  });
  echo(`wrote ${relativePath} from ${controller.namespace}/${controller.name} (context ${context}):\n${describeCertificate(fetched, now)}`);

  // The platform's SealedSecrets and every application's (overlays/<env>/apps/<app>/secrets).
  const appsDir = join(root, 'overlays', env, 'apps');
  const apps = existsSync(appsDir)
    ? (await readdir(appsDir, { withFileTypes: true }))
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
        .sort()
    : [];
  const sealedFiles: Array<{ name: string; path: string; app: string | undefined }> = [];
  for (const app of [undefined, ...apps]) {
    const directory = secretsDirectory(root, env, app);
    if (!existsSync(directory)) continue;
    for (const name of (await readdir(directory)).filter((file) => file.endsWith('.sealed.yaml')).sort())
      sealedFiles.push({ name, path: relative(root, join(directory, name)), app });
  }
  if (previous && previous.keyFingerprint === fetched.keyFingerprint) {
    echo('the sealing key is unchanged: every committed SealedSecret was sealed for this key or an older one the controller still holds.');
  } else {
    echo(
      previous
        ? `the sealing key changed (was ${previous.keyFingerprint}). The controller keeps its old keys, so committed SealedSecrets still decrypt.`
        : 'there was no readable certificate before, so nothing can be compared.',
    );
    echo('Which key sealed a value cannot be read from the ciphertext (RSA-OAEP hides the recipient key). From git history only:');
    for (const { path } of sealedFiles) {
      const fileCommit = await lastCommitTime(root, path);
      const verdict =
        fileCommit === null || previousCommit === null
          ? 'unknown (not committed, or no history for the old certificate)'
          : fileCommit >= previousCommit
            ? 'last changed after the old certificate was committed: probably sealed for the old key'
            : 'last changed before the old certificate was committed: sealed for the old key or an even older one';
      report.sealedFiles.push({ path, verdict });
      echo(`  ${path}: ${verdict}`);
    }
    echo('Re-sealing is only needed to retire old controller keys (key rotation is not secret rotation; new values are what rotate a secret).');
    if (flags['reseal-hint']) {
      echo('To re-seal, give each value again (it cannot be recovered from the repository):');
      for (const { name, path, app } of sealedFiles) {
        const secretName = name.replace(/\.sealed\.yaml$/, '');
        let keys: string[];
        try {
          keys = readSealedSecret(await readFile(join(root, path), 'utf8'), name).keys;
        } catch {
          report.sealedFiles.push({ path, verdict: 'not a readable SealedSecret, skipped' });
          echo(`  ${path}: not a readable SealedSecret, skipped`);
          continue;
        }
        for (const key of keys) {
          const command = `pnpm secrets:seal --env ${env}${app ? ` --app ${app}` : ''} --name ${secretName} --key ${key}`;
          report.resealCommands.push(command);
          echo(`  ${command}`);
        }
      }
    } else if (sealedFiles.length > 0) {
      echo('Pass --reseal-hint for the commands that re-seal each value.');
    }
  }

  if (flags.commit) {
    const add = await $({ quiet: true, nothrow: true, cwd: root })`git add -- ${relativePath}`;
    if (add.exitCode !== 0) throw new RepositoryError(`git add ${relativePath} failed: ${add.stderr.trim().split('\n')[0]}`);
    const staged = await $({ quiet: true, nothrow: true, cwd: root })`git diff --cached --quiet -- ${relativePath}`;
    if (staged.exitCode === 0) {
      echo(`${relativePath} is unchanged in git; nothing to commit`);
      return finish();
    }
    const message = `${env}: sealing certificate ${fetched.keyFingerprint}, valid until ${fetched.notAfter.toISOString().slice(0, 10)}`;
    const commit = await $({ quiet: true, nothrow: true, cwd: root })`git commit --quiet -m ${message} -- ${relativePath}`;
    if (commit.exitCode !== 0) throw new RepositoryError(`git commit failed: ${commit.stderr.trim().split('\n')[0]}`);
    echo(`committed ${relativePath}`);
    report.committed = true;
  }
  return finish();

  function finish(): number {
    if (flags.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
}
