import { asArray, asRecord, objectRef, podSpecOf } from '../objects.ts';
import type { Policy, Render, RenderedObject, Violation } from '../types.ts';
import { applicationsOf } from './applications.ts';
import {
  INGRESS_CONTROLLER_NAMESPACES,
  isEmptySelector,
  NON_PUBLIC_RANGES,
  type PodGroups,
  peerName,
  podGroupsOf,
  podName,
  policyTypes,
  selectedApps,
  selectedNamespace,
} from './network-peers.ts';

const RULE = 'network-policy-egress';
/** Kubernetes docs, "Network Policies": a pod is isolated for egress once any policy with Egress in policyTypes selects it. */
const K8S_RULE = 'Kubernetes NetworkPolicy: a pod selected by an Egress policy may open only the connections some policy allows';
/** DBOS Self-Hosting Guide ("Network Access"): Conductor validates its license at https://cloud.dbos.dev and exits without it. */
const DBOS_RULE = 'DBOS Self-Hosting Guide, "Network Access"';

/**
 * The control-plane pods that hold a database URL (README, "Network model"); Dex only where its storage is PostgreSQL.
 * Every application's executors and migration Job are database clients too (their pod `app` labels come from the render).
 */
export const PLATFORM_DATABASE_CLIENTS = new Set(['conductor', 'gitops-bot', 'dex']);

/** Which pods of an environment are which application's executors and migrations (by pod `app` label). */
interface Roles {
  executors: Set<string>;
  migrations: Set<string>;
  groups: PodGroups;
}

function rolesOf(render: Render): Roles {
  const executors = new Set<string>();
  const migrations = new Set<string>();
  for (const app of applicationsOf(render).values()) {
    for (const pod of app.executorPodApps) executors.add(pod);
    for (const pod of app.migrationPodApps) migrations.add(pod);
  }
  return { executors, migrations, groups: podGroupsOf(render) };
}

const isDatabaseClient = (roles: Roles, source: string) => PLATFORM_DATABASE_CLIENTS.has(source) || roles.executors.has(source) || roles.migrations.has(source);

type Peer =
  | { kind: 'pod'; apps: string[] | undefined }
  | { kind: 'namespace'; namespace: string | undefined; podLabels: Record<string, unknown> | undefined }
  | { kind: 'public' }
  | { kind: 'range'; cidr: string }
  | { kind: 'anywhere' };

interface EgressFlow {
  /** The `app` of the pods that may connect, or `*` for every pod in the namespace. */
  source: string;
  peer: Peer;
  peerText: string;
  port: string;
  protocol: string;
  rendered: RenderedObject;
}

function classify(raw: Record<string, unknown>, groups: PodGroups): Peer {
  if (raw.ipBlock !== undefined) {
    const block = asRecord(raw.ipBlock);
    const cidr = String(block.cidr);
    if (cidr === '0.0.0.0/0' || cidr === '::/0') {
      const except = new Set(asArray(block.except).map(String));
      return cidr === '0.0.0.0/0' && NON_PUBLIC_RANGES.every((range) => except.has(range)) ? { kind: 'public' } : { kind: 'anywhere' };
    }
    return { kind: 'range', cidr };
  }
  if (raw.namespaceSelector !== undefined) {
    return {
      kind: 'namespace',
      namespace: isEmptySelector(raw.namespaceSelector) ? undefined : selectedNamespace(raw.namespaceSelector),
      // Pods of another namespace carry that namespace's labels (kube-dns: k8s-app), not this tree's `app`.
      podLabels: raw.podSelector === undefined ? undefined : asRecord(asRecord(raw.podSelector).matchLabels),
    };
  }
  if (raw.podSelector !== undefined) return { kind: 'pod', apps: selectedApps(raw.podSelector, groups) };
  return { kind: 'anywhere' };
}

