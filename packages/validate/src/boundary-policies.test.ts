/**
 * The manifests' network, KEDA and bot-token boundaries: each rule is broken once in the fixture and must name what
 * broke, and only its own rule may fire.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { useFixtureRepos, violationsOnly, digestFor, editYaml, PUBLIC_INTERNET, writeFiles } from '../testing/fixture-repo.ts';
import { validateRepo } from './validate.ts';

const freshRepo = useFixtureRepos();

const NP_FILE = 'base/network-policies/network-policies.yaml';
type Doc = Record<string, any>;
const byName = (docs: Doc[], name: string) => docs.find((d) => d.metadata.name === name)!;

describe('the clean fixture', () => {
  it('passes the boundary rules with its egress model, Console port and latest-version ScaledObject in place', async () => {
    const result = await validateRepo({ root: await freshRepo() });
    expect(result.violations).toEqual([]);
  });
});

describe('network-policy-egress', () => {
  it('requires the default-deny egress policy and names an egress flow outside the model', async () => {
    const root = await freshRepo();
    await editYaml(root, NP_FILE, (docs) => {
      docs.splice(docs.indexOf(byName(docs, 'default-deny-egress')), 1);
      byName(docs, 'allow-console-egress').spec.egress.push({ to: [PUBLIC_INTERNET], ports: [{ protocol: 'TCP', port: 443 }] });
    });
    const violations = await violationsOnly(root, 'network-policy-egress');
    expect(violations.map((v) => [v.file, v.object, v.message])).toEqual([
      [
        NP_FILE,
        'NetworkPolicy/dbos/allow-console-egress',
        'allows the egress flow "console pod → ipBlock 0.0.0.0/0 except 10.0.0.0/8,100.64.0.0/10,169.254.0.0/16,172.16.0.0/12,192.168.0.0/16:443", which is not in the egress model',
      ],
      [
        'overlays/dev/kustomization.yaml',
        'NetworkPolicy/default-deny-egress',
        'overlays/dev has no default-deny egress NetworkPolicy, so a pod no egress policy selects can connect anywhere (Kubernetes NetworkPolicy: a pod selected by an Egress policy may open only the connections some policy allows)',
      ],
    ]);
    expect(violations[0]!.fix).toContain('README, "Network model: ingress and egress"');
  });

  it('rejects "public" HTTPS that does not except the metadata service, and then misses Conductor\'s license check', async () => {
    const root = await freshRepo();
    await editYaml(root, NP_FILE, (docs) => {
      byName(docs, 'allow-conductor-egress').spec.egress[2].to = [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }];
    });
    const violations = await violationsOnly(root, 'network-policy-egress');
    expect(violations.map((v) => v.message)).toEqual([
      expect.stringMatching(
        /^allows the egress flow "conductor pod → ipBlock 0\.0\.0\.0\/0 except 10\.0\.0\.0\/8:443", which is not in the egress model \(an unrestricted destination also reaches the cloud metadata service/,
      ),
      'overlays/dev gives conductor pods no egress to public HTTPS on 443 (DBOS Self-Hosting Guide, "Network Access": license validation at https://cloud.dbos.dev), so that connection is dropped by the default deny (Kubernetes NetworkPolicy: a pod selected by an Egress policy may open only the connections some policy allows)',
    ]);
  });

  it('requires DNS for every workload and PostgreSQL for each database client it renders', async () => {
    const root = await freshRepo();
    await editYaml(root, NP_FILE, (docs) => {
      docs.splice(docs.indexOf(byName(docs, 'allow-dns-egress')), 1);
      byName(docs, 'allow-postgres-egress').spec.podSelector.matchExpressions[0].values = ['conductor', 'dbos-app'];
    });
    const violations = await violationsOnly(root, 'network-policy-egress');
    expect(violations.map((v) => v.message.split(', so ')[0])).toEqual([
      'overlays/dev gives conductor pods no DNS egress (kube-dns in kube-system on 53)',
      'overlays/dev gives console pods no DNS egress (kube-dns in kube-system on 53)',
      'overlays/dev gives dbos-app pods no DNS egress (kube-dns in kube-system on 53)',
      'overlays/dev gives dbos-migrate pods no DNS egress (kube-dns in kube-system on 53)',
      'overlays/dev gives dex pods no DNS egress (kube-dns in kube-system on 53)',
      'overlays/dev gives dbos-migrate pods no egress to PostgreSQL (dbos migrate)',
    ]);
  });

  it('keeps PostgreSQL to the database clients: a Console allowed to the database range is flagged', async () => {
    const root = await freshRepo();
    await editYaml(root, NP_FILE, (docs) => {
      byName(docs, 'allow-postgres-egress').spec.podSelector.matchExpressions[0].values.push('console');
    });
    const [v, ...rest] = await violationsOnly(root, 'network-policy-egress');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: NP_FILE, object: 'NetworkPolicy/dbos/allow-postgres-egress' });
    expect(v!.message).toBe('allows the egress flow "console pod → ipBlock 10.1.0.0/16:5432", which is not in the egress model');
  });

  it('requires PostgreSQL egress for any pod handed a database credential, whatever its app label', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/console/deployment.yaml', ([d]) => {
      d!.spec.template.spec.containers[0].env = [
        { name: 'DEX_POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name: 'dex-credentials', key: 'postgres-password' } } },
      ];
    });
    const [v, ...rest] = await violationsOnly(root, 'network-policy-egress');
    expect(rest).toEqual([]);
    expect(v!.message).toBe(
      'overlays/dev hands console pods a database credential but gives them no egress to the database address range, so that connection is dropped by the default deny (Kubernetes NetworkPolicy: a pod selected by an Egress policy may open only the connections some policy allows)',
    );
  });
});

describe('namespace-selector-by-name', () => {
  it('flags a namespace selected by an editable label, in ingress and in egress rules', async () => {
    const root = await freshRepo();
    await editYaml(root, NP_FILE, (docs) => {
      byName(docs, 'allow-dbos-app-ingress').spec.ingress[0].from[1] = { namespaceSelector: { matchLabels: { 'app.kubernetes.io/name': 'keda' } } };
      byName(docs, 'allow-dns-egress').spec.egress[0].to[0].namespaceSelector = {
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['kube-system'] }],
      };
    });
    const violations = await violationsOnly(root, 'namespace-selector-by-name');
    // matchExpressions on the name label itself are fine; only the editable label is reported.
    expect(violations.map((v) => [v.file, v.object])).toEqual([[NP_FILE, 'NetworkPolicy/dbos/allow-dbos-app-ingress']]);
    expect(violations[0]!.message).toContain('selects namespaces by app.kubernetes.io/name (ingress from[1]: {app.kubernetes.io/name=keda})');
    expect(violations[0]!.message).toContain('immutable label kubernetes.io/metadata.name');
    expect(violations[0]!.fix).toBe('select the namespace by name: namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: <namespace> } }');
  });
});

describe('trigger-target-stage', () => {
  it("flags the latest version's metrics-api trigger when its ScaledObject syncs before the dbos-app Service", async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/app-versions/1-0-0/scaling.patch.yaml', ([ops]) => {
      const list = ops as unknown as Array<Record<string, unknown>>;
      list.splice(
        list.findIndex((op) => op.path === '/metadata/labels/dbos.dev~1stage'),
        1,
      );
    });
    const [v, ...rest] = await violationsOnly(root, 'trigger-target-stage');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/app-version/scaled-object.yaml', object: 'ScaledObject/dbos/dbos-app-1-0-0' });
    expect(v!.message).toContain(
      'trigger 1 (metrics-api) url http://dbos-app:8080/metrics/work targets Service/dbos/dbos-app in stage "routing", after this ScaledObject\'s stage "workloads"',
    );
    expect(v!.message).toContain("Argo CD's ScaledObject health: Degraded");
    expect(v!.fix).toContain('move the ScaledObject to stage "routing"');
  });

  it('flags a trigger whose in-cluster target Service the overlay does not render at all', async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/app-versions/1-0-0/scaling.patch.yaml', ([ops]) => {
      const list = ops as unknown as Array<Record<string, any>>;
      list.find((op) => op.path === '/spec/triggers/-')!.value.metadata.url = 'http://queue-stats.dbos.svc.cluster.local:9000/depth';
    });
    const [v, ...rest] = await violationsOnly(root, 'trigger-target-stage');
    expect(rest).toEqual([]);
    expect(v!.message).toContain('targets Service dbos/queue-stats, which overlays/dev does not render');
  });
});

/** KEDA installed as both tools do here: the Helm chart with the operator's Secret access restricted. */
async function installKeda(root: string, restricted: boolean, namespace = 'keda'): Promise<void> {
  // The fixture already installs KEDA as an add-on (its CRDs must come from an earlier wave); set its Secret access.
  await editYaml(root, 'clusters/dev/argocd/addons.yaml', (docs) => {
    const keda = docs.find((doc) => doc.metadata?.name === 'keda')!;
    keda.spec.source.helm = { valuesObject: { permissions: { operator: { restrict: { secret: restricted } } } } };
    keda.spec.destination.namespace = namespace;
  });
}

