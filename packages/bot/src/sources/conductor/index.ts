export * from './client.ts';
export * from './errors.ts';
export * from './factory.ts';
export * from './rollout-check.ts';
