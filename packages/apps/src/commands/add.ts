/**
 * `pnpm apps:add`: scaffolds one DBOS application in one or more environments, all or nothing. What it writes, per
 * environment: `overlays/<env>/apps/<app>/` (the shape of overlays/dev/apps/orders, its first version from the bot's
 * own template, its two SealedSecrets), the app's line in `overlays/<env>/apps/kustomization.yaml`, its migration
 * image pin, its cluster files (copied from another application's); once: its `apps:` and `images:` entries in
 * `.github/gitops-bot.yaml`. Then it prints, once, the SQL that creates the application's database role.
 */
import { join, posix } from 'node:path';
import {
  addListEntry,
  appDir,
  appVersionSlug,
  appVersionsDir,
  readPatchVersion,
  renderVersionKustomization,
  renderVersionPatch,
  CONFIG_PATH,
} from '@dbos-gitops/bot';
import { existsSync, readdirSync } from 'node:fs';
import type { CommandSpec, FlagValues } from '@dbos-gitops/cli-kit';
import {
  appNames,
  renderAppKustomization,
  renderIdentity,
  renderRolloutPatch,
  renderRoutePatch,
  renderSecretsKustomization,
  renderService,
  renderVersionsList,
  type AppNames,
  type Route,
} from '../app-files.ts';
import { applyChangeset, emptyChangeset } from '../changeset.ts';
import { planClusterFiles } from '../cluster-files.ts';
import { addAppEntry, addMigrateImageEntry } from '../config-edit.ts';
import { appExists, ingressHost, pinnedImages, readConfig, readEnvironment, readOptional, routeKind, type EnvironmentLayout } from '../environment.ts';
import { treeError, usageError, throwIfInterrupted } from '../errors.ts';
import { loadCertificate, readAppSecrets, sealAppSecrets } from '../secrets.ts';
import { insertLines, topLevelList } from '../yaml-lists.ts';
import type { AppsIo } from '../cli/index.ts';

export const spec = {
  usage:
    'pnpm apps:add --name APP --env ENV [--env ENV2 ...] --repository REPO --version VERSION --digest sha256:... (--route /PATH | --host HOST) [--migrate-repository REPO --migrate-tag TAG --migrate-digest sha256:...] [--api-key-placeholder] [--root DIR] [--json]',
  summary:
    'Scaffolds a DBOS application in one or more environments, all or nothing: overlays/ENV/apps/APP/ (identity, route, secrets, ' +
    "Service and its first version from the bot's own template), its line in overlays/ENV/apps/kustomization.yaml, its migration " +
    "image pin, its Argo CD and Flux files under clusters/ENV/ (copied from another application's), and its apps: and images: " +
    'entries in .github/gitops-bot.yaml. Secrets are read from hidden prompts on a terminal, otherwise from stdin, one value per ' +
    "line: for each --env in order, the executors' database URL (postgresql://APP_role:PASSWORD@HOST:PORT/DATABASE), then the " +
    'Conductor API key (left out with --api-key-placeholder). They are sealed with clusters/ENV/sealed-secrets-cert.pem (strict ' +
    'scope, namespace dbos) and never reach argv, output, a temporary file or an error. Prints once, at the end, the SQL that ' +
    'creates the role APP_role (psql asks for its password; it is never printed). Writes nothing on any error, SIGINT or SIGTERM.',
  flags: {
    name: {
      type: 'string',
      valueName: 'APP',
      description: 'the application: a DNS label (lowercase letters, digits, "-", at most 40), its directory and DBOS application name (required)',
    },
    env: {
      type: 'string',
      multiple: true,
      valueName: 'ENV',
      description: 'an environment of .github/gitops-bot.yaml to add it to (repeatable; required); overlays/ENV must exist',
    },
    repository: { type: 'string', valueName: 'REPO', description: "the application image's registry repository, e.g. ghcr.io/org/app (required)" },
    version: {
      type: 'string',
      valueName: 'VERSION',
      description:
        "the first version, e.g. 0.1.0: the image tag and the DBOS__APPVERSION its executors run (required; --version without a value prints the tool's version)",
    },
    digest: { type: 'string', valueName: 'sha256:HEX', description: "that tag's image digest, pinned with the tag (required)" },
    route: {
      type: 'string',
      valueName: '/PATH',
      description: "the path prefix on the environment's single host, for environments whose platform uses ingress-nginx (e.g. /payments)",
    },
    host: {
      type: 'string',
      multiple: true,
      valueName: '[ENV=]HOST',
      description:
        "the application's own host, for environments whose platform uses the Gateway API (ENV=HOST per environment, repeatable); with ingress-nginx it replaces the environment's host",
    },
    'migrate-repository': {
      type: 'string',
      valueName: 'REPO',
      description: "its own migration image (pinned as APP-migrate); without the three --migrate-* flags it runs the environment's dbos-migrate image",
    },
    'migrate-tag': { type: 'string', valueName: 'TAG', description: 'the migration image tag (with --migrate-repository)' },
    'migrate-digest': { type: 'string', valueName: 'sha256:HEX', description: 'the migration image digest (with --migrate-repository)' },
    'api-key-placeholder': {
      type: 'boolean',
      description: 'seal the literal "placeholder" as the Conductor API key, marked dbos.dev/placeholder: "true"; the bot\'s key rotation replaces it',
    },
    root: { type: 'string', valueName: 'DIR', description: 'the repository (default: the git work tree around the current directory)' },
    json: { type: 'boolean', description: 'print what was written as one JSON object (files, sql, next steps) instead of lines' },
  },
  notes: [
    'stdin (when it is not a terminal): one value per line, for each --env in the order given: the database URL, then the Conductor API key (not with --api-key-placeholder).',
    'exit codes: 0 added, 2 the repository cannot take it (no overlay, no certificate, the application exists, no cluster files of another application to copy), 7 a YAML file it must edit has an unexpected shape, 64 usage (name, version, digest, route, host, a secret value that is not usable), 130/143 interrupted. Nothing is written unless it exits 0.',
  ],
} satisfies CommandSpec;

