export * from './errors.ts';
export * from './plan.ts';
export { parseConfig, loadConfig, CONFIG_PATH } from './config/load.ts';
export type * from './config/schema.ts';
export { configSchema, parseDurationSeconds } from './config/schema.ts';
export * from './repo/yaml-edit.ts';
export * from './repo/tree.ts';
export type { RegistrySource, RegistryStats } from './sources/registry/types.ts';
export { OciRegistryClient } from './sources/registry/oci-client.ts';
export { CatalogRegistry, EMBEDDED_CATALOG } from './sources/registry/catalog.ts';
export { eligibleTags, compareTags, tagVersion } from './sources/registry/tag-policy.ts';
export type * from './sources/forge/types.ts';
export { HOLD_LABEL } from './sources/forge/types.ts';
export { GitHubForge, createThrottledOctokit } from './sources/forge/github.ts';
export { LocalForge } from './sources/forge/local.ts';
export { GitWorkspace, gitTree } from './git/workspace.ts';
export type { KubeHealth } from './sources/kube/health.ts';
export { TASKS, findTask } from './tasks/index.ts';
export type { Task, TaskContext, PreviousProposal } from './tasks/types.ts';
export { planAll, runPlans, describePlan } from './runner.ts';
export { main } from './cli.ts';
// For `pnpm apps:add` / `apps:remove` (@dbos-gitops/apps): the same version template, list edits and file locations the
// bot uses, so a scaffolded application and the bot's own edits cannot disagree.
export {
  renderVersionKustomization,
  renderVersionPatch,
  appVersionSlug,
  addListEntry,
  removeListEntry,
  readPatchVersion,
} from './tasks/shared/app-version-files.ts';
export {
  appDir,
  appsListPath,
  appIdentityPath,
  appVersionsDir,
  appSecretPath,
  defaultAppIdentity,
  readAppIdentity,
  renderAppIdentity,
  type AppIdentity,
} from './repo/apps.ts';
export { envVarSuffix } from './config/schema.ts';
// The platform's status (`pnpm bot status`): the model and its --json schema, the terminal and Markdown renderers, and
// the dashboard issue's body and ticked actions (for the demo and the forge side of the dashboard).
export * from './status/index.ts';
export { readStatus, statusTableOf, type StatusRequest } from './cli/commands/status.ts';
