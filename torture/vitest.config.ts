import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['torture/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    // a sequence is several minutes of real servers; ceilings only catch a hang
    testTimeout: 900_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // one sequence at a time: each starts its own servers
    maxWorkers: 1,
    fileParallelism: false,
  },
});
