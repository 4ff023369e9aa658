export * from './types.ts';
export * from './apply.ts';
