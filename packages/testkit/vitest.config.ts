import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export default defineConfig({
  test: {
    root: repoRoot,
    include: ['packages/*/src/**/*.test.ts', 'packages/*/scripts/**/*.test.ts', 'scripts/**/*.test.ts'],
    // Tests start real servers (PostgreSQL, an OCI registry, git remotes); two cores, so keep file parallelism modest.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', fileURLToPath(new URL('./src/summary-reporter.ts', import.meta.url))],
  },
});
