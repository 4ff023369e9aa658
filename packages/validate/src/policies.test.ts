import { generateKeyPairSync } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { useFixtureRepos, violationsOnly, editYaml, fluxStageFiles, versionFiles, writeFiles } from '../testing/fixture-repo.ts';
import { validateRepo } from './validate.ts';

const freshRepo = useFixtureRepos();

describe('the clean fixture', () => {
  it("renders every entry point, names each object's source file and passes every rule", async () => {
    const result = await validateRepo({ root: await freshRepo() });
    expect(result.violations).toEqual([]);
    expect(result.renders.map((r) => [r.id, r.kind, r.originAnnotations])).toEqual([
      ['overlays/dev', 'overlay', true],
      ['clusters/dev/argocd', 'argocd', true],
      ['clusters/dev/flux', 'flux', true],
    ]);
    expect(result.objects).toBe(32);
  });
});

describe('probes', () => {
  it('flags a Deployment container without a liveness probe, and leaves Jobs alone', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/conductor/deployment.yaml', ([d]) => {
      delete d!.spec.template.spec.containers[0].livenessProbe;
    });
    const [v, ...rest] = await violationsOnly(root, 'probes');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/conductor/deployment.yaml', object: 'Deployment/dbos/conductor' });
    expect(v!.message).toBe('container "conductor" has no livenessProbe');
    expect(v!.fix).toContain('livenessProbe');
    expect(v!.fix).toContain('spec.template.spec.containers[name=conductor]');
  });
});

describe('resources', () => {
  it('flags a missing memory limit on a Job and an init container without resources', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/app-version/migration/migrate-job.yaml', ([job]) => {
      delete job!.spec.template.spec.containers[0].resources.limits.memory;
    });
    await editYaml(root, 'base/dex/deployment.yaml', ([d]) => {
      const main = d!.spec.template.spec.containers[0];
      d!.spec.template.spec.initContainers = [{ name: 'wait-db', image: main.image, securityContext: main.securityContext }];
    });
    const violations = await violationsOnly(root, 'resources');
    expect(violations.map((v) => [v.file, v.object, v.message])).toEqual([
      ['base/app-version/migration/migrate-job.yaml', 'Job/dbos/dbos-migrate', 'container "migrate" does not set resources limits.memory'],
      [
        'base/dex/deployment.yaml',
        'Deployment/dbos/dex',
        'init container "wait-db" does not set resources requests.cpu, requests.memory, limits.cpu, limits.memory',
      ],
    ]);
    expect(violations[1]!.fix).toContain('spec.template.spec.initContainers[name=wait-db]');
  });
});

describe('non-root', () => {
  it('lets a container-level runAsNonRoot: false override the pod-level true', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/console/deployment.yaml', ([d]) => {
      d!.spec.template.spec.containers[0].securityContext.runAsNonRoot = false;
    });
    const [v, ...rest] = await violationsOnly(root, 'non-root');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/console/deployment.yaml', object: 'Deployment/dbos/console' });
    expect(v!.message).toBe('container "console" sets runAsNonRoot: false');
    expect(v!.fix).toContain('runAsNonRoot: true');
  });

  it('flags a pod that sets runAsNonRoot nowhere', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/dex/deployment.yaml', ([d]) => {
      delete d!.spec.template.spec.securityContext.runAsNonRoot;
    });
    const [v] = await violationsOnly(root, 'non-root');
    expect(v!.object).toBe('Deployment/dbos/dex');
    expect(v!.message).toContain('neither the pod nor the container sets it');
  });
});

describe('non-root: seccomp profile (restricted Pod Security)', () => {
  it('flags a pod with no seccomp profile at either level', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/dex/deployment.yaml', ([d]) => {
      delete d!.spec.template.spec.securityContext.seccompProfile;
    });
    const [v, ...rest] = await violationsOnly(root, 'non-root');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/dex/deployment.yaml', object: 'Deployment/dbos/dex' });
    expect(v!.message).toBe('container "dex" has no seccomp profile (neither the pod nor the container sets securityContext.seccompProfile)');
    expect(v!.fix).toContain('seccompProfile.type: RuntimeDefault');
  });

  it('flags a container that overrides the pod with Unconfined, and accepts Localhost on the container alone', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/console/deployment.yaml', ([d]) => {
      d!.spec.template.spec.containers[0].securityContext.seccompProfile = { type: 'Unconfined' };
    });
    await editYaml(root, 'base/conductor/deployment.yaml', ([d]) => {
      delete d!.spec.template.spec.securityContext.seccompProfile;
      d!.spec.template.spec.containers[0].securityContext.seccompProfile = { type: 'Localhost', localhostProfile: 'profiles/conductor.json' };
    });
    const [v, ...rest] = await violationsOnly(root, 'non-root');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/console/deployment.yaml', object: 'Deployment/dbos/console' });
    expect(v!.message).toBe('container "console" has seccomp profile "Unconfined", which the restricted profile rejects');
  });
});

