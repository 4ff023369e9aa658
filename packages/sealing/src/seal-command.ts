/**
 * `pnpm bot seal` as a function: its spec, help and parsing, with nothing heavy imported, so `--help`, `--version`
 * and usage errors answer without loading the Kubernetes client; the sealing itself (src/cli.ts) is imported once
 * the command line has parsed. Importable alone as `@dbos-gitops/sealing/seal-command`.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { formatHelp, parseCommand, type CommandSpec, type CliIo, type FlagValues } from '@dbos-gitops/cli-kit';
import { runCommand } from './command-line.ts';
import type { OutputFormat } from './document.ts';
import { UsageError } from './errors.ts';
import { parseScope, type SealingScope } from './scope.ts';

export interface SealIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env?: Readonly<Record<string, string | undefined>>;
  /** Relative paths in flags resolve against this; defaults to process.cwd(). */
  cwd?: string;
  /** Instant the certificate's validity is checked against; defaults to now. */
  now?: Date;
  /** Use this cluster connection instead of loading a kubeconfig. */
  kubeConfig?: KubeConfig;
}

/** `pnpm bot seal`'s flags: kubeseal's where they overlap, so a kubeseal command line mostly works unchanged. */
export const SEAL_COMMAND = {
  usage: 'pnpm bot seal --name NAME --namespace NS --from-file KEY=PATH... [options]',
  summary:
    'Seals values into a Bitnami SealedSecret, byte-compatible with kubeseal. Values never reach stdout or stderr, and ' +
    'never come from the command line (pnpm prints it into CI logs; shell history and ps keep it): a file, stdin ' +
    '(--from-file KEY=/dev/stdin) or an environment variable. --from-literal is refused for that reason.',
  flags: {
    cert: { type: 'string', valueName: 'FILE|URL', description: 'controller certificate: a file, file:// or http(s) URL [$SEALED_SECRETS_CERT]' },
    'controller-name': {
      type: 'string',
      valueName: 'NAME',
      description: 'without --cert, fetch it from this controller Service (default sealed-secrets-controller) [$SEALED_SECRETS_CONTROLLER_NAME]',
    },
    'controller-namespace': {
      type: 'string',
      valueName: 'NS',
      description: "the controller Service's namespace (default kube-system) [$SEALED_SECRETS_CONTROLLER_NAMESPACE]",
    },
    kubeconfig: {
      type: 'string',
      valueName: 'FILE',
      description: 'cluster credentials for fetching the certificate (default $KUBECONFIG, then ~/.kube/config)',
    },
    name: { type: 'string', valueName: 'NAME', description: "Secret name, part of the sealing label (defaults to the file's with --merge-into)" },
    namespace: {
      type: 'string',
      short: 'n',
      valueName: 'NS',
      description: "Secret namespace, part of the sealing label (defaults to the file's with --merge-into)",
    },
    scope: { type: 'string', valueName: 'SCOPE', description: 'strict (default), namespace-wide or cluster-wide' },
    'from-file': {
      type: 'string',
      multiple: true,
      valueName: '[KEY=]PATH',
      description: 'a value read from a file, KEY defaults to the file name (repeatable); /dev/stdin reads a piped value',
    },
    'from-env': { type: 'string', multiple: true, valueName: 'KEY=VARIABLE', description: 'a value read from the environment variable VARIABLE (repeatable)' },
    type: { type: 'string', valueName: 'TYPE', description: 'Secret type (default Opaque)' },
    format: {
      type: 'string',
      short: 'o',
      valueName: 'yaml|json',
      description: "output format: yaml (`pnpm bot seal`'s default, as this repository's files) or json (kubeseal's) [$SEALED_SECRETS_FORMAT]",
    },
    json: { type: 'boolean', description: 'JSON output; wins over --format (and over the yaml default of `pnpm bot seal`)' },
    'merge-into': {
      type: 'string',
      valueName: 'FILE',
      description:
        'replace keys of an existing SealedSecret file, in place; only keys the file declares, and dbos.dev/placeholder clears once every placeholder key is sealed',
    },
    'add-key': { type: 'boolean', description: 'with --merge-into: also accept keys the file does not declare yet' },
    raw: { type: 'boolean', description: 'print only the sealed value of the single --from-* item' },
    'fetch-cert': { type: 'boolean', description: 'print the certificate and exit' },
  },
  notes: ['exit codes: 0 sealed, 2 certificate or target mismatch (config), 7 a --merge-into file that is not an editable SealedSecret, 64 usage.'],
} satisfies CommandSpec;

