// Loaded by ../bootstrap-environment.ts once its command line parsed, so --help never loads what sealing needs.
import type { BOOTSTRAP } from '../bootstrap-environment.ts';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import bcrypt from 'bcryptjs';
import { parse } from 'yaml';
import { progressReporter, type CliIo, type FlagValues } from '@dbos-gitops/cli-kit';
import { drainReaderGrantStatements, DRAIN_READER_ROLE } from '@dbos-gitops/drain';
import { loadCertificate } from '../../src/cert-source.ts';
import { validateTarget } from '../../src/document.ts';
import { DEFAULT_KEDA_NAMESPACE, drainReaderSecrets } from '../../src/drain-reader-secrets.ts';
import { CONDUCTOR_TOKEN_ANNOTATION, ROTATED_AT_ANNOTATION, STAGE_LABEL } from '../../src/names.ts';
import { placeholderAnnotations } from '../../src/placeholder.ts';
import { UsageError } from '../../src/errors.ts';
import { printer, repoRoot, validateEnvironment } from './cli.ts';
import { SecretInput, Terminal } from './secret-input.ts';
import { certificatePath, sealedFilePath, secretsDirectory, sealIntoFile } from './sealed-files.ts';

/**
 * The application a new environment starts with, as overlays/<env>/apps/dbos-app/identity.yaml names it: its two
 * Secrets are sealed beside it, every other one into platform/. More applications get theirs when they are added.
 */
const FIRST_APP = { name: 'dbos-app', databaseSecret: 'dbos-app-db', conductorApiKeySecret: 'conductor-api-key' } as const;

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
    lines.push(
      `CREATE ROLE ${ident(DEX_ROLE)} WITH LOGIN PASSWORD ${literal(passwords.dexPostgres)};`,
      `CREATE DATABASE ${ident(DEX_DATABASE)} OWNER ${ident(DEX_ROLE)};`,
    );
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

