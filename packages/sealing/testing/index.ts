// Test helpers other packages' tests import as `@dbos-gitops/sealing/testing`: throwaway certificates and an
// independent unsealer. Never imported by production code.
export * from './certificates.ts';
export * from './controller-unseal.ts';
