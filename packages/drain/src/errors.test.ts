import { runReporting } from '@dbos-gitops/cli-kit';
import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from './connection-string.ts';
import { DrainUnknownError } from './errors.ts';

describe('DrainUnknownError through cli-kit', () => {
  it('is exit 10 with what to do, and the hint never carries the refused value', async () => {
    const secret = 'pa ss@word-7c1e';
    let error: unknown = null;
    try {
      parseDatabaseUrl(`postgresql://reader:${secret}@db:5432/dbos_sys`);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DrainUnknownError);
    const lines: string[] = [];
    const code = await runReporting({ stdout: () => {}, stderr: (text) => lines.push(text), env: {} }, async () => {
      throw error;
    });
    expect(code).toBe(10);
    expect(lines.join('')).toMatch(/^error: [^\n]+\n {2}what to do: give the drain reader a postgresql:\/\/ URL[^\n]+\n$/);
    expect(lines.join('')).not.toContain(secret);
  });

  it('every reason has its own hint', () => {
    const reasons = ['connection-refused', 'authentication', 'schema-missing', 'permission-denied', 'conductor-auth'] as const;
    const hints = reasons.map((reason) => new DrainUnknownError(reason, 'x').hint);
    expect(new Set(hints).size).toBe(reasons.length);
    for (const hint of hints) expect(hint.length).toBeGreaterThan(20);
  });
});
