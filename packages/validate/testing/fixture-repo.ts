/**
 * A minimal GitOps repository that passes every rule, written file by file so a test can break exactly one
 * thing. Used only by tests; everything secret-looking in it (digests, ciphertext) is generated at run time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { createFixtureRepo as createGitFixtureRepo, writeFixtureFiles } from '@dbos-gitops/testkit';
import type { Violation } from '../src/types.ts';
import { validateRepo } from '../src/validate.ts';

export function digestFor(name: string): string {
  return `sha256:${createHash('sha256').update(name).digest('hex')}`;
}

/** Random bytes in sealed-secrets' layout: uint16 length, RSA-2048 block, AES-GCM ciphertext and tag. */
export function fakeSealedValue(): string {
  const header = Buffer.alloc(2);
  header.writeUInt16BE(256);
  return Buffer.concat([header, randomBytes(256), randomBytes(24 + 16)]).toString('base64');
}

const SECURE_CONTAINER = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  readOnlyRootFilesystem: true,
};

const RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } };

function container(name: string, image: string, port: number, extra: Record<string, unknown> = {}) {
  const probe = { httpGet: { path: '/healthz', port } };
  return {
    name,
    image: `${image}@${digestFor(image)}`,
    ports: [{ containerPort: port }],
    readinessProbe: probe,
    livenessProbe: probe,
    resources: RESOURCES,
    securityContext: SECURE_CONTAINER,
    ...extra,
  };
}

function podSecurity() {
  return { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } };
}

function deployment(app: string, image: string, port: number) {
  const labels: Record<string, string> = { app };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: app, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app } },
      template: {
        metadata: { labels: { app } },
        spec: { securityContext: podSecurity(), containers: [container(app, image, port)] },
      },
    },
  };
}

function service(app: string, port: number, targetPort: number) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: app, labels: { app } },
    spec: { selector: { app }, ports: [{ name: 'http', port, targetPort }] },
  };
}

function networkPolicy(app: string, from: unknown[], port: number) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: `allow-${app}-ingress` },
    spec: { podSelector: { matchLabels: { app } }, policyTypes: ['Ingress'], ingress: [{ from, ports: [{ protocol: 'TCP', port }] }] },
  };
}

const INGRESS_NS = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } };
const KEDA_NS = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } } };
const pod = (app: string) => ({ podSelector: { matchLabels: { app } } });

function egressPolicy(name: string, podSelector: unknown, egress: unknown[]) {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name }, spec: { podSelector, policyTypes: ['Egress'], egress } };
}

const tcp = (port: number) => ({ protocol: 'TCP', port });
export const PUBLIC_INTERNET = {
  ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '100.64.0.0/10', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16'] },
};

/** The README's egress model: default deny, DNS for all, PostgreSQL for the database clients, the control plane's own flows. */
function egressPolicies(): unknown[] {
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'default-deny-egress' },
      spec: { podSelector: {}, policyTypes: ['Egress'] },
    },
    egressPolicy('allow-dns-egress', {}, [
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: [{ protocol: 'UDP', port: 53 }, tcp(53)],
      },
    ]),
    egressPolicy('allow-postgres-egress', { matchExpressions: [{ key: 'app', operator: 'In', values: ['conductor', 'dbos-app', 'dbos-migrate'] }] }, [
      { to: [{ ipBlock: { cidr: '10.1.0.0/16' } }], ports: [tcp(5432)] },
    ]),
    egressPolicy('allow-conductor-egress', pod('conductor').podSelector, [
      { to: [pod('dex')], ports: [tcp(5556)] },
      { to: [pod('conductor')], ports: [tcp(8090)] },
      { to: [PUBLIC_INTERNET], ports: [tcp(443)] },
    ]),
    egressPolicy('allow-console-egress', pod('console').podSelector, [{ to: [pod('conductor')], ports: [tcp(8090)] }]),
    egressPolicy('allow-dbos-app-egress', pod('dbos-app').podSelector, [{ to: [pod('conductor')], ports: [tcp(8090)] }]),
  ];
}

function yamlDocs(...docs: unknown[]): string {
  return docs.map((doc) => stringify(doc)).join('---\n');
}

function kustomization(fields: Record<string, unknown>): string {
  return stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', ...fields });
}

