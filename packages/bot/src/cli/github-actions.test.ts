import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, startRegistryProxy, type RegistryProxy, type TestRegistry } from '@dbos-gitops/testkit';
import { ConfigError, YamlEditError } from '../errors.ts';
import { createWorld, type World } from '../../testing/world.ts';
import { errorAnnotation, escapeData, escapeProperty, groupOutput, inertLine, lineOfPath, workflowCommand } from './github-actions.ts';

/**
 * How the Actions runner reads a log line (actions/runner ActionCommand.TryParseV2): after trimming leading
 * whitespace, `::name props::data` is a command. Returns the command names the runner would execute, honouring
 * `::stop-commands::TOKEN` … `::TOKEN::` as the runner does.
 */
function commandsIn(output: string): Array<{ name: string; properties: string; data: string }> {
  const found: Array<{ name: string; properties: string; data: string }> = [];
  let stopToken: string | null = null;
  for (const raw of output.split(/\r?\n|\r/)) {
    const line = raw.trimStart();
    if (stopToken !== null) {
      if (line === `::${stopToken}::`) stopToken = null;
      continue;
    }
    // The runner tries the `::` form first, then the legacy `##[` form.
    const end = line.startsWith('::') ? line.indexOf('::', 2) : -1;
    if (end < 0) {
      if (line.includes('##[')) found.push({ name: 'legacy', properties: '', data: line });
      continue;
    }
    const info = line.slice(2, end);
    const space = info.indexOf(' ');
    const name = space < 0 ? info : info.slice(0, space);
    const command = { name, properties: space < 0 ? '' : info.slice(space + 1), data: line.slice(end + 2) };
    found.push(command);
    if (name === 'stop-commands') stopToken = command.data;
  }
  return found;
}

const HOSTILE = 'Bump dex\n::set-output name=token::x\r::add-mask::y %0A ##[set-env name=A]b';

describe('workflow command escaping', () => {
  it('escapes data and properties as the runner unescapes them', () => {
    expect(escapeData('50% a\r\nb')).toBe('50%25 a%0D%0Ab');
    expect(escapeProperty('a:b,c%\n')).toBe('a%3Ab%2Cc%25%0A');
    expect(workflowCommand('error', { file: 'x,y:z.yaml', line: 3 }, 'bad\n::endgroup::')).toBe('::error file=x%2Cy%3Az.yaml,line=3::bad%0A::endgroup::');
  });

  it('an annotation whose message holds newlines and "::" is one command, nothing more', () => {
    const line = workflowCommand('error', { file: '.github/gitops-bot.yaml', line: 1 }, HOSTILE);
    expect(commandsIn(line).map((command) => command.name)).toEqual(['error']);
  });

  it('a task output line that looks like a command is made inert', () => {
    expect(inertLine('  ::add-mask::x')).toBe('|   ::add-mask::x');
    expect(commandsIn(inertLine('##[set-env name=A]b'))).toEqual([]);
    expect(inertLine('not proposed image-update dev dex: fine')).toBe('not proposed image-update dev dex: fine');
  });

  it('a group of hostile lines (a PR title or tag with "::" and newlines) runs no command but the group', () => {
    const output = groupOutput('image-update', [`created bot/image-update/dev/dex: ${HOSTILE}`, '::endgroup::', ' ::error::forged'], 'token1');
    const commands = commandsIn(output);
    expect(commands.map((command) => command.name)).toEqual(['group', 'stop-commands', 'endgroup']);
    expect(commands[0]!.data).toBe('image-update');
    // Even with command processing never stopped, no line of the body is a command.
    const body = output.split('\n').slice(2, -3).join('\n');
    expect(commandsIn(body)).toEqual([]);
    expect(body).toContain('::set-output name=token::x');
  });
});

