export * from './errors.ts';
export * from './scope.ts';
export { hybridEncrypt, sealValue } from './crypto.ts';
export * from './certificate.ts';
export * from './cert-source.ts';
export * from './document.ts';
export * from './merge.ts';
export * from './key-pair.ts';
export { runSeal, parseSealArgs, SEAL_USAGE, type SealIo } from './cli.ts';
