import type { AppConfig, BotConfig, EnvironmentConfig } from '../../config/schema.ts';
import { envVarSuffix } from '../../config/schema.ts';
import { drainSourceFromEnv, type DrainSource } from './source.ts';

/** Which environments a run covers: a drain reader's variable name depends on it. */
export interface DrainScope {
  envFilter: string | null;
  config: BotConfig;
  /** Which variable to read, overriding the run's scope: `own` is `<databaseUrlEnv>_<ENV>`, `plain` the bare name,
   * `previous` `<databaseUrlEnv>_PREVIOUS` (the in-cluster CronJob's name for the previous environment's reader, since
   * its base manifest cannot know that environment's name). The evidence gate asks for one explicitly (readGate). */
  variable?: 'own' | 'plain' | 'previous';
}

/** How version-retire finds the drain reader of an environment. The default reads connection settings from env vars. */
export type DrainSourceFor = (env: EnvironmentConfig, app: AppConfig, scope: DrainScope) => DrainSource;

/** The env var holding an environment's drain URL: `<databaseUrlEnv>_<ENV>` (e.g. DBOS_DRAIN_DATABASE_URL_STAGING),
 * or the plain name when the run covers one environment (the in-cluster CronJob, `--env E`). */
export function drainUrlEnvFor(app: AppConfig, env: string, singleEnvironment: boolean): string {
  return singleEnvironment ? app.drain.databaseUrlEnv : `${app.drain.databaseUrlEnv}_${envVarSuffix(env)}`;
}

/** `<databaseUrlEnv>_PREVIOUS`: in a run over one environment, the drain reader of the environment before it. */
export function previousDrainUrlEnv(app: AppConfig): string {
  return `${app.drain.databaseUrlEnv}_PREVIOUS`;
}

/** Built once, by the composition root, from the CLI's environment (never `process.env` read below it). */
export function defaultDrainSourceFor(processEnv: NodeJS.ProcessEnv): DrainSourceFor {
  return (env, app, scope) => {
    const single = scope.variable ? scope.variable === 'plain' : scope.envFilter !== null || scope.config.environments.length === 1;
    const name = scope.variable === 'previous' ? previousDrainUrlEnv(app) : drainUrlEnvFor(app, env.name, single);
    return drainSourceFromEnv({ ...app, drain: { ...app.drain, databaseUrlEnv: name } }, processEnv);
  };
}
