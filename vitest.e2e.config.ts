import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

/**
 * The opt-in end-to-end suite (`npm run e2e`): real builds of the slow packages — the base
 * tools, hwloc from a local tarball, the MUMPS stack — each twice (`--rounds=2`). `npm test`
 * does not run it (its files are outside test/). One file at a time: the builds already use
 * every core.
 */
export default defineConfig({
  resolve: {
    alias: {
      'tsdsl/packages': fileURLToPath(new URL('./packages/index.ts', import.meta.url)),
      tsdsl: fileURLToPath(new URL('./src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['test-e2e/**/*.test.ts'],
    testTimeout: 4 * 3600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
