import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the chaos test runs on its own cluster stack (vitest.chaos.config.ts, `./dev test`)
    exclude: ['test/chaos/**', 'node_modules/**'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // The tests share one broker and one registry on a 2-core machine.
    fileParallelism: false,
    reporters: ['default'],
  },
});