/** The application every object of dbos-app carries, on pod templates too, never in a selector (Deployment selectors are immutable). */
const APP_LABELS = [{ pairs: { 'dbos.dev/app': 'dbos-app' }, includeSelectors: false, includeTemplates: true }];

function stage(name: string) {
  return [{ pairs: { 'dbos.dev/stage': name }, includeSelectors: false }];
}

/** The KEDA query counting one application version's in-flight workflows (base/app-version/workload/scaled-object.yaml). */
export function inFlightQuery(app: string, version: string): string {
  return `SELECT count(*) FROM dbos.workflow_status WHERE status IN ('PENDING','ENQUEUED') AND application_version = '${version}' AND (application_name = '${app}' OR application_name IS NULL)`;
}

/** A version directory as the README describes it: base/app-version with a suffix, a label and a pinned image. */
export function versionFiles(slug: string, version: string, latest: boolean): Record<string, string> {
  const patches = [{ op: 'add', path: '/spec/template/spec/containers/0/env', value: [{ name: 'DBOS__APPVERSION', value: version }] }];
  const scaledPatches = [
    { op: 'replace', path: '/spec/scaleTargetRef/name', value: `dbos-app-${slug}` },
    { op: 'replace', path: '/spec/triggers/0/metadata/query', value: inFlightQuery('dbos-app', version) },
    ...(latest
      ? [
          // Its metrics-api trigger polls the routing-stage dbos-app Service, so it syncs with it (components/app-latest).
          { op: 'replace', path: '/metadata/labels/dbos.dev~1stage', value: 'routing' },
          { op: 'replace', path: '/spec/minReplicaCount', value: 1 },
          {
            op: 'add',
            path: '/spec/triggers/-',
            value: { type: 'metrics-api', metadata: { url: 'http://dbos-app:8080/metrics/work', valueLocation: 'queue_length', targetValue: '4' } },
          },
        ]
      : []),
  ];
  return {
    [`overlays/dev/app-versions/${slug}/kustomization.yaml`]: kustomization({
      resources: ['../../../../base/app-version'],
      nameSuffix: `-${slug}`,
      labels: [{ pairs: { 'dbos.dev/app-version': slug }, includeSelectors: true, includeTemplates: true }],
      images: [{ name: 'ghcr.io/example/app', newTag: version, digest: digestFor(`app:${version}`) }],
      patches: [
        { path: 'version.patch.yaml', target: { kind: 'Deployment' } },
        { path: 'scaling.patch.yaml', target: { kind: 'ScaledObject' } },
      ],
    }),
    [`overlays/dev/app-versions/${slug}/version.patch.yaml`]: stringify(patches),
    [`overlays/dev/app-versions/${slug}/scaling.patch.yaml`]: stringify(scaledPatches),
  };
}

function argoAddon(name: string, source: Record<string, string>) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name, namespace: 'argocd', annotations: { 'argocd.argoproj.io/sync-wave': '-1' } },
    spec: {
      project: 'default',
      source,
      destination: { server: 'https://kubernetes.default.svc', namespace: name },
      syncPolicy: { automated: { prune: true, selfHeal: true } },
    },
  };
}

function readyExpr(apiVersion: string, kind: string, condition: string) {
  return {
    apiVersion,
    kind,
    failed: `status.conditions.exists(e, e.type == '${condition}' && e.status == 'False')`,
    current: `status.conditions.exists(e, e.type == '${condition}' && e.status == 'True')`,
  };
}