type Values = FlagValues<typeof spec.flags>;

/**
 * cli-kit answers `--version` anywhere with the tool's version; here `--version VALUE` is the application's version, so
 * it is taken out before parsing and handed back as a flag value. `--version` alone still prints the tool's version.
 */
export function takeVersion(argv: readonly string[]): { argv: string[]; values: Partial<Values> } {
  const out: string[] = [];
  let version: string | undefined;
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    // A leading `--` is pnpm's forwarding; a later one ends the flags.
    if (argument === '--' && index === 0) continue;
    if (argument === '--') {
      out.push(...argv.slice(index));
      break;
    }
    if (argument.startsWith('--version=')) {
      if (version !== undefined) throw usageError('--version is given twice');
      version = argument.slice('--version='.length);
    } else if (argument === '--version' && argv[index + 1] !== undefined && !argv[index + 1]!.startsWith('-')) {
      if (version !== undefined) throw usageError('--version is given twice');
      version = argv[++index];
    } else out.push(argument);
  }
  return { argv: out, values: version === undefined ? {} : { version } };
}

const APP_NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;
/** OCI tag grammar; the tag is also DBOS__APPVERSION, so it must not carry a quote (the KEDA query quotes it). */
const VERSION = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const REPOSITORY = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)+$/;
const ROUTE = /^\/[a-z0-9]([a-z0-9_-]*[a-z0-9])?(\/[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*$/;
const HOST = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

export interface AddRequest {
  app: string;
  envs: string[];
  repository: string;
  version: string;
  digest: string;
  route?: string;
  /** Per environment; `*` for the one given without ENV=. */
  hosts: Map<string, string>;
  migrate: { repository: string; tag: string; digest: string } | null;
  apiKeyPlaceholder: boolean;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw usageError(`--${flag} is required`);
  return value;
}

/** Every flag checked before anything is read; a message names the flag, never repeats a value that failed. */
export function parseAddRequest(values: Values): AddRequest {
  const app = required(values.name, 'name');
  if (!APP_NAME.test(app))
    throw usageError('--name must be a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 40 characters');
  const envs = values.env ?? [];
  if (envs.length === 0) throw usageError('--env is required (repeat it for several environments)');
  if (new Set(envs).size !== envs.length) throw usageError('an --env is given twice');
  const repository = required(values.repository, 'repository');
  if (!REPOSITORY.test(repository)) throw usageError('--repository must be a registry repository such as ghcr.io/org/app (lowercase, no tag or digest)');
  const version = required(values.version, 'version');
  if (!VERSION.test(version)) throw usageError('--version must be an image tag: letters, digits, ".", "_" and "-", at most 128 characters');
  const digest = required(values.digest, 'digest');
  if (!DIGEST.test(digest)) throw usageError('--digest must be sha256: followed by 64 lowercase hexadecimal digits');
  const route = values.route;
  if (route !== undefined && !ROUTE.test(route))
    throw usageError('--route must be a path prefix such as /payments: "/" then lowercase segments of letters, digits, "-" and "_"');
  const hosts = new Map<string, string>();
  for (const item of values.host ?? []) {
    const equals = item.indexOf('=');
    const env = equals < 0 ? '*' : item.slice(0, equals);
    const host = equals < 0 ? item : item.slice(equals + 1);
    if (!HOST.test(host)) throw usageError('--host must be a DNS name such as payments.example.com (lowercase, at least one dot)');
    if (env !== '*' && !envs.includes(env)) throw usageError(`--host ${env}=... names an environment not given with --env`);
    if (hosts.has(env)) throw usageError(`--host is given twice for ${env === '*' ? 'every environment' : env}`);
    hosts.set(env, host);
  }
  const migrateFlags = [values['migrate-repository'], values['migrate-tag'], values['migrate-digest']];
  let migrate: AddRequest['migrate'] = null;
  if (migrateFlags.some((value) => value !== undefined)) {
    if (migrateFlags.some((value) => value === undefined))
      throw usageError(
        '--migrate-repository, --migrate-tag and --migrate-digest go together',
        "give all three, or none to run the environment's dbos-migrate image",
      );
    const [migrateRepository, tag, migrateDigest] = migrateFlags as [string, string, string];
    if (!REPOSITORY.test(migrateRepository)) throw usageError('--migrate-repository must be a registry repository such as ghcr.io/org/app-migrate');
    if (!VERSION.test(tag)) throw usageError('--migrate-tag must be an image tag: letters, digits, ".", "_" and "-"');
    if (!DIGEST.test(migrateDigest)) throw usageError('--migrate-digest must be sha256: followed by 64 lowercase hexadecimal digits');
    migrate = { repository: migrateRepository, tag, digest: migrateDigest };
  }
  return { app, envs, repository, version, digest, route, hosts, migrate, apiKeyPlaceholder: values['api-key-placeholder'] === true };
}

/** The environment's route for the application, from its platform's route kind and the flags. */
function routeFor(root: string, layout: EnvironmentLayout, request: AddRequest): Route {
  const host = request.hosts.get(layout.name) ?? request.hosts.get('*');
  if (routeKind(root, layout) === 'gateway') {
    if (!host)
      throw usageError(
        `${layout.name} routes applications through the Gateway API, each on its own host: --host is required`,
        `pass --host ${layout.name}=${request.app}.<domain> (a host the environment's certificate lists, platform/certificate.patch.yaml)`,
      );
    return { kind: 'gateway', host };
  }
  if (!request.route)
    throw usageError(
      `${layout.name} routes applications through ingress-nginx under a path of its one host: --route is required`,
      `pass --route /${request.app}`,
    );
  const envHost = host ?? ingressHost(root, layout);
  if (!envHost)
    throw treeError(
      `${layout.overlay}/platform/hosts.patch.yaml names no host (/spec/rules/0/host) to route ${request.app} on`,
      `pass --host ${layout.name}=HOST`,
    );
  return { kind: 'ingress-nginx', host: envHost, path: request.route };
}

/** Every live version's DBOS__APPVERSION of every application of the environment. */
function liveVersionNames(root: string, layout: EnvironmentLayout): Array<{ app: string; version: string; file: string }> {
  const out: Array<{ app: string; version: string; file: string }> = [];
  for (const app of layout.apps) {
    const versions = appVersionsDir(layout.overlay, app);
    if (!existsSync(join(root, versions))) continue;
    for (const entry of readdirSync(join(root, versions), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const file = posix.join(versions, entry.name, 'version.patch.yaml');
      const text = readOptional(root, file);
      if (text !== null) out.push({ app, version: readPatchVersion(text, file), file });
    }
  }
  return out;
}

/** Inserts the migration image's pin after the last `*-migrate` pin (or the last pin) of the environment. */
function addImagePin(text: string, file: string, pin: { name: string; newName: string; tag: string; digest: string }): string {
  const list = topLevelList(text, file, 'images');
  if (!list) throw treeError(`${file} has no images: list`, "keep the environment's image pins as an images: list");
  const anchor = list.items.filter((item) => String((item.value as { name?: unknown })?.name ?? '').endsWith('-migrate')).at(-1) ?? list.items.at(-1);
  const indent = anchor?.indent ?? '  ';
  const block = [
    `${indent}- name: ${pin.name}`,
    `${indent}  newName: ${pin.newName}`,
    `${indent}  newTag: ${JSON.stringify(pin.tag)}`,
    `${indent}  digest: ${pin.digest}`,
    '',
  ].join('\n');
  return insertLines(text, anchor ? anchor.lineEnd : list.keyLineEnd, block);
}

export interface AddResult {
  app: string;
  environments: string[];
  written: string[];
  changed: string[];
  clusterTemplate: Record<string, string>;
  sql: string;
  next: string[];
}

/** The SQL the DBA runs once per environment's system database; `\password` asks for the password and sends only its hash. */
export function roleSql(names: AppNames, envs: readonly string[]): string {
  return [
    `-- As a superuser, in psql, on the DBOS system database of ${envs.join(', ')} (once per database):`,
    `CREATE ROLE ${names.role} LOGIN;`,
    `\\password ${names.role}`,
    `-- The password psql asks for is the one in the database URL you sealed (${names.databaseSecret}); psql sends only its hash,`,
    '-- so it is in no output, history or server log. No grants here: the migration Job of the application',
    `-- (${names.migrate}-schema, \`dbos migrate --app-role ${names.role}\`) grants the role its access to the dbos schema.`,
    '',
  ].join('\n');
}

export async function run(values: Values, io: AppsIo): Promise<number> {
  const request = parseAddRequest(values);
  const root = io.root(values.root);
  const now = io.now();
  const { text: configText, config } = readConfig(root);
  const migrateImage = request.migrate ? `${request.app}-migrate` : 'dbos-migrate';
  const names = appNames(request.app, migrateImage);
  const changes = emptyChangeset();
  const clusterTemplate: Record<string, string> = {};
  const certificates = new Map<string, ReturnType<typeof loadCertificate>>();
  const routes = new Map<string, Route['kind']>();
  // The kustomize image name the bot looks for in version directories: the template's `app`, unless the config says otherwise.
  const imageName = config.apps.find((app) => app.name === request.app)?.imageName ?? 'app';

  for (const env of request.envs) {
    const layout = readEnvironment(root, config, env);
    if (appExists(root, layout, request.app))
      throw treeError(
        `${appDir(layout.overlay, request.app)} exists already`,
        `choose another --name, or remove it first with pnpm apps:remove --name ${request.app} --env ${env}`,
      );
    // DBOS refuses to launch an application whose version name another application registered in the same system
    // database, which the applications of an environment share.
    const taken = liveVersionNames(root, layout).find((live) => live.version === request.version);
    if (taken)
      throw treeError(
        `${request.version} is the version name of a live version of ${taken.app} in ${env} (${taken.file}); the applications of an environment share one DBOS system database, which refuses two applications one version name`,
        `release ${request.app} under a distinct version (e.g. a different major), then run this again`,
      );
    certificates.set(env, loadCertificate(readOptional(root, layout.certificate), layout.certificate, now));
    const route = routeFor(root, layout, request);
    routes.set(env, route.kind);
    const pins = pinnedImages(root, layout);
    if (request.migrate && pins.includes(migrateImage))
      throw treeError(`${layout.imagePins} pins ${migrateImage} already`, `another application uses that image name; choose another --name`);
    if (!request.migrate && !pins.includes(migrateImage))
      throw treeError(
        `${layout.imagePins} has no ${migrateImage} pin for the application's migration Job to run`,
        'pass --migrate-repository, --migrate-tag and --migrate-digest for its own migration image',
      );
    const clusters = planClusterFiles(root, env, request.app, layout.apps);
    if (!clusters)
      throw treeError(
        `clusters/${env} has no per-application files of another application to copy (no apps/<app>.yaml or apps/<app>/ for ${layout.apps.join(', ') || 'any application'}), so the new application would not be synced`,
        `add the per-application Argo CD and Flux files of clusters/${env} first (README "Applications"), then run this again`,
      );
    clusterTemplate[env] = clusters.template;

    const dir = appDir(layout.overlay, request.app);
    const slug = appVersionSlug(request.version);
    const versions = appVersionsDir(layout.overlay, request.app);
    const write = (path: string, content: string): void => void changes.writes.set(path, content);
    write(posix.join(dir, 'kustomization.yaml'), renderAppKustomization(names, env, route));
    write(posix.join(dir, 'identity.yaml'), renderIdentity(names));
    write(posix.join(dir, 'route.patch.yaml'), renderRoutePatch(names, env, route));
    write(posix.join(dir, 'rollout.patch.yaml'), renderRolloutPatch(now));
    write(posix.join(dir, 'secrets', 'kustomization.yaml'), renderSecretsKustomization(names));
    write(posix.join(versions, 'kustomization.yaml'), renderVersionsList(names, slug));
    write(posix.join(versions, 'service.yaml'), renderService(names, slug));
    write(
      posix.join(versions, slug, 'kustomization.yaml'),
      renderVersionKustomization({
        version: request.version,
        slug,
        image: { name: imageName, newName: request.repository, tag: request.version, digest: request.digest },
        latest: true,
      }),
    );
    write(posix.join(versions, slug, 'version.patch.yaml'), renderVersionPatch(request.version));
    write(layout.appsList, addListEntry(readOptional(root, layout.appsList)!, layout.appsList, request.app));
    if (request.migrate) {
      const pins = readOptional(root, layout.imagePins)!;
      write(
        layout.imagePins,
        addImagePin(pins, layout.imagePins, {
          name: migrateImage,
          newName: request.migrate.repository,
          tag: request.migrate.tag,
          digest: request.migrate.digest,
        }),
      );
    }
    for (const [path, content] of clusters.writes) write(path, content);
  }

  let nextConfig = addAppEntry(configText, { name: request.app, repository: request.repository, environments: request.envs });
  if (request.migrate)
    nextConfig = addMigrateImageEntry(nextConfig, { name: migrateImage, repository: request.migrate.repository, environments: request.envs });
  changes.writes.set(CONFIG_PATH, nextConfig);

  // Last, once everything else is known to fit: the values, sealed at once and only kept in memory.
  if (!io.stdinIsTTY)
    io.stderr(`reading ${request.apiKeyPlaceholder ? 'the database URL' : 'the database URL and the Conductor API key'} of each environment from stdin\n`);
  const secrets = await readAppSecrets(io.secretInput(), request.envs, names, { apiKeyPlaceholder: request.apiKeyPlaceholder, signal: io.signal });
  for (const env of request.envs) {
    const layout = readEnvironment(root, config, env);
    const sealed = sealAppSecrets(certificates.get(env)!, names, secrets.get(env)!, now);
    const dir = posix.join(appDir(layout.overlay, request.app), 'secrets');
    changes.writes.set(posix.join(dir, `${names.databaseSecret}.sealed.yaml`), sealed.database);
    changes.writes.set(posix.join(dir, `${names.conductorApiKeySecret}.sealed.yaml`), sealed.apiKey);
  }
  secrets.clear();
  throwIfInterrupted(io.signal);
  const edited = new Set([...changes.writes.keys()].filter((path) => readOptional(root, path) !== null));
  await applyChangeset(root, changes, io.signal);

  const result: AddResult = {
    app: request.app,
    environments: request.envs,
    written: [...changes.writes.keys()].filter((path) => !edited.has(path)).sort(),
    changed: [...edited].sort(),
    clusterTemplate,
    sql: roleSql(names, request.envs),
    next: [
      'review the change (git diff), then commit it and open one pull request',
      ...(request.apiKeyPlaceholder
        ? [`the Conductor API key is a placeholder: the bot's secret rotation replaces it, or seal a real one with pnpm secrets:seal`]
        : []),
      ...request.envs
        .filter((env) => routes.get(env) === 'gateway')
        .map((env) => `${env}: make sure its certificate lists the application's host (overlays/${env}/platform/certificate.patch.yaml)`),
      'run pnpm validate, and pnpm bot plan to see the bot pick the application up',
    ],
  };
  if (values.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else {
    io.stdout(`added ${request.app} to ${request.envs.join(', ')}:\n`);
    for (const path of result.written) io.stdout(`  new      ${path}\n`);
    for (const path of result.changed) io.stdout(`  changed  ${path}\n`);
    for (const [env, template] of Object.entries(clusterTemplate)) io.stdout(`cluster files of ${env}: copied from ${template}'s\n`);
    io.stdout('next:\n');
    for (const step of result.next) io.stdout(`  - ${step}\n`);
    io.stdout(`\nthe database role (shown once):\n${result.sql}`);
  }
  return 0;
}
