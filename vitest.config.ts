import { configDefaults, defineConfig } from 'vitest/config';
import LongestFirst from './test/support/sequencer.js';

const LOAD_TIME_ENV = ['test/unit/render/colour.test.ts'];

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
    // STEEP_TEST_REPORT=FILE: a JSON report beside the usual output, from which
    // scripts/test-durations.mjs rewrites durations.json (a CI run's, on its own machine)
    ...(process.env.STEEP_TEST_REPORT
      ? { reporters: ['default', 'json'], outputFile: { json: process.env.STEEP_TEST_REPORT } }
      : {}),
    projects: [
      {
        // no database, no process-wide state a file keeps: the unit files share their workers'
        // processes and modules instead of starting a process and loading src/ again per file
        // (vi.stubEnv and spies are undone after each test)
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...LOAD_TIME_ENV],
          isolate: false,
          unstubEnvs: true,
          restoreMocks: true,
        },
      },
      {
        // a unit file whose dependency reads the environment when first loaded (ansis and
        // FORCE_COLOR): only a process of its own loads it afresh, as vi.resetModules cannot
        extends: true,
        test: { name: 'unit-isolated', include: LOAD_TIME_ENV },
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