describe('no-privilege-escalation', () => {
  it('flags allowPrivilegeEscalation: true', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/dex/deployment.yaml', ([d]) => {
      d!.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
    });
    const [v, ...rest] = await violationsOnly(root, 'no-privilege-escalation');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/dex/deployment.yaml', object: 'Deployment/dbos/dex' });
    expect(v!.message).toBe('container "dex" does not set allowPrivilegeEscalation: false');
    expect(v!.fix).toContain('allowPrivilegeEscalation: false');
  });
});

describe('capabilities-dropped', () => {
  it('flags a container that drops some capabilities but not ALL', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/console/deployment.yaml', ([d]) => {
      d!.spec.template.spec.containers[0].securityContext.capabilities.drop = ['NET_RAW'];
    });
    const [v, ...rest] = await violationsOnly(root, 'capabilities-dropped');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/console/deployment.yaml', object: 'Deployment/dbos/console' });
    expect(v!.message).toBe('container "console" does not drop ALL capabilities');
    expect(v!.fix).toContain('capabilities.drop: ["ALL"]');
  });
});

describe('image-pinned', () => {
  it('flags a latest tag and a missing digest', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/conductor/deployment.yaml', ([d]) => {
      const c = d!.spec.template.spec.containers[0];
      c.image = c.image.replace(':1.2.0@', ':latest@');
    });
    await editYaml(root, 'overlays/dev/app-versions/1-0-0/kustomization.yaml', ([k]) => {
      delete k!.images[0].digest;
    });
    const violations = await violationsOnly(root, 'image-pinned');
    expect(violations.map((v) => [v.file, v.object])).toEqual([
      ['base/app-version/deployment.yaml', 'Deployment/dbos/dbos-app-1-0-0'],
      ['base/conductor/deployment.yaml', 'Deployment/dbos/conductor'],
    ]);
    expect(violations[1]!.message).toContain('uses the tag "latest"');
    expect(violations[0]!.message).toBe('container "dbos-app" image "ghcr.io/example/app:1.0.0" has no @sha256 digest');
    expect(violations[0]!.fix).toContain('@sha256:<digest>');
  });
});

describe('no-plain-secret', () => {
  it('flags a rendered kind: Secret even when it carries no data', async () => {
    const root = await freshRepo();
    await writeFile(
      path.join(root, 'overlays/dev/secrets/plain.yaml'),
      stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'plain' }, type: 'Opaque' }),
    );
    await editYaml(root, 'overlays/dev/secrets/kustomization.yaml', ([k]) => {
      k!.resources.push('plain.yaml');
    });
    const [v, ...rest] = await violationsOnly(root, 'no-plain-secret');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'overlays/dev/secrets/plain.yaml', object: 'Secret/dbos/plain' });
    expect(v!.message).toContain('a plain Secret is rendered by overlays/dev');
    expect(v!.fix).toContain('SealedSecret');
  });
});

const NP_FILE = 'base/network-policies/network-policies.yaml';

describe('network-policy-matrix', () => {
  it('names a missing flow and an extra flow', async () => {
    const root = await freshRepo();
    await editYaml(root, NP_FILE, (docs) => {
      const conductor = docs.find((d) => d.metadata.name === 'allow-conductor-ingress')!;
      const from = conductor.spec.ingress[0].from as Array<Record<string, any>>;
      conductor.spec.ingress[0].from = [
        ...from.filter((peer) => peer.podSelector?.matchLabels?.app !== 'console'),
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } } },
      ];
    });
    const violations = await violationsOnly(root, 'network-policy-matrix');
    expect(violations.map((v) => [v.file, v.object, v.message])).toEqual([
      [
        NP_FILE,
        'NetworkPolicy/dbos/allow-conductor-ingress',
        'allows the flow "keda namespace → conductor:8090", which is not in the Conductor guide\'s allow matrix',
      ],
      [
        'overlays/dev/kustomization.yaml',
        'NetworkPolicy/*',
        'overlays/dev is missing the allowed flow "console pod → conductor:8090", so that traffic is dropped by the default deny',
      ],
    ]);
  });

  it('requires the default-deny ingress policy', async () => {
    const root = await freshRepo();
    await editYaml(root, NP_FILE, (docs) => {
      docs.splice(
        docs.findIndex((d) => d.metadata.name === 'default-deny-ingress'),
        1,
      );
    });
    const [v, ...rest] = await violationsOnly(root, 'network-policy-matrix');
    expect(rest).toEqual([]);
    expect(v!.message).toContain('has no default-deny ingress NetworkPolicy');
    expect(v!.fix).toContain('podSelector: {}');
  });

  it('accepts envoy-gateway-system as the ingress-controller namespace', async () => {
    const root = await freshRepo();
    const original = await readFile(path.join(root, NP_FILE), 'utf8');
    await writeFile(
      path.join(root, NP_FILE),
      original.replaceAll('kubernetes.io/metadata.name: ingress-nginx', 'kubernetes.io/metadata.name: envoy-gateway-system'),
    );
    const result = await validateRepo({ root, only: 'network-policy-matrix' });
    expect(result.violations).toEqual([]);
  });
});

