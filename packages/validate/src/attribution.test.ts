import { cp } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { editYaml, useFixtureRepos, writeFiles } from '../testing/fixture-repo.ts';
import { validateRepo } from './validate.ts';

const freshRepo = useFixtureRepos();

async function onlyViolation(root: string, rule: string) {
  const { violations } = await validateRepo({ root, only: rule });
  expect(violations, JSON.stringify(violations, null, 2)).toHaveLength(1);
  return violations[0]!;
}

describe('a violation names the environment and the overlay file that caused it', () => {
  it("an image broken by a version directory's images: entry keeps the base file and names that kustomization", async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/app-versions/1-0-0/kustomization.yaml', ([k]) => {
      k!.images[0].newTag = 'latest';
    });
    const v = await onlyViolation(root, 'image-pinned');
    expect(v.file).toBe('base/app-version/deployment.yaml');
    expect(v.object).toBe('Deployment/dbos/dbos-app-1-0-0');
    expect(v.where).toEqual([{ env: 'dev', file: 'overlays/dev/app-versions/1-0-0/kustomization.yaml' }]);
  });

  it("an image broken by the environment's pins component names the pins file, not the overlay listing it", async () => {
    const root = await freshRepo();
    // The layout of overlays/<env>/images/: a Component holding only the environment's images: entries.
    await writeFiles(root, {
      'overlays/dev/images/kustomization.yaml': stringify({
        apiVersion: 'kustomize.config.k8s.io/v1alpha1',
        kind: 'Component',
        images: [{ name: 'ghcr.io/dexidp/dex', newTag: 'latest' }],
      }),
    });
    await editYaml(root, 'overlays/dev/kustomization.yaml', ([k]) => {
      k!.components = ['images', ...k!.components];
    });
    const v = await onlyViolation(root, 'image-pinned');
    expect(v.file).toBe('base/dex/deployment.yaml');
    expect(v.message).toContain('ghcr.io/dexidp/dex:latest');
    expect(v.where).toEqual([{ env: 'dev', file: 'overlays/dev/images/kustomization.yaml' }]);
  });

  it('a field broken by an overlay patch names the patch file, not the kustomization listing it', async () => {
    const root = await freshRepo();
    await writeFiles(root, {
      'overlays/dev/console-debug.patch.yaml': stringify([
        { op: 'replace', path: '/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation', value: true },
      ]),
    });
    await editYaml(root, 'overlays/dev/kustomization.yaml', ([k]) => {
      k!.patches = [
        // A patch that touches the field for another object must not be blamed.
        { path: 'dex-debug.patch.yaml', target: { kind: 'Deployment', name: 'dex' } },
        { path: 'console-debug.patch.yaml', target: { kind: 'Deployment', name: 'console' } },
      ];
    });
    await writeFiles(root, {
      'overlays/dev/dex-debug.patch.yaml': stringify([
        { op: 'replace', path: '/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation', value: false },
      ]),
    });
    const v = await onlyViolation(root, 'no-privilege-escalation');
    expect(v.file).toBe('base/console/deployment.yaml');
    expect(v.where).toEqual([{ env: 'dev', file: 'overlays/dev/console-debug.patch.yaml' }]);
  });

  it('otherwise names the nearest overlay kustomization that pulled the shared object in', async () => {
    const root = await freshRepo();
    await editYaml(root, 'base/app-version/deployment.yaml', ([d]) => {
      delete d!.spec.template.spec.containers[0].resources.limits;
    });
    await editYaml(root, 'base/dex/deployment.yaml', ([d]) => {
      delete d!.spec.template.spec.containers[0].resources.requests;
    });
    const { violations } = await validateRepo({ root, only: 'resources' });
    expect(violations.map((v) => [v.file, v.where])).toEqual([
      ['base/app-version/deployment.yaml', [{ env: 'dev', file: 'overlays/dev/app-versions/1-0-0/kustomization.yaml' }]],
      ['base/dex/deployment.yaml', [{ env: 'dev', file: 'overlays/dev/kustomization.yaml' }]],
    ]);
  });

  it('is reported once for every environment that shows it, each with its own overlay file', async () => {
    const root = await freshRepo();
    // A second environment built the same way as dev, on the same shared base.
    await cp(path.join(root, 'overlays/dev'), path.join(root, 'overlays/staging'), { recursive: true });
    await editYaml(root, 'base/dex/deployment.yaml', ([d]) => {
      delete d!.spec.template.spec.containers[0].livenessProbe;
    });
    const v = await onlyViolation(root, 'probes');
    expect(v.file).toBe('base/dex/deployment.yaml');
    expect(v.where).toEqual([
      { env: 'dev', file: 'overlays/dev/kustomization.yaml' },
      { env: 'staging', file: 'overlays/staging/kustomization.yaml' },
    ]);
  });

  it('a rule about a whole environment names the environment its file sits in', async () => {
    const root = await freshRepo();
    await editYaml(root, 'overlays/dev/kustomization.yaml', ([k]) => {
      k!.resources = k!.resources.filter((r: string) => r !== '../../base/network-policies');
    });
    const { violations } = await validateRepo({ root, only: 'network-policy-matrix' });
    expect(violations.length).toBeGreaterThan(0);
    for (const v of violations) expect(v.where?.map((site) => site.env)).toEqual(['dev']);
  });
});
