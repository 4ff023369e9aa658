import type { Policy } from '../types.ts';
import { alertJobRendered } from './alert-job-rendered.ts';
import { argocdBootstrap } from './argocd-bootstrap.ts';
import { appIsolation } from './app-isolation.ts';
import { appLabel } from './app-label.ts';
import { appPlaceholders } from './app-placeholders.ts';
import { appRoutesUnique, appVersionNamesUnique } from './app-shared-names.ts';
import { appReplicasUnset, appService, appVersionComplete } from './app-versions.ts';
import { botTokenClusterAccess } from './bot-token.ts';
import { capabilitiesDropped } from './capabilities-dropped.ts';
import { crdInstalled } from './crd-installed.ts';
import { healthCheckShipped } from './health-check-shipped.ts';
import { imagePinned } from './image-pinned.ts';
import { kedaRestrictedSecretAuth, triggerTargetStage } from './keda.ts';
import { jobRecreated } from './job-recreated.ts';
import { kubernetesSecretScan } from './kubernetes-secret-scan.ts';
import { namespaceSelectorByName } from './namespace-selector-by-name.ts';
import { networkPolicyEgress } from './network-policy-egress.ts';
import { networkPolicyMatrix } from './network-policy-matrix.ts';
import { noPlainSecret } from './no-plain-secret.ts';
import { noPrivilegeEscalation } from './no-privilege-escalation.ts';
import { nonRoot } from './non-root.ts';
import { probes } from './probes.ts';
import { replicasIgnoreScoped } from './replicas-ignore-scoped.ts';
import { resources } from './resources.ts';
import { sealedSecretScope } from './sealed-secret-scope.ts';
import { stageLabel } from './stage-label.ts';
import { syncOrder } from './sync-order.ts';
import { websocketTimeouts } from './websocket-timeouts.ts';

/** Every policy `pnpm validate` enforces, in report order. Add a rule by adding a module and one line here. */
export const POLICIES: readonly Policy[] = [
  probes,
  resources,
  nonRoot,
  noPrivilegeEscalation,
  capabilitiesDropped,
  imagePinned,
  noPlainSecret,
  networkPolicyMatrix,
  networkPolicyEgress,
  namespaceSelectorByName,
  websocketTimeouts,
  kubernetesSecretScan,
  appReplicasUnset,
  appVersionComplete,
  appService,
  appLabel,
  appPlaceholders,
  appIsolation,
  appVersionNamesUnique,
  appRoutesUnique,
  stageLabel,
  syncOrder,
  sealedSecretScope,
  triggerTargetStage,
  kedaRestrictedSecretAuth,
  botTokenClusterAccess,
  crdInstalled,
  jobRecreated,
  replicasIgnoreScoped,
  healthCheckShipped,
  argocdBootstrap,
  alertJobRendered,
];
