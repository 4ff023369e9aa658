/**
 * The annotation and label names the code of every package reads or writes on the GitOps tree, defined once. They
 * live in sealing because it is the one package the bot, validate and the `secrets:*` scripts all depend on; the YAML
 * manifests spell the same names literally. The bot's own PR label (`gitops-bot/hold`) stays with the bot's forge.
 */

/** `"true"` on a SealedSecret whose values are placeholders (the bot reports it as due for a real value). */
export const PLACEHOLDER_ANNOTATION = 'dbos.dev/placeholder';
/** The keys of a placeholder SealedSecret still waiting for a real value (see placeholder.ts). */
export const PLACEHOLDER_KEYS_ANNOTATION = 'dbos.dev/placeholder-keys';
/** When a SealedSecret's value was last sealed anew; secret rotation compares it with the policy's maximum age. */
export const ROTATED_AT_ANNOTATION = 'dbos.dev/rotated-at';
/** The Conductor token name sealed in the API-key SealedSecret, so a rotation knows which key to retire. */
export const CONDUCTOR_TOKEN_ANNOTATION = 'dbos.dev/conductor-token';
/** The token a rotation replaced, kept until the bot revokes it after the grace period. */
export const PREVIOUS_CONDUCTOR_TOKEN_ANNOTATION = 'dbos.dev/conductor-token-previous';
/** Label of the sync stage (foundation, migrations, workloads, routing) both sync engines order by. */
export const STAGE_LABEL = 'dbos.dev/stage';
/** Label (and Service selector) naming the application version an object belongs to, by its slug. */
export const APP_VERSION_LABEL = 'dbos.dev/app-version';
/** On the app pod template (`<overlay>/app-rollout.patch.yaml`): a new value rolls every app Deployment after a key rotation. */
export const CONDUCTOR_KEY_ROLLOUT_ANNOTATION = 'dbos.dev/conductor-api-key-rotated-at';
/** Label of what an operator applies by hand once at bootstrap (the Argo CD root Application and its projects), outside any sync. */
export const BOOTSTRAP_LABEL = 'dbos.dev/bootstrap';
