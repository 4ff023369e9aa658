import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { configSchema, type BotConfig } from './schema.ts';

export const CONFIG_PATH = '.github/gitops-bot.yaml';

/** `images[2].versioning.range` from zod's issue path. */
function yamlPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out;
}

export function parseConfig(text: string, file = CONFIG_PATH): BotConfig {
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    const first = document.errors[0]!;
    const line = first.linePos?.[0];
    throw new ConfigError(
      `not valid YAML${line ? ` (line ${line.line}, column ${line.col})` : ''}: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
      file,
    );
  }
  const raw: unknown = document.toJS();
  if (raw === null || raw === undefined) throw new ConfigError('is empty; it needs at least `version: 1` and `environments:`', file);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more problem(s))` : '';
    throw new ConfigError(issue.message + more, file, yamlPath(issue.path));
  }
  return result.data;
}

export async function loadConfig(file: string): Promise<BotConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError('not found', file, '', `create ${CONFIG_PATH} (copy the one in this repository) or pass --config <file>`);
    }
    throw new ConfigError(`cannot be read: ${(error as Error).message}`, file);
  }
  return parseConfig(text, file);
}