/** The body of `pnpm secrets:bootstrap`; its flags are the spec's in ../bootstrap-environment.ts. */
export async function bootstrapEnvironment(flags: FlagValues<(typeof BOOTSTRAP)['flags']>, io: CliIo): Promise<number | void> {
  const env = validateEnvironment(flags.env);
  const progress = progressReporter(io, process.stderr.isTTY);
  const host = flags['db-host'];
  if (!host || !/^[A-Za-z0-9.-]+$/.test(host))
    throw new UsageError('--db-host is required: the PostgreSQL host name the workloads connect to', 'pass --db-host HOST (letters, digits, "." and "-")');
  const port = flags['db-port'] ?? '5432';
  if (!/^\d{1,5}$/.test(port)) throw new UsageError('--db-port must be a port number');
  const adminMode = flags['admin-password'] ?? 'ask';
  const dexMode = flags['dex-password'] ?? 'generate';
  if (adminMode !== 'ask' && adminMode !== 'generate')
    throw new UsageError('--admin-password is "ask" (the existing admin role\'s password) or "generate" (a new admin role)');
  if (dexMode !== 'ask' && dexMode !== 'generate') throw new UsageError('--dex-password is "generate" or "ask"');
  const adminRole = flags['admin-role'] ?? (adminMode === 'generate' ? 'dbos_admin' : 'postgres');
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(adminRole)) throw new UsageError('--admin-role must be a plain PostgreSQL role name (a-z, 0-9, _)');
  const db: Database = { host, port, sslmode: flags['db-sslmode'] ?? 'require' };
  const namespace = flags.namespace ?? 'dbos';
  const kedaNamespace = flags['keda-namespace'] ?? DEFAULT_KEDA_NAMESPACE;
  // Before anything is asked: a namespace the controller could never match would only fail while sealing.
  for (const target of [namespace, kedaNamespace]) validateTarget({ name: 'dbos-drain-reader', namespace: target, scope: 'strict' });
  if (kedaNamespace === namespace)
    throw new UsageError(`--keda-namespace must be KEDA's own namespace, not the application's (${namespace}): KEDA reads Secrets only there`);
  const root = await repoRoot(flags.root);

  // Refusals first, so nothing is asked or written for a run that cannot finish.
  const directories = [secretsDirectory(root, env), secretsDirectory(root, env, FIRST_APP.name)];
  let existing = 0;
  for (const directory of directories) if (existsSync(directory)) existing += (await readdir(directory)).filter((name) => name.endsWith('.sealed.yaml')).length;
  if (existing > 0 && !flags.force) {
    throw new UsageError(
      `overlays/${env}/platform/secrets and overlays/${env}/apps/${FIRST_APP.name}/secrets already hold ${existing} SealedSecrets; this would replace every value. Pass --force to re-bootstrap, or seal single values with seal-value`,
      `pass --force to replace every value, or seal one value with \`pnpm secrets:seal --env ${env} --name NAME --key KEY\``,
    );
  }
  const terminal = Terminal.open();
  if (!terminal) {
    throw new UsageError(
      'no terminal: the role SQL (with passwords) is shown once on the terminal and nowhere else, so run this from an interactive shell (stdin may still be a pipe)',
      'run it from an interactive shell; answers may still come from a pipe or a file on stdin',
    );
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
    // bcrypt at cost 12 takes a few hundred milliseconds; RSA sealing of nine files a moment more.
    progress('hashing the Dex admin password (bcrypt, cost 12)');
    const now = new Date().toISOString();
    const dex: Record<string, string> = { 'admin-password-hash': bcrypt.hashSync(dexPassword, DEX_BCRYPT_COST) };
    if (passwords.dexPostgres !== null) dex['postgres-password'] = passwords.dexPostgres;
    const apiKeyAnnotations: Record<string, string> = { [ROTATED_AT_ANNOTATION]: now };
    if (flags['conductor-token-name']) apiKeyAnnotations[CONDUCTOR_TOKEN_ANNOTATION] = flags['conductor-token-name'];
    // `app`: sealed beside that application (overlays/<env>/apps/<app>/secrets); otherwise a platform secret.
    const secrets: Array<{ name: string; app?: string; namespace?: string; data: Record<string, string>; annotations?: Record<string, string> }> = [
      {
        name: 'postgres-admin',
        data: { password: adminPassword, 'database-url': databaseUrl(db, adminRole, adminPassword, APP_DATABASE) },
        annotations: { [ROTATED_AT_ANNOTATION]: now },
      },
      {
        name: 'conductor-db',
        data: { 'database-url': databaseUrl(db, CONDUCTOR_ROLE, passwords.conductor, CONDUCTOR_DATABASE) },
        annotations: { [ROTATED_AT_ANNOTATION]: now },
      },
      { name: 'conductor-license', data: { 'license-key': licenseKey }, annotations: { [ROTATED_AT_ANNOTATION]: now } },
      {
        name: FIRST_APP.databaseSecret,
        app: FIRST_APP.name,
        data: { 'database-url': databaseUrl(db, APP_ROLE, passwords.app, APP_DATABASE) },
        annotations: { [ROTATED_AT_ANNOTATION]: now },
      },
      { name: FIRST_APP.conductorApiKeySecret, app: FIRST_APP.name, data: { 'api-key': apiKey }, annotations: apiKeyAnnotations },
      { name: 'dex-credentials', data: dex, annotations: { [ROTATED_AT_ANNOTATION]: now } },
      // One URL, two files (the bot's copy and KEDA's), each strict-scoped to its own namespace/name.
      ...drainReaderSecrets(databaseUrl(db, DRAIN_READER_ROLE, passwords.drainReader, APP_DATABASE), {
        namespace,
        kedaNamespace,
        annotations: { [ROTATED_AT_ANNOTATION]: now },
      }),
      { name: 'gitops-bot', data: { 'github-token': 'placeholder' }, annotations: placeholderAnnotations(['github-token']) },
    ];

    const written: string[] = [];
    const files: Array<{ path: string; keys: string[] }> = [];
    for (const [index, secret] of secrets.entries()) {
      progress(`sealing ${secret.name} (${index + 1}/${secrets.length})`);
      // --force re-bootstraps: a fresh document per secret (no merge into the old one, which may have other keys).
      await rm(sealedFilePath(root, env, secret.name, secret.app), { force: true });
      const result = await sealIntoFile({
        root,
        env,
        ...(secret.app ? { app: secret.app } : {}),
        name: secret.name,
        namespace: secret.namespace ?? namespace,
        certificate,
        data: secret.data,
        annotations: secret.annotations,
      });
      written.push(`${result.path}: ${Object.keys(secret.data).join(', ')}`);
      files.push({ path: result.path, keys: Object.keys(secret.data) });
    }
    const notes: string[] = [];
    let kustomizationCreated = false;
    // One list per directory: the platform's Secrets, and the first application's beside it.
    for (const app of [undefined, FIRST_APP.name]) {
      const listed = secrets.filter((secret) => secret.app === app);
      const kustomization = join(secretsDirectory(root, env, app), 'kustomization.yaml');
      if (!existsSync(kustomization)) {
        kustomizationCreated = true;
        await writeFile(
          kustomization,
          [
            'apiVersion: kustomize.config.k8s.io/v1beta1',
            'kind: Kustomization',
            app === undefined
              ? "# The platform's Secrets of this environment, sealed for its controller's certificate (clusters/<env>/sealed-secrets-cert.pem),"
              : `# The Secrets of the application ${app}, sealed for the environment's certificate (clusters/<env>/sealed-secrets-cert.pem),`,
            app === undefined
              ? `# in namespace ${namespace} except KEDA's copy of the drain reader (${kedaNamespace}, read by base/keda-auth).`
              : `# in namespace ${namespace}.`,
            'resources:',
            ...listed.map((secret) => `  - ${secret.name}.sealed.yaml`),
            'labels:',
            '  - pairs:',
            `      ${STAGE_LABEL}: foundation`,
            '    includeSelectors: false',
            '    includeTemplates: false',
            '',
          ].join('\n'),
        );
        written.push(`${relative(root, kustomization)}: lists the SealedSecrets`);
      } else {
        // A --force re-bootstrap keeps the existing list: say which new files it does not render yet.
        const resources = (parse(await readFile(kustomization, 'utf8')) as { resources?: unknown } | null)?.resources;
        const present = new Set(Array.isArray(resources) ? resources.map(String) : []);
        const missing = listed.map((secret) => `${secret.name}.sealed.yaml`).filter((file) => !present.has(file));
        if (missing.length > 0) {
          written.push(`note: list ${missing.join(', ')} in ${relative(root, kustomization)}`);
          notes.push(`list ${missing.join(', ')} in ${relative(root, kustomization)}`);
        }
      }
    }

    const next = `seal the bot's GitHub token with \`pnpm secrets:seal --env ${env} --name gitops-bot --key github-token\`; run the SQL shown on the terminal.`;
    if (flags.json) {
      io.stdout(
        `${JSON.stringify({ environment: env, certificate: { source: relative(root, certFlag) || certFlag, keyFingerprint: certificate.keyFingerprint }, files, kustomizationCreated, notes, next }, null, 2)}\n`,
      );
    } else {
      const echo = printer(io);
      echo(`sealed for ${relative(root, certFlag) || certFlag} (${certificate.keyFingerprint}):\n${written.map((line) => `  ${line}`).join('\n')}`);
      echo(`next: ${next}`);
    }

    terminal.write(`\n${roleSql(passwords, db)}\n`);
    if (dexMode === 'generate') terminal.write(`Dex admin password (shown once, not stored; only its bcrypt hash is sealed): ${dexPassword}\n\n`);
  } finally {
    terminal.close();
  }
}
