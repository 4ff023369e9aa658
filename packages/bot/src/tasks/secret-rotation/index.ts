/**
 * secret-rotation: keeps each application's Conductor API key young, per environment x application, and reports the
 * secrets the bot cannot make.
 *
 * Conductor keys are scoped per application (`appNames`), so each application has its own key, file and PR:
 * `overlays/<env>/apps/<app>/secrets/<conductor-api-key-secret>.sealed.yaml` (the name comes from the app's
 * identity.yaml), rolled out through `overlays/<env>/apps/<app>/rollout.patch.yaml`, on branch
 * `bot/secret-rotation/<env>/<app>` (revocation: `<app>.revoke`; "." never occurs in an application name).
 *
 * Rotation is three steps because Conductor has no rotate endpoint and keys never expire:
 *  1. a PR that carries a `conductor.create-token` action: at apply time the key is created for the application's
 *     Conductor name only, sealed with the environment's committed certificate into the app's key file (only the
 *     `api-key` value changes), the new and previous key names are recorded in annotations, and the app's pods are
 *     rolled by changing one annotation in its `rollout.patch.yaml`;
 *  2. humans merge it, Argo CD or Flux syncs, the executors restart with the new key;
 *  3. a later run sees the new key recorded on the base branch and running (cluster access: every app pod carries the
 *     new rollout stamp; otherwise a grace period after the rotation) and proposes a small PR that clears
 *     `dbos.dev/conductor-token-previous`, with a `conductor.delete-token` action for the previous key.
 * The revocation goes through a PR (not a silent delete) so the bot's memory stays in git: the base branch says
 * which key is current and which one still waits for deletion, and a human sees the deletion in review history.
 * Deleting is idempotent, so a revocation PR that is closed unmerged is simply proposed again.
 *
 * Deleting a key is justified only by git and by Conductor, never by a PR marker alone (anyone can write a marker):
 * the previous key is revoked only when the base branch records it as previous and Conductor lists the current key
 * the base branch records; a key the bot created for an application (its name matches
 * `<prefix>-<env>-<app>-<YYYYMMDDHHmm>[-n]` and Conductor scopes it to exactly that application) that the app's file
 * on the base branch does not record and no open bot PR of that app names is an orphan of an interrupted run, and is
 * deleted once it is older than a grace period (so a concurrent run's fresh key is never taken). Only the app the
 * key is named for ever judges it. Every delete is checked again against git just before it runs (`guard`).
 */
import { mergeIntoSealedSecret, placeholderKeys, readSealedSecret, type ExistingSealedSecret } from '@dbos-gitops/sealing';
import {
  CONDUCTOR_KEY_ROLLOUT_ANNOTATION,
  CONDUCTOR_TOKEN_ANNOTATION as TOKEN_ANNOTATION,
  PLACEHOLDER_ANNOTATION,
  PREVIOUS_CONDUCTOR_TOKEN_ANNOTATION as PREVIOUS_TOKEN_ANNOTATION,
  ROTATED_AT_ANNOTATION,
} from '@dbos-gitops/sealing/names';
import { isScalar, parseDocument } from 'yaml';
import type { TokenInfo } from '@dbos-gitops/conductor';
import type { AppConfig, EnvironmentConfig } from '../../config/schema.ts';
import {
  appRolloutPatchPath,
  appSecretPath,
  appsInEnvironment,
  conductorAppName,
  platformDir,
  readAppIdentity,
  appDir,
  type AppIdentity,
} from '../../repo/apps.ts';
import { setMappingScalar } from '../../repo/yaml-edit.ts';
import { baseLabels, branchFor, markerFor, type FileEdit, type Plan, type TaskMemory, type TaskResult } from '../../plan.ts';
import { walkEnvironments, type EnvironmentStep } from '../shared/walk.ts';
import type { Task, TaskContext } from '../types.ts';
import type { CreateTokenAction, DeleteTokenAction, PlanAction } from './token-actions.ts';
import { ConductorKeyEffect } from './token-effects.ts';

export const TASK = 'secret-rotation';
/** The rotation of an application's key: its branch is `bot/secret-rotation/<env>/<app>`. */
export function apiKeySubject(app: string): string {
  return app;
}
/** The revocation of an application's previous key. Application names never hold ".", so no app's subject is this. */
export function revokeSubject(app: string): string {
  return `${app}.revoke`;
}
/** Skips about an application's unused bot-created keys (no branch: orphans are deleted without a PR). */
export function orphanSubject(app: string): string {
  return `${app}.orphans`;
}

