/**
 * The scaffold on a fresh clone (issue 10): `git clone` of this repository, `pnpm apps:add` there, and the new
 * application renders with real kustomize, passes `pnpm validate`, and is planned by the bot.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CatalogRegistry, EMBEDDED_CATALOG, fsTree, parseConfig, planAll, TASKS } from '@dbos-gitops/bot';
import { validateRepo } from '@dbos-gitops/validate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { addPaymentsArgs, REPO_ROOT, runApps } from '../testing/index.ts';

const DIGEST = `sha256:${'1'.repeat(64)}`;
const NEWER = `sha256:${'2'.repeat(64)}`;
let clone: string;

beforeAll(() => {
  clone = mkdtempSync(join(tmpdir(), 'apps-fresh-clone-'));
  rmSync(clone, { recursive: true });
  execFileSync('git', ['clone', '--quiet', '--no-hardlinks', REPO_ROOT, clone]);
});
afterAll(() => rmSync(clone, { recursive: true, force: true }));

describe('apps:add on a fresh clone', () => {
  it('renders, validates and is planned by the bot', { timeout: 240_000 }, async () => {
    const databaseUrl = `postgresql://payments_role:${randomBytes(12).toString('base64url')}@postgres.dev.example.internal:5432/dbos_app`;
    const run = await runApps([...addPaymentsArgs(DIGEST)], { root: clone, stdin: `${databaseUrl}\n${randomBytes(12).toString('hex')}\n` });
    expect(run.stderr).not.toContain('error:');
    expect(run.code).toBe(0);

    // Renders with real kustomize: its Deployment, migration Job, ScaledObject naming it and its version, Service, route.
    const rendered = parseAllDocuments(execFileSync('kubectl', ['kustomize', join(clone, 'overlays/dev')], { encoding: 'utf8', maxBuffer: 64 << 20 })).map(
      (doc) => doc.toJS() as { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any },
    );
    const payments = rendered.filter((object) => object.metadata.labels?.['dbos.dev/app'] === 'payments');
    const names = payments.map((object) => `${object.kind}/${object.metadata.name}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'Deployment/payments-3-0-0',
        'ScaledObject/payments-3-0-0',
        'PodDisruptionBudget/payments-3-0-0',
        'Job/payments-migrate-schema',
        'Service/payments',
        'Ingress/payments',
      ]),
    );
    const query = payments.find((object) => object.kind === 'ScaledObject')!.spec.triggers[0].metadata.query as string;
    expect(query).toContain("application_version = '3.0.0'");
    expect(query).toContain("application_name = 'payments'");

    // pnpm validate on the clone: every rule, including its own Argo CD Application and Flux chain.
    const validation = await validateRepo({ root: clone });
    expect(validation.violations).toEqual([]);

    // The bot plans it: a newer payments tag in the registry is proposed as payments' next version in dev.
    const catalog = join(clone, 'catalog.yaml');
    // The example catalog (every other application's and image's tags) plus payments' two releases.
    writeFileSync(
      catalog,
      `${readFileSync(EMBEDDED_CATALOG, 'utf8').trimEnd()}\n  ghcr.io/example-org/payments:\n    - { tag: "3.0.0", digest: "${DIGEST}", created: "2026-01-01T00:00:00Z" }\n    - { tag: "3.1.0", digest: "${NEWER}", created: "2026-01-02T00:00:00Z" }\n`,
    );
    const config = parseConfig(readFileSync(join(clone, '.github/gitops-bot.yaml'), 'utf8'));
    const { plans } = await planAll({
      config,
      tasks: TASKS.filter((task) => task.name === 'version-add'),
      tree: fsTree(clone),
      registry: new CatalogRegistry(catalog),
      kube: null,
      pullRequests: [],
      envFilter: 'dev',
      now: new Date('2026-11-30T00:00:00Z'),
      log: () => undefined,
    });
    const plan = plans.find((candidate) => candidate.branch === 'bot/version-add/dev/payments/3-1-0');
    expect(plan).toBeDefined();
    expect(plan!.edits.every((edit) => edit.path.startsWith('overlays/dev/apps/payments/'))).toBe(true);
    expect(parse(plan!.edits.find((edit) => edit.path.endsWith('versions/service.yaml'))!.after!).spec.selector['dbos.dev/app-version']).toBe('3-1-0');
  });
});
