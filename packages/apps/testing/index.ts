export * from './fresh-repo.ts';
export * from './payments.ts';
