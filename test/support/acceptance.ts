/**
 * The acceptance sequence of a plan/apply test, table-driven (as pg-schema-diff's acceptance
 * runner does for DDL): a steep.yaml → the plan holds exactly the expected steps (action and
 * address, in order) and hazards (the gated ones it names allowed by `plan --allow-hazard`) →
 * `apply` of that very plan → rows equal on both sides (count and an order-independent checksum
 * per table) → a fresh plan is empty.
 *
 *   await accept(steep, {
 *     config: path,
 *     steps: ['create publication.orders_pub', 'create subscription.west_orders', 'init subscription.west_orders'],
 *     hazards: { 'create subscription.west_orders': ['copies-data'] },
 *     rows: { from: east, to: west, tables: ['orders'] },
 *   });
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { GATED_HAZARDS } from '../../src/model/hazardGate.js';
import type { PlanFile } from '../../src/model/planFile.js';
import type { CliResult, Steep } from './cli.js';
import type { TestNode } from './cluster.js';
import { digests } from './replicationData.js';
import { eventually } from './topologyFile.js';

export interface AcceptanceCase {
  /** path of the steep.yaml */
  config: string;
  /** every step of the plan, in order: `<action> <address>` (`create subscription.west_orders`) */
  steps: string[];
  /** the hazards of a step, keyed like `steps`; a step not named here has none */
  hazards?: Record<string, string[]>;
  /** more flags for `apply PLAN` (`--allow-destroy`) */
  applyArgs?: string[];
  /** the test's own checks of the plan's text (stdout of `steep plan`) */
  planText?: (stdout: string) => void;
  /** the test's own checks after apply succeeded (objects exist, rows written to replicate…) */
  afterApply?: (r: CliResult) => Promise<void> | void;
  /** tables (in schema public) that must hold the same rows on both nodes after apply */
  rows?: { from: TestNode; to: TestNode; tables: string[]; timeoutMs?: number };
}

/** `<action> <address>` of each step of a plan document. */
export function stepLines(doc: Pick<PlanFile, 'steps'>): string[] {
  return doc.steps.map((s) => `${s.action} ${s.address}`);
}

/**
 * Run the sequence; each stage fails with the output it saw. `steep` is the file's runner
 * (steepWith), whose environment reaches every node of the config.
 */
export async function accept(steep: Steep, c: AcceptanceCase): Promise<{ plan: PlanFile; apply: CliResult }> {
  const saved = `${c.config}.accept-${Date.now()}.json`;
  // the gated hazards the case expects are the ones its saved plan allows: a step with any other is refused
  const declared = new Set(Object.values(c.hazards ?? {}).flat());
  const allow = GATED_HAZARDS.filter((h) => declared.has(h)).flatMap((h) => ['--allow-hazard', h]);
  const planned = await steep(['plan', '--detailed-exitcode', ...allow, '--out', saved], c.config);
  const planOutput = `${planned.stdout}\n${planned.stderr}`;
  expect(planned.code, planOutput).toBe(c.steps.length > 0 ? 2 : 0);
  c.planText?.(planned.stdout);
  const plan = JSON.parse(readFileSync(saved, 'utf8')) as PlanFile;
  expect(stepLines(plan), planOutput).toEqual(c.steps);
  const hazards = Object.fromEntries(
    plan.steps
      .filter((s) => s.hazards.length > 0)
      .map((s) => [`${s.action} ${s.address}`, [...s.hazards].sort()]),
  );
  const expected = Object.fromEntries(
    Object.entries(c.hazards ?? {}).map(([step, list]) => [step, [...list].sort()]),
  );
  expect(hazards, planOutput).toEqual(expected);

  const apply = await steep(['apply', saved, ...(c.applyArgs ?? [])], c.config);
  expect(apply.code, `${apply.stdout}\n${apply.stderr}`).toBe(0);
  await c.afterApply?.(apply);

  if (c.rows) {
    const { from, to, tables } = c.rows;
    let last = '';
    await eventually(
      async () => {
        const [a, b] = await Promise.all([digests(from, tables), digests(to, tables)]);
        // equal empty tables would prove nothing
        for (const t of tables) expect(a[t]!.count, `${from.name} holds no row of ${t}`).toBeGreaterThan(0);
        last = `${from.name}: ${JSON.stringify(a)}\n${to.name}: ${JSON.stringify(b)}`;
        return JSON.stringify(a) === JSON.stringify(b);
      },
      c.rows.timeoutMs ?? 30_000,
      `rows of ${tables.join(', ')} equal on ${from.name} and ${to.name}`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${last}`);
    });
  }

  const again = await steep(['plan', '--detailed-exitcode'], c.config);
  expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
  expect(again.stdout).toContain('No changes');
  return { plan, apply };
}
