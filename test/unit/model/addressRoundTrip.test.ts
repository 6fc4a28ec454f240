import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonText } from '../../../src/cli/jsonText.js';
import { type Address, printAddress } from '../../../src/model/address.js';
import type { Plan } from '../../../src/model/plan.js';
import { fromPlanFile, toPlanFile } from '../../../src/model/planFile.js';
import type { NodeTableSchemas, TableSchema } from '../../../src/model/tableSchema.js';
import { readSavedPlan, staleness } from '../../../src/workflows/savedPlan.js';
import { at, nodeSpec, observe, publication, runPlan, subscription, topology } from '../planner/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'steep-address-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Names a printed address must carry through: a quote and a semicolon, a dot, a node name with `/`. */
const HOSTILE = 'Sub "x"; DROP';
const t = topology({
  nodes: [nodeSpec('eu/1'), nodeSpec('us/2')],
  publications: [publication('a.b', 'eu/1')],
  subscriptions: [subscription(HOSTILE, 'us/2', 'eu/1', ['a.b'], { slot: 'sub_x', schemaSync: 'auto' })],
});
const orders: TableSchema = {
  schema: 'public',
  name: 'orders',
  kind: 'r',
  partition: false,
  replicaIdentity: 'd',
  columns: [
    {
      name: 'id',
      type: 'bigint',
      default: null,
      notNull: true,
      ordinal: 1,
      identity: null,
      generated: null,
      collation: null,
      baseType: { schema: 'pg_catalog', name: 'int8' },
      sequences: [],
    },
  ],
  primaryKey: ['id'],
  fingerprint: 'ab'.repeat(32),
};
const schemas = (tables: Record<string, TableSchema>): NodeTableSchemas => ({
  scope: { all: true, schemas: [], tables: [] },
  tables,
  types: {},
  sequences: {},
  schemas: ['public', 'steep'],
  extensions: ['plpgsql'],
});

/** Nothing declared exists yet but the publisher's table (schemaSync: auto creates it on the subscriber). */
function observed() {
  const state = observe(
    topology({ nodes: [nodeSpec('eu/1'), nodeSpec('us/2')], publications: [publication('a.b', 'eu/1')] }),
  );
  delete at(state, 'eu/1').publications['a.b'];
  at(state, 'eu/1').tableSchemas = schemas({ 'public.orders': orders });
  at(state, 'us/2').tableSchemas = schemas({});
  return state;
}

/** `plan --out FILE`, then `apply FILE` reading it back. */
async function saveAndLoad(plan: Plan, name: string) {
  const file = join(dir, name);
  writeFileSync(file, `${jsonText(toPlanFile(plan), 2)}\n`);
  return readSavedPlan(file);
}

describe('a step address survives plan → save → load → apply as the same typed value', () => {
  it('every kind of address, with hostile names, reads back equal; apply PLAN finds the plan current', async () => {
    const plan = runPlan(t, observed());
    const addresses = plan.steps.map((s) => s.address);
    expect(addresses).toEqual(
      expect.arrayContaining<Address>([
        { kind: 'publication', name: 'a.b' },
        { kind: 'subscription', name: HOSTILE },
        { kind: 'table', node: 'us/2', table: 'public.orders' },
      ]),
    );
    const saved = await saveAndLoad(plan, 'all.json');
    // the document carries the printed form, the contract of docs/plan-format.md
    expect(saved.steps.map((s) => s.address)).toEqual(addresses.map(printAddress));
    expect(saved.steps.map((s) => s.address)).toContain('table.us/2/public.orders');
    // loaded once: the same typed values the planner made
    expect(fromPlanFile(saved).steps.map((s) => s.address)).toEqual(addresses);
    // apply PLAN plans again from the same inputs and runs that plan only when nothing differs
    const fresh = runPlan(t, observed());
    expect(staleness(saved, fresh)).toEqual([]);
    expect(fresh.steps.map((s) => s.address)).toEqual(fromPlanFile(saved).steps.map((s) => s.address));
  });

  it('--target: the printed address given is recorded as given, and planned again selects the same step', async () => {
    const target = printAddress({ kind: 'subscription', name: HOSTILE });
    const plan = runPlan(t, observed(), { targets: [target] });
    expect(plan.steps.some((s) => printAddress(s.address) === target)).toBe(true);
    expect(plan.steps.some((s) => s.address.kind === 'publication' && s.address.name === 'a.b')).toBe(true);
    const saved = await saveAndLoad(plan, 'target.json');
    expect(saved.inputs.targets).toEqual([target]);
    const again = runPlan(t, observed(), { targets: saved.inputs.targets });
    expect(staleness(saved, again)).toEqual([]);
    expect(again.steps.map((s) => s.address)).toEqual(fromPlanFile(saved).steps.map((s) => s.address));
  });

  it('a saved step whose address steep cannot read is refused at load, naming it', async () => {
    const doc = toPlanFile(runPlan(t, observed()));
    doc.steps[0]!.address = 'slot.no-slash';
    const file = join(dir, 'bad.json');
    writeFileSync(file, jsonText(doc, 2));
    await expect(readSavedPlan(file)).rejects.toThrow(
      `${file} is not a steep plan: slot.no-slash is no address`,
    );
  });
});
