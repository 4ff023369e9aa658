/**
 * Extract the subset of GitHub's published OpenAPI description that the bot uses into
 * packages/testkit/openapi/github-subset.json: the listed operations plus every component they reference,
 * transitively. The GitHub fake validates each request and response against it.
 *
 * Source: @octokit/openapi's generated/api.github.com.json, read from disk (the package's main entry loads every
 * variant, hundreds of MB). Run: pnpm exec tsx packages/testkit/scripts/extract-github-openapi.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** path → methods the bot calls. */
export const OPERATIONS: Record<string, string[]> = {
  '/repos/{owner}/{repo}/pulls': ['get', 'post'],
  '/repos/{owner}/{repo}/pulls/{pull_number}': ['patch'],
  '/repos/{owner}/{repo}/issues/{issue_number}/labels': ['post'],
  '/repos/{owner}/{repo}/issues/{issue_number}/comments': ['post'],
  /** Who the token is (the bot's identity for telling its own PRs from forged ones); refused for installation tokens. */
  '/user': ['get'],
  /** GitHub App authentication: the App (its slug names its bot user), its installation on the repository, a token. */
  '/app': ['get'],
  '/repos/{owner}/{repo}/installation': ['get'],
  '/app/installations/{installation_id}/access_tokens': ['post'],
  /** The dashboard issue: found among the bot's issues, created once, read (conditionally) and edited in place. */
  '/repos/{owner}/{repo}/issues': ['get', 'post'],
  '/repos/{owner}/{repo}/issues/{issue_number}': ['get', 'patch'],
  /** Whether whoever ticked a dashboard checkbox may write to the repository. */
  '/repos/{owner}/{repo}/collaborators/{username}/permission': ['get'],
};

const require = createRequire(import.meta.url);
const packageJson = require.resolve('@octokit/openapi/package.json');
const sourcePath = join(dirname(packageJson), 'generated', 'api.github.com.json');
const source = JSON.parse(readFileSync(sourcePath, 'utf8')) as {
  openapi: string;
  info: { version: string; title: string };
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, Record<string, unknown>>;
};
const sourceVersion = (require('@octokit/openapi/package.json') as { version: string }).version;

const components: Record<string, Record<string, unknown>> = {};

function collect(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(collect);
    return;
  }
  if (!node || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if (key === '$ref' && typeof value === 'string') {
      const [, , kind, name] = value.split('/');
      if (!kind || !name) throw new Error(`unexpected $ref ${value}`);
      // Examples are large and unused by validation.
      if (kind === 'examples') continue;
      components[kind] ??= {};
      if (components[kind][name]) continue;
      const target = source.components[kind]?.[name];
      if (!target) throw new Error(`dangling $ref ${value}`);
      components[kind][name] = target;
      collect(target);
    } else if (key !== 'examples') collect(value);
  }
}

const paths: Record<string, Record<string, unknown>> = {};
for (const [path, methods] of Object.entries(OPERATIONS)) {
  const item = source.paths[path];
  if (!item) throw new Error(`${path} is not in ${sourcePath}`);
  paths[path] = {};
  for (const method of methods) {
    const operation = item[method] as Record<string, unknown> | undefined;
    if (!operation) throw new Error(`${method.toUpperCase()} ${path} is not in ${sourcePath}`);
    const { 'x-github': _xGithub, ...rest } = operation;
    paths[path][method] = rest;
    collect(rest);
  }
}

function stripExamples(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripExamples);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key]) => key !== 'examples' && key !== 'example')
      .map(([key, value]) => [key, stripExamples(value)]),
  );
}

const subset = {
  openapi: source.openapi,
  info: {
    title: `${source.info.title} (subset used by dbos-gitops-bot)`,
    version: source.info.version,
    'x-extracted-from': `@octokit/openapi@${sourceVersion} generated/api.github.com.json`,
  },
  paths: stripExamples(paths),
  components: stripExamples(components),
};
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'openapi', 'github-subset.json');
writeFileSync(out, `${JSON.stringify(subset, null, 2)}\n`);
console.log(`wrote ${out}: ${Object.keys(paths).length} paths, ${Object.values(components).reduce((n, group) => n + Object.keys(group).length, 0)} components`);
