// Test-only helpers of validate (`@dbos-gitops/validate/testing`); never imported by production code under src/.
export * from './fixture-repo.ts';