export function fixtureFiles(): Record<string, string> {
  const appDeployment = deployment('dbos-app', 'ghcr.io/example/app:0.0.0', 8080);
  delete (appDeployment.spec as { replicas?: number }).replicas;
  appDeployment.metadata.labels = { app: 'dbos-app', 'dbos.dev/stage': 'workloads' };
  const migrate = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'dbos-migrate', labels: { app: 'dbos-migrate', 'dbos.dev/stage': 'migrations' } },
    spec: {
      backoffLimit: 3,
      template: {
        metadata: { labels: { app: 'dbos-migrate' } },
        spec: {
          restartPolicy: 'OnFailure',
          securityContext: podSecurity(),
          containers: [
            {
              name: 'migrate',
              image: `ghcr.io/example/migrate:1.0.0@${digestFor('ghcr.io/example/migrate:1.0.0')}`,
              args: ['migrate', '--app-role', 'dbos_app'],
              env: [{ name: 'DBOS_SYSTEM_DATABASE_URL', valueFrom: { secretKeyRef: { name: 'postgres-admin', key: 'database-url' } } }],
              resources: RESOURCES,
              securityContext: SECURE_CONTAINER,
            },
          ],
        },
      },
    },
  };
  const scaledObject = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'dbos-app', labels: { 'dbos.dev/stage': 'workloads' } },
    spec: {
      scaleTargetRef: { name: 'dbos-app' },
      minReplicaCount: 0,
      maxReplicaCount: 10,
      // The version-scoped trigger: each version directory writes its own version into the query.
      triggers: [{ type: 'postgresql', metadata: { query: inFlightQuery('dbos-app', 'UNSET'), targetQueryValue: '2' } }],
    },
  };
  return {
    'base/namespace/kustomization.yaml': kustomization({ resources: ['namespace.yaml'], labels: stage('foundation') }),
    'base/namespace/namespace.yaml': yamlDocs({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'dbos', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    }),
    'base/conductor/kustomization.yaml': kustomization({ resources: ['deployment.yaml', 'service.yaml'], labels: stage('workloads') }),
    'base/conductor/deployment.yaml': yamlDocs(deployment('conductor', 'dbosdev/conductor:1.2.0', 8090)),
    'base/conductor/service.yaml': yamlDocs(service('conductor', 8090, 8090)),
    'base/console/kustomization.yaml': kustomization({ resources: ['deployment.yaml', 'service.yaml'], labels: stage('workloads') }),
    'base/console/deployment.yaml': yamlDocs(deployment('console', 'dbosdev/console:1.2.0', 8080)),
    'base/console/service.yaml': yamlDocs(service('console', 80, 8080)),
    'base/dex/kustomization.yaml': kustomization({ resources: ['deployment.yaml', 'service.yaml'], labels: stage('workloads') }),
    'base/dex/deployment.yaml': yamlDocs(deployment('dex', 'ghcr.io/dexidp/dex:v2.45.1', 5556)),
    'base/dex/service.yaml': yamlDocs(service('dex', 5556, 5556)),
    'base/app-version/kustomization.yaml': kustomization({
      resources: ['deployment.yaml', 'scaled-object.yaml', 'pod-disruption-budget.yaml'],
    }),
    'base/app-version/pod-disruption-budget.yaml': yamlDocs({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'dbos-app', labels: { 'dbos.dev/stage': 'workloads' } },
      spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'dbos-app' } } },
    }),
    'base/app-version/deployment.yaml': yamlDocs(appDeployment),
    // One schema migration per environment, not one per version (README "What happens on a fresh cluster").
    'base/app-version/migration/kustomization.yaml': kustomization({ resources: ['migrate-job.yaml'], labels: APP_LABELS }),
    'base/app-version/migration/migrate-job.yaml': yamlDocs(migrate),
    'base/app-version/scaled-object.yaml': yamlDocs(scaledObject),
    'base/network-policies/kustomization.yaml': kustomization({ resources: ['network-policies.yaml'], labels: stage('foundation') }),
    'base/network-policies/network-policies.yaml': yamlDocs(
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'default-deny-ingress' },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      },
      networkPolicy('conductor', [INGRESS_NS, pod('console'), pod('dbos-app'), pod('conductor')], 8090),
      networkPolicy('console', [INGRESS_NS], 8080),
      networkPolicy('dex', [INGRESS_NS, pod('conductor')], 5556),
      networkPolicy('dbos-app', [INGRESS_NS, KEDA_NS], 8080),
      ...egressPolicies(),
    ),
    'base/components/sync-waves/kustomization.yaml': stringify({
      apiVersion: 'kustomize.config.k8s.io/v1alpha1',
      kind: 'Component',
      patches: Object.entries({ foundation: '-2', migrations: '-1', workloads: '0', routing: '1' }).map(([name, wave]) => ({
        target: { labelSelector: `dbos.dev/stage=${name}` },
        patch: stringify({ apiVersion: 'v1', kind: 'Wave', metadata: { name, annotations: { 'argocd.argoproj.io/sync-wave': wave } } }),
      })),
    }),
    'overlays/dev/kustomization.yaml': kustomization({
      namespace: 'dbos',
      components: ['../../base/components/sync-waves'],
      resources: [
        '../../base/namespace',
        '../../base/conductor',
        '../../base/console',
        '../../base/dex',
        '../../base/network-policies',
        'secrets',
        'routing',
        'app-versions',
        '../../base/app-version/migration',
      ],
    }),
    'overlays/dev/secrets/kustomization.yaml': kustomization({ resources: ['conductor.sealed.yaml'], labels: stage('foundation') }),
    'overlays/dev/secrets/conductor.sealed.yaml': yamlDocs({
      apiVersion: 'bitnami.com/v1alpha1',
      kind: 'SealedSecret',
      metadata: { name: 'conductor', namespace: 'dbos' },
      spec: {
        encryptedData: { 'api-key': fakeSealedValue() },
        template: { metadata: { name: 'conductor', namespace: 'dbos' }, type: 'Opaque' },
      },
    }),
    'overlays/dev/routing/kustomization.yaml': kustomization({ resources: ['ingress.yaml'], labels: stage('routing') }),
    'overlays/dev/routing/ingress.yaml': yamlDocs({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {
        name: 'conductor',
        annotations: {
          'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
          'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
        },
      },
      spec: {
        ingressClassName: 'nginx',
        rules: [
          {
            host: 'dbos.example.test',
            http: { paths: [{ path: '/conductor', pathType: 'Prefix', backend: { service: { name: 'conductor', port: { number: 8090 } } } }] },
          },
        ],
      },
    }),
    'overlays/dev/app-versions/kustomization.yaml': kustomization({ resources: ['1-0-0', 'service.yaml'], labels: APP_LABELS }),
    'overlays/dev/app-versions/service.yaml': yamlDocs({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dbos-app', labels: { app: 'dbos-app', 'dbos.dev/stage': 'routing' } },
      spec: { selector: { app: 'dbos-app', 'dbos.dev/app-version': '1-0-0' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] },
    }),
    ...versionFiles('1-0-0', '1.0.0', true),
    'clusters/dev/argocd/kustomization.yaml': kustomization({ resources: ['application.yaml', 'addons.yaml', 'argocd-cm.yaml'] }),
    // The add-ons whose CRDs the overlay uses, in an earlier wave; one from a Helm repository, one from OCI.
    'clusters/dev/argocd/addons.yaml': yamlDocs(
      argoAddon('sealed-secrets', { repoURL: 'https://bitnami-labs.github.io/sealed-secrets', chart: 'sealed-secrets', targetRevision: '2.17.8' }),
      argoAddon('keda', { repoURL: 'oci://ghcr.io/example/charts/keda', path: '.', targetRevision: '2.21.1' }),
    ),
    'clusters/dev/argocd/argocd-cm.yaml': yamlDocs({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'argocd-cm', namespace: 'argocd' },
      data: { 'resource.customizations.health.argoproj.io_Application': 'hs = { status = "Progressing" }\nreturn hs\n' },
    }),
    'clusters/dev/argocd/application.yaml': yamlDocs({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'dbos-dev', namespace: 'argocd' },
      spec: {
        project: 'default',
        source: { repoURL: 'https://github.com/example/gitops.git', targetRevision: 'main', path: 'overlays/dev' },
        destination: { server: 'https://kubernetes.default.svc', namespace: 'dbos' },
        syncPolicy: { automated: { prune: true, selfHeal: true } },
      },
    }),
    'clusters/dev/flux/kustomization.yaml': kustomization({ resources: ['sync.yaml'] }),
    'clusters/dev/flux/sync.yaml': yamlDocs(
      {
        apiVersion: 'source.toolkit.fluxcd.io/v1',
        kind: 'GitRepository',
        metadata: { name: 'gitops', namespace: 'flux-system' },
        spec: { interval: '5m', url: 'https://github.com/example/gitops.git', ref: { branch: 'main' } },
      },
      {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name: 'infra', namespace: 'flux-system' },
        spec: { interval: '1h', path: './clusters/dev/flux/infrastructure', prune: true, wait: true, sourceRef: { kind: 'GitRepository', name: 'gitops' } },
      },
      {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name: 'dbos', namespace: 'flux-system' },
        spec: {
          dependsOn: [{ name: 'infra' }],
          interval: '10m',
          path: './overlays/dev',
          prune: true,
          wait: true,
          sourceRef: { kind: 'GitRepository', name: 'gitops' },
          ignore: [{ paths: ['/spec/replicas'], target: { kind: 'Deployment', labelSelector: 'app=dbos-app' } }],
          healthCheckExprs: [readyExpr('bitnami.com/v1alpha1', 'SealedSecret', 'Synced'), readyExpr('keda.sh/v1alpha1', 'ScaledObject', 'Ready')],
        },
      },
    ),
    // What Kustomization/infra applies: the add-on HelmReleases, one from a HelmRepository, one through chartRef.
    'clusters/dev/flux/infrastructure/kustomization.yaml': kustomization({ resources: ['helm-releases.yaml'] }),
    'clusters/dev/flux/infrastructure/helm-releases.yaml': yamlDocs(
      {
        apiVersion: 'helm.toolkit.fluxcd.io/v2',
        kind: 'HelmRelease',
        metadata: { name: 'sealed-secrets', namespace: 'kube-system' },
        spec: {
          interval: '1h',
          chart: { spec: { chart: 'sealed-secrets', version: '2.17.8', sourceRef: { kind: 'HelmRepository', name: 'sealed-secrets' } } },
        },
      },
      {
        apiVersion: 'source.toolkit.fluxcd.io/v1',
        kind: 'OCIRepository',
        metadata: { name: 'keda', namespace: 'flux-system' },
        spec: { interval: '24h', url: 'oci://ghcr.io/example/charts/keda', ref: { tag: '2.21.1' } },
      },
      {
        apiVersion: 'helm.toolkit.fluxcd.io/v2',
        kind: 'HelmRelease',
        metadata: { name: 'keda', namespace: 'keda' },
        spec: { interval: '1h', chartRef: { kind: 'OCIRepository', name: 'keda', namespace: 'flux-system' } },
      },
    ),
  };
}

