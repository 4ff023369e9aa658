import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, formatHelp, parseCommand, progressReporter, UsageError, type CliIo, type CommandSpec } from '@dbos-gitops/cli-kit';
import { formatHuman, formatJson } from './format.ts';
import { knownRules, validateRepo } from './validate.ts';

const DEFAULT_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export const VALIDATE_COMMAND = {
  usage: 'pnpm validate [--root DIR] [--json] [--only RULE]',
  summary:
    'Renders every overlays/<env> and clusters/<env>/{argocd,flux,flux/stages/*} with kustomize, validates each ' +
    'object against its published schema and checks the repository policy set. Reads the tree, never changes it.',
  flags: {
    root: { type: 'string', valueName: 'DIR', description: 'the GitOps repository to check (default: this repository)' },
    json: { type: 'boolean', description: 'print the result as JSON on stdout (violations with file, object, rule, where)' },
    only: { type: 'string', valueName: 'RULE', description: 'run only this rule (render failures are always reported); see the list below' },
  },
  notes: [
    `rules: ${knownRules().join(', ')}`,
    'Progress lines go to stderr while it runs, only when stderr is a terminal.',
    'exit status: 0 clean, 1 violations found, 2 a required tool (kubectl) is missing or broken, 64 usage.',
  ],
} satisfies CommandSpec;

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return manifest.version ?? 'unknown';
}

/** `pnpm validate`: parse, validate, print; errors propagate to the entry point's single catch (cli-kit's runReporting). */
export async function validateCommand(argv: readonly string[], io: CliIo, stderrIsTTY: boolean | undefined): Promise<number> {
  let parsed: ReturnType<typeof parseCommand<(typeof VALIDATE_COMMAND)['flags']>>;
  try {
    parsed = parseCommand(VALIDATE_COMMAND, argv);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(error.message, `usage: ${VALIDATE_COMMAND.usage}; --help explains each flag`);
    throw error;
  }
  if (parsed.kind === 'help') {
    io.stdout(formatHelp(VALIDATE_COMMAND));
    return EXIT.ok;
  }
  if (parsed.kind === 'version') {
    io.stdout(`@dbos-gitops/validate ${packageVersion()}\n`);
    return EXIT.ok;
  }
  const { values } = parsed;
  const result = await validateRepo({
    root: path.resolve(values.root ?? DEFAULT_ROOT),
    ...(values.only !== undefined ? { only: values.only } : {}),
    onProgress: progressReporter(io, stderrIsTTY),
  });
  io.stdout(values.json ? formatJson(result) : formatHuman(result));
  return result.violations.length === 0 ? EXIT.ok : EXIT.failure;
}
