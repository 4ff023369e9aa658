import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { APP_VERSION_LABEL } from '@dbos-gitops/sealing/names';

/** Read-only cluster question the promotion gate asks: since when has digest D run healthy in an environment? */
export interface KubeHealth {
  /** The time from which every pod running `digest` in the namespace has been Ready; null when none runs it or one is not Ready. */
  healthySince(env: string, namespace: string, digest: string): Promise<Date | null>;
  /** The pods of one application version (labels `dbos.dev/app` and `dbos.dev/app-version`) and how many are Ready.
   * Optional: a health source without it cannot answer, which version-switch reads as unknown. */
  versionPods?(env: string, namespace: string, app: string, slug: string): Promise<VersionPods>;
}

/** Readiness of one application version's pods, as version-switch shows it in its PR. */
export interface VersionPods {
  total: number;
  ready: number;
  /** When the last of them became Ready (all Ready), else null. */
  readySince: Date | null;
}

export interface PodLike {
  metadata?: { labels?: Record<string, string>; deletionTimestamp?: Date | string };
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

/** Pure decision over the pods a label selector returned: a terminating pod does not count, every other one must be
 * Ready (its `Ready` condition `True`, with a transition time). */
export function versionPodsFromPods(pods: PodLike[]): VersionPods {
  const live = pods.filter((pod) => !pod.metadata?.deletionTimestamp);
  let ready = 0;
  let since = 0;
  for (const pod of live) {
    const condition = pod.status?.conditions?.find((candidate) => candidate.type === 'Ready');
    if (condition?.status !== 'True' || !condition.lastTransitionTime) continue;
    const at = new Date(condition.lastTransitionTime).getTime();
    if (Number.isNaN(at)) continue;
    ready++;
    since = Math.max(since, at);
  }
  return { total: live.length, ready, readySince: live.length > 0 && ready === live.length ? new Date(since) : null };
}

/** The label selector of one application version's pods (the labels base/app-version puts on them). Both values come
 * from the config's application name and a DNS-safe slug, so the selector cannot be widened. */
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

  async versionPods(env: string, namespace: string, app: string, slug: string): Promise<VersionPods> {
    const config = new KubeConfig();
    config.loadFromDefault();
    const context = this.contexts[env];
    if (context) config.setCurrentContext(context);
    const api = config.makeApiClient(CoreV1Api);
    const pods = await api.listNamespacedPod({ namespace, labelSelector: versionPodSelector(app, slug) });
    return versionPodsFromPods(pods.items as PodLike[]);
  }
}