/** Authenticates the version's postgresql trigger (its in-flight-workflows query) through `authenticationRef`. */
async function addPostgresTrigger(root: string, authenticationRef: Record<string, string>): Promise<void> {
  await editYaml(root, 'base/app-version/scaled-object.yaml', ([so]) => {
    const trigger = so!.spec.triggers.find((t: { type: string }) => t.type === 'postgresql');
    trigger.authenticationRef = authenticationRef;
  });
}

async function addToSecrets(root: string, file: string, doc: unknown): Promise<void> {
  await writeFile(path.join(root, 'overlays/dev/secrets', file), stringify(doc));
  await editYaml(root, 'overlays/dev/secrets/kustomization.yaml', ([k]) => {
    k!.resources.push(file);
  });
}

describe('keda-restricted-secret-auth', () => {
  it("flags a namespaced TriggerAuthentication and the trigger using it while KEDA's Secret access is restricted, and only then", async () => {
    const root = await freshRepo();
    await addToSecrets(root, 'trigger-auth.yaml', {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'TriggerAuthentication',
      metadata: { name: 'drain-reader' },
      spec: { secretTargetRef: [{ parameter: 'connection', name: 'conductor', key: 'api-key' }] },
    });
    await addPostgresTrigger(root, { name: 'drain-reader' });
    await installKeda(root, false);
    expect((await validateRepo({ root })).violations).toEqual([]);

    await installKeda(root, true);
    const violations = await violationsOnly(root, 'keda-restricted-secret-auth');
    expect(violations.map((v) => [v.file, v.object])).toEqual([
      ['base/app-version/scaled-object.yaml', 'ScaledObject/dbos/dbos-app-1-0-0'],
      ['overlays/dev/secrets/trigger-auth.yaml', 'TriggerAuthentication/dbos/drain-reader'],
    ]);
    expect(violations[0]!.message).toContain('trigger 0 authenticates through TriggerAuthentication/drain-reader');
    expect(violations[1]!.message).toContain('KEDA_RESTRICT_SECRET_ACCESS');
    expect(violations[1]!.message).toContain('kedacore/keda#3668');
    expect(violations[1]!.fix).toContain('ClusterTriggerAuthentication');
  });

  it("flags a ClusterTriggerAuthentication whose Secret is not in KEDA's namespace", async () => {
    const root = await freshRepo();
    await addToSecrets(root, 'cluster-trigger-auth.yaml', {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ClusterTriggerAuthentication',
      metadata: { name: 'drain-reader' },
      spec: { secretTargetRef: [{ parameter: 'connection', name: 'conductor', key: 'api-key' }] },
    });
    await addPostgresTrigger(root, { name: 'drain-reader', kind: 'ClusterTriggerAuthentication' });
    // KEDA running in dbos would find the fixture's SealedSecret there: the rule follows KEDA's namespace.
    await installKeda(root, true, 'dbos');
    expect((await validateRepo({ root })).violations).toEqual([]);

    await installKeda(root, true, 'keda');
    const [v, ...rest] = await violationsOnly(root, 'keda-restricted-secret-auth');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'overlays/dev/secrets/cluster-trigger-auth.yaml', object: 'ClusterTriggerAuthentication/dbos/drain-reader' });
    expect(v!.message).toContain("renders no such SealedSecret in KEDA's namespace keda");
    expect(v!.fix).toContain('pnpm secrets:seal --env dev --name conductor --namespace keda --key api-key');
  });
});

