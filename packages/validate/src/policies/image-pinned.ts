import { containerPath, containerWord, podContainers, violationFor } from '../objects.ts';
import type { Policy, Violation } from '../types.ts';

export interface ImageReference {
  repository: string;
  tag?: string;
  digest?: string;
}

export function parseImageReference(image: string): ImageReference {
  const at = image.indexOf('@');
  const nameAndTag = at >= 0 ? image.slice(0, at) : image;
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  // A colon after the last slash is a tag; one before it belongs to a registry host:port.
  const colon = nameAndTag.lastIndexOf(':');
  const hasTag = colon > nameAndTag.lastIndexOf('/');
  return {
    repository: hasTag ? nameAndTag.slice(0, colon) : nameAndTag,
    ...(hasTag ? { tag: nameAndTag.slice(colon + 1) } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** A tag says which release it is to a reader; the digest makes what runs immutable. The product pins both. */
export const imagePinned: Policy = {
  id: 'image-pinned',
  title: 'Every image is pinned by a tag other than latest and a sha256 digest',
  check(ctx) {
    const violations: Violation[] = [];
    for (const { rendered, ref } of podContainers(ctx)) {
      const image = typeof ref.container.image === 'string' ? ref.container.image : '';
      const parsed = parseImageReference(image);
      const problems: string[] = [];
      if (!image) problems.push('has no image');
      else {
        if (!parsed.tag) problems.push('has no tag');
        else if (parsed.tag === 'latest') problems.push('uses the tag "latest"');
        if (!parsed.digest) problems.push('has no @sha256 digest');
        else if (!DIGEST.test(parsed.digest)) problems.push(`has a malformed digest "${parsed.digest}"`);
      }
      if (problems.length === 0) continue;
      violations.push(
        violationFor(
          rendered,
          'image-pinned',
          `${containerWord(ref)} image "${image}" ${problems.join(' and ')}`,
          `pin ${containerPath(rendered.object, ref)} as <repository>:<version tag>@sha256:<digest> (kustomize images: newTag plus digest, or the full reference)`,
          { image },
        ),
      );
    }
    return violations;
  },
};
