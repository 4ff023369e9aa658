import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { APP_VERSION_LABEL } from '@dbos-gitops/sealing/names';

/** Read-only cluster question the promotion gate asks: since when has digest D run healthy in an environment? */
export interface KubeHealth {
  /** The time from which every pod running `digest` in the namespace has been Ready; null when none runs it or one is not Ready. */
  healthySince(env: string, namespace: string, digest: string): Promise<Date | null>;
  /** Pods of one application version (labels `dbos.dev/app` and `dbos.dev/app-version` = the version's directory
   * slug) and how many of them are Ready: the evidence gate's "pods Ready". Optional: a reader without it is "not read". */
  versionPods?(env: string, namespace: string, app: string, slug: string): Promise<{ ready: number; total: number }>;
}

interface PodLike {
  spec?: { containers?: Array<{ image?: string }> };
  status?: {
    containerStatuses?: Array<{ image?: string; imageID?: string; ready?: boolean }>;
    conditions?: Array<{ type?: string; status?: string; lastTransitionTime?: Date | string }>;
  };
}

/** Pure decision over pod objects, kept separate so it is testable without a cluster. */
export function healthySinceFromPods(pods: PodLike[], digest: string): Date | null {
  const running = pods.filter(
    (pod) =>
      pod.spec?.containers?.some((container) => container.image?.endsWith(`@${digest}`)) ||
      pod.status?.containerStatuses?.some((status) => status.imageID?.endsWith(`@${digest}`)),
  );
  if (running.length === 0) return null;
  let since = 0;
  for (const pod of running) {
    const ready = pod.status?.conditions?.find((condition) => condition.type === 'Ready');
    if (ready?.status !== 'True' || !ready.lastTransitionTime) return null;
    since = Math.max(since, new Date(ready.lastTransitionTime).getTime());
  }
  return new Date(since);
}

/** Ready = the pod's Ready condition is True (not merely Running). */
export function readyPodsFromPods(pods: PodLike[]): { ready: number; total: number } {
  const ready = pods.filter((pod) => pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True')).length;
  return { ready, total: pods.length };
}

/** The label selector of one application version's pods (the labels base/app-template puts on them). */
export function versionPodSelector(app: string, slug: string): string {
  return `dbos.dev/app=${app},${APP_VERSION_LABEL}=${slug}`;
}

/** Uses the kubeconfig context configured per environment (`environments[].kube.context`); lists pods only. */
export class KubeClientHealth implements KubeHealth {
  constructor(private readonly contexts: Record<string, string | undefined>) {}

  async healthySince(env: string, namespace: string, digest: string): Promise<Date | null> {
    const config = new KubeConfig();
    config.loadFromDefault();
    const context = this.contexts[env];
    if (context) config.setCurrentContext(context);
    const api = config.makeApiClient(CoreV1Api);
    const pods = await api.listNamespacedPod({ namespace });
    return healthySinceFromPods(pods.items as PodLike[], digest);
  }

  async versionPods(env: string, namespace: string, app: string, slug: string): Promise<{ ready: number; total: number }> {
    const config = new KubeConfig();
    config.loadFromDefault();
    const context = this.contexts[env];
    if (context) config.setCurrentContext(context);
    const api = config.makeApiClient(CoreV1Api);
    const pods = await api.listNamespacedPod({ namespace, labelSelector: versionPodSelector(app, slug) });
    return readyPodsFromPods(pods.items as PodLike[]);
  }
}
