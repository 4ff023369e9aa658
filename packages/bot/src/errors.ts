/**
 * Every failure the bot can explain. Each carries an exit code and a sentence telling the operator what to do,
 * so the CLI prints `error: <message>\n  what to do: <hint>` instead of a stack trace.
 * Messages never include secret values (tokens, passwords): only names of variables and hosts.
 */
export abstract class BotError extends Error {
  abstract readonly exitCode: number;
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = new.target.name;
    this.hint = hint;
  }
}

/** The bot config is missing or invalid. `path` is the YAML path of the bad field, e.g. `images[2].versioning.range`. */
export class ConfigError extends BotError {
  readonly exitCode = 2;
  constructor(
    message: string,
    readonly file: string,
    readonly path = '',
    hint = `fix ${file}${path ? ` at ${path}` : ''}; see the comments in .github/gitops-bot.yaml for every field`,
  ) {
    super(path ? `${file}: ${path}: ${message}` : `${file}: ${message}`, hint);
  }
}

/** Bad command-line usage. */
export class UsageError extends BotError {
  readonly exitCode = 64;
  constructor(message: string, hint = 'run `pnpm bot --help`') {
    super(message, hint);
  }
}

/** The OCI registry answered with an error we cannot retry away. */
export class RegistryError extends BotError {
  readonly exitCode = 3;
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly repository: string,
    hint: string,
  ) {
    super(message, hint);
  }
}

/** The forge (GitHub) refused a request. */
export class ForgeError extends BotError {
  readonly exitCode = 4;
  constructor(
    message: string,
    readonly status: number | undefined,
    hint: string,
  ) {
    super(message, hint);
  }
}

/**
 * GitHub refuses to open the PR because one exists for the branch, and it is not one the bot may take over: opened by
 * someone else, or not listed even after waiting. The branch is left alone: the existing PR uses it.
 */
export class ExistingPullRequestError extends ForgeError {
  constructor(message: string, hint: string) {
    super(message, 422, hint);
  }
}

/** The forge or registry rate limit was still exhausted after the bounded retries. */
export class RateLimitError extends BotError {
  readonly exitCode = 5;
  constructor(
    message: string,
    readonly retryAfterSeconds: number | undefined,
    hint = 'wait for the rate limit to reset and run again; the next scheduled run will pick up where this one stopped',
  ) {
    super(message, hint);
  }
}

/** The remote refused a push (someone else moved the branch, or a protection rule). */
export class PushRejectedError extends BotError {
  readonly exitCode = 6;
  constructor(
    readonly branch: string,
    detail: string,
  ) {
    super(
      `push of ${branch} was rejected: ${detail}`,
      'another run or a human changed the branch since it was read; run again, the bot re-reads the branch and updates it in place',
    );
  }
}

/** Git itself failed (clone, fetch, commit). */
export class GitError extends BotError {
  readonly exitCode = 6;
  constructor(message: string, hint = 'check that the remote URL is reachable and that the credentials can read and push') {
    super(message, hint);
  }
}

/**
 * A file or directory of the GitOps tree exists but could not be read (permissions, a directory where a file was
 * expected). Never taken for "missing": a task planning on a partial tree would propose the wrong change.
 */
export class TreeReadError extends BotError {
  readonly exitCode = 6;
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`could not read ${path}: ${detail}`, `make ${path} readable (or remove it if it should not exist) and run again`);
  }
}

/** A YAML file could not be parsed or edited surgically. */
export class YamlEditError extends BotError {
  readonly exitCode = 7;
  constructor(
    readonly file: string,
    message: string,
    hint = `fix the YAML in ${file} (run \`kubectl kustomize\` on its directory to see the parser's view) and run again`,
  ) {
    super(`${file}: ${message}`, hint);
  }
}

/** The config names an image that the overlay's `images:` list does not contain. */
export class UnknownImageError extends BotError {
  readonly exitCode = 8;
  constructor(
    readonly image: string,
    readonly file: string,
  ) {
    super(
      `image "${image}" is configured in the bot config but has no entry in the images: list of ${file}`,
      `add an images: entry (name: ${image}, newName, newTag, digest) to ${file}, or remove "${image}" from .github/gitops-bot.yaml`,
    );
  }
}

/** A plan's `before` no longer matches the file: the base branch moved between planning and applying. */
export class StalePlanError extends BotError {
  readonly exitCode = 9;
  constructor(
    readonly file: string,
    readonly branch: string,
  ) {
    super(`${file} changed on the base branch while ${branch} was being prepared`, 'run again; the bot plans against the newest base branch');
  }
}

export function isBotError(error: unknown): error is BotError {
  return error instanceof BotError;
}

/**
 * SIGINT or SIGTERM arrived. The run stops at the next step boundary and undoes what it started (a created Conductor
 * key is deleted, a pushed branch without its PR is put back, the temporary clone is removed), then exits with the
 * shell's convention for the signal: 130 (SIGINT) or 143 (SIGTERM).
 */
export class InterruptedError extends BotError {
  readonly exitCode: number;
  constructor(readonly signal: 'SIGINT' | 'SIGTERM') {
    super(
      `interrupted by ${signal}: the run stopped before its next step and undid what it had started (a key it could not delete is named above)`,
      'run again; a re-run picks up where this one stopped, and deletes any key left over once nothing names it',
    );
    this.exitCode = signal === 'SIGINT' ? 130 : 143;
  }
}
