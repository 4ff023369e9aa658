import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverRenderTargets } from './discover.ts';
import { ToolError } from './errors.ts';
import { createFixtureRepo } from '../testing/fixture-repo.ts';
import { objectIdentity, renderTarget } from './render.ts';
import type { K8sObject } from './types.ts';
import { parseAllDocuments } from 'yaml';

let root: string;
let scratch: string;

beforeAll(async () => {
  root = await createFixtureRepo();
  scratch = await mkdtemp(path.join(os.tmpdir(), 'validate-render-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

function overlay() {
  const target = discoverRenderTargets(root).find((t) => t.id === 'overlays/dev');
  if (!target) throw new Error('fixture has no overlays/dev');
  return target;
}

describe('discoverRenderTargets', () => {
  it('finds overlays, argocd and flux entry points and flux stages that hold a kustomization', async () => {
    const stages = path.join(root, 'clusters/dev/flux/stages');
    execFileSync('mkdir', ['-p', path.join(stages, 'foundation'), path.join(stages, 'empty')]);
    await writeFile(path.join(stages, 'foundation/kustomization.yaml'), 'resources: []\n');
    try {
      expect(discoverRenderTargets(root).map((t) => `${t.kind}:${t.env}:${t.id}`)).toEqual([
        'overlay:dev:overlays/dev',
        'argocd:dev:clusters/dev/argocd',
        'flux:dev:clusters/dev/flux',
        'flux-stage:dev:clusters/dev/flux/stages/foundation',
      ]);
    } finally {
      await rm(stages, { recursive: true, force: true });
    }
  });
});

describe('renderTarget', () => {
  it('attributes every object to its source file across ../ hops, and strips the origin annotation', async () => {
    const render = await renderTarget(overlay(), { root });
    expect(render.originAnnotations).toBe(true);
    const byRef = new Map(render.objects.map((o) => [`${o.object.kind}/${o.object.metadata?.name}`, o]));
    expect(byRef.get('Deployment/conductor')?.file).toBe('base/conductor/deployment.yaml');
    expect(byRef.get('Deployment/dbos-app-1-0-0')?.file).toBe('base/app-version/deployment.yaml');
    expect(byRef.get('Service/dbos-app')?.file).toBe('overlays/dev/app-versions/service.yaml');
    for (const { object } of render.objects) {
      expect(object.metadata?.annotations?.['config.kubernetes.io/origin']).toBeUndefined();
    }
    // The Ingress keeps its own annotations; only kustomize's is removed.
    expect(byRef.get('Ingress/conductor')?.object.metadata?.annotations).toHaveProperty('nginx.ingress.kubernetes.io/proxy-read-timeout');
  });

  it('renders exactly the objects a plain kubectl kustomize does, and strips the transformations annotation', async () => {
    const render = await renderTarget(overlay(), { root });
    const plain = parseAllDocuments(execFileSync('kubectl', ['kustomize', path.join(root, 'overlays/dev')], { encoding: 'utf8' }))
      .map((doc) => doc.toJS() as K8sObject)
      .filter((object) => object !== null);
    const identities = (objects: K8sObject[]) => objects.map(objectIdentity).sort();
    expect(identities(render.objects.map((o) => o.object))).toEqual(identities(plain));
    for (const { object, source } of render.objects) {
      expect(object.metadata?.annotations?.['alpha.config.kubernetes.io/transformations']).toBeUndefined();
      expect(source?.env).toBe('dev');
    }
    const app = render.objects.find((o) => o.object.kind === 'Deployment' && o.object.metadata?.name === 'dbos-app-1-0-0');
    // The version directory that pulled the shared template in, innermost first, each once (the fixture's
    // base/app-version only lists resources, so no transformer of its own visits the object).
    expect(app?.source?.kustomizations).toEqual([
      'overlays/dev/app-versions/1-0-0/kustomization.yaml',
      'overlays/dev/app-versions/kustomization.yaml',
      'base/components/sync-waves/kustomization.yaml',
      'overlays/dev/kustomization.yaml',
    ]);
  });

  it('relies on a relative path because kustomize refuses an absolute resource path', async () => {
    const wrapper = path.join(scratch, 'absolute');
    execFileSync('mkdir', ['-p', wrapper]);
    await writeFile(path.join(wrapper, 'kustomization.yaml'), `resources:\n  - ${path.join(root, 'overlays/dev')}\n`);
    expect(() => execFileSync('kubectl', ['kustomize', wrapper], { stdio: 'pipe' })).toThrow(/cannot be absolute/);
  });

  it('falls back to a direct render, attributed to the entry point, when the wrapper cannot be used', async () => {
    // A kubectl that refuses only the wrapper directory, then hands everything else to the real one.
    const shim = path.join(scratch, 'kubectl-no-wrapper');
    await writeFile(shim, `#!/bin/sh\ncase "$2" in *validate-wrapper-*) echo 'error: wrapper refused' >&2; exit 1;; esac\nexec kubectl "$@"\n`);
    await chmod(shim, 0o755);
    const render = await renderTarget(overlay(), { root, kubectl: shim });
    expect(render.originAnnotations).toBe(false);
    expect(render.error).toBeUndefined();
    expect(render.objects.length).toBe(25);
    expect(new Set(render.objects.map((o) => o.file))).toEqual(new Set(['overlays/dev/kustomization.yaml']));
  });

  it("reports kustomize's message without the klog prefix when the target itself is broken", async () => {
    const broken = path.join(scratch, 'broken');
    execFileSync('mkdir', ['-p', broken]);
    await writeFile(path.join(broken, 'kustomization.yaml'), 'resources:\n  - missing.yaml\n');
    const render = await renderTarget({ id: 'broken', kind: 'overlay', env: 'x', dir: broken }, { root: scratch });
    expect(render.objects).toEqual([]);
    expect(render.error).toContain('missing.yaml');
    expect(render.error).not.toMatch(/run\.go|command failed/);
  });

  it('throws a ToolError naming kubectl when it is not installed', async () => {
    await expect(renderTarget(overlay(), { root, kubectl: path.join(scratch, 'no-such-kubectl') })).rejects.toThrow(ToolError);
    await expect(renderTarget(overlay(), { root, kubectl: path.join(scratch, 'no-such-kubectl') })).rejects.toThrow(/was not found on PATH; install kubectl/);
  });
});
