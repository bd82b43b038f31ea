import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The opt-in end-to-end suite (`npm run e2e`): real builds of the slow packages — the base
 * tools, hwloc from a local tarball, the MUMPS stack — each twice (`--rounds=2`). `npm test`
 * does not run it (its files are outside test/). One file at a time: the builds already use
 * every core. The aliases (`tsdsl`, `tsdsl/packages`) are the unit tests' config's.
 */
export default defineConfig({
  resolve: base.resolve,
  test: {
    include: ['test-e2e/**/*.test.ts'],
    testTimeout: 4 * 3600_000,
    // Hooks build too (the stories' beforeAll builds MUMPS): as long as a test may take.
    hookTimeout: 4 * 3600_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