function egressFlows(render: Render, groups: PodGroups = podGroupsOf(render)): EgressFlow[] {
  const flows: EgressFlow[] = [];
  for (const rendered of render.objects) {
    if (rendered.object.kind !== 'NetworkPolicy') continue;
    const spec = asRecord(rendered.object.spec);
    if (!policyTypes(spec).includes('Egress')) continue;
    const sources = selectedApps(spec.podSelector, groups) ?? [podName(spec.podSelector, groups)];
    for (const rawRule of asArray(spec.egress)) {
      const rule = asRecord(rawRule);
      const peers = asArray(rule.to).map(asRecord);
      const ports = asArray(rule.ports).map(asRecord);
      const portList =
        ports.length === 0
          ? [{ port: 'any port', protocol: 'any' }]
          : ports.map((p) => ({ port: p.port === undefined ? 'any port' : String(p.port), protocol: String(p.protocol ?? 'TCP') }));
      const peerList = peers.length === 0 ? [{}] : peers;
      for (const source of sources) {
        for (const peer of peerList) {
          for (const { port, protocol } of portList) {
            flows.push({ source, peer: classify(peer, groups), peerText: peers.length === 0 ? 'anywhere' : peerName(peer, groups), port, protocol, rendered });
          }
        }
      }
    }
  }
  return flows;
}

const only = (apps: string[] | undefined, app: string) => apps !== undefined && apps.length === 1 && apps[0] === app;

/** The egress model: each allowed flow class, who may use it and why. Anything no class admits is a violation. */
interface Allowance {
  name: string;
  admits(flow: EgressFlow, roles: Roles): boolean;
}

const ALLOWED: Allowance[] = [
  {
    name: 'DNS: every pod to kube-dns in kube-system on 53',
    admits: (f) =>
      f.peer.kind === 'namespace' &&
      f.peer.namespace === 'kube-system' &&
      f.peer.podLabels !== undefined &&
      Object.keys(f.peer.podLabels).length === 1 &&
      f.peer.podLabels['k8s-app'] === 'kube-dns' &&
      f.port === '53',
  },
  {
    name: "PostgreSQL: a database client to the overlay's database address range on its port",
    admits: (f, roles) => isDatabaseClient(roles, f.source) && f.peer.kind === 'range' && f.protocol === 'TCP' && f.port !== 'any port',
  },
  {
    name: "the API server: the bot, with cluster access, to the API server's address range on 443 or 6443",
    admits: (f) => f.source === 'gitops-bot' && f.peer.kind === 'range' && f.protocol === 'TCP' && (f.port === '443' || f.port === '6443'),
  },
  {
    name: "Conductor: the Console, every application's executors and Conductor's own replicas to Conductor on 8090",
    admits: (f, roles) =>
      (['console', 'conductor'].includes(f.source) || roles.executors.has(f.source)) &&
      f.peer.kind === 'pod' &&
      only(f.peer.apps, 'conductor') &&
      f.port === '8090',
  },
  {
    name: 'Dex JWKS: Conductor to Dex on 5556',
    admits: (f) => f.source === 'conductor' && f.peer.kind === 'pod' && only(f.peer.apps, 'dex') && f.port === '5556',
  },
  {
    name: 'public HTTPS: Conductor (license validation) and the bot (GitHub) to 0.0.0.0/0 except non-public ranges on 443',
    admits: (f) => (f.source === 'conductor' || f.source === 'gitops-bot') && f.peer.kind === 'public' && f.protocol === 'TCP' && f.port === '443',
  },
  {
    name: "Conductor through the ingress: an application's executors to the ingress controller's namespace on 443",
    admits: (f, roles) =>
      roles.executors.has(f.source) &&
      f.peer.kind === 'namespace' &&
      f.peer.namespace !== undefined &&
      INGRESS_CONTROLLER_NAMESPACES.has(f.peer.namespace) &&
      f.port === '443',
  },
];

interface Requirement {
  app: string;
  name: string;
  satisfied(flow: EgressFlow): boolean;
}

const conductorDirectOrThroughIngress = (f: EgressFlow) =>
  (f.peer.kind === 'pod' && only(f.peer.apps, 'conductor') && f.port === '8090') ||
  (f.peer.kind === 'namespace' && f.peer.namespace !== undefined && INGRESS_CONTROLLER_NAMESPACES.has(f.peer.namespace));

