// Test helpers other packages' tests import as `@dbos-gitops/drain/testing`: rows written into a real DBOS system
// database. Never imported by production code.
export * from './test-rows.ts';
export * from './drain-reader.ts';