// Defined once, in @dbos-gitops/sealing's names, under the names this task has always exported them by.
export { PLACEHOLDER_ANNOTATION, PREVIOUS_TOKEN_ANNOTATION, ROTATED_AT_ANNOTATION, TOKEN_ANNOTATION };
/** Set on the app's pod template by `overlays/<env>/apps/<app>/rollout.patch.yaml`; a new value rolls its Deployments. */
export const ROLLOUT_ANNOTATION = CONDUCTOR_KEY_ROLLOUT_ANNOTATION;

const DAY = 86_400;

/** Read-only cluster question for revocation: do all of an application's pods run the template stamped with this value? */
export interface RolloutCheck {
  /**
   * true: every pod labelled `app=<app>` (the identity's name) carries `annotation=value` and is Ready; false: not
   * yet; null: cannot tell. Another application's pods never count.
   */
  rolledOut(env: string, namespace: string, app: string, annotation: string, value: string): Promise<boolean | null>;
}

export interface ConductorRotationSettings {
  /** Conductor organization (`/v2/orgs/{org}`). Each key serves exactly one application (`conductorAppName`). */
  org: string;
  /** Permissions of the new key; an executor needs `websocket.connect`. Empty: all (not recommended). */
  permissions: string[];
  /** New keys are named `<prefix>-<env>-<app>-<YYYYMMDDHHmm>`. */
  tokenPrefix: string;
}

export interface SecretRotationOptions {
  /** null: the bot has no Conductor access, so a due API key is only reported. */
  conductor: ConductorRotationSettings | null;
  /** Rotate when `dbos.dev/rotated-at` is older than this. Default 90 days. */
  maxAgeSeconds: number;
  /** Rotate now regardless of age: true for every environment, or a list of environment names. */
  force: boolean | string[];
  /** Why a forced environment is forced, when a person asked on the dashboard (the PR says who); absent: `--rotate-now`. */
  forcedBy?: Readonly<Record<string, string>>;
  /** Without cluster access, revoke the previous key this long after the rotation was proposed. Default 1 day. */
  revokeGraceSeconds: number;
  /** Cluster check for revocation; null: use the grace period. */
  rollout: RolloutCheck | null;
  /** The key of the app's Conductor API key Secret (the file's name comes from identity.yaml). */
  apiKeyDataKey: string;
  namespace: string;
  /** Sealing certificate of an environment. */
  certPath: (env: string) => string;
  /** Conductor's key list of an environment (read-only); null: unknown, so nothing is revoked or cleaned up. */
  keyList: ((env: string) => Promise<TokenInfo[]>) | null;
  /** A bot-created key nothing names is deleted only once it is this old, so a concurrent run's new key survives. */
  orphanGraceSeconds: number;
}

export const DEFAULT_SECRET_ROTATION_OPTIONS: SecretRotationOptions = {
  conductor: null,
  maxAgeSeconds: 90 * DAY,
  force: false,
  revokeGraceSeconds: DAY,
  rollout: null,
  apiKeyDataKey: 'api-key',
  namespace: 'dbos',
  certPath: (env) => `clusters/${env}/sealed-secrets-cert.pem`,
  keyList: null,
  orphanGraceSeconds: 3600,
};

function join(...parts: string[]): string {
  return parts.map((part, index) => (index === 0 ? part.replace(/\/+$/, '') : part.replace(/^\/+|\/+$/g, ''))).join('/');
}

function formatAge(seconds: number): string {
  return seconds >= DAY ? `${Math.floor(seconds / DAY)}d` : `${Math.floor(seconds / 3600)}h`;
}

function minuteStamp(now: Date): string {
  return now.toISOString().replace(/[-:T]/g, '').slice(0, 12);
}

