export * from './types.ts';
export * from './apply.ts';
export * from './runner-hook.ts';
