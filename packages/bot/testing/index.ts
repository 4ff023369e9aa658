// Test-only helpers of the bot (`@dbos-gitops/bot/testing`); never imported by production code under src/.
export * from './fixture-repo.ts';
export * from './git-http-remote.ts';
export * as rotation from './rotation-fixture.ts';
export * as versions from './version-fixture.ts';
export * from './world.ts';
export * from './run-on-remote.ts';
