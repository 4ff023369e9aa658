// Test-only helpers for other packages' tests (`@dbos-gitops/sealing/testing`): a throwaway sealing certificate and
// an unsealer that decrypts as the sealed-secrets controller does.
export * from '../src/test-helpers/certificates.ts';
export * from '../src/test-helpers/controller-unseal.ts';
