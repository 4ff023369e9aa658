import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

/** Read-only cluster question the promotion gate asks: since when has digest D run healthy in an environment? */
export interface KubeHealth {
  /** The time from which every pod running `digest` in the namespace has been Ready; null when none runs it or one is not Ready. */
  healthySince(env: string, namespace: string, digest: string): Promise<Date | null>;
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
}
