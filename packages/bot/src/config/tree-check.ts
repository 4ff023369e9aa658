import { ConfigError, YamlEditError } from '../errors.ts';
import { appDir, appIdentityPath, appsInEnvironment, readAppIdentity } from '../repo/apps.ts';
import { imagePinsPath, overlayKustomization, readOverlayImages, type TreeReader } from '../repo/tree.ts';
import type { BotConfig } from './schema.ts';

/**
 * The config checks that need the repository tree, run by `plan` and `run` once the tree is known and before any
 * task plans. Without them a mistyped overlay or image name made the tasks skip that work and exit 0, which reads
 * as "nothing to do".
 */
export async function checkConfigAgainstTree(config: BotConfig, tree: TreeReader, file: string): Promise<void> {
  // Every file the checks read, asked for at once: a tree that reads through one git process answers them in one
  // exchange instead of one round trip each. Failures are ignored here; the checks below read each file again in
  // order (from the tree's cache where it keeps one) and report the first problem as before.
  await Promise.all(
    config.environments.flatMap((environment) =>
      [
        overlayKustomization(environment.overlay),
        imagePinsPath(environment.overlay),
        ...appsInEnvironment(config, environment).flatMap((app) => [
          `${appDir(environment.overlay, app.name)}/kustomization.yaml`,
          appIdentityPath(environment.overlay, app.name),
        ]),
      ].map((path) => tree.read(path).catch(() => null)),
    ),
  );
  const used = new Set<string>();
  for (const [index, environment] of config.environments.entries()) {
    if ((await tree.read(overlayKustomization(environment.overlay))) === null) {
      throw new ConfigError(
        `overlay "${environment.overlay}" of environment "${environment.name}" does not exist in ${tree.describe} (no ${overlayKustomization(environment.overlay)})`,
        file,
        `environments[${index}].overlay`,
        `set environments[${index}].overlay to the overlay directory of "${environment.name}" (e.g. overlays/${environment.name}), or remove the environment`,
      );
    }
    for (const app of appsInEnvironment(config, environment)) await checkApplication(config, tree, file, environment, app.name);
    // An environment without a pins file pins no control-plane image (e.g. one only the secret rotation serves).
    const pins = await readOverlayImages(tree, environment.name, environment.overlay);
    for (const entry of pins?.entries ?? []) used.add(entry.name);
  }
  for (const [index, image] of config.images.entries()) {
    if (used.has(image.name)) continue;
    throw new ConfigError(
      `image "${image.name}" is not in the images: list of any overlay (${config.environments.map((environment) => imagePinsPath(environment.overlay)).join(', ')})`,
      file,
      `images[${index}].name`,
      `set images[${index}].name to the kustomize images[].name the overlays pin, or add an images: entry for "${image.name}" to an overlay's image pins file`,
    );
  }
}

/** An application configured for an environment must have its directory there, with an identity.yaml naming it:
 * otherwise its versions would silently never be added or retired in that environment. */
async function checkApplication(config: BotConfig, tree: TreeReader, file: string, environment: BotConfig['environments'][number], app: string): Promise<void> {
  const index = config.apps.findIndex((candidate) => candidate.name === app);
  const where = `apps[${index}]`;
  const hint = `add ${appDir(environment.overlay, app)}/ (pnpm apps:add), or set ${where}.environments to the environments "${app}" runs in`;
  const kustomization = `${appDir(environment.overlay, app)}/kustomization.yaml`;
  if ((await tree.read(kustomization)) === null) {
    throw new ConfigError(
      `application "${app}" runs in environment "${environment.name}" but ${appDir(environment.overlay, app)}/ does not exist in ${tree.describe} (no ${kustomization})`,
      file,
      where,
      hint,
    );
  }
  let identity: Awaited<ReturnType<typeof readAppIdentity>>;
  try {
    identity = await readAppIdentity(tree, environment.overlay, app);
  } catch (error) {
    if (!(error instanceof YamlEditError)) throw error;
    throw new ConfigError(`application "${app}" in environment "${environment.name}": ${error.message}`, file, where, error.hint);
  }
  if (identity === null) {
    throw new ConfigError(
      `application "${app}" runs in environment "${environment.name}" but ${appIdentityPath(environment.overlay, app)} does not exist in ${tree.describe}`,
      file,
      where,
      `add ${appIdentityPath(environment.overlay, app)} (the ConfigMap app-identity, see overlays/dev/apps/dbos-app/identity.yaml)`,
    );
  }
}