/** Flows each control-plane workload cannot run without, when the overlay renders that workload. */
const PLATFORM_REQUIRED: Requirement[] = [
  { app: 'conductor', name: 'PostgreSQL (its conductor-db)', satisfied: (f) => f.peer.kind === 'range' && f.protocol === 'TCP' },
  {
    app: 'conductor',
    name: `public HTTPS on 443 (${DBOS_RULE}: license validation at https://cloud.dbos.dev)`,
    satisfied: (f) => f.peer.kind === 'public' && f.port === '443',
  },
  { app: 'conductor', name: 'Dex on 5556 (JWKS)', satisfied: (f) => f.peer.kind === 'pod' && only(f.peer.apps, 'dex') && f.port === '5556' },
  { app: 'console', name: 'Conductor on 8090', satisfied: (f) => f.peer.kind === 'pod' && only(f.peer.apps, 'conductor') && f.port === '8090' },
];

/** And each application's: its executors reach their system database and Conductor, its migration Job the database. */
function requirements(roles: Roles): Requirement[] {
  const required = [...PLATFORM_REQUIRED];
  for (const app of [...roles.executors].sort()) {
    required.push(
      { app, name: 'PostgreSQL (its system database)', satisfied: (f) => f.peer.kind === 'range' && f.protocol === 'TCP' },
      { app, name: 'Conductor (on 8090, or through the ingress controller on 443)', satisfied: conductorDirectOrThroughIngress },
    );
  }
  for (const app of [...roles.migrations].sort()) {
    required.push({ app, name: 'PostgreSQL (dbos migrate)', satisfied: (f) => f.peer.kind === 'range' && f.protocol === 'TCP' });
  }
  return required;
}

function isDefaultDenyEgress(rendered: RenderedObject): boolean {
  if (rendered.object.kind !== 'NetworkPolicy') return false;
  const spec = asRecord(rendered.object.spec);
  return isEmptySelector(spec.podSelector) && asArray(spec.policyTypes).includes('Egress') && asArray(spec.egress).length === 0;
}

/** Secret keys that carry database credentials in this tree (README, Secrets): a pod that reads one connects to PostgreSQL. */
const DATABASE_SECRET_KEYS = new Set(['database-url', 'postgres-password']);

/** The `app` label of every pod template an overlay renders, and which of them read a database credential. */
function renderedApps(render: Render): { apps: Set<string>; databaseReaders: Set<string> } {
  const apps = new Set<string>();
  const databaseReaders = new Set<string>();
  for (const { object } of render.objects) {
    const podSpec = podSpecOf(object);
    if (!podSpec) continue;
    const spec = asRecord(object.spec);
    const template = object.kind === 'CronJob' ? asRecord(asRecord(asRecord(spec.jobTemplate).spec).template) : asRecord(spec.template);
    const app = asRecord(asRecord(template.metadata).labels).app;
    if (typeof app !== 'string') continue;
    apps.add(app);
    const containers = [...asArray(podSpec.initContainers), ...asArray(podSpec.containers)].map(asRecord);
    const readsDatabase = containers.some((container) =>
      asArray(container.env).some((env) => DATABASE_SECRET_KEYS.has(String(asRecord(asRecord(asRecord(env).valueFrom).secretKeyRef).key))),
    );
    if (readsDatabase) databaseReaders.add(app);
  }
  return { apps, databaseReaders };
}

const fromSource = (flow: EgressFlow, app: string) => flow.source === app || flow.source === '*';