const INGRESS_FILE = 'overlays/dev/routing/ingress.yaml';

async function useHttpRoute(root: string, timeouts: Record<string, string> | undefined): Promise<void> {
  const route = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'conductor' },
    spec: {
      parentRefs: [{ name: 'dbos', namespace: 'envoy-gateway-system' }],
      hostnames: ['dbos.example.test'],
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/dex' } }], backendRefs: [{ name: 'dex', port: 5556 }] },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/conductor' } }],
          backendRefs: [{ name: 'conductor', port: 8090 }],
          ...(timeouts ? { timeouts } : {}),
        },
      ],
    },
  };
  await writeFile(path.join(root, INGRESS_FILE), stringify(route));
  // HTTPRoute is a CRD: the Gateway API implementation's chart installs it before the overlay syncs (crd-installed).
  await editYaml(root, 'clusters/dev/argocd/addons.yaml', (docs) => {
    if (docs.some((d) => d.metadata.name === 'envoy-gateway')) return;
    docs.push({
      ...docs[0],
      metadata: { ...docs[0]!.metadata, name: 'envoy-gateway' },
      spec: { ...docs[0]!.spec, source: { repoURL: 'oci://registry-1.docker.io/envoyproxy/gateway-helm', path: '.', targetRevision: 'v1.8.4' } },
    });
  });
  await editYaml(root, 'clusters/dev/flux/infrastructure/helm-releases.yaml', (docs) => {
    if (docs.some((d) => d.metadata.name === 'envoy-gateway')) return;
    docs.push({
      ...docs[0],
      metadata: { name: 'envoy-gateway', namespace: 'envoy-gateway-system' },
      spec: { interval: '1h', chart: { spec: { chart: 'gateway-helm', version: 'v1.8.4', sourceRef: { kind: 'HelmRepository', name: 'envoy-gateway' } } } },
    });
  });
}

describe('websocket-timeouts', () => {
  it('flags an Ingress to conductor with a short read timeout and no send timeout', async () => {
    const root = await freshRepo();
    await editYaml(root, INGRESS_FILE, ([ing]) => {
      ing!.metadata.annotations = { 'nginx.ingress.kubernetes.io/proxy-read-timeout': '60' };
    });
    const violations = await violationsOnly(root, 'websocket-timeouts');
    expect(violations.map((v) => [v.file, v.object])).toEqual([
      [INGRESS_FILE, 'Ingress/dbos/conductor'],
      [INGRESS_FILE, 'Ingress/dbos/conductor'],
    ]);
    expect(violations[0]!.message).toContain('proxy-read-timeout: "60", below 3600 seconds');
    expect(violations[1]!.message).toContain('without nginx.ingress.kubernetes.io/proxy-send-timeout');
    expect(violations[1]!.fix).toContain('"3600"');
  });

  it('checks HTTPRoute rule timeouts in Gateway API duration format', async () => {
    const root = await freshRepo();
    await useHttpRoute(root, { request: '30m' });
    const [v, ...rest] = await violationsOnly(root, 'websocket-timeouts');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: INGRESS_FILE, object: 'HTTPRoute/dbos/conductor' });
    expect(v!.message).toContain('rule 1 routes to the conductor service with timeouts.request: "30m"');
    expect(v!.fix).toContain('spec.rules[1].timeouts.request: "3600s"');

    await useHttpRoute(root, { request: '0s' });
    expect((await validateRepo({ root })).violations).toEqual([]);
    await useHttpRoute(root, { request: '1h', backendRequest: '1h30m' });
    expect((await validateRepo({ root })).violations).toEqual([]);
    await useHttpRoute(root, { request: '2h', backendRequest: '59m59s' });
    const [backend] = (await validateRepo({ root })).violations;
    expect(backend!.message).toContain('timeouts.backendRequest: "59m59s"');
  });

  it('requires at least one route to conductor per overlay', async () => {
    const root = await freshRepo();
    await editYaml(root, INGRESS_FILE, ([ing]) => {
      ing!.spec.rules[0].http.paths[0].backend.service = { name: 'console', port: { number: 80 } };
    });
    const [v, ...rest] = await violationsOnly(root, 'websocket-timeouts');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'overlays/dev/kustomization.yaml' });
    expect(v!.message).toContain('has no Ingress path or HTTPRoute rule to the conductor service');
  });
});

describe('kubernetes-secret-scan', () => {
  it('finds a private key in an untracked, non-ignored file', async () => {
    const root = await freshRepo();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await writeFile(path.join(root, 'overlays/dev/notes.txt'), `debug material\n${pem}`);
    const [v, ...rest] = await violationsOnly(root, 'kubernetes-secret-scan');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'overlays/dev/notes.txt', object: 'line 2', message: 'contains a private key block' });
    expect(v!.fix).toContain('only public certificates may be committed');
  });

  it('tells a test file to build its credential-shaped input at run time', async () => {
    const root = await freshRepo();
    const password = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }).toString('hex').slice(-12);
    await writeFiles(root, { 'tools/db.test.ts': `const url = 'postgresql://app:${password}@127.0.0.1/db';\n` });
    const [v, ...rest] = await violationsOnly(root, 'kubernetes-secret-scan');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'tools/db.test.ts', object: 'line 1', message: 'contains a URL with an embedded password for user "app"' });
    expect(v!.fix).toContain('build the value at run time in the test');
  });

  it('skips files git ignores', async () => {
    const root = await freshRepo();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFiles(root, {
      '.gitignore': '*.key\n',
      'local/dev.key': privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    });
    expect((await validateRepo({ root, only: 'kubernetes-secret-scan' })).violations).toEqual([]);
  });
});

