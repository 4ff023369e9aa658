/**
 * Applications against the real tree: what each environment's applications render, that one application's broken
 * manifest leaves the others' sync units renderable, and that each per-application rule trips on a copy of the tree
 * broken in exactly its way (and passes on the tree itself).
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { editYaml } from '../testing/fixture-repo.ts';
import { APP_LABEL } from './policies/applications.ts';
import { queryLiterals } from './policies/app-versions.ts';
import type { K8sObject, Render } from './types.ts';
import { type ValidateResult, validateRepo } from './validate.ts';
import { discoverRenderTargets } from './discover.ts';
import { renderTarget } from './render.ts';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');
const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const STAGES = ['foundation', 'migrations', 'workloads', 'routing'];
const created: string[] = [];

/** A copy of what renders (and what the bot-token rule reads) in a temporary directory; removed after the file. */
async function copyRealTree(): Promise<string> {
  const copy = await mkdtemp(path.join(os.tmpdir(), 'validate-apps-'));
  created.push(copy);
  for (const tree of ['base', 'overlays', 'clusters', '.github']) {
    if (existsSync(path.join(repoRoot, tree))) await cp(path.join(repoRoot, tree), path.join(copy, tree), { recursive: true });
  }
  return copy;
}

async function listDirs(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/**
 * The per-application Flux chain of the preamble's contract, written only where the tree does not have its own yet
 * (clusters/<env>/flux/apps lands with the clusters change): four Kustomizations appending the stage filters.
 */
async function ensureFluxAppChains(root: string, env: string): Promise<void> {
  if (existsSync(path.join(root, 'clusters', env, 'flux', 'apps'))) return;
  const apps = await listDirs(path.join(root, 'overlays', env, 'apps'));
  const docs = apps.flatMap((app) =>
    STAGES.map((stage, index) => ({
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: `app-${app}-${stage}`, namespace: 'flux-system' },
      spec: {
        dependsOn: [{ name: index === 0 ? 'dbos-foundation' : `app-${app}-${STAGES[index - 1]}` }],
        interval: '10m',
        path: `./overlays/${env}/apps/${app}`,
        prune: true,
        wait: true,
        sourceRef: { kind: 'GitRepository', name: 'flux-system' },
        components: [`../../../../clusters/common/flux/stage-filters/${stage}`],
      },
    })),
  );
  await writeFile(path.join(root, 'clusters', env, 'flux', 'apps.yaml'), docs.map((d) => stringify(d)).join('---\n'));
  await editYaml(root, `clusters/${env}/flux/kustomization.yaml`, ([k]) => {
    k!.resources.push('apps.yaml');
  });
}

