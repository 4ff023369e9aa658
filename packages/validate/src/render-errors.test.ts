import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyRepo, createFixtureRepo, editYaml, fluxStageFiles, writeFiles } from '../testing/fixture-repo.ts';
import { explainRenderError } from './render-errors.ts';
import { cleanKustomizeMessage } from './render.ts';
import { validateRepo } from './validate.ts';

let root: string;

beforeAll(async () => {
  const template = await createFixtureRepo();
  root = await copyRepo(template);
  await rm(template, { recursive: true, force: true });
  // Two Flux stages built on the overlay, so the one break reaches three entry points.
  await writeFiles(root, fluxStageFiles(['foundation', 'workloads']));
  // overlays/dev › app-versions › 1-0-0 › base/app-version, which lists a file that is not there.
  await editYaml(root, 'base/app-version/kustomization.yaml', ([k]) => {
    k!.resources.push('horizontal-pod-autoscaler.yaml');
  });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a render error', () => {
  it('is reported once, root cause first, naming the file that holds the bad reference and each broken entry point', async () => {
    const { violations } = await validateRepo({ root, only: 'render' });
    expect(violations).toHaveLength(1);
    const [v] = violations;
    expect(v!.file).toBe('base/app-version/kustomization.yaml');
    expect(v!.message).toMatch(/^resource 'horizontal-pod-autoscaler\.yaml' does not exist; kustomize cannot render overlays\/dev, /);
    expect(v!.message).toContain('clusters/dev/flux/stages/foundation');
    expect(v!.message).toContain('clusters/dev/flux/stages/workloads');
    expect(v!.message).toContain('(through overlays/dev/app-versions › overlays/dev/app-versions/1-0-0 › base/app-version)');
    expect(v!.where).toEqual([{ env: 'dev', file: 'overlays/dev/app-versions/1-0-0/kustomization.yaml' }]);
    for (const noise of ['accumulating resources', 'must resolve to a file', 'evalsymlink', 'run.go', 'E1130', root]) {
      expect(v!.message).not.toContain(noise);
    }
  });
});

describe('cleanKustomizeMessage and explainRenderError', () => {
  it('drop the klog header also when kubectl prints the message as an err=< block, and name the missing patch file', () => {
    const stderr =
      'E1130 05:52:03.242045   28422 run.go:72] "command failed" err=<\n' +
      "\taccumulating resources: accumulation err='accumulating resources from '../b': '/repo/b' must resolve to a file': recursed accumulation of path '/repo/b': trouble configuring builtin PatchTransformer with config: `\n" +
      '\tpath: p.yaml\n' +
      "\t`: failed to get the patch file from path(p.yaml): evalsymlink failure on '/repo/b/p.yaml' : lstat /repo/b/p.yaml: no such file or directory\n" +
      ' >\n';
    const message = cleanKustomizeMessage(stderr);
    expect(message).not.toMatch(/E1130|run\.go|command failed/);
    const explained = explainRenderError(message, '/repo', 'a');
    expect(explained.file).toBe('b/kustomization.yaml');
    expect(explained.chain).toEqual(['a', 'b']);
    expect(explained.cause).toBe(
      'trouble configuring builtin PatchTransformer with config: ` path: p.yaml `: failed to get the patch file from path(p.yaml): b/p.yaml does not exist',
    );
  });
});