/** Kept for callers that print the help themselves. */
export const SEAL_USAGE = formatHelp(SEAL_COMMAND);

export interface ParsedFlags {
  cert?: string;
  controllerName?: string;
  controllerNamespace?: string;
  kubeconfig?: string;
  name?: string;
  namespace?: string;
  scope?: SealingScope;
  fromFile: string[];
  fromEnv: string[];
  type?: string;
  format?: OutputFormat;
  mergeInto?: string;
  raw: boolean;
  fetchCert: boolean;
  addKey: boolean;
}

export function parseFormat(value: string): OutputFormat {
  const lower = value.toLowerCase();
  if (lower === 'yaml' || lower === 'json') return lower;
  throw new UsageError(`--format must be yaml or json (got "${value}")`);
}

/** kubeseal accepts it; here the value would already be in the `$ tsx ...` line pnpm prints and in shell history. */
function refuseLiteral(argv: readonly string[]): void {
  const terminator = argv.indexOf('--', argv[0] === '--' ? 1 : 0);
  const flags = terminator < 0 ? argv : argv.slice(0, terminator);
  if (flags.some((argument) => argument === '--from-literal' || argument.startsWith('--from-literal='))) {
    throw new UsageError(
      '--from-literal is not accepted: a value on the command line reaches CI logs, shell history and ps (it is not repeated here)',
      'use --from-file KEY=PATH, --from-file KEY=/dev/stdin or --from-env KEY=VARIABLE',
    );
  }
}

/** The parsed command line as the sealing code reads it; help and version are answered before this. */
export function parseSealArgs(argv: readonly string[]): ParsedFlags {
  refuseLiteral(argv);
  const parsed = parseCommand(SEAL_COMMAND, argv);
  if (parsed.kind !== 'run') throw new UsageError(`--${parsed.kind} is answered before parsing`);
  return toFlags(parsed.values);
}

function toFlags(values: FlagValues<typeof SEAL_COMMAND.flags>): ParsedFlags {
  return {
    cert: values.cert,
    controllerName: values['controller-name'],
    controllerNamespace: values['controller-namespace'],
    kubeconfig: values.kubeconfig,
    name: values.name,
    namespace: values.namespace,
    scope: values.scope === undefined ? undefined : parseScope(values.scope),
    fromFile: values['from-file'] ?? [],
    fromEnv: values['from-env'] ?? [],
    type: values.type,
    // --json wins: `pnpm bot seal` appends its yaml default as --format, and the person's --json must not lose to it.
    format: values.json ? 'json' : values.format === undefined ? undefined : parseFormat(values.format),
    mergeInto: values['merge-into'],
    raw: values.raw === true,
    fetchCert: values['fetch-cert'] === true,
    addKey: values['add-key'] === true,
  };
}

/**
 * The `seal` command as a function, so `pnpm bot seal` and the zx scripts share it and tests drive it without
 * a process. Returns the README's exit code (0 done, 2 certificate or target, 7 unreadable SealedSecret, 64 usage);
 * errors are printed by cli-kit's single catch: `error:` and `what to do:`, never a value.
 */
export async function runSeal(argv: readonly string[], io: SealIo): Promise<number> {
  const cliIo: CliIo = { stdout: (text) => io.stdout.write(text), stderr: (text) => io.stderr.write(text), env: { ...(io.env ?? {}) } };
  return runCommand(
    SEAL_COMMAND,
    argv,
    cliIo,
    'seal',
    async ({ values }) => {
      const flags = toFlags(values);
      const { seal } = await import('./cli.ts');
      await seal(flags, io);
    },
    refuseLiteral,
  );
}
