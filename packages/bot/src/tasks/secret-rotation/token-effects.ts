import { isReportable } from '@dbos-gitops/cli-kit';
import { encryptData, mergeIntoSealedSecret, parseCertificate, readSealedSecret, SealingError } from '@dbos-gitops/sealing';
import { BotError } from '../../errors.ts';
import type { Effect, EffectContext, FileEdit, Plan, TaskResult } from '../../plan.ts';
import type { ConductorAccess } from '../types.ts';
import type { ConductorTokenApi, SecretValue } from '@dbos-gitops/conductor';
import { ConductorError } from '@dbos-gitops/conductor';
import { describeAction, type CreateTokenAction, type DeleteTokenAction, type PlanAction } from './token-actions.ts';

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
  /**
   * The file at `path` on the base branch and on each of `branches` (of the remote), for a delete's guard.
   * Absent: guarded deletes are refused.
   */
  readRefs?(path: string, branches: readonly string[]): Promise<Array<{ ref: string; text: string }>>;
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
  /** The plan's edits with every action's file change filled in; commit exactly these. */
  edits: FileEdit[];
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
    throw new ActionError(
      `the plan has no edit of ${sealInto.path} to seal the new key into`,
      'this is a bug in the task that built the plan; report it',
      false,
    );
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
    throw new ActionError(
      `${sealInto.path} is ${existing.namespace}/${existing.name}, not ${target.namespace}/${target.name}`,
      'fix the file or the task options',
      false,
    );
  }
  const encrypted = encryptData(certificate, target, { [sealInto.key]: secret.reveal() });
  const after = mergeIntoSealedSecret(edit.after, target, encrypted, sealInto.path);
  const next = [...edits];
  next[index] = { ...edit, after };
  return next;
}

/** Why git forbids this delete (the key is recorded where the guard looks), or null when it may go ahead. */
async function guardRefusal(action: DeleteTokenAction, deps: ActionDeps, openBranches: readonly string[]): Promise<string | null> {
  const guard = action.guard;
  if (!guard) return null;
  if (!deps.readRefs) return `there is no way to read ${guard.path} from git to check that nothing uses ${action.tokenName}`;
  for (const { ref, text } of await deps.readRefs(guard.path, guard.refs === 'base' ? [] : openBranches)) {
    let annotations: Record<string, string>;
    try {
      annotations = readSealedSecret(text, `${guard.path} on ${ref}`).annotations;
    } catch (error) {
      return `${guard.path} on ${ref} cannot be read (${describeError(error)}), so it may name ${action.tokenName}`;
    }
    const hit = guard.annotations.find((annotation) => annotations[annotation] === action.tokenName);
    if (hit) return `${guard.path} on ${ref} records ${action.tokenName} as ${hit}`;
  }
  return null;
}

/**
 * Runs deletes that need no PR (a task's unused keys), before any plan. A delete that
 * the guard refuses is skipped and said so; a Conductor failure stops the run (exit code of the error).
 * Returns one line per key deleted or kept, for the run's output.
 */
export async function runStandaloneActions(
  actions: PlanAction[],
  deps: ActionDeps | null,
  /** `openBranches`: the branches of the open bot PRs the forge lists; a key one of them records is kept. */
  options: { log: (line: string) => void; openBranches: readonly string[]; signal?: AbortSignal },
): Promise<string[]> {
  const done: string[] = [];
  for (const action of actions) {
    if (action.type !== 'conductor.delete-token') throw new Error(`internal: ${action.type} needs a PR`);
    options.signal?.throwIfAborted();
    if (!deps) {
      done.push(`not deleted: Conductor API key ${action.tokenName} (${action.env}), because no Conductor access is configured`);
      continue;
    }
    const refused = await guardRefusal(action, deps, options.openBranches);
    if (refused) {
      done.push(`kept Conductor API key ${action.tokenName} (${action.env}): ${refused}`);
      continue;
    }
    const outcome = await deps.conductor(action.env).deleteToken(action.org, action.tokenName);
    const line = `${outcome === 'deleted' ? 'deleted' : 'already gone:'} unused Conductor API key ${action.tokenName} (${action.env}): ${action.reason}`;
    options.log(line);
    done.push(line);
  }
  return done;
}

/**
 * Runs a plan's actions before its commit. Deletions run first (they only remove keys nothing uses). A created key
 * is sealed at once; if anything after its creation fails, it is deleted again before the error is thrown, so the
 * old key keeps working and nothing is half-written. On success the caller must call `compensate()` if its own
 * commit, push or PR step fails afterwards.
 */
