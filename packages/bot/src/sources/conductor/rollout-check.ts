/**
 * The cluster side of "is an application's new Conductor API key running?": every pod of that application carries the
 * rollout stamp that the rotation PR wrote into `overlays/<env>/apps/<app>/rollout.patch.yaml` and is Ready. It reads pods only (same RBAC as the
 * promotion health check). It lives next to the Conductor client because only the rotation uses it; it would sit
 * equally well in sources/kube.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { RolloutCheck } from '../../tasks/secret-rotation/index.ts';

/**
 * The executors of one application: base/app-version labels them `app: <identity name>` (the Deployment selector, so
 * every pod has it). The migration Job's pods carry `app: <migrate>` and never match.
 */
export function appPodSelector(app: string): string {
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(app)) throw new Error(`"${app}" is not an application name`);
  return `app=${app}`;
}

interface PodLike {
  metadata?: { annotations?: Record<string, string> | undefined; deletionTimestamp?: unknown };
  status?: { phase?: string; conditions?: Array<{ type?: string; status?: string }> };
}

/**
 * true: at least one app pod, and every pod that can still run (not Succeeded/Failed) has `annotation=value` and is
 * Ready; a terminating pod with the old stamp still holds the old key, so it counts against. false: some pod still
 * runs another template or is not Ready. null: no app pod at all, so nothing says the new key works (fails closed).
 */
export function rolloutCompleteFromPods(pods: readonly PodLike[], annotation: string, value: string): boolean | null {
  const live = pods.filter((pod) => pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed');
  if (live.length === 0) return null;
  for (const pod of live) {
    if (pod.metadata?.annotations?.[annotation] !== value) return false;
    if (pod.metadata?.deletionTimestamp) return false;
    const ready = pod.status?.conditions?.find((condition) => condition.type === 'Ready');
    if (ready?.status !== 'True') return false;
  }
  return true;
}

export class KubeRolloutCheck implements RolloutCheck {
  constructor(
    private readonly contexts: Readonly<Record<string, string | undefined>>,
    private readonly kubeconfigPath?: string,
  ) {}

  async rolledOut(env: string, namespace: string, app: string, annotation: string, value: string): Promise<boolean | null> {
    try {
      const config = new KubeConfig();
      if (this.kubeconfigPath) config.loadFromFile(this.kubeconfigPath);
      else config.loadFromDefault();
      const context = this.contexts[env];
      if (context) config.setCurrentContext(context);
      const pods = await config.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: appPodSelector(app) });
      return rolloutCompleteFromPods(pods.items as PodLike[], annotation, value);
    } catch {
      // Unknown is never "rolled out": the previous key stays.
      return null;
    }
  }
}
