import { encryptData, mergeIntoSealedSecret, parseCertificate, readSealedSecret, SealingError } from '@dbos-gitops/sealing';
import { BotError } from '../errors.ts';
import type { FileEdit, Plan } from '../plan.ts';
import type { ConductorTokenApi, SecretValue } from '../sources/conductor/client.ts';
import { ConductorError } from '../sources/conductor/errors.ts';
import { actionsOf, type CreateTokenAction, type PlanAction } from './types.ts';

/** An action failed. `compensated` says whether everything it had created was removed again. */
export class ActionError extends BotError {
  readonly exitCode = 11;
  constructor(
    message: string,
    hint: string,
    readonly compensated: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, hint);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

export interface ActionDeps {
  /** The Conductor client of an environment (its URL and admin key). */
  conductor(env: string): ConductorTokenApi;
  /** Reads a repository file of the base branch (the certificate committed for the environment). */
  readFile(path: string): Promise<string | null>;
  /** Certificate validity is checked against this instant; defaults to now. */
  now?: Date;
  log?: (line: string) => void;
}

export interface CreatedTokenRecord {
  env: string;
  org: string;
  tokenName: string;
}

export interface CompensationResult {
  deleted: CreatedTokenRecord[];
  /** Keys that could not be deleted: a human deletes them (names only, never secrets). */
  failed: Array<CreatedTokenRecord & { reason: string }>;
}

export interface PreparedPlan {
  /** The plan with every action's file change filled in; commit exactly this. */
  plan: Plan;
  created: CreatedTokenRecord[];
  /** Undo what the actions created (deletes the new keys); call when committing, pushing or opening the PR fails. */
  compensate(): Promise<CompensationResult>;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Seals the new secret into the plan's already-annotated edit of the SealedSecret. Pure apart from the crypto. */
async function sealIntoEdit(action: CreateTokenAction, secret: SecretValue, edits: FileEdit[], deps: ActionDeps): Promise<FileEdit[]> {
  const { sealInto } = action;
  const index = edits.findIndex((edit) => edit.path === sealInto.path);
  const edit = edits[index];
  if (!edit || edit.after === null) {
    throw new ActionError(`the plan has no edit of ${sealInto.path} to seal the new key into`, 'this is a bug in the task that built the plan; report it', false);
  }
  const pem = await deps.readFile(sealInto.certPath);
  if (pem === null) {
    throw new ActionError(
      `the sealing certificate ${sealInto.certPath} is missing`,
      `fetch it with \`pnpm exec tsx packages/sealing/scripts/fetch-cert.ts --env ${action.env} --commit\` and run again`,
      false,
    );
  }
  // parseCertificate refuses an expired certificate: sealing for a key the controller may have dropped would break the app.
  const certificate = parseCertificate(pem, { now: deps.now ?? new Date() });
  const target = { name: sealInto.secretName, namespace: sealInto.namespace, scope: sealInto.scope };
  const existing = readSealedSecret(edit.after, sealInto.path);
  if (existing.name !== target.name || existing.namespace !== target.namespace) {
    throw new ActionError(`${sealInto.path} is ${existing.namespace}/${existing.name}, not ${target.namespace}/${target.name}`, 'fix the file or the task options', false);
  }
  const encrypted = encryptData(certificate, target, { [sealInto.key]: secret.reveal() });
  const after = mergeIntoSealedSecret(edit.after, target, encrypted, sealInto.path);
  const next = [...edits];
  next[index] = { ...edit, after };
  return next;
}

/**
 * Runs a plan's actions before its commit. Deletions run first (they only remove keys nothing uses). A created key
 * is sealed at once; if anything after its creation fails, it is deleted again before the error is thrown, so the
 * old key keeps working and nothing is half-written. On success the caller must call `compensate()` if its own
 * commit, push or PR step fails afterwards.
 */
export async function applyActions(plan: Plan, deps: ActionDeps): Promise<PreparedPlan> {
  const log = deps.log ?? (() => {});
  const actions = actionsOf(plan);
  const created: CreatedTokenRecord[] = [];
  let edits = plan.edits;

  const compensate = async (): Promise<CompensationResult> => {
    const result: CompensationResult = { deleted: [], failed: [] };
    for (const record of [...created].reverse()) {
      try {
        await deps.conductor(record.env).deleteToken(record.org, record.tokenName);
        log(`deleted the new Conductor API key ${record.tokenName} (${record.env}) again; the previous key stays in use`);
        result.deleted.push(record);
      } catch (error) {
        result.failed.push({ ...record, reason: describeError(error) });
      }
    }
    created.length = 0;
    return result;
  };

  const failAfterCreate = async (error: unknown, what: string): Promise<never> => {
    const undone = await compensate();
    const leftover = undone.failed.map((record) => `${record.tokenName} (${record.org})`).join(', ');
    const cause = error instanceof BotError || error instanceof SealingError ? error.message : describeError(error);
    throw new ActionError(
      `${what} failed after a new Conductor API key was created: ${cause}` +
        (leftover ? `; deleting the new key failed too, so ${leftover} is left over` : '; the new key was deleted again and the old key keeps working'),
      leftover ? `delete ${leftover} in the DBOS Console (nothing uses it), fix the cause and run again` : error instanceof BotError ? error.hint : 'fix the cause and run again',
      !leftover,
      { cause: error },
    );
  };

  const ordered: PlanAction[] = [...actions.filter((action) => action.type === 'conductor.delete-token'), ...actions.filter((action) => action.type === 'conductor.create-token')];
  for (const action of ordered) {
    if (action.type === 'conductor.delete-token') {
      // Before anything is created, so a failure here leaves nothing behind.
      if (created.length > 0) throw new Error('internal: deletions must run before creations');
      const outcome = await deps.conductor(action.env).deleteToken(action.org, action.tokenName);
      log(`${outcome === 'deleted' ? 'deleted' : 'already gone:'} Conductor API key ${action.tokenName} (${action.env}): ${action.reason}`);
      continue;
    }
    const client = deps.conductor(action.env);
    let secret: SecretValue;
    try {
      const token = await client.createToken(action.org, action.tokenName, { appNames: action.appNames, permissions: action.permissions });
      secret = token.token;
    } catch (error) {
      // The request may have reached Conductor: remove a key of that name if it now exists, so nothing is left behind.
      if (error instanceof ConductorError && error.failure === 'unknown-outcome') {
        created.push({ env: action.env, org: action.org, tokenName: action.tokenName });
        return failAfterCreate(error, `creating ${action.tokenName}`);
      }
      if (created.length > 0) return failAfterCreate(error, `creating ${action.tokenName}`);
      throw error;
    }
    created.push({ env: action.env, org: action.org, tokenName: action.tokenName });
    log(`created Conductor API key ${action.tokenName} (${action.env})`);
    try {
      edits = await sealIntoEdit(action, secret, edits, deps);
    } catch (error) {
      return failAfterCreate(error, `sealing ${action.tokenName} into ${action.sealInto.path}`);
    }
  }
  return { plan: { ...plan, edits }, created: [...created], compensate };
}
