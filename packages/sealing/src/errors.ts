/**
 * Every failure this package and its scripts report is a SealingError with a stable `code`, a `hint` (what to do)
 * and the README's `exitCode`, so every entry point (`pnpm bot seal`, `secrets:*`) prints it through cli-kit's
 * single catch and a CI job can tell a bad command line (64) from a bad certificate (2) by the code alone.
 * Messages never contain a secret value.
 */
import { EXIT } from '@dbos-gitops/cli-kit';

export interface SealingErrorOptions {
  cause?: unknown;
  hint?: string;
  exitCode?: number;
}

export class SealingError extends Error {
  readonly code: string;
  readonly hint: string;
  readonly exitCode: number;
  constructor(code: string, message: string, options: SealingErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint ?? 'read the message above; run the command with --help for its options';
    this.exitCode = options.exitCode ?? EXIT.failure;
  }
}

/** Bad flags, arguments or input: exit 64 (sysexits EX_USAGE), as for every entry point of the repository. */
export class UsageError extends SealingError {
  constructor(message: string, hint = 'run the command with --help for its options') {
    super('USAGE', message, { hint, exitCode: EXIT.usage });
  }
}

const FETCH_CERT_HINT = 'fetch the current certificate with `pnpm secrets:fetch-cert --env ENV --commit`, or pass --cert FILE|URL';

/** The environment's certificate is part of its configuration: a bad one is exit 2, like a bad config file. */
export class CertificateParseError extends SealingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CERTIFICATE_INVALID', message, { ...options, hint: FETCH_CERT_HINT, exitCode: EXIT.config });
  }
}

export class CertificateExpiredError extends SealingError {
  readonly notAfter: Date;
  constructor(notAfter: Date) {
    super(
      'CERTIFICATE_EXPIRED',
      `the sealing certificate expired on ${notAfter.toISOString()}; the controller renews its key regularly, ` +
        'so fetch the current certificate (kubeseal --fetch-cert, or --controller-name/--controller-namespace ' +
        'against the cluster) and commit it before sealing again',
      { hint: FETCH_CERT_HINT, exitCode: EXIT.config },
    );
    this.notAfter = notAfter;
  }
}

export class CertificateNotYetValidError extends SealingError {
  readonly notBefore: Date;
  constructor(notBefore: Date) {
    super(
      'CERTIFICATE_NOT_YET_VALID',
      `the sealing certificate is not valid before ${notBefore.toISOString()}; check this machine's clock, ` +
        'or fetch the current certificate from the controller',
      { hint: 'check the clock (timedatectl), then fetch the certificate again', exitCode: EXIT.config },
    );
    this.notBefore = notBefore;
  }
}

/** No certificate could be read from where the flags and the kubeconfig point: a configuration problem (exit 2). */
export class CertificateFetchError extends SealingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CERTIFICATE_FETCH_FAILED', message, {
      ...options,
      hint: 'check --cert, or the kubeconfig context and --controller-name/--controller-namespace (kubectl get service -A | grep sealed-secrets)',
      exitCode: EXIT.config,
    });
  }
}

/** A file that should hold a SealedSecret does not, or holds one this package cannot edit safely (exit 7, YAML). */
export class SealedSecretFormatError extends SealingError {
  constructor(message: string) {
    super('SEALED_SECRET_INVALID', message, {
      hint: 'fix the file so it holds one block-style SealedSecret (as kubeseal writes it), or seal it anew without --merge-into',
      exitCode: EXIT.yaml,
    });
  }
}

/**
 * Merging would put ciphertext into a document whose name, namespace or scope yields a different OAEP label,
 * so the controller could not decrypt it. The file in the repository disagrees with the target: exit 2.
 */
export class MergeTargetMismatchError extends SealingError {
  constructor(message: string) {
    super('MERGE_TARGET_MISMATCH', message, {
      hint: "drop --name/--namespace/--scope to seal for the file's own, or seal a new file for the new target",
      exitCode: EXIT.config,
    });
  }
}

/** The certificate's key cannot seal (not RSA, or too large): a certificate problem, exit 2. */
export class EncryptionError extends SealingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ENCRYPTION_FAILED', message, { ...options, hint: FETCH_CERT_HINT, exitCode: EXIT.config });
  }
}

/** A file or directory of the repository could not be read or written, or git refused (exit 6, git/tree). */
export class RepositoryError extends SealingError {
  constructor(message: string, hint = "check the path's permissions and `git status` in the repository, then run again") {
    super('REPOSITORY', message, { hint, exitCode: EXIT.git });
  }
}

/** Ctrl-C or Ctrl-D at a hidden prompt: exit 130, as a shell reports an interrupted command. */
export class CancelledError extends SealingError {
  constructor() {
    super('CANCELLED', 'cancelled; nothing was written', { hint: 'run the command again when you have the value', exitCode: EXIT.sigint });
  }
}

/**
 * `--app A` names no application of the environment (no `overlays/<env>/apps/A/identity.yaml`), or its identity cannot
 * be read: exit 2, like every other "the repository does not hold what the command targets".
 */
export class ApplicationError extends SealingError {
  constructor(message: string, hint: string) {
    super('APPLICATION', message, { hint, exitCode: EXIT.config });
  }
}
