import type { SealingScope } from '@dbos-gitops/sealing';

/**
 * The Conductor key writes secret rotation needs, as data: a new key must exist before its secret can be sealed into
 * the PR, and a revoked key is deleted. They reach the runner as effects (`ConductorKeyEffect` in token-effects.ts),
 * which run right before committing and are undone if the commit, push or PR fails. In dry-run they are only described.
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
