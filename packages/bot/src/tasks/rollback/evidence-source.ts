import type { EvidenceVerdict, VersionEvidence } from '@dbos-gitops/drain';
import { gateSoakSeconds } from '../../sources/drain/gate-soak.ts';
import type { AppConfig, BotConfig, EnvironmentConfig } from '../../config/schema.ts';
import { drainUrlEnvFor, type DrainScope } from '../../sources/drain/for-environment.ts';

/** The gate's verdict on one version, with the evidence it rests on (null when it could not be read). */
export interface VersionVerdict {
  verdict: EvidenceVerdict;
  evidence: VersionEvidence | null;
  /** Where it was read (the redacted database URL and the variable it came from), or why it was not. */
  source: string;
}

/** How the rollback task reads a version's evidence in an environment (`rollback: propose`). */
export type EvidenceSourceFor = (config: BotConfig, env: EnvironmentConfig, app: AppConfig, scope: DrainScope) => (version: string) => Promise<VersionVerdict>;

/**
 * The composition root's evidence source: the same reader, window and gate as `pnpm bot evidence`, and the drain
 * reader's variables: the environment's own `<databaseUrlEnv>_<ENV>` when set, the plain name only when the run covers
 * one environment (as version-retire reads it), since in a run over several it may name another environment's
 * database and fail the wrong one. Anything unreadable is `unknown`, which never proposes a rollback.
 */
export function defaultEvidenceSourceFor(processEnv: NodeJS.ProcessEnv, now: () => Date = () => new Date()): EvidenceSourceFor {
  return (config, env, app, scope) => async (version) => {
    const drain = await import('@dbos-gitops/drain');
    const single = scope.envFilter !== null || scope.config.environments.length === 1;
    const own = drainUrlEnvFor(app, env.name, false);
    const plain = drainUrlEnvFor(app, env.name, true);
    const name = processEnv[own] || !single ? own : plain;
    const databaseUrl = processEnv[name];
    if (!databaseUrl)
      return {
        verdict: {
          verdict: 'unknown',
          reasons: [
            `${single ? `neither ${own} nor ${plain} is set` : `${own} is not set (a run over several environments reads only that one)`}, so the evidence of ${app.name} ${version} in ${env.name} cannot be read`,
          ],
        },
        evidence: null,
        source: 'not configured',
      };
    const source = `${drain.describeConnectionString(databaseUrl)} (from ${name})`;
    const soakSeconds = gateSoakSeconds(config, env);
    const windowStart = soakSeconds > 0 ? new Date(now().getTime() - soakSeconds * 1000) : null;
    try {
      const evidence = await drain.readVersionEvidence({ databaseUrl, appName: app.name, version, windowStart });
      const verdict = drain.judgeEvidence(
        evidence,
        { minSucceeded: env.gate.minSucceeded, maxErrorRatio: env.gate.maxErrorRatio },
        { soakMs: soakSeconds * 1000 },
      );
      return { verdict, evidence, source };
    } catch (error) {
      if (!(error instanceof drain.DrainUnknownError)) throw error;
      return { verdict: drain.verdictOfUnreadable(error), evidence: null, source };
    }
  };
}
