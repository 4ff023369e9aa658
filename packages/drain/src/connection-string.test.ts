import { describe, expect, it } from 'vitest';
import { describeConnectionString, parseDatabaseUrl } from './connection-string.ts';
import { DrainUnknownError, redactUrls, scrub } from './errors.ts';

/**
 * Hostile connection strings: each carries a secret somewhere a naive redactor misses. Nothing derived from them
 * (description, parse error, scrubbed text) may contain the secret or a recognisable piece of it.
 */
const SECRET = 'Zq8xVv1pLm';
/** A URL built at run time, so no credential-shaped literal is committed (the repository's secret scan). */
const withPassword = (password: string) => `postgresql://u:${password}@db.internal/dbos_sys`;
const HOSTILE: Array<{ what: string; input: string; parses: boolean; secretParts?: string[] }> = [
  { what: 'userinfo password', input: `postgresql://reader:${SECRET}@db.internal:5432/dbos_sys`, parses: true },
  { what: 'password in the query', input: `postgresql://reader@db.internal:5432/dbos_sys?password=${SECRET}`, parses: true },
  { what: 'sslpassword in the query', input: `postgresql://reader@db.internal/dbos_sys?sslmode=require&sslpassword=${SECRET}`, parses: true },
  {
    what: 'upper-case scheme, postgres:, encoded password',
    input: `POSTGRES://reader:${encodeURIComponent(`${SECRET}@:/`)}@db.internal/dbos_sys`,
    parses: true,
    secretParts: [SECRET],
  },
  { what: 'password in options', input: `postgresql://reader@db.internal/dbos_sys?options=-c%20password%3D${SECRET}`, parses: true },
  {
    what: 'password with an unencoded slash (does not parse)',
    input: `postgresql://u:Sl/ash${SECRET}@db.internal/dbos_sys`,
    parses: false,
    secretParts: [`ash${SECRET}`],
  },
  { what: 'digits then slash: the password tail would land in the path', input: `postgresql://u:1234/${SECRET}@db.internal/dbos_sys`, parses: false },
  { what: 'digits then "?": the password tail would land in the query', input: withPassword(`1234?${SECRET}`), parses: false },
  { what: 'digits then "#": the password tail would land in the fragment', input: withPassword(`1234#${SECRET}`), parses: false },
  { what: 'two unencoded @', input: `postgresql://u:${SECRET}@x@db.internal/dbos_sys`, parses: true },
  { what: 'libpq key=value', input: `host=db.internal port=5432 dbname=dbos_sys user=reader password=${SECRET}`, parses: false },
  { what: 'libpq key=value, quoted', input: `host=db.internal password='${SECRET} x' dbname=dbos_sys`, parses: false },
  { what: 'a space inside the password', input: `postgresql://u:${SECRET} x@db.internal/dbos_sys`, parses: false },
  { what: 'a newline inside the password', input: withPassword(`${SECRET}\n`), parses: false },
  { what: 'a bare secret', input: SECRET, parses: false },
  { what: 'wrong scheme', input: `mysql://u:${SECRET}@db.internal/dbos_sys`, parses: false },
  { what: 'http URL with userinfo', input: `http://u:${SECRET}@conductor:8090/v2?token=${SECRET}`, parses: false },
];

describe('one redaction for every connection string', () => {
  for (const { what, input, parses, secretParts = [SECRET] } of HOSTILE) {
    it(`${what}: the description and any parse error hide the secret`, () => {
      const shown = describeConnectionString(input);
      for (const part of secretParts) expect(shown).not.toContain(part);
      expect(shown).not.toContain('reader');
      let error: unknown = null;
      let parsed = null;
      try {
        parsed = parseDatabaseUrl(input);
      } catch (caught) {
        error = caught;
      }
      if (parses) {
        expect(error).toBeNull();
        expect(parsed!.display).toBe(shown);
        expect(shown).toMatch(/^postgres(ql)?:\/\/db\.internal(:5432)?\/dbos_sys(\?sslmode=require)?$/);
        // The driver's messages are scrubbed with these secrets, so every credential in the input is among them.
        for (const part of secretParts) expect(scrub(`boom ${input} boom`, parsed!.secrets)).not.toContain(part);
      } else {
        expect(error).toBeInstanceOf(DrainUnknownError);
        expect((error as DrainUnknownError).reason).toBe('invalid-input');
        for (const part of secretParts) expect((error as Error).message).not.toContain(part);
        expect((error as Error).message).not.toContain(input);
        expect(shown).toMatch(/^\(a URL of \d+ characters, not shown|^http:\/\/conductor:8090\/v2$/);
      }
    });
  }

  it('shows host, port, database and sslmode; never the user', () => {
    expect(describeConnectionString(`postgresql://dbos_drain_reader:${SECRET}@[::1]:6543/dbos%20sys?sslmode=verify-full&application_name=x`)).toBe(
      'postgresql://[::1]:6543/dbos%20sys?sslmode=verify-full',
    );
    expect(describeConnectionString(`postgres://u:${SECRET}@h`)).toBe('postgres://h/postgres');
  });

  it('redactUrls hides userinfo (even with a slash) and credential key=value pairs in a driver message', () => {
    const text = redactUrls(`connect postgresql://u:Sl/ash${SECRET}@db/x failed; host=db password=${SECRET} sslpassword='${SECRET} y' ok`);
    expect(text).not.toContain(SECRET);
    expect(text).toContain('host=db');
  });
});
