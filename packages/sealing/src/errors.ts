/**
 * Every failure this package reports is a SealingError with a stable `code`, so callers (the bot, the zx
 * scripts, `pnpm bot seal`) can branch on it and print the message without a stack trace. Messages say what
 * went wrong and what to do; they never contain a secret value.
 */
export class SealingError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad flags or arguments; the CLI exits with status 2 for these, like a usage error. */
export class UsageError extends SealingError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

export class CertificateParseError extends SealingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CERTIFICATE_INVALID', message, options);
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
    );
    this.notBefore = notBefore;
  }
}

export class CertificateFetchError extends SealingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CERTIFICATE_FETCH_FAILED', message, options);
  }
}

/** A file that should hold a SealedSecret does not, or holds one this package cannot edit safely. */
export class SealedSecretFormatError extends SealingError {
  constructor(message: string) {
    super('SEALED_SECRET_INVALID', message);
  }
}

/**
 * Merging would put ciphertext into a document whose name, namespace or scope yields a different OAEP label,
 * so the controller could not decrypt it.
 */
export class MergeTargetMismatchError extends SealingError {
  constructor(message: string) {
    super('MERGE_TARGET_MISMATCH', message);
  }
}

export class EncryptionError extends SealingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ENCRYPTION_FAILED', message, options);
  }
}
