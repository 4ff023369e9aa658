import type { SealingScope } from '@dbos-gitops/sealing';
import type { Plan, TaskResult } from '../plan.ts';

/**
 * Some changes need a write outside git before they can be committed: a new Conductor API key must exist before its
 * secret can be sealed into the PR. A planner cannot write, so its plan carries the write as data (an action); the
 * runner executes the actions right before committing (`applyActions`) and undoes them if the commit, push or PR
 * fails (`compensate`). In dry-run they are only described.
 */

/** Where the created key's secret goes: one key of one SealedSecret, sealed with the environment's committed certificate. */
export interface SealInto {
  /** Repository path of the SealedSecret; the plan must carry an edit of this file (its annotations already updated). */
  path: string;
  secretName: string;
  namespace: string;
  scope: SealingScope;
  /** The `spec.encryptedData` key that is replaced, e.g. `api-key`. */
  key: string;
  /** Repository path of the environment's sealing certificate, e.g. `clusters/dev/sealed-secrets-cert.pem`. */
  certPath: string;
}

export interface CreateTokenAction {
  type: 'conductor.create-token';
  env: string;
  org: string;
  tokenName: string;
  appNames: string[];
  permissions: string[];
  sealInto: SealInto;
}

export interface DeleteTokenAction {
  type: 'conductor.delete-token';
  env: string;
  org: string;
  tokenName: string;
  /** Why it is safe, for the dry-run description and the log. */
  reason: string;
  /**
   * Checked in git right before the delete: the key is kept when `path` records it under one of `annotations` on the
   * base branch (and, with `base-and-open-bot-branches`, on the branch of any open bot PR, as the forge lists them,
   * the local forge's branches included). Proof comes from git, never from a PR body.
   */
  guard?: { path: string; annotations: string[]; refs: 'base' | 'base-and-open-bot-branches' };
}

export type PlanAction = CreateTokenAction | DeleteTokenAction;

/** A plan with actions. `Plan` itself stays unchanged: the field is optional and ignored by code that does not know it. */
export type ActionPlan = Plan & { actions?: PlanAction[] };

/** A task result with deletes that need no PR (unused keys); the runner runs them before the plans. */
export type ActionTaskResult = TaskResult & { actions?: PlanAction[] };

export function standaloneActionsOf(result: TaskResult): PlanAction[] {
  const actions = (result as ActionTaskResult).actions;
  return Array.isArray(actions) ? actions : [];
}

export function actionsOf(plan: Plan): PlanAction[] {
  const actions = (plan as ActionPlan).actions;
  return Array.isArray(actions) ? actions : [];
}

export function describeAction(action: PlanAction): string {
  switch (action.type) {
    case 'conductor.create-token': {
      const scope = [
        action.appNames.length > 0 ? `apps ${action.appNames.join(', ')}` : 'all apps',
        action.permissions.length > 0 ? `permissions ${action.permissions.join(', ')}` : 'all permissions',
      ].join('; ');
      return (
        `create Conductor API key ${action.tokenName} in organization ${action.org} (${scope}), seal it with ${action.sealInto.certPath} ` +
        `into ${action.sealInto.path} key ${action.sealInto.key}; deleted again if committing or opening the PR fails`
      );
    }
    case 'conductor.delete-token':
      return `delete Conductor API key ${action.tokenName} in organization ${action.org}: ${action.reason}`;
  }
}

/** What dry-run prints for a plan's actions (nothing is executed). */
export function describeActions(plan: Plan): string {
  const actions = actionsOf(plan);
  if (actions.length === 0) return '';
  return ['actions at apply time:', ...actions.map((action) => `  - ${describeAction(action)}`)].join('\n');
}