describe('app-replicas-unset', () => {
  it('flags spec.replicas on an app Deployment', async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/app-versions/1-0-0/version.patch.yaml', ([ops]) => {
      (ops as unknown as unknown[]).push({ op: 'add', path: '/spec/replicas', value: 3 });
    });
    const [v, ...rest] = await violationsOnly(root, 'app-replicas-unset');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/app-version/deployment.yaml', object: 'Deployment/dbos/dbos-app-1-0-0' });
    expect(v!.message).toContain('sets spec.replicas: 3');
    expect(v!.fix).toContain('remove spec.replicas');
  });
});

describe('app-version-complete', () => {
  it('flags a version Deployment without DBOS__APPVERSION', async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/app-versions/1-0-0/version.patch.yaml', ([ops]) => {
      (ops as any)[0].value = [{ name: 'LOG_LEVEL', value: 'info' }];
    });
    const [v, ...rest] = await violationsOnly(root, 'app-version-complete');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/app-version/deployment.yaml', object: 'Deployment/dbos/dbos-app-1-0-0' });
    expect(v!.message).toContain('does not set DBOS__APPVERSION');
    expect(v!.fix).toContain('overlays/dev/apps/dbos-app/versions/1-0-0/version.patch.yaml');
  });

  it("flags a ScaledObject that does not target its own version's Deployment", async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/app-versions/1-0-0/scaling.patch.yaml', ([ops]) => {
      (ops as any).shift();
    });
    const [v, ...rest] = await violationsOnly(root, 'app-version-complete');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/app-version/scaled-object.yaml', object: 'ScaledObject/dbos/dbos-app-1-0-0' });
    expect(v!.message).toBe('version "1-0-0" ScaledObject targets Deployment/dbos-app, not its own Deployment dbos-app-1-0-0');
    expect(v!.fix).toContain('overlays/dev/apps/dbos-app/versions/1-0-0/kustomization.yaml');
    expect(v!.fix).toContain('spec.scaleTargetRef.name to dbos-app-1-0-0');
  });

  it('flags a migration Job instantiated per version instead of once per environment', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/app-version/kustomization.yaml', ([k]) => {
      k!.resources.push('migration');
    });
    await editYaml(root, 'overlays/dev/kustomization.yaml', ([k]) => {
      k!.resources = k!.resources.filter((r: string) => r !== '../../base/app-version/migration');
    });
    const [v, ...rest] = await violationsOnly(root, 'app-version-complete');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/app-version/migration/migrate-job.yaml', object: 'Job/dbos/dbos-migrate-1-0-0' });
    expect(v!.message).toBe(
      'is a migration Job of version "1-0-0" of dbos-app; the system schema is shared by every version and is migrated once per application',
    );
    expect(v!.fix).toBe("keep base/app's migration Job once in overlays/dev/apps/dbos-app (not in base/app-version)");
  });

  it('flags an environment with no migration Job', async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/kustomization.yaml', ([k]) => {
      k!.resources = k!.resources.filter((r: string) => r !== '../../base/app-version/migration');
    });
    // Without its Job, dbos-migrate is no pod of this environment: its database allowance goes with it.
    await editYaml(root, 'base/network-policies/network-policies.yaml', (docs) => {
      const postgres = docs.find((d) => d.metadata.name === 'allow-postgres-egress')!;
      postgres.spec.podSelector.matchExpressions[0].values = ['conductor', 'dbos-app'];
    });
    const [v, ...rest] = await violationsOnly(root, 'app-version-complete');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'overlays/dev/apps/dbos-app/kustomization.yaml', object: 'overlays/dev dbos-app' });
    expect(v!.message).toBe('renders 0 migration Jobs for dbos-app (none); the application needs exactly one');
  });
});

describe('app-service', () => {
  it('flags a Service left on the previous version after a new latest version ships', async () => {
    const root = await freshRepo();
    await writeFiles(root, { ...versionFiles('1-0-0', '1.0.0', false), ...versionFiles('1-1-0', '1.1.0', true) });
    await editYaml(root, 'overlays/dev/app-versions/kustomization.yaml', ([k]) => {
      k!.resources = ['1-0-0', '1-1-0', 'service.yaml'];
    });
    const [v, ...rest] = await violationsOnly(root, 'app-service');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'overlays/dev/app-versions/service.yaml', object: 'Service/dbos/dbos-app' });
    expect(v!.message).toBe('selects version "1-0-0", which is not the latest of dbos-app (the latest carries the metrics-api trigger: 1-1-0)');
    expect(v!.fix).toContain('spec.selector.dbos.dev/app-version to "1-1-0"');
  });
});

