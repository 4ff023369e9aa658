import { describe, expect, it } from 'vitest';
import { compareTags, tagVersion } from '../sources/registry/tag-policy.ts';
import { holdOn, listHolds, versionHoldText } from './holds.ts';

const LIST = `resources:
  - service.yaml
  - 1-0-0
  - 2-0-0
`;
const isVersion = (version: string) => tagVersion(version) !== null;

/** The holds of `text`, with its version lines found the way the tree reader finds them (by offset). */
function holdsOf(text: string) {
  const versions: Record<string, string> = { '1-0-0': '1.0.0', '2-0-0': '2.0.0', nightly: 'nightly' };
  return listHolds(
    text,
    (offset) => {
      const line = /^\s*-\s*(\S+)/.exec(text.slice(offset, text.indexOf('\n', offset)));
      return line ? (versions[line[1]!] ?? null) : null;
    },
    isVersion,
  );
}

describe('hold lines in the list of versions', () => {
  it('a plain line directly above a version line holds that version and older; a newer one is not held', () => {
    const holds = holdsOf(LIST.replace('  - 2-0-0', '  # gitops-bot: hold bad release\n  - 2-0-0'));
    expect(holds).toEqual([{ scope: 'version', upTo: '2.0.0', reason: 'bad release' }]);
    expect(holdOn(holds, '2.0.0', compareTags)).not.toBeNull();
    expect(holdOn(holds, '1.9.9', compareTags)).not.toBeNull();
    expect(holdOn(holds, '2.0.1', compareTags)).toBeNull();
  });

  it('an explicit version holds that version wherever the line is; a plain line anywhere else holds the application', () => {
    const explicit = holdsOf(`${LIST}  # gitops-bot: hold ${versionHoldText('2.0.0', 'gate failed')}\n`);
    expect(explicit).toEqual([{ scope: 'version', upTo: '2.0.0', reason: 'gate failed' }]);
    expect(holdOn(explicit, '2.0.1', compareTags)).toBeNull();
    for (const text of [
      `# gitops-bot: hold freeze\n${LIST}`,
      `${LIST}  # gitops-bot: hold freeze\n`,
      LIST.replace('  - service.yaml', '  # gitops-bot: hold\n  - service.yaml'),
    ]) {
      const holds = holdsOf(text);
      expect(holds.map((hold) => hold.scope)).toEqual(['app']);
      expect(holdOn(holds, '99.0.0', compareTags)).not.toBeNull();
    }
  });

  it('fails closed: a version that does not order (not semver) holds the application', () => {
    expect(holdsOf(`${LIST}# gitops-bot: hold version until-fixed: later\n`).map((hold) => hold.scope)).toEqual(['app']);
    const nightly = `${LIST}  # gitops-bot: hold\n  - nightly\n`;
    expect(holdsOf(nightly).map((hold) => hold.scope)).toEqual(['app']);
    expect(holdsOf(LIST)).toEqual([]);
  });
});