/** The in-cluster bot as base/bot ships it, reduced to what the rules read. */
function botFiles(automount: boolean | undefined): Record<string, string> {
  const image = 'ghcr.io/example/bot:0.1.0';
  return {
    'overlays/dev/bot/kustomization.yaml': stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['cron-job.yaml'],
      labels: [{ pairs: { 'dbos.dev/stage': 'workloads' }, includeSelectors: false }],
    }),
    'overlays/dev/bot/cron-job.yaml': stringify({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'gitops-bot' },
      spec: {
        schedule: '43 * * * *',
        jobTemplate: {
          spec: {
            template: {
              metadata: { labels: { app: 'gitops-bot' } },
              spec: {
                restartPolicy: 'Never',
                ...(automount === undefined ? {} : { automountServiceAccountToken: automount }),
                securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
                containers: [
                  {
                    name: 'bot',
                    image: `${image}@${digestFor(image)}`,
                    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
                    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
                  },
                ],
              },
            },
          },
        },
      },
    }),
  };
}

async function withBot(root: string, automount: boolean | undefined): Promise<void> {
  await writeFiles(root, botFiles(automount));
  await editYaml(root, 'overlays/dev/kustomization.yaml', ([k]) => {
    if (!k!.resources.includes('bot')) k!.resources.push('bot');
  });
}

