import type { AppConfig, EnvironmentConfig } from '../../config/schema.ts';
import { envVarSuffix } from '../../config/schema.ts';

/**
 * The gate workflow of `switch: gated` (version-switch): the bot enqueues a named DBOS workflow on EXACTLY the new
 * application version (`appVersion`, so only that version's executors dequeue it) with the real DBOS client, and
 * waits for it to finish. Its id is deterministic per environment, application and version, so a re-run reuses the
 * workflow the first run enqueued (DBOS returns the existing one for a known id) and never starts a second.
 *
 * Enqueueing writes to the system database, so the URL is a write credential of its own
 * (`DBOS_GATE_DATABASE_URL_<ENV>` or `gateWorkflow.databaseUrlEnv`), never the read-only drain reader's; it is only
 * ever shown as scheme://host:port/database.
 */

/** A final DBOS status, or why none was read: `timeout` (still running when the wait ended), `unknown` (not
 * configured, unreachable, refused) or `dry-run` (a run that writes nothing does not enqueue). */
export type GateStatus = 'SUCCESS' | 'ERROR' | 'MAX_RECOVERY_ATTEMPTS_EXCEEDED' | 'CANCELLED' | 'timeout' | 'unknown' | 'dry-run';

export interface GateOutcome {
  status: GateStatus;
  workflowId: string;
  /** What happened, in one sentence (never a URL with credentials). */
  reason: string;
  /** Where: the redacted database URL and the variable it came from, or "not configured". */
  source: string;
  /** The executor and version DBOS recorded on the workflow, when it was read. */
  executorId?: string;
  applicationVersion?: string;
}

export interface GateRequest {
  env: EnvironmentConfig;
  app: AppConfig;
  version: string;
}

/** Runs (or, in a run that writes nothing, only describes) an environment's gate workflow on one version. */
export type GateRunner = (request: GateRequest) => Promise<GateOutcome>;

/** The workflow id of the gate of `version` of `app` in `env`: the same in every run, so DBOS reuses it. */
export function gateWorkflowId(env: string, app: string, version: string): string {
  return `gitops-bot-gate:${env}:${app}:${version}`;
}

/** The gate workflow and queue names for one application (`{app}` in the config stands for its name), or null. */
export function gateWorkflowFor(env: EnvironmentConfig, app: AppConfig): { name: string; queue: string; timeout: number } | null {
  const gate = env.gateWorkflow;
  if (!gate) return null;
  const fill = (text: string) => text.replaceAll('{app}', app.name);
  return { name: fill(gate.name), queue: fill(gate.queue), timeout: gate.timeout };
}

/** The variable holding an environment's gate database URL. */
export function gateUrlEnv(env: EnvironmentConfig): string {
  return env.gateWorkflow?.databaseUrlEnv ?? `DBOS_GATE_DATABASE_URL_${envVarSuffix(env.name)}`;
}

const FINAL = new Set(['SUCCESS', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'CANCELLED']);

export interface DbosGateOptions {
  /** False in `plan` and `run --dry-run`: nothing is enqueued (an enqueue is a write to an external system). */
  write: boolean;
  /** How often the workflow's status is read while waiting. */
  pollMs?: number;
  now?: () => number;
}

/** The composition root's gate runner: the real DBOS client, URLs from the CLI's environment. */
export function dbosGateRunner(processEnv: NodeJS.ProcessEnv, options: DbosGateOptions): GateRunner {
  const pollMs = options.pollMs ?? 1000;
  const now = options.now ?? Date.now;
  return async ({ env, app, version }) => {
    const gate = gateWorkflowFor(env, app);
    const workflowId = gateWorkflowId(env.name, app.name, version);
    if (!gate) return { status: 'unknown', workflowId, reason: `${env.name} has no gateWorkflow`, source: 'not configured' };
    const variable = gateUrlEnv(env);
    const databaseUrl = processEnv[variable];
    if (!options.write)
      return {
        status: 'dry-run',
        workflowId,
        reason: `would enqueue gate workflow ${workflowId} (${gate.name} on queue ${gate.queue}, application version ${version}); a run that writes nothing does not enqueue`,
        source: databaseUrl ? `from ${variable}` : `${variable} is not set`,
      };
    if (!databaseUrl)
      return {
        status: 'unknown',
        workflowId,
        reason: `${variable} is not set, so the gate workflow cannot be enqueued (set it to a system database URL of a role that may enqueue; the read-only drain reader cannot)`,
        source: 'not configured',
      };
    const drain = await import('@dbos-gitops/drain');
    let secrets: string[];
    let source: string;
    try {
      const parsed = drain.parseDatabaseUrl(databaseUrl);
      secrets = parsed.secrets;
      source = `${parsed.display} (from ${variable})`;
    } catch (error) {
      return { status: 'unknown', workflowId, reason: `${variable}: ${(error as Error).message}`, source: `from ${variable}` };
    }
    const scrub = (text: string) => {
      let out = text;
      for (const secret of secrets) if (secret.length >= 3) out = out.split(secret).join('***');
      return drain.redactUrls(out);
    };
    const { DBOSClient } = await import('@dbos-inc/dbos-sdk');
    // A quiet client: its logger would print connection errors (and their URLs) to stdout.
    const silent = { info() {}, debug() {}, warn() {}, error() {} };
    let client: Awaited<ReturnType<typeof DBOSClient.create>> | null = null;
    try {
      client = await DBOSClient.create({ systemDatabaseUrl: databaseUrl, applicationName: app.name, logger: silent });
      // The default id reuse policy returns the existing workflow for a known id: one gate per version, ever.
      await client.enqueue({ workflowName: gate.name, queueName: gate.queue, workflowID: workflowId, appVersion: version, applicationName: app.name });
      const deadline = now() + gate.timeout * 1000;
      for (;;) {
        const status = await client.getWorkflow(workflowId);
        if (!status) return { status: 'unknown', workflowId, reason: `workflow ${workflowId} is not in the system database after enqueueing it`, source };
        const seen = {
          ...(status.executorId ? { executorId: status.executorId } : {}),
          ...(status.applicationVersion ? { applicationVersion: status.applicationVersion } : {}),
        };
        if (status.applicationVersion !== undefined && status.applicationVersion !== version)
          // Only a workflow of exactly this version is evidence about it (an id another enqueuer reused is not).
          return {
            status: 'unknown',
            workflowId,
            reason: `workflow ${workflowId} is recorded for application version ${status.applicationVersion}, not ${version}`,
            source,
            ...seen,
          };
        if (FINAL.has(status.status))
          return {
            status: status.status as GateStatus,
            workflowId,
            reason: `gate workflow ${gate.name} (${workflowId}) finished ${status.status} on ${status.executorId ?? 'an unknown executor'} (version ${status.applicationVersion ?? version})`,
            source,
            ...seen,
          };
        if (now() >= deadline)
          return {
            status: 'timeout',
            workflowId,
            reason: `gate workflow ${gate.name} (${workflowId}) is still ${status.status} after ${gate.timeout}s (gateWorkflow.timeout); the next run waits for the same workflow again`,
            source,
            ...seen,
          };
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    } catch (error) {
      return { status: 'unknown', workflowId, reason: `the gate workflow could not be enqueued or read: ${scrub((error as Error).message)}`, source };
    } finally {
      await client?.destroy().catch(() => undefined);
    }
  };
}
