#!/usr/bin/env node
// Rewrite test/support/durations.json (the order test/support/sequencer.ts runs files in) from a
// full run's JSON report: `STEEP_TEST_REPORT=/tmp/run.json bash .ci/run` (or `npm test` with it),
// then `node scripts/test-durations.mjs /tmp/run.json`.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const report = process.argv[2];
if (!report) {
  console.error('usage: node scripts/test-durations.mjs REPORT.json (vitest --reporter=json)');
  process.exit(1);
}
const root = resolve(import.meta.dirname, '..');
const { testResults } = JSON.parse(readFileSync(report, 'utf8'));
const seconds = Object.fromEntries(
  testResults
    // from test/ on: the report may come from another clone
    .map((f) => [
      f.name.slice(f.name.lastIndexOf('/test/') + 1),
      Math.round((f.endTime - f.startTime) / 1000),
    ])
    .sort(([a], [b]) => (a < b ? -1 : 1)),
);
writeFileSync(resolve(root, 'test/support/durations.json'), `${JSON.stringify(seconds, null, 2)}\n`);
console.log(`test/support/durations.json: ${testResults.length} files`);
