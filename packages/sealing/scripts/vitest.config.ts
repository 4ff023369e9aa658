import { defineConfig } from 'vitest/config';
import base from '../../testkit/vitest.config.ts';

// Until the shared config's include covers packages/*/scripts/**/*.test.ts, run the script tests with this one:
//   pnpm exec vitest run --config packages/sealing/scripts/vitest.config.ts
export default defineConfig({ ...base, test: { ...base.test, include: ['packages/sealing/scripts/**/*.test.ts'] } });