export const networkPolicyEgress: Policy = {
  id: RULE,
  title: "Each overlay denies egress by default and allows only the egress model's flows (DNS, PostgreSQL, Conductor, Dex, public HTTPS)",
  check(ctx) {
    const violations: Violation[] = [];
    for (const render of ctx.renders.filter((r) => r.kind === 'overlay')) {
      const kustomization = `${render.id}/kustomization.yaml`;
      if (!render.objects.some(isDefaultDenyEgress)) {
        violations.push({
          rule: RULE,
          file: kustomization,
          object: 'NetworkPolicy/default-deny-egress',
          message: `${render.id} has no default-deny egress NetworkPolicy, so a pod no egress policy selects can connect anywhere (${K8S_RULE})`,
          fix: 'include base/network-policies: a NetworkPolicy with podSelector: {}, policyTypes: [Egress] and no egress rules',
        });
      }
      const roles = rolesOf(render);
      const admitted = (flow: EgressFlow) => ALLOWED.some((allow) => allow.admits(flow, roles));
      const flows = egressFlows(render, roles.groups);
      const reported = new Set<string>();
      for (const flow of flows) {
        if (admitted(flow)) continue;
        const text = `${flow.source === '*' ? 'every pod' : `${flow.source} pod`} → ${flow.peerText}:${flow.port}${flow.protocol === 'TCP' || flow.protocol === 'any' ? '' : `/${flow.protocol}`}`;
        const key = `${objectRef(flow.rendered.object)} ${text}`;
        if (reported.has(key)) continue;
        reported.add(key);
        const why =
          flow.peer.kind === 'anywhere'
            ? ' (an unrestricted destination also reaches the cloud metadata service and other namespaces; public HTTPS must except ' +
              NON_PUBLIC_RANGES.join(', ') +
              ')'
            : '';
        violations.push({
          rule: RULE,
          file: flow.rendered.file,
          object: objectRef(flow.rendered.object),
          message: `allows the egress flow "${text}", which is not in the egress model${why}`,
          fix: `remove that destination or port; allowed egress is: ${ALLOWED.map((a) => a.name).join('; ')} (README, "Network model: ingress and egress")`,
        });
      }
      const { apps, databaseReaders } = renderedApps(render);
      const dnsFor = (app: string) => flows.some((f) => fromSource(f, app) && ALLOWED[0]!.admits(f, roles));
      for (const app of [...apps].sort()) {
        if (!dnsFor(app)) {
          violations.push({
            rule: RULE,
            file: kustomization,
            object: 'NetworkPolicy/*',
            message: `${render.id} gives ${app} pods no DNS egress (kube-dns in kube-system on 53), so they cannot resolve any name (${K8S_RULE})`,
            fix: 'include base/network-policies (allow-dns-egress selects every pod)',
          });
        }
      }
      const required = requirements(roles);
      // Whatever its label, a pod handed a database credential must be able to use it.
      for (const app of [...databaseReaders].sort()) {
        if (required.some((r) => r.app === app && r.name.startsWith('PostgreSQL'))) continue;
        if (flows.some((f) => f.source === app && admitted(f) && f.peer.kind === 'range' && f.protocol === 'TCP')) continue;
        violations.push({
          rule: RULE,
          file: kustomization,
          object: 'NetworkPolicy/*',
          message: `${render.id} hands ${app} pods a database credential but gives them no egress to the database address range, so that connection is dropped by the default deny (${K8S_RULE})`,
          fix: `add ${app} to allow-postgres-egress (base/network-policies) and to PLATFORM_DATABASE_CLIENTS in packages/validate if it is a new control-plane database client (an application's pods carry dbos.dev/app and are allowed by allow-app-postgres-egress)`,
        });
      }
      for (const requirement of required) {
        if (!apps.has(requirement.app)) continue;
        if (flows.some((f) => f.source === requirement.app && admitted(f) && requirement.satisfied(f))) continue;
        violations.push({
          rule: RULE,
          file: kustomization,
          object: 'NetworkPolicy/*',
          message: `${render.id} gives ${requirement.app} pods no egress to ${requirement.name}, so that connection is dropped by the default deny (${K8S_RULE})`,
          fix: `allow it in base/network-policies (README, "Network model: ingress and egress")`,
        });
      }
    }
    return violations;
  },
};

/** Exported for the bot-token rule: whether an overlay lets the bot reach an address range on the API server's ports. */
export function allowsApiServerEgress(render: Render): boolean {
  return egressFlows(render).some((f) => f.source === 'gitops-bot' && f.peer.kind === 'range' && (f.port === '443' || f.port === '6443'));
}