/** A free name for the new key: `<prefix>-<env>-<app>-<YYYYMMDDHHmm>`, with `-2`, `-3`… when a run in the same minute took it. */
function tokenNameFor(prefix: string, env: string, app: string, now: Date, taken: ReadonlySet<string>): string {
  const base = `${prefix}-${env}-${app}-${minuteStamp(now)}`;
  let name = base;
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
  return name;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Names only the bot gives an application's keys: hand-made keys, and the keys of another app of the environment
 * (`gitops-dev-orders-…` for `dbos-app`; `gitops-dev-a-b-…` for `a`, since `b-…` is not the 12-digit minute), never
 * match. Names alone cannot tell env `dev` + app `eu-orders` from env `dev-eu` + app `orders`, so a sweep also
 * requires Conductor to scope the key to exactly the app ({@link scopedToExactly}).
 */
export function botKeyPattern(prefix: string, env: string, app: string): RegExp {
  return new RegExp(`^${escapeRegExp(prefix)}-${escapeRegExp(env)}-${escapeRegExp(app)}-(\\d{12})(?:-\\d+)?$`);
}

/** The bot creates every key with `appNames: [<the app's Conductor name>]`; a key scoped otherwise is not the app's. */
function scopedToExactly(key: TokenInfo, conductorApp: string): boolean {
  return key.appIds !== null && key.appIds.length === 1 && key.appIds[0] === conductorApp;
}

/** When a bot key was created: Conductor's `createdAt`, else the minute in its name; null: unknown (kept). */
function createdMs(key: TokenInfo, pattern: RegExp): number | null {
  const fromConductor = Date.parse(key.createdAt);
  if (!Number.isNaN(fromConductor)) return fromConductor;
  const stamp = pattern.exec(key.tokenName)?.[1];
  if (!stamp) return null;
  const ms = Date.parse(`${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(8, 10)}:${stamp.slice(10, 12)}:00Z`);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Sets the rollout stamp in the overlay's patch surgically (like image pins): only the stamp's scalar changes, so
 * comments, quoting, blank lines and CRLF survive; a missing stamp is inserted as one line.
 */
export function setRolloutStamp(text: string, value: string, file: string): string {
  return setMappingScalar(text, file, ['spec', 'template', 'metadata', 'annotations', ROLLOUT_ANNOTATION], value);
}

export function readRolloutStamp(text: string): string | null {
  const node = parseDocument(text).getIn(['spec', 'template', 'metadata', 'annotations', ROLLOUT_ANNOTATION], true);
  return isScalar(node) && typeof node.value === 'string' ? node.value : null;
}

interface EnvState {
  env: EnvironmentConfig;
  overlay: string;
  app: AppConfig;
  identity: AppIdentity;
  /** The app's Conductor API key file and its rollout patch. */
  file: string;
  patchPath: string;
  text: string;
  secret: ExistingSealedSecret;
}

/**
 * The marker keeps the key names a PR names (never secrets): an open PR's keys are never taken for orphans. `key` is
 * the key the PR makes current (the new key, or the one kept when revoking); `replaced` the one it retires.
 */
function keyMemory(key: string, replaced: string | null): TaskMemory {
  return { key, replaced };
}

/** The key an open PR names. Markers written before memory existed kept it in `pins[0].tag` (an image-shaped field). */
function keyNamedBy(memory: TaskMemory): string | null {
  if (typeof memory.key === 'string') return memory.key;
  const pins = Array.isArray(memory.pins) ? memory.pins : [];
  const first = pins[0];
  return first && typeof first === 'object' && !Array.isArray(first) && typeof first.tag === 'string' ? first.tag : null;
}

export function createSecretRotationTask(overrides: Partial<SecretRotationOptions> = {}): Task {
  const options: SecretRotationOptions = { ...DEFAULT_SECRET_ROTATION_OPTIONS, ...overrides };

  const forced = (env: string): boolean => options.force === true || (Array.isArray(options.force) && options.force.includes(env));

  async function planEnvironment(context: TaskContext, step: EnvironmentStep, cleanups: DeleteTokenAction[]): Promise<void> {
    const { env } = step;
    const overlay = env.overlay.replace(/\/+$/, '');
    const apps: Array<{ app: AppConfig; identity: AppIdentity }> = [];
    for (const app of appsInEnvironment(context.config, env)) {
      const identity = await readAppIdentity(context.tree, overlay, app.name);
      if (identity === null) {
        step.skip(apiKeySubject(app.name), `${appDir(overlay, app.name)}/identity.yaml does not exist on the base branch, so the app's key file is unknown`);
        continue;
      }
      apps.push({ app, identity });
    }
    await reportOtherSecrets(context, env, overlay, apps, step.skip);

    // Conductor's own key list (one per environment, shared by its apps): the second witness for every delete.
    let keys: TokenInfo[] | null = null;
    let keysUnknown = "the bot cannot list Conductor's API keys";
    if (options.conductor && options.keyList && apps.length > 0) {
      try {
        keys = await options.keyList(env.name);
      } catch (error) {
        keysUnknown = `listing Conductor's API keys failed: ${(error as Error).message}`;
      }
    }
    for (const { app, identity } of apps) await planApp(context, step, overlay, app, identity, keys, keysUnknown, cleanups);
  }

  async function planApp(
    context: TaskContext,
    step: EnvironmentStep,
    overlay: string,
    app: AppConfig,
    identity: AppIdentity,
    keys: TokenInfo[] | null,
    keysUnknown: string,
    cleanups: DeleteTokenAction[],
  ): Promise<void> {
    const { env, propose } = step;
    // `leaveOpen`: the task's own PR is in progress (a key already created), so the runner must leave it alone.
    const skip = (subject: string, reason: string, leaveOpen = false): void =>
      step.skip(subject, reason, leaveOpen ? { leaveOpenPullRequest: true } : undefined);
    const rotationSubject = apiKeySubject(app.name);
    const revocationSubject = revokeSubject(app.name);

    const file = appSecretPath(overlay, app.name, identity.conductorApiKeySecret);
    const text = await context.tree.read(file);
    if (text === null) return skip(rotationSubject, `${file} does not exist on the base branch`);
    const state: EnvState = {
      env,
      overlay,
      app,
      identity,
      file,
      patchPath: appRolloutPatchPath(overlay, app.name),
      text,
      secret: readSealedSecret(text, file),
    };
    const annotations = state.secret.annotations;
    const current = annotations[TOKEN_ANNOTATION] ?? null;
    const previous = annotations[PREVIOUS_TOKEN_ANNOTATION] ?? null;

    const rotationBranch = branchFor(TASK, env.name, rotationSubject);
    const revokeBranch = branchFor(TASK, env.name, revocationSubject);
    const openRotation = context.previous.find((proposal) => proposal.branch === rotationBranch && proposal.state === 'open');
    const openRevoke = context.previous.find((proposal) => proposal.branch === revokeBranch && proposal.state === 'open');

    if (options.conductor) {
      if (keys === null) skip(orphanSubject(app.name), `unused bot-created keys of ${app.name} are not looked for: ${keysUnknown}`);
      else findOrphans(context, state, options.conductor, keys, skip, cleanups);
    }

    // 1. Revocation of the previous key, once the current one is merged and running.
    if (previous !== null) {
      if (previous === current) {
        skip(revocationSubject, `${file} names ${previous} as both current and previous key; fix the annotations by hand`);
      } else if (openRevoke) {
        // Held: the runner must neither touch nor close it; the key was deleted when the PR was opened.
        skip(revocationSubject, `revocation PR #${openRevoke.number} for ${previous} is open; merge it`, true);
      } else {
        const live = await currentKeyIsLive(context, state);
        if (live === true && options.conductor && keys === null) {
          skip(
            revocationSubject,
            `the previous Conductor API key ${previous} stays: ${keysUnknown}, so the bot cannot check that ${current ?? 'the new key'} exists (fails closed)`,
          );
        } else if (live === true && options.conductor && (current === null || !keys!.some((key) => key.tokenName === current))) {
          skip(
            revocationSubject,
            `the previous Conductor API key ${previous} stays: Conductor does not list ${current ?? 'any current key'}, the key ${file} records as current; check the key in the DBOS Console and fix ${TOKEN_ANNOTATION} by hand`,
          );
        } else if (live === true) {
          propose(revocationPlan(context, state, previous, current));
        } else {
          skip(revocationSubject, `the previous Conductor API key ${previous} stays until ${current ?? 'the new key'} is running: ${live}`);
        }
      }
    }

    // 2. Rotation of the current key.
    if (openRotation) {
      // Held so the runner leaves it alone: re-planning would create yet another key for a PR that already has one.
      return skip(
        rotationSubject,
        `rotation PR #${openRotation.number} is open with a new key already created; merge it (or close it: the unused key is deleted with the next rotation)`,
        true,
      );
    }
    const rotatedAt = annotations[ROTATED_AT_ANNOTATION];
    const rotatedMs = rotatedAt === undefined ? Number.NaN : Date.parse(rotatedAt);
    const ageSeconds = Number.isNaN(rotatedMs) ? null : Math.floor((context.now.getTime() - rotatedMs) / 1000);
    // A `secretRotation.secrets` entry for this file in the bot config wins over the task option.
    const maxAgeSeconds = (context.config.secretRotation?.secrets ?? []).find((secret) => join(overlay, secret.file) === file)?.maxAge ?? options.maxAgeSeconds;
    let reason: string | null = null;
    if (forced(env.name)) reason = options.forcedBy?.[env.name] ?? 'rotation was forced';
    else if (annotations[PLACEHOLDER_ANNOTATION] === 'true') reason = `${file} still holds a placeholder`;
    else if (ageSeconds === null) reason = `${file} has no valid ${ROTATED_AT_ANNOTATION}, so its age is unknown`;
    else if (ageSeconds >= maxAgeSeconds) reason = `the key is ${formatAge(ageSeconds)} old (maximum ${formatAge(maxAgeSeconds)})`;
    if (reason === null) return skip(rotationSubject, `the key is ${formatAge(ageSeconds ?? 0)} old, below the maximum of ${formatAge(maxAgeSeconds)}`);
    if (previous !== null && previous !== current) {
      return skip(rotationSubject, `due (${reason}), but the previous key ${previous} must be revoked first`);
    }
    if (!options.conductor) {
      return skip(
        rotationSubject,
        `due (${reason}), but the bot has no Conductor access configured; rotate by hand: create a key for ${conductorAppName(app)} in the DBOS Console and seal it with \`pnpm secrets:seal --env ${env.name} --app ${app.name} --name ${identity.conductorApiKeySecret} --key ${options.apiKeyDataKey} --token-name <the key's name>\` (the name lets a later rotation revoke it)`,
      );
    }
    const patchPath = state.patchPath;
    const patchText = await context.tree.read(patchPath);
    if (patchText === null) {
      return skip(
        rotationSubject,
        `due (${reason}), but ${patchPath} is missing, so ${app.name}'s pods would keep the old key until they restart; add the rollout patch to the application`,
      );
    }
    const taken = new Set((keys ?? []).map((key) => key.tokenName));
    propose(rotationPlan(context, state, options.conductor, reason, current, patchPath, patchText, taken));
  }

  async function currentKeyIsLive(context: TaskContext, state: EnvState): Promise<true | string> {
    const rotatedAt = state.secret.annotations[ROTATED_AT_ANNOTATION];
    if (options.rollout && state.env.kube) {
      const patch = await context.tree.read(state.patchPath);
      const stamp = patch === null ? null : readRolloutStamp(patch);
      if (stamp === null) return `${state.patchPath} has no ${ROLLOUT_ANNOTATION} stamp to check the rollout against`;
      const app = state.identity.name;
      const rolled = await options.rollout.rolledOut(state.env.name, state.env.kube.namespace, app, ROLLOUT_ANNOTATION, stamp);
      if (rolled === true) return true;
      return rolled === false
        ? `the pods of ${app} have not all rolled out with stamp ${stamp} yet`
        : `the cluster could not say whether the pods of ${app} rolled out (fails closed)`;
    }
    const rotatedMs = rotatedAt === undefined ? Number.NaN : Date.parse(rotatedAt);
    if (Number.isNaN(rotatedMs)) return `${state.file} has no valid ${ROTATED_AT_ANNOTATION}`;
    const waited = Math.floor((context.now.getTime() - rotatedMs) / 1000);
    if (waited < options.revokeGraceSeconds) {
      return `no cluster access, so the bot waits ${formatAge(options.revokeGraceSeconds)} after the rotation (${formatAge(waited)} so far)`;
    }
    return true;
  }

  function rotationPlan(
    context: TaskContext,
    state: EnvState,
    conductor: ConductorRotationSettings,
    reason: string,
    current: string | null,
    patchPath: string,
    patchText: string,
    taken: ReadonlySet<string>,
  ): Plan {
    const envName = state.env.name;
    const appName = state.app.name;
    const subject = apiKeySubject(appName);
    const stamp = context.now.toISOString();
    const tokenName = tokenNameFor(conductor.tokenPrefix, envName, appName, context.now, taken);
    const set: Record<string, string> = { [ROTATED_AT_ANNOTATION]: stamp, [TOKEN_ANNOTATION]: tokenName };
    const remove = [PLACEHOLDER_ANNOTATION];
    if (current !== null) set[PREVIOUS_TOKEN_ANNOTATION] = current;
    else remove.push(PREVIOUS_TOKEN_ANNOTATION);
    // Annotations now; the new ciphertext is merged into this text at apply time, when the key exists.
    const sealedAfter = mergeIntoSealedSecret(state.text, state.secret, {}, state.file, { annotations: set, removeAnnotations: remove });
    const edits: FileEdit[] = [
      { path: state.file, before: state.text, after: sealedAfter },
      { path: patchPath, before: patchText, after: setRolloutStamp(patchText, stamp, patchPath) },
    ];
    const create: CreateTokenAction = {
      type: 'conductor.create-token',
      env: envName,
      org: conductor.org,
      tokenName,
      // Conductor keys are scoped per application: this key serves this application only.
      appNames: [conductorAppName(state.app)],
      permissions: [...conductor.permissions],
      sealInto: {
        path: state.file,
        secretName: state.secret.name,
        namespace: state.secret.namespace,
        scope: state.secret.scope,
        key: options.apiKeyDataKey,
        certPath: options.certPath(envName),
      },
    };
    const memory = keyMemory(tokenName, current);
    const body = [
      `Rotates the Conductor API key of the application **${appName}** in **${envName}** (${reason}); the new key serves Conductor application \`${conductorAppName(state.app)}\` only.`,
      '',
      `- \`${state.file}\`: the sealed \`${options.apiKeyDataKey}\` is replaced by the new key \`${tokenName}\`, sealed for \`${options.certPath(envName)}\`; \`${TOKEN_ANNOTATION}\` records it${current ? ` and \`${PREVIOUS_TOKEN_ANNOTATION}\` records \`${current}\`` : ''}.`,
      `- \`${patchPath}\`: a new \`${ROLLOUT_ANNOTATION}\` stamp rolls the pods of ${appName} so they read the new key.`,
      '',
      current
        ? `The previous key \`${current}\` keeps working until a later run sees the new key running and proposes deleting it.`
        : 'No previous key is recorded, so nothing will be revoked automatically; delete the old key in the DBOS Console once the pods have rolled.',
      'The key was created when this PR was opened; if this PR is closed unmerged, a later run deletes that unused key once nothing names it.',
      '',
      markerFor({ task: TASK, env: envName, subject, memory }),
    ].join('\n');
    return {
      task: TASK,
      env: envName,
      subject,
      branch: branchFor(TASK, envName, subject),
      title: `${envName}/${appName}: rotate the Conductor API key`,
      body,
      labels: [...baseLabels(context.config.forge.labels, envName), 'secret-rotation'],
      edits,
      memory,
      effects: [new ConductorKeyEffect([create], context.conductor)],
    };
  }

  function revocationPlan(context: TaskContext, state: EnvState, previous: string, current: string | null): Plan {
    const envName = state.env.name;
    const appName = state.app.name;
    const subject = revokeSubject(appName);
    const after = mergeIntoSealedSecret(state.text, state.secret, {}, state.file, { removeAnnotations: [PREVIOUS_TOKEN_ANNOTATION] });
    const why =
      options.rollout && state.env.kube
        ? `every pod of ${state.identity.name} runs the template stamped for the new key`
        : `the rotation is older than the ${formatAge(options.revokeGraceSeconds)} grace period`;
    const conductorOrg = options.conductor?.org;
    const memory = keyMemory(current ?? 'none', previous);
    const actions: PlanAction[] = conductorOrg
      ? [
          {
            type: 'conductor.delete-token',
            env: envName,
            org: conductorOrg,
            tokenName: previous,
            reason: `the base branch uses ${current ?? 'another key'}, Conductor lists it, and ${why}`,
            // Checked again right before the delete: never the key the base branch runs with.
            guard: { path: state.file, annotations: [TOKEN_ANNOTATION], refs: 'base' },
          },
        ]
      : [];
    const body = [
      `Revokes the previous Conductor API key \`${previous}\` of the application **${appName}** in **${envName}**: the base branch uses \`${current ?? '(not recorded)'}\` and ${why}.`,
      '',
      conductorOrg
        ? `The key was deleted in Conductor when this PR was opened; merging clears \`${PREVIOUS_TOKEN_ANNOTATION}\` in \`${state.file}\`.`
        : `The bot has no Conductor access: delete \`${previous}\` in the DBOS Console, then merge to clear \`${PREVIOUS_TOKEN_ANNOTATION}\`.`,
      '',
      markerFor({ task: TASK, env: envName, subject, memory }),
    ].join('\n');
    return {
      task: TASK,
      env: envName,
      subject,
      branch: branchFor(TASK, envName, subject),
      title: `${envName}/${appName}: revoke the previous Conductor API key ${previous}`,
      body,
      labels: [...baseLabels(context.config.forge.labels, envName), 'secret-rotation'],
      edits: [{ path: state.file, before: state.text, after }],
      memory,
      ...(actions.length > 0 ? { effects: [new ConductorKeyEffect(actions, context.conductor)] } : {}),
    };
  }

  /**
   * Keys the bot created for this application (by name and by Conductor's scope) that neither the app's key file on
   * the base branch nor an open bot PR of this app names: left by an interrupted run (killed after creating the key)
   * or by a rotation PR closed unmerged. Deleted without a PR once older than the grace period; the delete re-checks
   * the app's file on the base branch and on every bot branch first. Another app's keys are never judged here.
   */
  function findOrphans(
    context: TaskContext,
    state: EnvState,
    conductor: ConductorRotationSettings,
    keys: TokenInfo[],
    skip: (subject: string, reason: string) => void,
    cleanups: DeleteTokenAction[],
  ): void {
    const envName = state.env.name;
    const appName = state.app.name;
    const subject = orphanSubject(appName);
    const conductorApp = conductorAppName(state.app);
    const pattern = botKeyPattern(conductor.tokenPrefix, envName, appName);
    const ownBranches = new Set([branchFor(TASK, envName, apiKeySubject(appName)), branchFor(TASK, envName, revokeSubject(appName))]);
    const named = new Set<string>();
    for (const annotation of [TOKEN_ANNOTATION, PREVIOUS_TOKEN_ANNOTATION]) {
      const value = state.secret.annotations[annotation];
      if (value) named.add(value);
    }
    // An open PR only ever protects a key (a forged marker can keep a key alive, never get one deleted).
    for (const proposal of context.previous) {
      if (proposal.state !== 'open' || !ownBranches.has(proposal.branch)) continue;
      const key = keyNamedBy(proposal.proposal.memory);
      if (key !== null) named.add(key);
    }
    for (const key of keys) {
      if (!pattern.test(key.tokenName) || named.has(key.tokenName)) continue;
      if (!scopedToExactly(key, conductorApp)) {
        skip(
          subject,
          `${key.tokenName} is named like a bot key of ${appName} but Conductor scopes it to ${key.appIds === null ? 'every application' : `[${key.appIds.join(', ')}]`}, not to ${conductorApp} alone; kept (delete it in the DBOS Console if nothing uses it)`,
        );
        continue;
      }
      const created = createdMs(key, pattern);
      const age = created === null ? null : Math.floor((context.now.getTime() - created) / 1000);
      if (age === null || age < options.orphanGraceSeconds) {
        skip(
          subject,
          `${key.tokenName} is a bot-created key that nothing names yet; kept ${age === null ? '(its age is unknown)' : `until it is ${formatAge(options.orphanGraceSeconds)} old (${formatAge(Math.max(age, 0))} so far)`} in case a concurrent run is still opening its PR`,
        );
        continue;
      }
      const why = `created ${formatAge(age)} ago by the bot and named by neither ${state.file} on the base branch nor an open bot PR (left by an interrupted run or a PR closed unmerged)`;
      skip(subject, `${key.tokenName} is unused: ${why}; \`pnpm bot run\` deletes it`);
      cleanups.push({
        type: 'conductor.delete-token',
        env: envName,
        org: conductor.org,
        tokenName: key.tokenName,
        reason: why,
        guard: { path: state.file, annotations: [TOKEN_ANNOTATION, PREVIOUS_TOKEN_ANNOTATION], refs: 'base-and-open-bot-branches' },
      });
    }
  }

  /** Secrets only a human can make: report placeholders and (configured) ages, never propose a value. */
  async function reportOtherSecrets(
    context: TaskContext,
    env: EnvironmentConfig,
    overlay: string,
    apps: ReadonlyArray<{ app: AppConfig; identity: AppIdentity }>,
    skip: (subject: string, reason: string) => void,
  ): Promise<void> {
    const configured = context.config.secretRotation?.secrets ?? [];
    // The platform's secrets and each application's; an application's own API key is rotated, not reported.
    const directories = [join(platformDir(overlay), 'secrets'), ...apps.map(({ app }) => join(appDir(overlay, app.name), 'secrets'))];
    const apiKeyPaths = new Set(apps.map(({ app, identity }) => appSecretPath(overlay, app.name, identity.conductorApiKeySecret)));
    const appOf = new Map<string, string>();
    const files = new Set<string>();
    for (const [index, directory] of directories.entries()) {
      for (const name of await context.tree.list(directory)) {
        if (!name.endsWith('.sealed.yaml')) continue;
        files.add(join(directory, name));
        if (index > 0) appOf.set(join(directory, name), apps[index - 1]!.app.name);
      }
    }
    // An application's secret is configured once for every overlay; an environment that does not run it has none.
    const runsHere = new Set(apps.map(({ app }) => app.name));
    for (const secret of configured) {
      const app = /^apps\/([^/]+)\//.exec(secret.file)?.[1];
      if (app === undefined || runsHere.has(app)) files.add(join(overlay, secret.file));
    }
    for (const path of [...files].sort()) {
      if (apiKeyPaths.has(path)) continue;
      const text = await context.tree.read(path);
      const policy = configured.find((secret) => join(overlay, secret.file) === path);
      if (text === null) {
        if (policy) skip(policy.name, `${path} is configured for rotation but does not exist on the base branch`);
        continue;
      }
      let existing: ExistingSealedSecret;
      try {
        existing = readSealedSecret(text, path);
      } catch (error) {
        skip(
          path
            .split('/')
            .pop()!
            .replace(/\.sealed\.yaml$/, ''),
          (error as Error).message,
        );
        continue;
      }
      const subject = policy?.name ?? existing.name;
      // The command names the SealedSecret's own namespace: a strict-scope value sealed for another one never opens.
      const namespace = existing.namespace && existing.namespace !== 'dbos' ? ` --namespace ${existing.namespace}` : '';
      const app = appOf.get(path);
      const sealCommand = (key: string) => `pnpm secrets:seal --env ${env.name}${app ? ` --app ${app}` : ''} --name ${existing.name}${namespace} --key ${key}`;
      const by = `seal the real value with \`${sealCommand('<key>')}\`; the bot cannot create it`;
      const placeholders = placeholderKeys(existing);
      if (placeholders.length > 0) {
        const commands = placeholders.map((key) => `\`${sealCommand(key)}\``).join(', ');
        skip(subject, `${path} holds a placeholder (${placeholders.join(', ')}): seal the real value with ${commands}; the bot cannot create it`);
        continue;
      }
      if (!policy) continue;
      const rotated = Date.parse(existing.annotations[ROTATED_AT_ANNOTATION] ?? '');
      if (Number.isNaN(rotated)) {
        skip(subject, `${path} has no valid ${ROTATED_AT_ANNOTATION}, so its age (maximum ${formatAge(policy.maxAge)}) is unknown: ${by}`);
        continue;
      }
      const age = Math.floor((context.now.getTime() - rotated) / 1000);
      if (age >= policy.maxAge) skip(subject, `${path} is ${formatAge(age)} old (maximum ${formatAge(policy.maxAge)}), due for rotation: ${by}`);
    }
  }

  return {
    name: TASK,
    // kube: the rollout check before the previous key is revoked, when an environment has cluster access.
    needs: ['conductor', 'forge', 'kube'],
    description:
      "rotate each application's Conductor API key per environment (create it for that app, seal, roll the app's pods, later revoke the old key) and report secrets a human must rotate",
    async plan(context: TaskContext): Promise<TaskResult> {
      const cleanups: DeleteTokenAction[] = [];
      const result = await walkEnvironments(context, TASK, (step) => planEnvironment(context, step, cleanups));
      // Deletes that need no PR, one effect each; the runner applies them before the plans.
      return { ...result, effects: cleanups.map((cleanup) => new ConductorKeyEffect([cleanup], context.conductor, true)) };
    },
  };
}

/** Without Conductor settings it only reports; the CLI builds the task with `createSecretRotationTask({ conductor, ... })`. */
export const secretRotationTask: Task = createSecretRotationTask();
