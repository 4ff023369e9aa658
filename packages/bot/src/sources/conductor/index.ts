export * from '@dbos-gitops/conductor';
export * from './factory.ts';
export * from './rollout-check.ts';
