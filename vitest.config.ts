import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  resolve: {
    alias: {
      'tsdsl/packages': fileURLToPath(new URL('./packages/index.ts', import.meta.url)),
      tsdsl: fileURLToPath(new URL('./src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // A TMPDIR of the run's own, removed at its end (see the file).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // CLI tests spawn the real binary; two cores, so keep files from starving each other.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