describe('app-service with a traffic ramp', () => {
  const rampService = (slug: string) =>
    stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `dbos-app-${slug}`, labels: { app: 'dbos-app', 'dbos.dev/stage': 'routing' } },
      spec: { selector: { app: 'dbos-app', 'dbos.dev/app-version': slug }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] },
    });

  it("accepts a ramp's <app>-<slug> Service for a live version newer than the latest, and flags one for the latest or a version not live", async () => {
    const root = await freshRepo();
    // 1-0-0 stays the latest (selected, metrics-api trigger); 1-1-0 is live beside it and ramps.
    await writeFiles(root, { ...versionFiles('1-1-0', '1.1.0', false), 'overlays/dev/app-versions/ramp-service.yaml': rampService('1-1-0') });
    await editYaml(root, 'overlays/dev/app-versions/kustomization.yaml', ([k]) => {
      k!.resources = ['1-0-0', '1-1-0', 'service.yaml', 'ramp-service.yaml'];
    });
    // The whole validator, every rule: a ramp in progress is clean.
    expect((await validateRepo({ root })).violations).toEqual([]);

    await writeFiles(root, { 'overlays/dev/app-versions/ramp-service.yaml': rampService('1-0-0') });
    const [latest, ...rest] = await violationsOnly(root, 'app-service');
    expect(rest).toEqual([]);
    expect(latest).toMatchObject({ file: 'overlays/dev/app-versions/ramp-service.yaml', object: 'Service/dbos/dbos-app-1-0-0' });
    expect(latest!.message).toBe('is a ramp Service for version "1-0-0", which is already the latest of dbos-app: the ramp should have ended with the switch');

    await writeFiles(root, { 'overlays/dev/app-versions/ramp-service.yaml': rampService('2-0-0') });
    const [gone] = await violationsOnly(root, 'app-service');
    expect(gone!.message).toBe('is a ramp Service for version "2-0-0", which is not a live version of dbos-app (no Deployment in overlays/dev)');
  });
});

describe('stage-label', () => {
  it('flags an unknown stage and a SealedSecret outside the foundation stage', async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/routing/kustomization.yaml', ([k]) => {
      k!.labels[0].pairs['dbos.dev/stage'] = 'edge';
    });
    await editYaml(root, 'overlays/dev/secrets/kustomization.yaml', ([k]) => {
      k!.labels[0].pairs['dbos.dev/stage'] = 'workloads';
    });
    const violations = await violationsOnly(root, 'stage-label');
    expect(violations.map((v) => [v.file, v.object])).toEqual([
      [INGRESS_FILE, 'Ingress/dbos/conductor'],
      ['overlays/dev/secrets/conductor.sealed.yaml', 'SealedSecret/dbos/conductor'],
    ]);
    expect(violations[1]!.message).toContain('must be in stage "foundation"');
    expect(violations[0]!.message).toBe('has dbos.dev/stage: "edge", which is not one of foundation, migrations, workloads, routing');
  });
});

describe('sync-order', () => {
  it('flags a hand-written sync wave that contradicts the stage label', async () => {
    const root = await freshRepo();
    await editYaml(root, INGRESS_FILE, ([ing]) => {
      ing!.metadata.annotations['argocd.argoproj.io/sync-wave'] = '-3';
    });
    await editYaml(root, 'overlays/dev/kustomization.yaml', ([k]) => {
      delete k!.components;
    });
    await writeFiles(root, { 'overlays/dev/routing/kustomization.yaml': 'resources: [ingress.yaml]\nlabels: [{pairs: {dbos.dev/stage: routing}}]\n' });
    const violations = await violationsOnly(root, 'sync-order');
    const ingress = violations.find((v) => v.object === 'Ingress/dbos/conductor');
    expect(ingress?.message).toBe('has argocd.argoproj.io/sync-wave: "-3", but its stage "routing" means wave "1"');
    const job = violations.find((v) => v.object === 'Job/dbos/dbos-migrate');
    expect(job?.message).toContain('has no argocd.argoproj.io/sync-wave annotation');
    expect(job?.fix).toContain('base/components/sync-waves');
  });

  it('requires the Flux stage renders to cover every overlay object exactly once', async () => {
    const root = await freshRepo();
    await writeFiles(root, fluxStageFiles(['foundation', 'migrations', 'workloads', 'routing']));
    const complete = await validateRepo({ root });
    expect(complete.violations).toEqual([]);
    expect(complete.renders.filter((r) => r.kind === 'flux-stage').map((r) => [r.id.split('/').pop(), r.objects])).toEqual([
      ['foundation', 13], // Namespace, five ingress and six egress NetworkPolicies, the SealedSecret
      ['migrations', 1],
      ['routing', 3], // Ingress, Service/dbos-app, and the latest version's ScaledObject whose trigger polls that Service
      ['workloads', 8], // three control-plane Deployments and Services, the version's Deployment and PodDisruptionBudget
    ]);

    // Stage renders skip the origin wrapper and borrow the overlay's attribution by object identity.
    expect(complete.renders.filter((r) => r.kind === 'flux-stage').every((r) => r.originAnnotations)).toBe(true);

    await rm(path.join(root, 'clusters/dev/flux/stages/migrations'), { recursive: true });
    const [v, ...rest] = await violationsOnly(root, 'sync-order');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/app-version/migration/migrate-job.yaml', object: 'Job/dbos/dbos-migrate' });
    expect(v!.message).toBe(
      "is in overlays/dev but in no Flux stage (clusters/dev/flux/stages, or its application's chain under clusters/dev/flux/apps), so Flux never applies it",
    );
  });
});

