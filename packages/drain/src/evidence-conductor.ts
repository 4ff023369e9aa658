import { ConductorClient, ConductorError, type ExecutorInfo } from '@dbos-gitops/conductor';
import { describeConnectionString } from './connection-string.ts';
import { scrub } from './errors.ts';
import type { EvidenceSignal } from './evidence.ts';

/**
 * Conductor executors connected for exactly one application version: `GET /v2/orgs/{org}/apps/{app}/executors` lists
 * every executor of the application with its `appVersion` and `status` (HEALTHY, DISCONNECTED or DEAD in the DBOS MCP
 * server's description of the same endpoint), so it can tell per version. Connected = status HEALTHY (any case) or
 * `connected`; anything else is listed in the detail but not counted. Every failure is `unreadable` with a sentence
 * that carries neither the key nor a credential in the URL.
 */
export interface ExecutorsOptions {
  baseUrl: string;
  org: string;
  app: string;
  apiKey: string;
  version: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const CONNECTED = new Set(['healthy', 'connected']);

/** Pure count over Conductor's list (kept apart so it is testable without a server). */
export function executorsSignal(executors: readonly ExecutorInfo[], version: string): EvidenceSignal {
  const ofVersion = executors.filter((executor) => executor.appVersion === version);
  const byStatus = new Map<string, number>();
  for (const executor of ofVersion) byStatus.set(executor.status, (byStatus.get(executor.status) ?? 0) + 1);
  const count = ofVersion.filter((executor) => CONNECTED.has(executor.status.toLowerCase())).length;
  const detail =
    ofVersion.length === 0
      ? `Conductor lists ${executors.length} executor(s) of the application, none of version ${version}`
      : [...byStatus].map(([status, n]) => `${n} ${status}`).join(', ');
  return { status: 'read', count, of: ofVersion.length, detail };
}

export async function readExecutorsSignal(options: ExecutorsOptions): Promise<EvidenceSignal> {
  const where = `Conductor ${describeConnectionString(options.baseUrl)}`;
  const unreadable = (text: string): EvidenceSignal => ({ status: 'unreadable', reason: scrub(text, [options.apiKey]) });
  let client: ConductorClient;
  try {
    client = new ConductorClient({
      baseUrl: options.baseUrl,
      apiKey: options.apiKey,
      attempts: 1,
      timeoutMs: options.timeoutMs ?? 10_000,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  } catch {
    return unreadable(`${where} is not a usable base URL`);
  }
  try {
    return executorsSignal(await client.listExecutors(options.org, options.app), options.version);
  } catch (error) {
    if (!(error instanceof ConductorError)) throw error;
    if (error.noAnswer) return unreadable(`${where} did not answer (${error.noAnswer})`);
    if (error.status === 401 || error.status === 403) return unreadable(`${where} refused the API key (${error.status})`);
    if (error.status !== undefined) return unreadable(`${where} answered ${error.status} to the executor list`);
    return unreadable(`${where}: the executor list cannot be read (${error.failure}: ${error.detail})`);
  }
}
