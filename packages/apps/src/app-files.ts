import { defaultAppIdentity, renderAppIdentity, type AppIdentity } from '@dbos-gitops/bot';
/**
 * The files of one application directory, `overlays/<env>/apps/<app>/`, as the hand-made `overlays/dev/apps/orders`
 * has them (a test compares them byte for byte). The version directory is not written here: it comes from the bot's
 * own template (renderVersionKustomization / renderVersionPatch), so the scaffold and the bot cannot disagree.
 */

export type RouteKind = 'ingress-nginx' | 'gateway';

export type Route = { kind: 'ingress-nginx'; host: string; path: string } | { kind: 'gateway'; host: string };

/** The names components/app-identity fills the templates with (the bot's AppIdentity, without its file). */
export type AppNames = Omit<AppIdentity, 'file'>;

/** An application's names from its name alone; the migration image may be the environment's shared one. */
export function appNames(app: string, migrateImage: string): AppNames {
  return defaultAppIdentity(app, migrateImage);
}

export function renderAppKustomization(names: AppNames, env: string, route: Route): string {
  const component = route.kind === 'gateway' ? 'app-route-gateway' : 'app-route-ingress-nginx';
  const target =
    route.kind === 'gateway' ? ['      group: gateway.networking.k8s.io', '      kind: HTTPRoute'] : ['      group: networking.k8s.io', '      kind: Ingress'];
  return lines([
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    `# The application ${names.name} in ${env}: the shared templates (base/app, one base/app-version per live version), filled`,
    '# with identity.yaml, plus its secrets, its route and its Service. Argo CD and Flux sync this directory on its own,',
    '# so a broken manifest here never holds back another application (README "Applications").',
    'resources:',
    '  - identity.yaml',
    '  - ../../../../base/app',
    '  - secrets',
    '  - versions',
    'components:',
    '  # First, while the templates still carry their placeholders: what every application of the environment shares.',
    '  - ../../app-defaults',
    `  - ../../../../base/components/${component}`,
    '  - ../../../../base/components/app-identity',
    "  # The environment's image pins (tag + digest), shared with the platform; this application's migration image is one.",
    '  - ../../images',
    '  # Last: derives Argo CD sync waves from the stage labels of everything above.',
    '  - ../../../../base/components/sync-waves',
    'patches:',
    '  - path: route.patch.yaml',
    '    target:',
    ...target,
    '  # Executors read the Conductor API key at start-up; the secret-rotation task rolls them through this annotation.',
    '  - path: rollout.patch.yaml',
    '    target:',
    '      group: apps',
    '      kind: Deployment',
    `  # The identity is not applied, and must be gone before two applications meet in overlays/${env}.`,
    '  - target:',
    '      kind: ConfigMap',
    '      name: app-identity',
    '    patch: |-',
    '      $patch: delete',
    '      apiVersion: v1',
    '      kind: ConfigMap',
    '      metadata:',
    '        name: app-identity',
  ]);
}

export function renderIdentity(names: AppNames): string {
  return renderAppIdentity(names);
}

/** The ingress-nginx path of an application under `prefix`: rewrite-target /$2 strips the prefix. */
export function ingressPath(prefix: string): string {
  return `${prefix}(/|$)(.*)`;
}

export function renderRoutePatch(names: AppNames, env: string, route: Route): string {
  if (route.kind === 'gateway') {
    return lines([
      `# ${names.name}'s own host; platform/certificate.patch.yaml lists it, so the Gateway's certificate covers it.`,
      '- op: replace',
      '  path: /spec/hostnames/0',
      `  value: ${route.host}`,
    ]);
  }
  return lines([
    `# ${names.name} under ${route.path} on ${env}'s single host (the platform's certificate covers it).`,
    '- op: replace',
    '  path: /spec/tls/0/hosts/0',
    `  value: ${route.host}`,
    '- op: replace',
    '  path: /spec/rules/0/host',
    `  value: ${route.host}`,
    '- op: replace',
    '  path: /spec/rules/0/http/paths/0/path',
    `  value: ${ingressPath(route.path)}`,
  ]);
}

export function renderRolloutPatch(rotatedAt: Date): string {
  return lines([
    '# Executors read the Conductor API key from their environment at start-up, so a rotated key only takes effect',
    '# when their pods are replaced. The secret-rotation task changes this one value in the same PR that re-seals',
    "# the key, which rolls every live version's executors.",
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: APP',
    'spec:',
    '  template:',
    '    metadata:',
    '      annotations:',
    `        dbos.dev/conductor-api-key-rotated-at: "${secondsPrecision(rotatedAt)}"`,
  ]);
}

/** The rotation annotation as the bot writes it: whole seconds, milliseconds zero. */
function secondsPrecision(at: Date): string {
  return new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString();
}

export function renderSecretsKustomization(names: AppNames): string {
  return lines([
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    "# This application's Secrets, sealed for the environment's controller certificate (clusters/<env>/sealed-secrets-cert.pem).",
    '# Strict scope: the name and namespace are part of the encryption, so no namePrefix/nameSuffix/namespace transformer',
    '# may touch these files.',
    'resources:',
    `  - ${names.databaseSecret}.sealed.yaml`,
    `  - ${names.conductorApiKeySecret}.sealed.yaml`,
    'labels:',
    '  - pairs:',
    '      dbos.dev/stage: foundation',
    '    includeSelectors: false',
    '    includeTemplates: false',
  ]);
}

export function renderVersionsList(names: AppNames, slug: string): string {
  return lines([
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    `# The live versions of ${names.name} in this environment, one line each (edited by the gitops bot, see dbos-app's list).`,
    'resources:',
    '  - service.yaml',
    `  - ${slug}`,
  ]);
}

export function renderService(names: AppNames, slug: string): string {
  return lines([
    '# New requests, and so new workflows, go to the latest version only (App guide, "Application versioning").',
    '# Older versions keep running for the work they already own. Routing stage: the switch happens after the',
    "# new version's executors are ready.",
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: ${names.name}`,
    '  namespace: dbos',
    '  labels:',
    '    dbos.dev/stage: routing',
    'spec:',
    '  selector:',
    `    app: ${names.name}`,
    `    dbos.dev/app-version: ${slug}`,
    '  ports:',
    '    - name: http',
    '      port: 8080',
    '      targetPort: 8080',
  ]);
}

function lines(items: readonly string[]): string {
  return `${items.join('\n')}\n`;
}