describe('crd-installed', () => {
  it('flags a custom kind whose add-on Application is not in an earlier Argo CD wave', async () => {
    const root = await freshRepo();
    await editYaml(root, 'clusters/dev/argocd/addons.yaml', (docs) => {
      docs.find((d) => d.metadata.name === 'keda')!.metadata.annotations['argocd.argoproj.io/sync-wave'] = '0';
    });
    const [v, ...rest] = await violationsOnly(root, 'crd-installed');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/app-version/scaled-object.yaml', object: 'ScaledObject/dbos/dbos-app-1-0-0' });
    expect(v!.message).toBe(
      'is a ScaledObject (keda.sh), whose CRD no add-on Application before Application/argocd/dbos-dev (wave 0) installs. ' +
        'Argo CD dry-runs every manifest of a sync first and fails the whole sync on a kind the API server does not know ' +
        '(argo-cd docs, user-guide/sync-options.md "Skip Dry Run for new custom resources types")',
    );
    expect(v!.fix).toBe('add an Application for keda to clusters/dev/argocd (clusters/common/argocd/controllers) with a sync wave below 0');
  });

  it('flags custom kinds a Flux Kustomization applies without depending on their add-ons', async () => {
    const root = await freshRepo();
    await editYaml(root, 'clusters/dev/flux/sync.yaml', (docs) => {
      delete docs.find((d) => d.metadata.name === 'dbos')!.spec.dependsOn;
    });
    const violations = await violationsOnly(root, 'crd-installed');
    expect(violations.map((v) => [v.object, v.fix])).toEqual([
      ['ScaledObject/dbos/dbos-app-1-0-0', 'add a HelmRelease for keda to a Kustomization that dbos dependsOn (clusters/common/flux/controllers)'],
      ['SealedSecret/dbos/conductor', 'add a HelmRelease for sealed-secrets to a Kustomization that dbos dependsOn (clusters/common/flux/controllers)'],
    ]);
    expect(violations[0]!.message).toContain('applied by Kustomization/flux-system/dbos, whose CRD no Kustomization it dependsOn installs');
    expect(violations[0]!.message).toContain('kustomizations.md "Dependencies"');
  });

  it('reads a chartRef through its OCIRepository: a chartRef to a missing source installs nothing', async () => {
    const root = await freshRepo();
    await editYaml(root, 'clusters/dev/flux/infrastructure/helm-releases.yaml', (docs) => {
      docs.find((d) => d.kind === 'HelmRelease' && d.metadata.name === 'keda')!.spec.chartRef.name = 'kdea';
    });
    const [v, ...rest] = await violationsOnly(root, 'crd-installed');
    expect(rest).toEqual([]);
    expect(v!.object).toBe('ScaledObject/dbos/dbos-app-1-0-0');
  });
});

describe('job-recreated-every-sync', () => {
  it('flags Argo CD Replace/Force on a Job and accepts it as a Sync hook', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/app-version/migration/migrate-job.yaml', ([job]) => {
      job!.metadata.annotations = { 'argocd.argoproj.io/sync-options': 'Force=true,Replace=true' };
    });
    const [v, ...rest] = await violationsOnly(root, 'job-recreated-every-sync');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/app-version/migration/migrate-job.yaml', object: 'Job/dbos/dbos-migrate' });
    expect(v!.message).toContain('has argocd.argoproj.io/sync-options: Force=true,Replace=true, so Argo CD deletes and re-creates it on every sync');
    expect(v!.message).toContain('argoproj/gitops-engine#623');
    expect(v!.fix).toContain('argocd.argoproj.io/hook: Sync');

    await editYaml(root, 'base/app-version/migration/migrate-job.yaml', ([job]) => {
      job!.metadata.annotations = { 'argocd.argoproj.io/hook': 'Sync', 'argocd.argoproj.io/hook-delete-policy': 'BeforeHookCreation' };
    });
    expect((await validateRepo({ root })).violations).toEqual([]);
  });

  it('flags a self-deleting Job that is not a hook', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/app-version/migration/migrate-job.yaml', ([job]) => {
      job!.spec.ttlSecondsAfterFinished = 600;
    });
    const [v, ...rest] = await violationsOnly(root, 'job-recreated-every-sync');
    expect(rest).toEqual([]);
    expect(v!.message).toContain('sets spec.ttlSecondsAfterFinished: 600 without being an Argo CD hook');
  });

  it('flags Flux spec.force on a Kustomization', async () => {
    const root = await freshRepo();
    await editYaml(root, 'clusters/dev/flux/sync.yaml', (docs) => {
      docs.find((d) => d.metadata.name === 'dbos')!.spec.force = true;
    });
    const [v, ...rest] = await violationsOnly(root, 'job-recreated-every-sync');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'clusters/dev/flux/sync.yaml', object: 'Kustomization/flux-system/dbos' });
    expect(v!.message).toContain('Flux documents it for temporary use');
    expect(v!.fix).toContain('kustomize.toolkit.fluxcd.io/force: enabled');
  });
});

