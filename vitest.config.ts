import { defineConfig } from 'vitest/config';

/**
 * Tests that stop or restart a service of the shared test stack (the broker): they run alone,
 * after the rest, which would otherwise lose their broker under them.
 */
const ALONE = ['test/processors/broker-restart.test.ts'];

const timeouts = { testTimeout: 180_000, hookTimeout: 120_000 };

export default defineConfig({
  test: {
    ...timeouts,
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'shared',
          ...timeouts,
          include: ['test/**/*.test.ts'],
          // the chaos test runs on its own cluster stack (vitest.chaos.config.ts, `./dev test`)
          exclude: ['test/chaos/**', 'node_modules/**', ...ALONE],
          // Two files at a time on the one broker, registry and Redis: each test has topics,
          // groups and keys of its own, and most of a file's time is waiting (a session to
          // expire, a process to start, a broker to answer), so two overlap well on two cores
          // (the suite took 10.6 minutes so against 19.2 one at a time, 2026-12-07).
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'alone',
          ...timeouts,
          include: ALONE,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