/** Flux stage entry points: the overlay with every object of another stage deleted. */
export function fluxStageFiles(stages: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    stages.map((stage) => [
      `clusters/dev/flux/stages/${stage}/kustomization.yaml`,
      kustomization({
        resources: ['../../../../../overlays/dev'],
        patches: [
          {
            target: { labelSelector: `dbos.dev/stage!=${stage}` },
            patch: stringify({ $patch: 'delete', apiVersion: 'v1', kind: 'Stage', metadata: { name: `not-${stage}` } }),
          },
        ],
      }),
    ]),
  );
}

/** Writes (overwrites) files of a fixture repository; testkit's writer, under the name validate's tests use. */
export const writeFiles: (root: string, files: Record<string, string>) => Promise<void> = writeFixtureFiles;

/**
 * Writes the clean fixture into a fresh temp directory, a git repository (testkit's builder) so the scan lists files
 * the real way. Returns its root; the caller removes it.
 */
export async function createFixtureRepo(): Promise<string> {
  return (await createGitFixtureRepo(fixtureFiles())).root;
}

/** A private copy of a fixture repository (its git history included) for one test to break; the caller removes it. */
export async function copyRepo(source: string): Promise<string> {
  return (await createGitFixtureRepo({}, { copyOf: source })).root;
}

