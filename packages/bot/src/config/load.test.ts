import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { loadConfig, parseConfig } from './load.ts';

const REPO_CONFIG = join(import.meta.dirname, '..', '..', '..', '..', '.github', 'gitops-bot.yaml');

function configError(text: string): ConfigError {
  try {
    parseConfig(text, 'cfg.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const MINIMAL = 'version: 1\nenvironments:\n  - name: dev\n    overlay: overlays/dev\n';

describe('bot config', () => {
  it("the repository's own config is valid and keeps conductor and console in one group", () => {
    const config = parseConfig(readFileSync(REPO_CONFIG, 'utf8'));
    expect(config.environments.map((env) => env.name)).toEqual(['dev', 'staging', 'prod']);
    expect(config.groups.find((group) => group.images.includes('conductor'))?.images).toEqual(expect.arrayContaining(['conductor', 'console']));
    expect(config.appVersions?.drain.databaseUrlEnv).toBe('DBOS_DRAIN_DATABASE_URL');
  });

  it('fills defaults and parses durations', () => {
    const config = parseConfig(`${MINIMAL}minReleaseAge: 3d\nimages:\n  - name: ghcr.io/dexidp/dex\n    repository: ghcr.io/dexidp/dex\n    minReleaseAge: 90m\n`);
    expect(config.minReleaseAge).toBe(3 * 86_400);
    expect(config.images[0]!.minReleaseAge).toBe(5400);
    expect(config.images[0]!.id).toBe('dex');
    expect(config.images[0]!.versioning).toEqual({ range: '*', prereleases: false, ignoreTags: [] });
    expect(config.forge.baseBranch).toBe('main');
    expect(config.pullRequests).toEqual({ maxOpen: 10, maxPerHour: 5 });
  });

  it('reports the YAML path of a bad field', () => {
    expect(configError(`${MINIMAL}images:\n  - name: a\n    repository: r\n    versioning:\n      allowTags: "("\n`).message).toMatch(/^cfg\.yaml: images\[0\]\.versioning\.allowTags: must be a valid JavaScript regular expression/);
    expect(configError(`${MINIMAL}pullRequests:\n  maxOpen: -1\n`).message).toMatch(/pullRequests\.maxOpen/);
    expect(configError(`${MINIMAL}minReleaseAge: soon\n`).message).toMatch(/minReleaseAge: must be a duration/);
    expect(configError(`${MINIMAL}surprise: true\n`).message).toMatch(/surprise/);
  });

  it('checks groups against images and environments for duplicates', () => {
    const images = 'images:\n  - name: x/conductor\n    repository: r/conductor\n  - name: x/console\n    repository: r/console\n';
    expect(configError(`${MINIMAL}${images}groups:\n  - name: cp\n    images: [conductor, nope]\n`).message).toMatch(/groups\[0\]\.images\[1\]: "nope" is not the id/);
    expect(configError(`${MINIMAL}  - name: dev\n    overlay: overlays/dev2\n`).message).toMatch(/environments\[1\]\.name: duplicate environment "dev"/);
  });

  it('malformed YAML and a missing file are ConfigErrors with a hint', async () => {
    expect(configError('version: 1\nenvironments: [\n').message).toMatch(/not valid YAML \(line \d+/);
    const missing = (await loadConfig('/nonexistent/gitops-bot.yaml').catch((error: unknown) => error)) as ConfigError;
    expect(missing).toBeInstanceOf(ConfigError);
    expect(missing.message).toMatch(/not found/);
    expect(missing.hint).toMatch(/--config/);
  });
});
