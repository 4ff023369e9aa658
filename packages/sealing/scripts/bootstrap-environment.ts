/**
 * Bootstraps a NEW environment's full secret set into overlays/<env>/secrets/, sealed for the environment's
 * certificate (clusters/<env>/sealed-secrets-cert.pem, from fetch-cert):
 *  - random passwords for the Conductor role, the app role, the drain reader role (and the admin role if asked);
 *    the drain reader's URL is sealed twice, for the bot (dbos-drain-reader) and for KEDA in its own namespace
 *    (dbos-drain-reader-keda, read by base/keda-auth's ClusterTriggerAuthentication);
 *  - the Conductor license key and the Conductor API key, asked (hidden prompts, or stdin lines);
 *  - the Dex admin password, asked or generated; only its bcrypt hash is sealed;
 *  - the GitHub token of the bot as a placeholder (seal it later with seal-value).
 * The SQL that creates the roles with those passwords, and a generated Dex password, are shown ONCE on the terminal
 * (/dev/tty): never on stdout, in a file or a log. Without a terminal the script refuses before writing anything.
 *
 *   pnpm secrets:bootstrap --env qa --db-host qa-db.example.internal [--dex-postgres] [--keda-namespace keda] [--force]
 *
 * Values asked, in this order (one line each when stdin is not a terminal): the admin role's password (with
 * --admin-password ask), the Conductor license key, the Conductor API key, the Dex admin password (with
 * --dex-password ask).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import bcrypt from 'bcryptjs';
import { parse } from 'yaml';
import { echo } from 'zx';
import { drainReaderGrantStatements, DRAIN_READER_ROLE } from '../../drain/src/reader-role.ts';
import { loadCertificate } from '../src/cert-source.ts';
import { validateTarget } from '../src/document.ts';
import { DEFAULT_KEDA_NAMESPACE, drainReaderSecrets } from '../src/drain-reader-secrets.ts';
import { placeholderAnnotations } from '../src/placeholder.ts';
import { parseFlags, repoRoot, runScript, ScriptError, usageError, validateEnvironment } from './lib/cli.ts';
import { SecretInput, Terminal } from './lib/secret-input.ts';
import { certificatePath, ROTATED_AT_ANNOTATION, secretsDirectory, sealIntoFile } from './lib/sealed-files.ts';

const USAGE = `usage: bootstrap-environment --env ENV --db-host HOST [--db-port 5432] [--db-sslmode require]
                  [--admin-password ask|generate] [--admin-role NAME] [--dex-password generate|ask] [--dex-postgres]
                  [--conductor-token-name NAME] [--namespace dbos] [--keda-namespace keda] [--cert FILE|URL] [--force] [--root DIR]`;

const CONDUCTOR_ROLE = 'dbos_conductor_role';
const APP_ROLE = 'dbos_app_role';
const DEX_ROLE = 'dex';
const CONDUCTOR_DATABASE = 'dbos_conductor';
const APP_DATABASE = 'dbos_app';
const DEX_DATABASE = 'dex';
// Above bcrypt's default cost of 10, as the example environments: the hash is slow to brute-force if it leaks.
const DEX_BCRYPT_COST = 12;

/** 32 URL-safe characters (192 bits): needs no escaping in a database URL or an SQL literal. */
function randomPassword(): string {
  return randomBytes(24).toString('base64url');
}

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

interface Database {
  host: string;
  port: string;
  sslmode: string;
}

function databaseUrl(db: Database, role: string, password: string, database: string): string {
  return `postgresql://${encodeURIComponent(role)}:${encodeURIComponent(password)}@${db.host}:${db.port}/${database}?sslmode=${encodeURIComponent(db.sslmode)}`;
}

interface Passwords {
  admin: { role: string; password: string; generated: boolean };
  conductor: string;
  app: string;
  drainReader: string;
  dexPostgres: string | null;
}