afterAll(async () => {
  await Promise.all(created.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The version an application's Service selects (its slug) and that version's DBOS__APPVERSION, read from the tree. */
async function latestVersion(root: string, app: string): Promise<{ slug: string; version: string }> {
  const service = parse(await readFile(path.join(root, `overlays/dev/apps/${app}/versions/service.yaml`), 'utf8'));
  const slug = String(service.spec.selector['dbos.dev/app-version']);
  const patch = await readFile(path.join(root, `overlays/dev/apps/${app}/versions/${slug}/version.patch.yaml`), 'utf8');
  const version = /name: DBOS__APPVERSION\s+value: "?([^"\s]+)"?/.exec(patch)?.[1];
  if (!version) throw new Error(`no DBOS__APPVERSION in ${app}'s version ${slug}`);
  return { slug, version };
}

const byKind = (render: Render, kind: string) => render.objects.filter((o) => o.object.kind === kind).map((o) => o.object);
const names = (objects: K8sObject[]) => objects.map((o) => o.metadata?.name).sort();

describe('the real tree, per environment and application', () => {
  let result: ValidateResult;
  let renders: Render[];

  beforeAll(async () => {
    result = await validateRepo({ root: repoRoot });
    // validateRepo reports render summaries; the objects themselves come from rendering each application again.
    const targets = discoverRenderTargets(repoRoot).filter((t) => t.kind === 'app' || t.kind === 'platform');
    renders = await Promise.all(targets.map((t) => renderTarget(t, { root: repoRoot })));
  }, 300_000);

  it('passes every rule, and renders every application directory and the platform', () => {
    expect(result.violations).toEqual([]);
    const units = result.renders.filter((r) => r.kind === 'app' || r.kind === 'platform').map((r) => r.id);
    expect(units).toEqual(expect.arrayContaining(['overlays/dev/platform', 'overlays/dev/apps/dbos-app', 'overlays/dev/apps/orders']));
    expect(units).toEqual(expect.arrayContaining(['overlays/staging/apps/dbos-app', 'overlays/prod/apps/dbos-app']));
    expect(renders.every((r) => r.error === undefined)).toBe(true);
  });

  it("renders each application's versions (Deployment, ScaledObject, PDB), one Job, one Service, its accounts, policies, secrets and route", async () => {
    const apps = renders.filter((r) => r.kind === 'app');
    expect(apps.length).toBeGreaterThanOrEqual(4);
    for (const render of apps) {
      const dir = path.join(repoRoot, render.id);
      const app = path.basename(render.id);
      const identity = parse(await readFile(path.join(dir, 'identity.yaml'), 'utf8')).data as Record<string, string>;
      const versionList = parse(await readFile(path.join(dir, 'versions/kustomization.yaml'), 'utf8')).resources as string[];
      const slugs = versionList.filter((r) => r !== 'service.yaml').sort();
      expect(slugs.length, render.id).toBeGreaterThan(0);
      const perVersion = slugs.map((slug) => `${app}-${slug}`);
      expect(names(byKind(render, 'Deployment')), render.id).toEqual(perVersion);
      expect(names(byKind(render, 'ScaledObject')), render.id).toEqual(perVersion);
      expect(names(byKind(render, 'PodDisruptionBudget')), render.id).toEqual(perVersion);
      expect(names(byKind(render, 'Job')), render.id).toEqual([`${identity.migrate}-schema`]);
      expect(names(byKind(render, 'Service')), render.id).toEqual([app]);
      expect(names(byKind(render, 'ServiceAccount')), render.id).toEqual([app, identity.migrate].sort());
      expect(names(byKind(render, 'NetworkPolicy')), render.id).toEqual(expect.arrayContaining([`allow-${app}-egress`, `allow-${app}-ingress`]));
      expect(names(byKind(render, 'SealedSecret')), render.id).toEqual([identity['conductor-api-key-secret'], identity['database-secret']].sort());
      const routes = [...byKind(render, 'Ingress'), ...byKind(render, 'HTTPRoute')];
      expect(names(routes), render.id).toEqual([app]);
      for (const { object } of render.objects) expect(object.metadata?.labels?.[APP_LABEL], `${render.id} ${object.kind}/${object.metadata?.name}`).toBe(app);

      // Each version's KEDA query counts that application's workflows of that version only.
      for (const slug of slugs) {
        const deployment = byKind(render, 'Deployment').find((d) => d.metadata?.name === `${app}-${slug}`)!;
        const containers = (deployment.spec as any).template.spec.containers as Array<{ env?: Array<{ name: string; value?: string }> }>;
        const version = containers.flatMap((c) => c.env ?? []).find((e) => e.name === 'DBOS__APPVERSION')?.value;
        expect(version, `${render.id} ${slug}`).toMatch(/^\d+\.\d+\.\d+/);
        const scaled = byKind(render, 'ScaledObject').find((s) => s.metadata?.name === `${app}-${slug}`)!;
        const trigger = ((scaled.spec as any).triggers as Array<{ type: string; metadata: { query?: string } }>).find((t) => t.type === 'postgresql')!;
        expect(queryLiterals(trigger.metadata.query!, 'application_name')).toEqual([identity.name]);
        expect(queryLiterals(trigger.metadata.query!, 'application_version')).toEqual([version]);
        expect((scaled.spec as any).scaleTargetRef.name).toBe(`${app}-${slug}`);
      }
    }
  });

  it('shares no object between two applications, nor between an application and the platform', () => {
    for (const env of new Set(renders.map((r) => r.env))) {
      const seen = new Map<string, string>();
      for (const render of renders.filter((r) => r.env === env)) {
        for (const { object } of render.objects) {
          const key = `${object.kind}/${object.metadata?.namespace ?? ''}/${object.metadata?.name}`;
          expect(seen.get(key), `${key} in ${render.id}`).toBeUndefined();
          seen.set(key, render.id);
        }
      }
      // The control plane is the platform's only.
      const platform = renders.find((r) => r.env === env && r.kind === 'platform')!;
      expect(names(byKind(platform, 'Deployment'))).toEqual(expect.arrayContaining(['conductor', 'console', 'dex']));
      expect(platform.objects.some((o) => o.object.metadata?.labels?.[APP_LABEL] !== undefined)).toBe(false);
    }
  });
});

describe("one application's broken manifest", () => {
  let root: string;
  let result: ValidateResult;

  beforeAll(async () => {
    root = await copyRealTree();
    await ensureFluxAppChains(root, 'dev');
    // An invalid patch (not YAML): kustomize refuses the whole directory, whatever stage filter is appended.
    await writeFile(path.join(root, 'overlays/dev/apps/orders/rollout.patch.yaml'), 'spec: [template\n');
    result = await validateRepo({ root });
  }, 300_000);

  it("leaves the other application's Argo CD path and its four Flux stages renderable, and breaks only orders'", () => {
    const byId = new Map(result.renders.map((r) => [r.id, r]));
    expect(byId.get('overlays/dev/apps/dbos-app')?.error).toBeUndefined();
    expect(byId.get('overlays/dev/apps/dbos-app')?.objects).toBeGreaterThan(0);
    expect(byId.get('overlays/dev/apps/orders')?.error).toBeDefined();
    for (const stage of STAGES) {
      const healthy = byId.get(`overlays/dev/apps/dbos-app › Kustomization/app-dbos-app-${stage}`);
      expect(healthy?.kind, stage).toBe('flux-app');
      expect(healthy?.error, stage).toBeUndefined();
      expect(byId.get(`overlays/dev/apps/orders › Kustomization/app-orders-${stage}`)?.error, stage).toBeDefined();
    }
    // The platform's own sync unit is untouched.
    expect(byId.get('overlays/dev/platform')?.error).toBeUndefined();
  });

  it('is reported by name, and pnpm validate exits non-zero', () => {
    const render = result.violations.filter((v) => v.rule === 'render');
    expect(render.map((v) => v.message).join('\n')).toContain('overlays/dev/apps/orders');
    expect(render.map((v) => v.message).join('\n')).not.toContain('apps/dbos-app');
    const run = spawnSync(tsx, [cli, '--root', root], { encoding: 'utf8', timeout: 300_000 });
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('overlays/dev/apps/orders');
  });
});

describe('the per-application rules on a broken copy of the tree', () => {
  const rulesOf = (r: ValidateResult) => [...new Set(r.violations.map((v) => v.rule))].sort();

  it("app-service: orders' Service selecting a version it does not run", async () => {
    const root = await copyRealTree();
    await editYaml(root, 'overlays/dev/apps/orders/versions/service.yaml', ([s]) => {
      s!.spec.selector['dbos.dev/app-version'] = '9-9-9';
    });
    const result = await validateRepo({ root, only: 'app-service' });
    expect(result.violations).toHaveLength(1);
    expect(result.violations[0]).toMatchObject({ object: 'Service/dbos/orders', file: 'overlays/dev/apps/orders/versions/service.yaml' });
    expect(result.violations[0]!.message).toBe('selects version "9-9-9", which is not a live version of orders (no Deployment in overlays/dev)');
  }, 120_000);

  it("app-version-complete: a KEDA query left counting the template's version", async () => {
    const root = await copyRealTree();
    const { slug, version } = await latestVersion(root, 'orders');
    await editYaml(root, `overlays/dev/apps/orders/versions/${slug}/kustomization.yaml`, ([k]) => {
      k!.replacements = k!.replacements.filter((r: any) => r.source.fieldPath !== 'spec.template.spec.containers.[name=APP].env.[name=DBOS__APPVERSION].value');
    });
    const result = await validateRepo({ root, only: 'app-version-complete' });
    expect(result.violations.map((v) => [v.rule, v.object])).toEqual([['app-version-complete', `ScaledObject/dbos/orders-${slug}`]]);
    expect(result.violations[0]!.message).toContain(`names application_version 'UNSET', not exactly its DBOS__APPVERSION '${version}'`);
  }, 120_000);

  it('app-label: the application label put into a Deployment selector', async () => {
    const root = await copyRealTree();
    const { slug } = await latestVersion(root, 'orders');
    await editYaml(root, `overlays/dev/apps/orders/versions/${slug}/kustomization.yaml`, ([k]) => {
      k!.labels.push({ pairs: { [APP_LABEL]: 'orders' }, includeSelectors: true });
    });
    const result = await validateRepo({ root, only: 'app-label' });
    expect(result.violations.map((v) => v.object).sort()).toEqual([`Deployment/dbos/orders-${slug}`, `PodDisruptionBudget/dbos/orders-${slug}`]);
    expect(result.violations[0]!.message).toContain(`selects on ${APP_LABEL}`);
  }, 120_000);

  it('app-placeholders: a template token left in a rendered value', async () => {
    const root = await copyRealTree();
    const { slug } = await latestVersion(root, 'orders');
    await editYaml(root, `overlays/dev/apps/orders/versions/${slug}/version.patch.yaml`, ([d]) => {
      d!.spec.template.spec.containers[0].env.push({ name: 'DB_ROLE', value: 'APP_ROLE' });
    });
    const result = await validateRepo({ root, only: 'app-placeholders' });
    expect(result.violations.map((v) => v.object)).toEqual([`Deployment/dbos/orders-${slug}`]);
    expect(result.violations[0]!.message).toBe('container orders env DB_ROLE still holds the template placeholder APP_ROLE ("APP_ROLE")');
  }, 120_000);

  it("app-isolation: orders' Service pointed at dbos-app's executors", async () => {
    const root = await copyRealTree();
    const { slug } = await latestVersion(root, 'dbos-app');
    // A patch of the application directory runs after app-identity, which otherwise rewrites selector.app.
    await editYaml(root, 'overlays/dev/apps/orders/kustomization.yaml', ([k]) => {
      k!.patches.push({
        target: { kind: 'Service' },
        patch: stringify([{ op: 'replace', path: '/spec/selector', value: { app: 'dbos-app', 'dbos.dev/app-version': slug } }]),
      });
    });
    const result = await validateRepo({ root, only: 'app-isolation' });
    expect(result.violations.map((v) => v.object)).toEqual(['Service/dbos/orders']);
    expect(result.violations[0]!.message).toBe(`is orders's Service but selects the pods of Deployment/dbos/dbos-app-${slug} (application dbos-app)`);
  }, 120_000);

  it('app-version-names-unique: orders released under a version name dbos-app runs (DBOS refuses it in the shared system database)', async () => {
    const root = await copyRealTree();
    const { slug } = await latestVersion(root, 'orders');
    const { version: taken } = await latestVersion(root, 'dbos-app');
    await editYaml(root, `overlays/dev/apps/orders/versions/${slug}/version.patch.yaml`, ([d]) => {
      d!.spec.template.spec.containers[0].env.find((e: any) => e.name === 'DBOS__APPVERSION').value = taken;
    });
    const result = await validateRepo({ root, only: 'app-version-names-unique' });
    expect(result.violations.map((v) => [v.rule, v.object])).toEqual([['app-version-names-unique', `Deployment/dbos/orders-${slug}`]]);
    expect(result.violations[0]!.message).toBe(
      `runs DBOS version "${taken}" of orders, which dbos-app also runs in dev; DBOS refuses the second application's executors in their shared system database`,
    );
  }, 120_000);

  it("app-routes-unique: orders routed under dbos-app's path", async () => {
    const root = await copyRealTree();
    const route = path.join(root, 'overlays/dev/apps/orders/route.patch.yaml');
    await writeFile(route, (await readFile(route, 'utf8')).replace('value: /orders(/|$)(.*)', 'value: /app(/|$)(.*)'));
    const result = await validateRepo({ root, only: 'app-routes-unique' });
    expect(result.violations.map((v) => [v.rule, v.object])).toEqual([['app-routes-unique', 'Ingress/dbos/orders']]);
    expect(result.violations[0]!.message).toBe('routes dbos.dev.example.com/app(/|$)(.*) in dev, which Ingress/dbos-app routes too');
  }, 120_000);

  it('network-policy-matrix: an extra caller of one application', async () => {
    const root = await copyRealTree();
    await editYaml(root, 'base/app/network-policies/allow-app-ingress.yaml', ([p]) => {
      p!.spec.ingress[0].from.push({ podSelector: { matchLabels: { app: 'console' } } });
    });
    const result = await validateRepo({ root, only: 'network-policy-matrix' });
    expect(rulesOf(result)).toEqual(['network-policy-matrix']);
    expect(result.violations.map((v) => v.message).sort()).toEqual([
      'allows the flow "console pod → dbos-app:8080", which is not in the Conductor guide\'s allow matrix',
      'allows the flow "console pod → orders:8080", which is not in the Conductor guide\'s allow matrix',
    ]);
  }, 120_000);

  it('sync-order: an application the per-application Flux chains leave out', async () => {
    const root = await copyRealTree();
    await ensureFluxAppChains(root, 'dev');
    if (existsSync(path.join(root, 'clusters/dev/flux/apps/orders.yaml'))) {
      await editYaml(root, 'clusters/dev/flux/apps/kustomization.yaml', ([k]) => {
        k!.resources = k!.resources.filter((r: string) => r !== 'orders.yaml');
      });
    } else {
      const file = path.join(root, 'clusters/dev/flux/apps.yaml');
      const kept = (await readFile(file, 'utf8')).split('---\n').filter((doc) => !doc.includes('name: app-orders-'));
      await writeFile(file, kept.join('---\n'));
    }
    const result = await validateRepo({ root, only: 'sync-order' });
    const missing = result.violations.filter((v) => v.object === 'Kustomization/flux-system/app-orders-*');
    expect(missing.map((v) => v.message)).toEqual([
      "clusters/dev/flux syncs the environment's applications one by one but has no Kustomization chain for overlays/dev/apps/orders, so it is never deployed",
    ]);
  }, 180_000);

  it("sync-order: an application's Flux stage that does not wait for the one before", async () => {
    const root = await copyRealTree();
    await ensureFluxAppChains(root, 'dev');
    const file = existsSync(path.join(root, 'clusters/dev/flux/apps/orders.yaml')) ? 'clusters/dev/flux/apps/orders.yaml' : 'clusters/dev/flux/apps.yaml';
    await editYaml(root, file, (docs) => {
      docs.find((d) => d.metadata.name === 'app-orders-workloads')!.spec.dependsOn = [{ name: 'dbos-foundation' }];
    });
    const result = await validateRepo({ root, only: 'sync-order' });
    const chain = result.violations.filter((v) => v.object === 'Kustomization/flux-system/app-orders-workloads');
    expect(chain.map((v) => v.message)).toEqual([
      "stage workloads of overlays/dev/apps/orders's Flux chain does not wait for its migrations stage (app-orders-migrations), so it can apply out of order",
    ]);
  }, 180_000);
});
