import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ToolError, UsageError } from './errors.ts';
import { formatHuman, formatJson } from './format.ts';
import { knownRules, validateRepo } from './validate.ts';

const USAGE = `usage: pnpm validate [--root DIR] [--json] [--only RULE]

Renders every overlays/<env> and clusters/<env>/{argocd,flux,flux/stages/*} with kustomize, validates each
object against its published schema and checks the repository policy set.

  --root DIR    repository to check (default: this repository)
  --json        machine-readable output
  --only RULE   run one rule: ${knownRules().join(', ')}

exit status: 0 clean, 1 violations found, 2 usage or tool error`;

const DEFAULT_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        root: { type: 'string' },
        json: { type: 'boolean', default: false },
        only: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const result = await validateRepo({
    root: path.resolve(values.root ?? DEFAULT_ROOT),
    ...(values.only !== undefined ? { only: values.only } : {}),
  });
  process.stdout.write(values.json ? formatJson(result) : formatHuman(result));
  return result.violations.length === 0 ? 0 : 1;
}

// pnpm 12 forwards the `--` of `pnpm validate -- --json`.
const argv = process.argv.slice(2);
main(argv[0] === '--' ? argv.slice(1) : argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof ToolError) {
      process.stderr.write(`validate: ${error.message}\n`);
    } else {
      process.stderr.write(`validate: unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    process.exitCode = 2;
  },
);
