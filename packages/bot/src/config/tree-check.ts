import { ConfigError } from '../errors.ts';
import { imagePinsPath, overlayKustomization, readOverlayImages, type TreeReader } from '../repo/tree.ts';
import type { BotConfig } from './schema.ts';

/**
 * The config checks that need the repository tree, run by `plan` and `run` once the tree is known and before any
 * task plans. Without them a mistyped overlay or image name made the tasks skip that work and exit 0, which reads
 * as "nothing to do".
 */
export async function checkConfigAgainstTree(config: BotConfig, tree: TreeReader, file: string): Promise<void> {
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
