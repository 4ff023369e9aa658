// Moved to packages/sealing/testing/certificates.ts (import `@dbos-gitops/sealing/testing`). This re-export only keeps the
// bot's tests compiling until they import the subpath; delete it then.
export * from '../../testing/certificates.ts';
