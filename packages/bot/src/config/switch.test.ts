import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';

/* environments[].switch and gateWorkflow: defaults, strictness, and the names handed to the DBOS client. */
const ENV = 'version: 1\nenvironments:\n  - name: prod\n    overlay: overlays/prod\n';

function configError(text: string): ConfigError {
  try {
    parseConfig(text, 'cfg.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('switch: gated config', () => {
  it('defaults to direct with no gate workflow', () => {
    const env = parseConfig(ENV).environments[0]!;
    expect(env.switch).toBe('direct');
    expect(env.gateWorkflow).toBeUndefined();
  });

  it('reads the gate workflow with its default timeout (10m) and an explicit one', () => {
    const gated = `${ENV}    switch: gated\n    gateWorkflow:\n      name: smokeTest\n      queue: gate\n`;
    expect(parseConfig(gated).environments[0]!.gateWorkflow).toEqual({ name: 'smokeTest', queue: 'gate', timeout: 600 });
    const perApp = parseConfig(`${ENV}    switch: gated\n    gateWorkflow:\n      name: smokeTest\n      queue: "{app}-gate"\n`);
    expect(perApp.environments[0]!.gateWorkflow!.queue).toBe('{app}-gate');
    const own = parseConfig(`${gated}      timeout: 90s\n      databaseUrlEnv: PROD_GATE_URL\n`).environments[0]!.gateWorkflow;
    expect(own).toEqual({ name: 'smokeTest', queue: 'gate', timeout: 90, databaseUrlEnv: 'PROD_GATE_URL' });
  });

  it('refuses an unknown switch mode, unknown gate keys, bad names, a zero timeout, a gate without switch: gated', () => {
    expect(configError(`${ENV}    switch: canary\n`).message).toContain('switch');
    const gate = (lines: string, mode = 'gated') => `${ENV}    switch: ${mode}\n    gateWorkflow:\n${lines}`;
    expect(configError(gate('      name: smokeTest\n      queue: gate\n      url: x\n')).message).toContain('url');
    expect(configError(gate('      name: "smoke test; drop"\n      queue: gate\n')).message).toContain('must be a workflow or queue name');
    expect(configError(gate('      name: smokeTest\n      queue: ""\n')).message).toContain('must be a workflow or queue name');
    expect(configError(gate('      name: smokeTest\n      queue: "{application}"\n')).message).toContain('must be a workflow or queue name');
    expect(configError(gate('      name: smokeTest\n      queue: gate\n      timeout: 0\n')).message).toContain('must be above 0');
    expect(configError(gate('      name: smokeTest\n      queue: gate\n      databaseUrlEnv: postgres://x\n')).message).toContain(
      'must be an environment variable name',
    );
    expect(configError(gate('      name: smokeTest\n      queue: gate\n', 'direct')).message).toContain('is only used with switch: gated');
  });
});
