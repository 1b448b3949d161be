import { defineConfig } from 'vitest/config';

/** The chaos test alone, on the three-broker stack `./dev test` starts for it. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    // the cluster test took 12.6 minutes on a good day and 43 on a slow one (load average 30 on
    // two cores); CI allows 90 in all: the main suite takes 10–14 of them, the instant test 5
    testTimeout: 55 * 60_000,
    hookTimeout: 5 * 60_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
