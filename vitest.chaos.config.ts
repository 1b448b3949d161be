import { defineConfig } from 'vitest/config';

/** The chaos test alone, on the three-broker stack `./dev test` starts for it. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    testTimeout: 25 * 60_000,
    hookTimeout: 5 * 60_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
