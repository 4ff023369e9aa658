import type { BotConfig, EnvironmentConfig } from '../../config/schema.ts';

// Its own module, free of the database driver: `pnpm bot evidence` and version-add's promotion gate share it.

/** Seconds a version must run in `env` before its evidence can pass, and the default evidence window. */
export function gateSoakSeconds(config: BotConfig, env: EnvironmentConfig): number {
  if (env.gate.soak !== undefined) return env.gate.soak;
  // promotionSoak is set on the environment a version is promoted INTO, and is how long it must have run in the one
  // before: so the evidence of this environment soaks for the next one's promotionSoak. The last has no next.
  const index = config.environments.findIndex((e) => e.name === env.name);
  return config.environments[index + 1]?.promotionSoak ?? env.promotionSoak;
}