describe('replicas-ignore-scoped', () => {
  it('flags an Argo CD replicas ignore on every Deployment and accepts one that names its Deployment', async () => {
    const root = await freshRepo();
    const setIgnore = (entry: Record<string, unknown>) =>
      editYaml(root, 'clusters/dev/argocd/application.yaml', ([app]) => {
        app!.spec.ignoreDifferences = [entry];
        app!.spec.syncPolicy.syncOptions = ['RespectIgnoreDifferences=true'];
      });
    await setIgnore({ group: 'apps', kind: 'Deployment', jsonPointers: ['/spec/replicas'] });
    const [v, ...rest] = await violationsOnly(root, 'replicas-ignore-scoped');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'clusters/dev/argocd/application.yaml', object: 'Application/argocd/dbos-dev' });
    expect(v!.message).toContain('spec.ignoreDifferences[0] ignores /spec/replicas on every Deployment of the Application');
    expect(v!.message).toContain('Respect ignore difference configs');

    await setIgnore({ group: 'apps', kind: 'Deployment', name: 'dbos-app-1-0-0', jsonPointers: ['/spec/replicas'] });
    expect((await validateRepo({ root })).violations).toEqual([]);
  });

  it('flags a Flux ignore rule on /spec/replicas without a target selector', async () => {
    const root = await freshRepo();
    await editYaml(root, 'clusters/dev/flux/sync.yaml', (docs) => {
      docs.find((d) => d.metadata.name === 'dbos')!.spec.ignore[0].target = { kind: 'Deployment' };
    });
    const [v, ...rest] = await violationsOnly(root, 'replicas-ignore-scoped');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'clusters/dev/flux/sync.yaml', object: 'Kustomization/flux-system/dbos' });
    expect(v!.message).toBe(
      'spec.ignore[0] drops /spec/replicas from every Deployment it applies, so a replica count in git never reaches the cluster (Flux docs, components/kustomize/kustomizations.md "Ignore")',
    );
  });
});

describe('health-check-shipped', () => {
  it('flags an app-of-apps ordered by waves without the Application health check', async () => {
    const root = await freshRepo();
    await editYaml(root, 'clusters/dev/argocd/kustomization.yaml', ([k]) => {
      k!.resources = k!.resources.filter((r: string) => r !== 'argocd-cm.yaml');
    });
    const [v, ...rest] = await violationsOnly(root, 'health-check-shipped');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'clusters/dev/argocd/application.yaml', object: 'Application/argocd/dbos-dev' });
    expect(v!.message).toContain('ships no argoproj.io/Application health check');
    expect(v!.message).toContain('argoproj/argo-cd#3781');
    expect(v!.fix).toContain('resource.customizations.health.argoproj.io_Application');
  });

  it('flags a waiting Flux Kustomization that cannot judge a ScaledObject', async () => {
    const root = await freshRepo();
    await editYaml(root, 'clusters/dev/flux/sync.yaml', (docs) => {
      const spec = docs.find((d) => d.metadata.name === 'dbos')!.spec;
      spec.healthCheckExprs = spec.healthCheckExprs.filter((e: { kind: string }) => e.kind !== 'ScaledObject');
    });
    const [v, ...rest] = await violationsOnly(root, 'health-check-shipped');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'clusters/dev/flux/sync.yaml', object: 'Kustomization/flux-system/dbos' });
    expect(v!.message).toContain('has no healthCheckExprs entry for keda.sh/v1alpha1 ScaledObject whose current expression reads its Ready condition');
    expect(v!.message).toContain('fluxcd/flux2 RFC-0009');
  });
});