export async function applyActions(plan: Plan, deps: ActionDeps): Promise<PreparedPlan & { plan: Plan }> {
  const prepared = await applyTokenActions(actionsOf(plan), plan.edits, deps);
  return { ...prepared, plan: { ...plan, edits: prepared.edits } };
}

async function applyTokenActions(actions: readonly PlanAction[], planned: FileEdit[], deps: ActionDeps): Promise<PreparedPlan> {
  const log = deps.log ?? (() => {});
  const created: CreatedTokenRecord[] = [];
  let edits = planned;

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
    const cause = isReportable(error) || error instanceof SealingError ? error.message : describeError(error);
    throw new ActionError(
      `${what} failed after a new Conductor API key was created: ${cause}` +
        (leftover ? `; deleting the new key failed too, so ${leftover} is left over` : '; the new key was deleted again and the old key keeps working'),
      leftover
        ? `delete ${leftover} in the DBOS Console (nothing uses it), fix the cause and run again`
        : isReportable(error)
          ? error.hint
          : 'fix the cause and run again',
      !leftover,
      { cause: error },
    );
  };

  const ordered: PlanAction[] = [
    ...actions.filter((action) => action.type === 'conductor.delete-token'),
    ...actions.filter((action) => action.type === 'conductor.create-token'),
  ];
  for (const action of ordered) {
    if (action.type === 'conductor.delete-token') {
      // Before anything is created, so a failure here leaves nothing behind.
      if (created.length > 0) throw new Error('internal: deletions must run before creations');
      const refused = await guardRefusal(action, deps, []);
      if (refused) {
        throw new ActionError(
          `refusing to delete Conductor API key ${action.tokenName}: ${refused}`,
          'the base branch changed since the plan was made; run again',
          true,
        );
      }
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
  return { edits, created: [...created], compensate };
}

/**
 * Secret rotation's effect: Conductor key writes for one plan (`standalone: false`: created and sealed right before
 * the commit, deleted again if the commit, push or PR fails) or deletes that need no PR (`standalone: true`: unused
 * keys, applied before any plan; a delete the guard refuses is kept and said so).
 */
export class ConductorKeyEffect implements Effect {
  private prepared: PreparedPlan | null = null;

  constructor(
    readonly actions: readonly PlanAction[],
    private readonly conductor: ConductorAccess,
    readonly standalone = false,
  ) {}

  describe(): string {
    return this.actions.map(describeAction).join('; ');
  }

  async apply(edits: readonly FileEdit[], context: EffectContext): Promise<{ edits: FileEdit[]; report: string[] }> {
    const conductor = this.conductor;
    if (this.standalone) {
      const deps = conductor ? depsFor(conductor, context) : null;
      const report = await runStandaloneActions([...this.actions], deps, {
        log: context.log,
        openBranches: context.openBranches,
        ...(context.signal ? { signal: context.signal } : {}),
      });
      return { edits: [...edits], report };
    }
    if (!conductor) {
      throw new ActionError(
        `${this.actions.map((action) => action.env).join(', ')} needs Conductor access to ${this.describe()}, but none is configured`,
        'set the Conductor URL and the admin key variable for this environment in .github/gitops-bot.yaml, or run with --dry-run',
        true,
      );
    }
    this.prepared = await applyTokenActions(this.actions, [...edits], depsFor(conductor, context));
    return { edits: this.prepared.edits, report: [] };
  }

  async compensate(): Promise<string[]> {
    const prepared = this.prepared;
    this.prepared = null;
    if (!prepared) return [];
    const undone = await prepared.compensate();
    return undone.failed.map(
      (record) => `could not delete the new Conductor API key ${record.tokenName} (${record.env}): ${record.reason}; delete it in the DBOS Console`,
    );
  }
}

function depsFor(conductor: (env: string) => ConductorTokenApi, context: EffectContext): ActionDeps {
  return { conductor, readFile: context.readFile, ...(context.readRefs ? { readRefs: context.readRefs } : {}), now: context.now, log: context.log };
}

/** The Conductor key writes a plan (or a task result) carries, for descriptions and tests. */
export function actionsOf(carrier: Pick<Plan, 'effects'> | Pick<TaskResult, 'effects'>): PlanAction[] {
  return (carrier.effects ?? []).flatMap((effect) => (effect instanceof ConductorKeyEffect ? effect.actions : []));
}

/** What dry-run prints for a plan's Conductor key writes (nothing is executed). */
export function describeActions(plan: Pick<Plan, 'effects'>): string {
  const actions = actionsOf(plan);
  if (actions.length === 0) return '';
  return ['actions at apply time:', ...actions.map((action) => `  - ${describeAction(action)}`)].join('\n');
}
