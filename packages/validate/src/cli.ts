import { runReporting, type CliIo } from '@dbos-gitops/cli-kit';
import { validateCommand } from './validate-command.ts';

const io: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
};

process.exitCode = await runReporting(io, () => validateCommand(process.argv.slice(2), io, process.stderr.isTTY), 'validate');