describe('argocd-bootstrap', () => {
  it('requires the hand-applied set to be the root app-of-apps and the health check, and no other Application', async () => {
    const root = await freshRepo();
    await writeFiles(root, {
      'clusters/dev/argocd/root.yaml': stringify({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: { name: 'root', namespace: 'argocd', labels: { 'dbos.dev/bootstrap': 'true' } },
        spec: {
          project: 'default',
          source: { repoURL: 'https://github.com/example/gitops.git', targetRevision: 'main', path: 'clusters/dev/argocd' },
          destination: { server: 'https://kubernetes.default.svc', namespace: 'argocd' },
          syncPolicy: { automated: { prune: true, selfHeal: true } },
        },
      }),
    });
    await editYaml(root, 'clusters/dev/argocd/kustomization.yaml', ([k]) => {
      k!.resources.push('root.yaml');
    });
    const unlabelledHealth = await violationsOnly(root, 'argocd-bootstrap');
    expect(unlabelledHealth.map((v) => [v.file, v.object])).toEqual([['clusters/dev/argocd/argocd-cm.yaml', 'ConfigMap/argocd/argocd-cm']]);
    expect(unlabelledHealth[0]!.message).toContain('its waves wait on the Application health check');

    await editYaml(root, 'clusters/dev/argocd/argocd-cm.yaml', ([cm]) => {
      cm!.metadata.labels = { 'dbos.dev/bootstrap': 'true' };
    });
    expect((await validateRepo({ root })).violations).toEqual([]);

    await editYaml(root, 'clusters/dev/argocd/application.yaml', ([app]) => {
      app!.metadata.labels = { 'dbos.dev/bootstrap': 'true' };
    });
    await editYaml(root, 'clusters/dev/argocd/root.yaml', ([app]) => {
      delete app!.metadata.labels;
    });
    const violations = await violationsOnly(root, 'argocd-bootstrap');
    expect(violations.map((v) => [v.object, v.fix])).toEqual([
      ['Application/argocd/dbos-dev', 'remove the label; the root Application creates it in its wave'],
      ['Application/argocd/root', 'add the label dbos.dev/bootstrap: "true" to it'],
    ]);
    expect(violations[0]!.message).toContain("starts syncing at once, outside the root Application's sync waves");
  });
});

describe('sealed-secret-scope', () => {
  it('flags a namePrefix that renames a strict-scope SealedSecret', async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/secrets/kustomization.yaml', ([k]) => {
      k!.namePrefix = 'dev-';
    });
    const [v, ...rest] = await violationsOnly(root, 'sealed-secret-scope');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'overlays/dev/secrets/conductor.sealed.yaml', object: 'SealedSecret/dbos/dev-conductor' });
    expect(v!.message).toBe('strict-scope SealedSecret is rendered as "dev-conductor" but sealed for "conductor"; the controller will fail to decrypt it');
    expect(v!.fix).toContain('namePrefix');
  });
});

describe('schema', () => {
  it('reports an apiVersion/kind no model package knows as an error, not a pass', async () => {
    const root = await freshRepo();
    await writeFile(
      path.join(root, 'overlays/dev/routing/widget.yaml'),
      stringify({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 1 } }),
    );
    await editYaml(root, 'overlays/dev/routing/kustomization.yaml', ([k]) => {
      k!.resources.push('widget.yaml');
    });
    const [v, ...rest] = await violationsOnly(root, 'unknown-kind');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'overlays/dev/routing/widget.yaml', object: 'Widget/dbos/w' });
    expect(v!.message).toContain('no schema is known for apiVersion "example.com/v1" kind "Widget"');
  });

  it('reports a field of the wrong type with its path', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/dex/service.yaml', ([svc]) => {
      svc!.spec.ports[0].port = 'web';
    });
    const [v, ...rest] = await violationsOnly(root, 'schema');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/dex/service.yaml', object: 'Service/dbos/dex' });
    expect(v!.message).toContain('spec.ports[0].port must be integer');
  });

  it('validates a known CRD kind against its schema (KEDA ScaledObject)', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/app-version/scaled-object.yaml', ([so]) => {
      so!.spec.maxReplicaCount = 'ten';
    });
    const [v] = await violationsOnly(root, 'schema');
    expect(v!.object).toBe('ScaledObject/dbos/dbos-app-1-0-0');
    expect(v!.message).toContain('spec.maxReplicaCount must be integer');
  });
});

describe('unknown-field', () => {
  it('flags a misspelt spec field that the schema check alone lets through', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/dex/service.yaml', ([svc]) => {
      svc!.spec.selectr = svc!.spec.selector;
      delete svc!.spec.selector;
    });
    const [v, ...rest] = await violationsOnly(root, 'unknown-field');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'base/dex/service.yaml', object: 'Service/dbos/dex' });
    expect(v!.message).toBe('has field spec.selectr that the v1 Service schema does not declare; the API server drops or rejects it');
    expect(v!.fix).toContain('selector');
  });

  it('flags an unknown top-level field', async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/app-versions/service.yaml', ([svc]) => {
      svc!.metdata = { annotations: { note: 'typo' } };
    });
    const [v] = await violationsOnly(root, 'unknown-field');
    expect(v!.object).toBe('Service/dbos/dbos-app');
    expect(v!.message).toContain('has field metdata that');
  });
});

describe('render', () => {
  it("reports a render failure with kustomize's own message", async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/kustomization.yaml', ([k]) => {
      k!.resources.push('../../base/missing');
    });
    const [v, ...rest] = await violationsOnly(root, 'render');
    expect(rest).toEqual([]);
    expect(v).toMatchObject({ file: 'overlays/dev/kustomization.yaml', object: 'overlays/dev' });
    expect(v!.message).toContain('kustomize cannot render overlays/dev');
    expect(v!.message).toContain('base/missing');
  });
});
