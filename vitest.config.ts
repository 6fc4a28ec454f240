import { defineConfig } from 'vitest/config';
import LongestFirst from './test/support/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    // ceilings that only catch a hang; how fast anything runs is measured in bench/
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // integration files each start their own PostgreSQL nodes; 2 cores in CI
    maxWorkers: 2,
    // longest file first (test/support/durations.json): the two workers end together
    sequence: { sequencer: LongestFirst },
  },
});
