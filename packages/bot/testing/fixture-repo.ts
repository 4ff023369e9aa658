/**
 * Builds a small GitOps repository (bot config + overlays, each with an image pins file) for tests and the benchmark.
 * Not shipped behaviour: only tests and bench/ import it.
 */
export interface FixtureImage {
  id: string;
  /** kustomize images[].name */
  name: string;
  repository: string;
  tag: string;
  digest: string;
}

export interface FixtureOptions {
  environments: string[];
  images: FixtureImage[];
  groups?: Array<{ name: string; images: string[] }>;
  minReleaseAge?: string;
  maxOpen?: number;
  maxPerHour?: number;
  /** Per environment, overrides of an image's tag/digest. */
  pins?: Record<string, Record<string, { tag: string; digest: string }>>;
  registryHosts?: string[];
  /** The dashboard issue (on by default with the GitHub forge); off unless asked for, so PR tests count PR writes only. */
  dashboard?: boolean;
}

/** An environment's image pins file (`overlays/<env>/images/kustomization.yaml`): a Component holding only images:. */
export function imagePins(env: string, images: Array<{ name: string; tag: string; digest: string; comment?: string }>): string {
  const entries = images
    .map(
      (image) =>
        `${image.comment ? `  # ${image.comment}\n` : ''}  - name: ${image.name}\n    newName: ${image.name}\n    newTag: "${image.tag}"\n    digest: ${image.digest}\n`,
    )
    .join('');
  return `apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n# ${env}: fixture image pins\nimages:\n${entries}`;
}

/** The overlay itself: the base plus its image pins component. */
export function overlayKustomization(env: string): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n# ${env}: fixture overlay\nresources:\n  - ../../base\ncomponents:\n  - images\n`;
}

export function fixtureFiles(options: FixtureOptions): Record<string, string> {
  const files: Record<string, string> = {};
  const config = [
    'version: 1',
    'environments:',
    ...options.environments.flatMap((env) => [`  - name: ${env}`, `    overlay: overlays/${env}`]),
    `minReleaseAge: ${options.minReleaseAge ?? '0s'}`,
    'images:',
    ...options.images.flatMap((image) => [`  - name: ${image.name}`, `    id: ${image.id}`, `    repository: ${image.repository}`]),
    ...(options.groups?.length
      ? ['groups:', ...options.groups.flatMap((group) => [`  - name: ${group.name}`, `    images: [${group.images.join(', ')}]`])]
      : []),
    'pullRequests:',
    `  maxOpen: ${options.maxOpen ?? 50}`,
    `  maxPerHour: ${options.maxPerHour ?? 50}`,
    'forge:',
    '  type: github',
    '  baseBranch: main',
    '  labels: [gitops-bot]',
    `dashboard: ${options.dashboard === true}`,
    ...(options.registryHosts?.length ? ['registries:', ...options.registryHosts.flatMap((host) => [`  "${host}":`, '    plainHttp: true'])] : []),
    '',
  ];
  files['.github/gitops-bot.yaml'] = config.join('\n');
  for (const env of options.environments) {
    files[`overlays/${env}/kustomization.yaml`] = overlayKustomization(env);
    files[`overlays/${env}/images/kustomization.yaml`] = imagePins(
      env,
      options.images.map((image) => ({ name: image.name, ...(options.pins?.[env]?.[image.id] ?? { tag: image.tag, digest: image.digest }) })),
    );
  }
  return files;
}