describe('error annotations', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'annotations-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the line of a config field path', () => {
    const text = 'version: 1\nenvironments:\n  - name: dev\n    overlay: overlays/dev\n  - name: prod\n    overlay: overlays/nope\n';
    expect(lineOfPath(text, 'environments[1].overlay')).toBe(6);
    expect(lineOfPath(text, 'environments[1].missing')).toBe(5);
    expect(lineOfPath('a: [', 'a')).toBeNull();
  });

  it('a config error names .github/gitops-bot.yaml and the line of its field, with the fix', async () => {
    const file = join(dir, '.github', 'gitops-bot.yaml');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, '.github'), { recursive: true });
    writeFileSync(file, 'version: 1\nenvironments:\n  - name: dev\n    overlay: overlays/typo\n');
    const error = new ConfigError('overlay "overlays/typo" does not exist', file, 'environments[0].overlay', 'set environments[0].overlay to overlays/dev');
    const annotation = (await errorAnnotation(error, dir))!;
    expect(annotation.startsWith('::error file=.github/gitops-bot.yaml,line=4,title=gitops-bot%3A exit 2::')).toBe(true);
    expect(annotation).toContain(' — set environments[0].overlay to overlays/dev');
  });

  it('a YAML error keeps its file and line; hostile text in it stays one command', async () => {
    const error = new YamlEditError('overlays/dev/images/kustomization.yaml', `not valid YAML at line 7, column 3: ${HOSTILE}`);
    const annotation = (await errorAnnotation(error, dir))!;
    expect(annotation.startsWith('::error file=overlays/dev/images/kustomization.yaml,line=7,')).toBe(true);
    expect(commandsIn(annotation).map((command) => command.name)).toEqual(['error']);
  });

  it('anything that is not a BotError gets no annotation (its message may hold anything)', async () => {
    expect(await errorAnnotation(new Error(`postgresql://u:${randomBytes(6).toString('hex')}@h/db`), dir)).toBeNull();
  });
});

describe('pnpm bot run in GitHub Actions (real registry, bare remote, GitHub fake)', () => {
  const DAY = 86_400_000;
  let registry: TestRegistry;
  let proxy: RegistryProxy;
  let world: World;
  let summaryDir: string;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startRegistryProxy(registry);
    const { digest } = await registry.pushImage('gha/dex', '1.0.0', { created: new Date(Date.now() - 60 * DAY) });
    await registry.pushImage('gha/dex', '1.1.0', { created: new Date(Date.now() - 10 * DAY) });
    summaryDir = mkdtempSync(join(tmpdir(), 'summary-'));
    world = await createWorld(
      { environments: ['dev', 'prod'], images: [{ id: 'dex', name: 'example/dex', repository: `${proxy.host}/gha/dex`, tag: '1.0.0', digest }] },
      { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: join(summaryDir, 'summary.md') },
    );
  }, 120_000);

  afterAll(async () => {
    await world?.dispose();
    await proxy?.stop();
    await registry?.stop();
    rmSync(summaryDir, { recursive: true, force: true });
  });

  it('groups each task, and writes the job summary with what the run did and the status', async () => {
    const run = await world.run('run', '--task', 'image-update');
    expect(run.code, run.stderr).toBe(0);
    const commands = commandsIn(run.stdout);
    expect(commands.filter((command) => command.name === 'group').map((command) => command.data)).toEqual(['image-update']);
    expect(commands.filter((command) => command.name === 'endgroup')).toHaveLength(1);
    expect(run.stdout).toMatch(/created +bot\/image-update\/dev\/dex \(PR #\d+\)/);
    const summary = readFileSync(join(summaryDir, 'summary.md'), 'utf8');
    expect(summary).toContain('## gitops-bot run');
    expect(summary).toMatch(/<summary>image-update \(1\)<\/summary>/);
    expect(summary).toContain('## Status');
    // The status lists the PR this run opened, read back from the forge, with its link.
    expect(summary).toMatch(/- \[#\d+\]\(http[^)]+\) `bot\/image-update\/dev\/dex`/);
    // The status is the base branch's: the PR is open, not merged, so dev still runs 1.0.0.
    expect(summary).toMatch(/\| image example\/dex \| 1\.0\.0 @ [0-9a-f]{12} \| 1\.0\.0 @ [0-9a-f]{12} \|/);
  });

  it('a config error becomes an annotation on .github/gitops-bot.yaml at the field, and the run exits 2', async () => {
    const config = join(world.userDir, '.github', 'gitops-bot.yaml');
    const text = readFileSync(config, 'utf8');
    writeFileSync(config, text.replace('overlay: overlays/prod', 'overlay: ../prod'));
    try {
      const run = await world.run('run');
      expect(run.code).toBe(2);
      const annotation = commandsIn(run.stdout).find((command) => command.name === 'error');
      expect(annotation?.properties).toBe(
        `file=.github/gitops-bot.yaml,line=${text.split('\n').indexOf('    overlay: overlays/prod') + 1},title=gitops-bot%3A exit 2`,
      );
      expect(annotation?.data).toContain('environments[1].overlay');
      expect(annotation?.data).toContain(' — fix ');
      const summary = readFileSync(join(summaryDir, 'summary.md'), 'utf8');
      const failed = summary.slice(summary.indexOf('## gitops-bot run failed\n\n'));
      expect(failed).toMatch(/^## gitops-bot run failed\n\n.*environments\\\[1\\\]\.overlay: must be a path inside the repository.*\(exit 2\)\n$/);
    } finally {
      writeFileSync(config, text);
    }
  });
});
