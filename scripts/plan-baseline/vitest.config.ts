import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The plan baseline: the planner and render unit tests, with every plan() they make written out (capture.ts).
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: [
      'test/unit/planner/**/*.test.ts',
      'test/unit/render/**/*.test.ts',
      'scripts/plan-baseline/examples.baseline.ts',
    ],
    testTimeout: 60_000,
    setupFiles: ['scripts/plan-baseline/capture.ts'],
    pool: 'forks',
    maxWorkers: 1,
  },
});
