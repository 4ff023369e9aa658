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
    expect(config.apps.map((app) => app.name)).toEqual(['dbos-app', 'orders']);
    expect(config.apps[0]?.drain.databaseUrlEnv).toBe('DBOS_DRAIN_DATABASE_URL');
  });

  it('fills defaults and parses durations', () => {
    const config = parseConfig(
      `${MINIMAL}minReleaseAge: 3d\nimages:\n  - name: ghcr.io/dexidp/dex\n    repository: ghcr.io/dexidp/dex\n    minReleaseAge: 90m\n`,
    );
    expect(config.minReleaseAge).toBe(3 * 86_400);
    expect(config.images[0]!.minReleaseAge).toBe(5400);
    expect(config.images[0]!.id).toBe('dex');
    expect(config.images[0]!.versioning).toEqual({ range: '*', prereleases: false, ignoreTags: [] });
    expect(config.forge.baseBranch).toBe('main');
    expect(config.pullRequests).toEqual({ maxOpen: 10, maxPerHour: 5 });
  });

  it('reports the YAML path of a bad field', () => {
    expect(configError(`${MINIMAL}images:\n  - name: a\n    repository: r\n    versioning:\n      allowTags: "("\n`).message).toMatch(
      /^cfg\.yaml: images\[0\]\.versioning\.allowTags: must be a valid JavaScript regular expression/,
    );
    expect(configError(`${MINIMAL}pullRequests:\n  maxOpen: -1\n`).message).toMatch(/pullRequests\.maxOpen/);
    expect(configError(`${MINIMAL}minReleaseAge: soon\n`).message).toMatch(/minReleaseAge: must be a duration/);
    expect(configError(`${MINIMAL}surprise: true\n`).message).toMatch(/surprise/);
  });

  it('checks groups against images and environments for duplicates', () => {
    const images = 'images:\n  - name: x/conductor\n    repository: r/conductor\n  - name: x/console\n    repository: r/console\n';
    expect(configError(`${MINIMAL}${images}groups:\n  - name: cp\n    images: [conductor, nope]\n`).message).toMatch(
      /groups\[0\]\.images\[1\]: "nope" is not the id/,
    );
    expect(configError(`${MINIMAL}  - name: dev\n    overlay: overlays/dev2\n`).message).toMatch(/environments\[1\]\.name: duplicate environment "dev"/);
  });

  it('malformed YAML and a missing file are ConfigErrors with a hint', async () => {
    expect(configError('version: 1\nenvironments: [\n').message).toMatch(/not valid YAML \(line \d+/);
    const missing = (await loadConfig('/nonexistent/gitops-bot.yaml').catch((error: unknown) => error)) as ConfigError;
    expect(missing).toBeInstanceOf(ConfigError);
    expect(missing.message).toMatch(/not found/);
    expect(missing.hint).toMatch(/--config/);
  });

  it('refuses the old appVersions: section with the way to the new apps: list, a duplicate application and an unknown environment', () => {
    expect(configError(`${MINIMAL}appVersions:\n  appName: app\n  repository: r\n`).message).toMatch(/appVersions: was replaced by apps:/);
    expect(configError(`${MINIMAL}apps:\n  - name: a\n    repository: r\n  - name: a\n    repository: s\n`).message).toMatch(
      /apps\[1\]\.name: duplicate application "a"/,
    );
    expect(configError(`${MINIMAL}apps:\n  - name: a\n    repository: r\n    environments: [qa]\n`).message).toMatch(
      /apps\[0\]\.environments\[0\]: "qa" is not the name/,
    );
    expect(configError(`${MINIMAL}apps:\n  - name: Orders\n    repository: r\n`).message).toMatch(/apps\[0\]\.name: must be a DNS label/);
    expect(configError(`${MINIMAL}apps:\n  - name: a\n    repository: r\n    maxlive: 2\n`).message).toMatch(/maxlive/);
  });

  it('refuses an invalid semver range, naming the field (it used to match no tag and propose nothing)', () => {
    expect(configError(`${MINIMAL}images:\n  - name: a\n    repository: r\n    versioning:\n      range: ">=1.0 <<2"\n`).message).toMatch(
      /^cfg\.yaml: images\[0\]\.versioning\.range: must be a valid semver range/,
    );
    expect(configError(`${MINIMAL}apps:\n  - name: app\n    repository: r\n    versioning:\n      range: "1.x.y.z"\n`).message).toMatch(
      /^cfg\.yaml: apps\[0\]\.versioning\.range: must be a valid semver range/,
    );
    expect(parseConfig(`${MINIMAL}images:\n  - name: a\n    repository: r\n    versioning:\n      range: "^2.45.0 || >=3"\n`).images[0]!.versioning.range).toBe(
      '^2.45.0 || >=3',
    );
  });

  it('refuses an invalid regular expression in ignoreTags too', () => {
    expect(configError(`${MINIMAL}images:\n  - name: a\n    repository: r\n    versioning:\n      ignoreTags: ["ok$", "[unclosed"]\n`).message).toMatch(
      /^cfg\.yaml: images\[0\]\.versioning\.ignoreTags\[1\]: must be a valid JavaScript regular expression/,
    );
  });

  it('refuses two environments that read the same environment-variable suffix', () => {
    const twin = 'version: 1\nenvironments:\n  - name: prod-eu\n    overlay: overlays/prod-eu\n  - name: prod.eu\n    overlay: overlays/prod.eu\n';
    const error = configError(twin);
    expect(error.message).toMatch(/^cfg\.yaml: environments\[1\]\.name: "prod\.eu" and "prod-eu" both read their settings from \*_PROD_EU variables/);
    expect(error.exitCode).toBe(2);
    expect(() => parseConfig(twin.replace('prod.eu', 'prod-us').replace('prod.eu', 'prod-us'))).not.toThrow();
  });

  it('refuses an overlay outside the repository and Conductor overrides for unknown environments', () => {
    expect(configError('version: 1\nenvironments:\n  - name: dev\n    overlay: ../other-repo/overlays/dev\n').message).toMatch(
      /^cfg\.yaml: environments\[0\]\.overlay: must be a path inside the repository/,
    );
    expect(configError('version: 1\nenvironments:\n  - name: dev\n    overlay: /etc\n').message).toMatch(/environments\[0\]\.overlay/);
    const rotation = `${MINIMAL}secretRotation:\n  conductor:\n    org: o\n    url: http://conductor:8090\n    environments:\n      prd: { url: http://conductor.prod:8090 }\n`;
    expect(configError(rotation).message).toMatch(/secretRotation\.conductor\.environments\.prd: "prd" is not the name of an entry of environments:/);
  });
});