const botConfig = (kube: boolean) =>
  stringify({ version: 1, environments: [{ name: 'dev', overlay: './overlays/dev/', ...(kube ? { kube: { context: 'dev-admin' } } : {}) }] });

describe('bot-token-cluster-access', () => {
  it("flags a bot pod that gets Kubernetes' default token while the config gives it no cluster access", async () => {
    const root = await freshRepo();
    await withBot(root, undefined);
    await writeFiles(root, { '.github/gitops-bot.yaml': botConfig(false) });
    const [v, ...rest] = await violationsOnly(root, 'bot-token-cluster-access');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'overlays/dev/bot/cron-job.yaml', object: 'CronJob/dbos/gitops-bot' });
    expect(v!.message).toContain('mounts a ServiceAccount token, but .github/gitops-bot.yaml gives environment "dev" no cluster access (no kube:)');
    expect(v!.message).toContain('automountServiceAccountToken is false');
    expect(v!.fix).toContain('automountServiceAccountToken: false');

    await withBot(root, false);
    expect((await validateRepo({ root })).violations).toEqual([]);
  });

  it('with kube: in the config, requires the token and the API-server egress, and accepts both', async () => {
    const root = await freshRepo();
    await withBot(root, false);
    await writeFiles(root, { '.github/gitops-bot.yaml': botConfig(true) });
    const [noToken] = await violationsOnly(root, 'bot-token-cluster-access');
    expect(noToken!.message).toContain('gives environment "dev" cluster access (kube:), but this pod mounts no ServiceAccount token');
    expect(noToken!.fix).toContain('base/components/bot-cluster-access');

    await withBot(root, true);
    const [noEgress] = await violationsOnly(root, 'bot-token-cluster-access');
    expect(noEgress!.message).toContain('no NetworkPolicy in overlays/dev lets the bot reach the API server');

    await editYaml(root, NP_FILE, (docs) => {
      docs.push({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'allow-gitops-bot-api-server-egress' },
        spec: {
          podSelector: { matchLabels: { app: 'gitops-bot' } },
          policyTypes: ['Egress'],
          egress: [{ to: [{ ipBlock: { cidr: '10.96.0.0/24' } }], ports: [{ protocol: 'TCP', port: 6443 }] }],
        },
      });
    });
    expect((await validateRepo({ root })).violations).toEqual([]);
  });

  it('names the config file when it cannot be read as the bot config', async () => {
    const root = await freshRepo();
    await withBot(root, false);
    await writeFiles(root, { '.github/gitops-bot.yaml': 'version: 1\nenvironments:\n  - name: dev\n    overlay: overlays/dev\n    kube: yes-please\n' });
    const [v, ...rest] = await violationsOnly(root, 'bot-token-cluster-access');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: '.github/gitops-bot.yaml', object: 'environments' });
    expect(v!.message).toBe(".github/gitops-bot.yaml environments[0].kube is not a mapping, so the bot pods' token mounts cannot be checked against it");
  });
});
