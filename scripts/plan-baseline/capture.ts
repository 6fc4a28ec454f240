import { appendFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { expect, vi } from 'vitest';

/**
 * Setup file of the plan baseline (see README.md here): every `plan()` a test makes is written,
 * as `plan --json` and the text render, to PLAN_BASELINE_OUT/<test file>.jsonl.
 */

fc.configureGlobal({ seed: 14, numRuns: 100 });

vi.mock('../../src/planner/index.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/planner/index.js')>();
  const { toPlanFile } = await import('../../src/model/planFile.js');
  const { maskDeep } = await import('../../src/db/mask.js');
  const { renderPlanText } = await import('../../src/render/planText.js');
  const out = process.env.PLAN_BASELINE_OUT;
  if (!out) throw new Error('PLAN_BASELINE_OUT is not set');
  mkdirSync(out, { recursive: true });
  const calls = new Map<string, number>();
  const plan: typeof actual.plan = (desired, observed, opts) => {
    const state = expect.getState();
    const test = state.currentTestName ?? '(outside a test)';
    const n = (calls.get(test) ?? 0) + 1;
    calls.set(test, n);
    const file = join(out, `${basename(state.testPath ?? 'unknown')}.jsonl`);
    let record: unknown;
    try {
      const p = actual.plan(desired, observed, opts);
      record = { test, call: n, json: maskDeep(toPlanFile(p)), text: renderPlanText(p).split('\n') };
      appendFileSync(file, `${JSON.stringify(record)}\n`);
      return p;
    } catch (e) {
      record = { test, call: n, threw: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
      appendFileSync(file, `${JSON.stringify(record)}\n`);
      throw e;
    }
  };
  return { ...actual, plan };
});