/** The SQL of the long Conductor guide and the App guide plus the drain reader's read-only grants, with this environment's passwords. */
function roleSql(passwords: Passwords, db: Database): string {
  const lines = [
    `-- Run once as the PostgreSQL admin, e.g. psql "host=${db.host} port=${db.port} user=${passwords.admin.generated ? 'postgres' : passwords.admin.role} sslmode=${db.sslmode}"`,
    '-- Shown once: it is not stored anywhere. The same passwords are sealed in the SealedSecrets just written.',
    `CREATE DATABASE ${ident(CONDUCTOR_DATABASE)};`,
    `CREATE DATABASE ${ident(APP_DATABASE)};`,
  ];
  if (passwords.admin.generated) {
    lines.push(
      `CREATE ROLE ${ident(passwords.admin.role)} WITH LOGIN CREATEROLE PASSWORD ${literal(passwords.admin.password)};`,
      `ALTER DATABASE ${ident(APP_DATABASE)} OWNER TO ${ident(passwords.admin.role)};`,
    );
  }
  lines.push(
    `CREATE ROLE ${ident(CONDUCTOR_ROLE)} WITH LOGIN PASSWORD ${literal(passwords.conductor)};`,
    `GRANT ALL PRIVILEGES ON DATABASE ${ident(CONDUCTOR_DATABASE)} TO ${ident(CONDUCTOR_ROLE)};`,
    `CREATE ROLE ${ident(APP_ROLE)} WITH LOGIN PASSWORD ${literal(passwords.app)};`,
    `CREATE ROLE ${ident(DRAIN_READER_ROLE)} WITH LOGIN PASSWORD ${literal(passwords.drainReader)};`,
  );
  if (passwords.dexPostgres !== null) {
    lines.push(`CREATE ROLE ${ident(DEX_ROLE)} WITH LOGIN PASSWORD ${literal(passwords.dexPostgres)};`, `CREATE DATABASE ${ident(DEX_DATABASE)} OWNER ${ident(DEX_ROLE)};`);
  }
  lines.push(
    `\\connect ${CONDUCTOR_DATABASE}`,
    `GRANT ALL ON SCHEMA public TO ${ident(CONDUCTOR_ROLE)};`,
    '-- The app role gets its access to the dbos schema from the migration Job (dbos migrate --app-role dbos_app_role).',
    '-- After that first migration (the dbos schema must exist), the drain reader gets read-only access:',
    `\\connect ${APP_DATABASE}`,
    ...drainReaderGrantStatements({ database: APP_DATABASE }).map((statement) => `${statement};`),
    '',
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      env: { type: 'string' },
      'db-host': { type: 'string' },
      'db-port': { type: 'string', default: '5432' },
      'db-sslmode': { type: 'string', default: 'require' },
      'admin-password': { type: 'string', default: 'ask' },
      'admin-role': { type: 'string' },
      'dex-password': { type: 'string', default: 'generate' },
      'dex-postgres': { type: 'boolean', default: false },
      'conductor-token-name': { type: 'string' },
      namespace: { type: 'string', default: 'dbos' },
      'keda-namespace': { type: 'string', default: DEFAULT_KEDA_NAMESPACE },
      cert: { type: 'string' },
      force: { type: 'boolean', default: false },
      root: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  if (flags.help) {
    echo(USAGE);
    return;
  }
  const env = validateEnvironment(flags.env, USAGE);
  const host = flags['db-host'];
  if (!host || !/^[A-Za-z0-9.-]+$/.test(host)) throw usageError(`--db-host is required: the PostgreSQL host name the workloads connect to\n${USAGE}`);
  if (!/^\d{1,5}$/.test(flags['db-port']!)) throw usageError('--db-port must be a port number');
  const adminMode = flags['admin-password']!;
  const dexMode = flags['dex-password']!;
  if (adminMode !== 'ask' && adminMode !== 'generate') throw usageError('--admin-password is "ask" (the existing admin role\'s password) or "generate" (a new admin role)');
  if (dexMode !== 'ask' && dexMode !== 'generate') throw usageError('--dex-password is "generate" or "ask"');
  const adminRole = flags['admin-role'] ?? (adminMode === 'generate' ? 'dbos_admin' : 'postgres');
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(adminRole)) throw usageError('--admin-role must be a plain PostgreSQL role name (a-z, 0-9, _)');
  const db: Database = { host, port: flags['db-port']!, sslmode: flags['db-sslmode']! };
  const namespace = flags.namespace!;
  const kedaNamespace = flags['keda-namespace']!;
  // Before anything is asked: a namespace the controller could never match would only fail while sealing.
  for (const target of [namespace, kedaNamespace]) validateTarget({ name: 'dbos-drain-reader', namespace: target, scope: 'strict' });
  if (kedaNamespace === namespace) throw usageError(`--keda-namespace must be KEDA's own namespace, not the application's (${namespace}): KEDA reads Secrets only there`);
  const root = await repoRoot(flags.root);

  // Refusals first, so nothing is asked or written for a run that cannot finish.
  const secretsDir = secretsDirectory(root, env);
  const existing = existsSync(secretsDir) ? (await readdir(secretsDir)).filter((name) => name.endsWith('.sealed.yaml')) : [];
  if (existing.length > 0 && !flags.force) {
    throw new ScriptError(`overlays/${env}/secrets already holds ${existing.length} SealedSecrets; this would replace every value. Pass --force to re-bootstrap, or seal single values with seal-value`);
  }
  const terminal = Terminal.open();
  if (!terminal) {
    throw new ScriptError('no terminal: the role SQL (with passwords) is shown once on the terminal and nowhere else, so run this from an interactive shell (stdin may still be a pipe)');
  }
  try {
    const certFlag = flags.cert ?? certificatePath(root, env);
    const certificate = await loadCertificate({ cert: certFlag });

    const input = new SecretInput();
    const adminPassword = adminMode === 'ask' ? await input.ask(`password of the existing PostgreSQL admin role ${adminRole} (not echoed)`) : randomPassword();
    const licenseKey = await input.ask('Conductor license key (not echoed)');
    const apiKey = await input.ask('Conductor API key for the executors (not echoed)');
    const dexPassword = dexMode === 'ask' ? await input.ask('Dex admin password (not echoed)') : randomPassword();

    const passwords: Passwords = {
      admin: { role: adminRole, password: adminPassword, generated: adminMode === 'generate' },
      conductor: randomPassword(),
      app: randomPassword(),
      drainReader: randomPassword(),
      dexPostgres: flags['dex-postgres'] ? randomPassword() : null,
    };
    const now = new Date().toISOString();
    const dex: Record<string, string> = { 'admin-password-hash': bcrypt.hashSync(dexPassword, DEX_BCRYPT_COST) };
    if (passwords.dexPostgres !== null) dex['postgres-password'] = passwords.dexPostgres;
    const apiKeyAnnotations: Record<string, string> = { [ROTATED_AT_ANNOTATION]: now };
    if (flags['conductor-token-name']) apiKeyAnnotations['dbos.dev/conductor-token'] = flags['conductor-token-name'];
    const secrets: Array<{ name: string; namespace?: string; data: Record<string, string>; annotations?: Record<string, string> }> = [
      { name: 'postgres-admin', data: { password: adminPassword, 'database-url': databaseUrl(db, adminRole, adminPassword, APP_DATABASE) }, annotations: { [ROTATED_AT_ANNOTATION]: now } },
      { name: 'conductor-db', data: { 'database-url': databaseUrl(db, CONDUCTOR_ROLE, passwords.conductor, CONDUCTOR_DATABASE) }, annotations: { [ROTATED_AT_ANNOTATION]: now } },
      { name: 'conductor-license', data: { 'license-key': licenseKey }, annotations: { [ROTATED_AT_ANNOTATION]: now } },
      { name: 'dbos-app-db', data: { 'database-url': databaseUrl(db, APP_ROLE, passwords.app, APP_DATABASE) }, annotations: { [ROTATED_AT_ANNOTATION]: now } },
      { name: 'conductor-api-key', data: { 'api-key': apiKey }, annotations: apiKeyAnnotations },
      { name: 'dex-credentials', data: dex, annotations: { [ROTATED_AT_ANNOTATION]: now } },
      // One URL, two files (the bot's copy and KEDA's), each strict-scoped to its own namespace/name.
      ...drainReaderSecrets(databaseUrl(db, DRAIN_READER_ROLE, passwords.drainReader, APP_DATABASE), { namespace, kedaNamespace, annotations: { [ROTATED_AT_ANNOTATION]: now } }),
      { name: 'gitops-bot', data: { 'github-token': 'placeholder' }, annotations: placeholderAnnotations(['github-token']) },
    ];

    const written: string[] = [];
    for (const secret of secrets) {
      // --force re-bootstraps: a fresh document per secret (no merge into the old one, which may have other keys).
      const path = join(secretsDir, `${secret.name}.sealed.yaml`);
      await rm(path, { force: true });
      const result = await sealIntoFile({ root, env, name: secret.name, namespace: secret.namespace ?? namespace, certificate, data: secret.data, annotations: secret.annotations });
      written.push(`${result.path}: ${Object.keys(secret.data).join(', ')}`);
    }
    const kustomization = join(secretsDir, 'kustomization.yaml');
    if (!existsSync(kustomization)) {
      await writeFile(
        kustomization,
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          '# Every Secret of this environment, sealed for its controller\'s certificate (clusters/<env>/sealed-secrets-cert.pem),',
          `# in namespace ${namespace} except KEDA's copy of the drain reader (${kedaNamespace}, read by base/keda-auth).`,
          'resources:',
          ...secrets.map((secret) => `  - ${secret.name}.sealed.yaml`),
          'labels:',
          '  - pairs:',
          '      dbos.dev/stage: foundation',
          '    includeSelectors: false',
          '    includeTemplates: false',
          '',
        ].join('\n'),
      );
      written.push(`${relative(root, kustomization)}: lists the SealedSecrets`);
    } else {
      // A --force re-bootstrap keeps the existing list: say which new files it does not render yet.
      const resources = (parse(await readFile(kustomization, 'utf8')) as { resources?: unknown } | null)?.resources;
      const listed = new Set(Array.isArray(resources) ? resources.map(String) : []);
      const missing = secrets.map((secret) => `${secret.name}.sealed.yaml`).filter((file) => !listed.has(file));
      if (missing.length > 0) written.push(`note: list ${missing.join(', ')} in ${relative(root, kustomization)}`);
    }

    echo(`sealed for ${relative(root, certFlag) || certFlag} (${certificate.keyFingerprint}):\n${written.map((line) => `  ${line}`).join('\n')}`);
    echo(`next: seal the bot's GitHub token with \`pnpm secrets:seal --env ${env} --name gitops-bot --key github-token\`; run the SQL shown on the terminal.`);

    terminal.write(`\n${roleSql(passwords, db)}\n`);
    if (dexMode === 'generate') terminal.write(`Dex admin password (shown once, not stored; only its bcrypt hash is sealed): ${dexPassword}\n\n`);
  } finally {
    terminal.close();
  }
}

runScript(main);
