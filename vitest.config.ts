import { configDefaults, defineConfig } from 'vitest/config';
import LongestFirst from './test/support/sequencer.js';

export default defineConfig({
  test: {
    setupFiles: ['test/support/setup.ts'],
    // ceilings that only catch a hang; how fast anything runs is measured in bench/
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // integration files each start their own PostgreSQL nodes; 2 cores in CI
    maxWorkers: 2,
    // longest file first (test/support/durations.json): the two workers end together
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        // no database, no process-wide state a file keeps: the unit files share their workers'
        // processes and modules instead of starting a process and loading src/ again per file
        // (vi.stubEnv and spies are undone after each test)
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          isolate: false,
          unstubEnvs: true,
          restoreMocks: true,
        },
      },
      {
        // every other file in a process of its own (servers, signals, exit hooks, process.env)
        extends: true,
        test: {
          name: 'db',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/unit/**'],
        },
      },
    ],
  },
});
