export * from './fresh-repo.ts';
