/**
 * The benchmarks' repository shape, shared by `plan-scale.ts` and `plan-profile.ts` so both measure the same thing:
 * M images with V versions each in a real registry, and N environments whose pins make each of the first V
 * environments one version behind the previous one (a promotion to propose) and the rest level.
 */
import type { TestRegistry } from '@dbos-gitops/testkit';
import type { FixtureImage } from '../testing/fixture-repo.ts';

type Pins = Record<string, Record<string, { tag: string; digest: string }>>;

export interface BenchImages {
  images: FixtureImage[];
  /** The pins of `envCount` environments `env0`, `env1`, ... */
  pinsFor(envCount: number): { environments: string[]; pins: Pins };
}

export async function pushBenchImages(registry: TestRegistry, imageCount: number, versionCount: number): Promise<BenchImages> {
  const versions = Array.from({ length: versionCount }, (_, index) => `1.${index}.0`);
  const images: FixtureImage[] = [];
  const digests = new Map<string, string>();
  for (let image = 0; image < imageCount; image++) {
    const id = `image${image}`;
    for (const [index, tag] of versions.entries()) {
      const pushed = await registry.pushImage(`bench/${id}`, tag, { created: new Date(Date.UTC(2026, 0, 1 + index)) });
      digests.set(`${id}:${tag}`, pushed.digest);
    }
    images.push({ id, name: `bench/${id}`, repository: `${registry.host}/bench/${id}`, tag: versions[0]!, digest: digests.get(`${id}:${versions[0]}`)! });
  }
  const pinsAt = (tag: string) => Object.fromEntries(images.map((image) => [image.id, { tag, digest: digests.get(`${image.id}:${tag}`)! }]));
  return {
    images,
    pinsFor(envCount) {
      const environments = Array.from({ length: envCount }, (_, index) => `env${index}`);
      const pins: Pins = {};
      environments.forEach((env, index) => {
        pins[env] = pinsAt(versions[Math.max(0, versionCount - 1 - index)]!);
      });
      // env0 starts one version behind the newest so the registry path (first environment) is exercised too.
      pins.env0 = pinsAt(versions[Math.max(0, versionCount - 2)]!);
      return { environments, pins };
    },
  };
}
