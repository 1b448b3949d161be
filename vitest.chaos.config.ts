import { defineConfig } from 'vitest/config';

/** The chaos test alone, on the three-broker stack `./dev test` starts for it. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    // about 12–23 minutes here; a noisy shared machine has taken 26, and CI once over 40 (CI
    // allows 90 in all, the main suite about 12 of them)
    testTimeout: 50 * 60_000,
    hookTimeout: 5 * 60_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
