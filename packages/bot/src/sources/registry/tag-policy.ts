import semver from 'semver';
import type { VersioningPolicy } from '../../config/schema.ts';
import { isOciTag } from './grammar.ts';

/** The semver reading of a tag (`v2.45.1` → `2.45.1`); null for tags that are not versions (`latest`, `sha-abc`). */
export function tagVersion(tag: string): semver.SemVer | null {
  // semver.parse trims whitespace and accepts `+build`; the OCI tag grammar allows neither, so such a "tag" is no
  // version (it could never be pulled, and " 1.2.3" would become DBOS__APPVERSION verbatim).
  if (!isOciTag(tag)) return null;
  return semver.parse(tag.replace(/^v(?=\d)/, ''));
}

/** Tags the policy allows, newest first. Non-semver tags never qualify: "newer" has no meaning for them. */
export function eligibleTags(tags: string[], policy: VersioningPolicy): string[] {
  const allow = policy.allowTags ? new RegExp(policy.allowTags) : null;
  const ignore = policy.ignoreTags.map((source) => new RegExp(source));
  return tags
    .filter(isOciTag)
    .filter((tag) => (!allow || allow.test(tag)) && !ignore.some((pattern) => pattern.test(tag)))
    .map((tag) => ({ tag, version: tagVersion(tag) }))
    .filter((entry): entry is { tag: string; version: semver.SemVer } => entry.version !== null)
    .filter((entry) => policy.prereleases || entry.version.prerelease.length === 0)
    .filter((entry) => semver.satisfies(entry.version, policy.range, { includePrerelease: policy.prereleases }))
    .sort((a, b) => semver.rcompare(a.version, b.version) || a.tag.localeCompare(b.tag))
    .map((entry) => entry.tag);
}

/** -1, 0, 1 like semver.compare; a non-version tag compares as older than any version. */
export function compareTags(a: string | null, b: string | null): number {
  const va = a ? tagVersion(a) : null;
  const vb = b ? tagVersion(b) : null;
  if (!va && !vb) return 0;
  if (!va) return -1;
  if (!vb) return 1;
  return semver.compare(va, vb);
}
