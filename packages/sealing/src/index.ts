export * from './errors.ts';
export * from './scope.ts';
export { hybridEncrypt, sealValue } from './crypto.ts';
export * from './certificate.ts';
export * from './cert-source.ts';
export * from './document.ts';
export * from './merge.ts';
export * from './key-pair.ts';
export { runSeal, parseSealArgs, SEAL_COMMAND, SEAL_USAGE, type SealIo } from './seal-command.ts';
export * from './placeholder.ts';
export * from './names.ts';
export * from './drain-reader-secrets.ts';
// Hidden prompts / stdin lines for secret values, shared with `pnpm apps:add` (@dbos-gitops/apps).
export { SecretInput } from '../scripts/lib/secret-input.ts';
