import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { asArray, asRecord, isRecord, podSpecOf, violationFor } from '../objects.ts';
import type { Policy, Render, RenderedObject, Violation } from '../types.ts';
import { allowsApiServerEgress } from './network-policy-egress.ts';

const RULE = 'bot-token-cluster-access';
export const BOT_CONFIG = '.github/gitops-bot.yaml';
const K8S_RULE =
  'Kubernetes mounts a ServiceAccount token into every pod unless automountServiceAccountToken is false on the pod or its ServiceAccount (Kubernetes docs, "Configure Service Accounts for Pods": opt out of API credential automounting)';

interface ConfigRead {
  /** Overlay path (as in `environments[].overlay`, normalised) → environment name and whether `kube:` is set. */
  overlays: Map<string, { name: string; clusterAccess: boolean }>;
  error?: string;
}

function normalise(overlay: string): string {
  return path.posix.normalize(overlay.replace(/^\.\//, '')).replace(/\/$/, '');
}

/** Reads only what this rule needs from the bot config; the bot's own loader validates the rest. */
export function readBotConfig(root: string): ConfigRead {
  let text: string;
  try {
    text = readFileSync(path.join(root, BOT_CONFIG), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { overlays: new Map() };
    return { overlays: new Map(), error: `cannot read it: ${(error as Error).message}` };
  }
  const document = parseDocument(text);
  if (document.errors.length > 0) return { overlays: new Map(), error: `is not valid YAML: ${document.errors[0]!.message}` };
  const environments = asRecord(document.toJS()).environments;
  if (environments !== undefined && !Array.isArray(environments)) return { overlays: new Map(), error: 'environments is not a list' };
  const overlays = new Map<string, { name: string; clusterAccess: boolean }>();
  for (const [index, raw] of asArray(environments).entries()) {
    if (!isRecord(raw) || typeof raw.name !== 'string' || typeof raw.overlay !== 'string') {
      return { overlays: new Map(), error: `environments[${index}] needs a string name and overlay` };
    }
    if (raw.kube !== undefined && raw.kube !== null && !isRecord(raw.kube))
      return { overlays: new Map(), error: `environments[${index}].kube is not a mapping` };
    overlays.set(normalise(raw.overlay), { name: raw.name, clusterAccess: isRecord(raw.kube) });
  }
  return { overlays };
}

function isBotPod(rendered: RenderedObject, podSpec: Record<string, unknown>): boolean {
  const spec = asRecord(rendered.object.spec);
  const template = rendered.object.kind === 'CronJob' ? asRecord(asRecord(asRecord(spec.jobTemplate).spec).template) : asRecord(spec.template);
  return asRecord(asRecord(template.metadata).labels).app === 'gitops-bot' || podSpec.serviceAccountName === 'gitops-bot';
}

/** Whether the pod gets an API token: automount on the pod, else on its ServiceAccount, else Kubernetes' default (true); or a projected token volume. */
function mountsToken(render: Render, podSpec: Record<string, unknown>): boolean {
  const projected = asArray(podSpec.volumes).some((volume) =>
    asArray(asRecord(asRecord(volume).projected).sources).some((source) => asRecord(source).serviceAccountToken !== undefined),
  );
  if (projected) return true;
  if (typeof podSpec.automountServiceAccountToken === 'boolean') return podSpec.automountServiceAccountToken;
  const accountName = String(podSpec.serviceAccountName ?? 'default');
  const account = render.objects.find(({ object }) => object.kind === 'ServiceAccount' && object.metadata?.name === accountName);
  const accountSetting = account?.object.automountServiceAccountToken;
  return typeof accountSetting === 'boolean' ? accountSetting : true;
}

export const botTokenClusterAccess: Policy = {
  id: RULE,
  title: `The bot's pod mounts a ServiceAccount token exactly when ${BOT_CONFIG} gives its environment cluster access (kube:)`,
  check(ctx) {
    const violations: Violation[] = [];
    const config = readBotConfig(ctx.root);
    if (config.error !== undefined) {
      return [
        {
          rule: RULE,
          file: BOT_CONFIG,
          object: 'environments',
          message: `${BOT_CONFIG} ${config.error}, so the bot pods' token mounts cannot be checked against it`,
          fix: 'fix the config (schema: packages/bot/src/config/schema.ts)',
        },
      ];
    }
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const environment = config.overlays.get(render.id);
      const access = environment?.clusterAccess === true;
      const envText = environment ? `environment "${environment.name}"` : `no environment (none has overlay: ${render.id})`;
      for (const rendered of render.objects) {
        const podSpec = podSpecOf(rendered.object);
        if (!podSpec || !isBotPod(rendered, podSpec)) continue;
        const token = mountsToken(render, podSpec);
        if (token && !access) {
          violations.push(
            violationFor(
              rendered,
              RULE,
              `mounts a ServiceAccount token, but ${BOT_CONFIG} gives ${envText} no cluster access (no kube:), so the token is an API credential nothing uses. ${K8S_RULE}`,
              `set automountServiceAccountToken: false (base/bot), or give the environment kube: in ${BOT_CONFIG} and add components/bot-cluster-access to ${render.id}`,
            ),
          );
        } else if (!token && access) {
          violations.push(
            violationFor(
              rendered,
              RULE,
              `${BOT_CONFIG} gives ${envText} cluster access (kube:), but this pod mounts no ServiceAccount token, so every health check the bot makes fails`,
              `add ../../base/components/bot-cluster-access to ${render.id}/kustomization.yaml`,
            ),
          );
        } else if (token && access && !allowsApiServerEgress(render)) {
          violations.push(
            violationFor(
              rendered,
              RULE,
              `mounts a token for cluster access, but no NetworkPolicy in ${render.id} lets the bot reach the API server (an address range on 443 or 6443) past the default-deny egress`,
              "add components/bot-cluster-access and set the API server's address range in its egress policy",
            ),
          );
        }
      }
    }
    return violations;
  },
};
