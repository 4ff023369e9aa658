// The real parts tests run against, started and stopped by the tests themselves.
export * from './postgres.ts';
export * from './embedded-postgres.ts';
export * from './dbos.ts';
export * from './registry.ts';
export * from './git-remote.ts';
export * from './github-fake.ts';
export * from './conductor-fake.ts';
export * from './fixture-repo.ts';