/** Parses a (multi-document) YAML file, lets the test change the documents, writes it back. */
export async function editYaml(root: string, relative: string, edit: (docs: Array<Record<string, any>>) => void): Promise<void> {
  const file = path.join(root, relative);
  const docs = parseAllDocuments(await readFile(file, 'utf8')).map((doc) => doc.toJS() as Record<string, any>);
  edit(docs);
  await writeFile(file, yamlDocs(...docs));
}

/**
 * For a test file: builds the clean fixture once (beforeAll), hands out a private copy per test, and removes every
 * copy after the file (afterAll). Returns the function that makes a fresh copy.
 */
export function useFixtureRepos(): () => Promise<string> {
  let template = '';
  const created: string[] = [];
  beforeAll(async () => {
    template = await createFixtureRepo();
    created.push(template);
  });
  afterAll(async () => {
    await Promise.all(created.map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async () => {
    const root = await copyRepo(template);
    created.push(root);
    return root;
  };
}

/** Runs the whole validator and insists that the break tripped only the rule under test (and tripped it). */
export async function violationsOnly(root: string, rule: string): Promise<Violation[]> {
  const result = await validateRepo({ root });
  expect(
    result.violations.map((v) => v.rule),
    JSON.stringify(result.violations, null, 2),
  ).toEqual(result.violations.map(() => rule));
  expect(result.violations.length).toBeGreaterThan(0);
  return result.violations;
}
