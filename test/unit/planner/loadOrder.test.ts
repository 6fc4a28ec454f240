import { describe, expect, it } from 'vitest';
import type { ForeignKeyEdge } from '../../../src/model/loadOrder.js';
import { loadOrder, loadProblems, planLoad, unsplitTables } from '../../../src/planner/init/loadOrder.js';

const fk = (table: string, references: string, deferrable = false): ForeignKeyEdge => ({
  name: `${table.slice(7)}_${references.slice(7)}_fkey`,
  table,
  references,
  deferrable,
});

describe('loadOrder: a subscriber without session_replication_role loads each table after the tables it references', () => {
  it.each([
    {
      case: 'no foreign keys: every table on its own, none waits',
      tables: ['public.b', 'public.a'],
      fks: [],
      groups: [
        { tables: ['public.a'], after: [], deferred: false },
        { tables: ['public.b'], after: [], deferred: false },
      ],
    },
    {
      case: 'parent → child → grandchild, given in any order',
      tables: ['public.grandchild', 'public.child', 'public.parent'],
      fks: [fk('public.child', 'public.parent'), fk('public.grandchild', 'public.child')],
      groups: [
        { tables: ['public.parent'], after: [], deferred: false },
        { tables: ['public.child'], after: ['public.parent'], deferred: false },
        { tables: ['public.grandchild'], after: ['public.child'], deferred: false },
      ],
    },
    {
      case: 'a diamond: the bottom waits for both sides, the sides only for the top',
      tables: ['public.top', 'public.left', 'public.right', 'public.bottom'],
      fks: [
        fk('public.left', 'public.top'),
        fk('public.right', 'public.top'),
        fk('public.bottom', 'public.left'),
        fk('public.bottom', 'public.right'),
      ],
      groups: [
        { tables: ['public.top'], after: [], deferred: false },
        { tables: ['public.left'], after: ['public.top'], deferred: false },
        { tables: ['public.right'], after: ['public.top'], deferred: false },
        { tables: ['public.bottom'], after: ['public.left', 'public.right'], deferred: false },
      ],
    },
    {
      case: 'a cycle broken by a DEFERRABLE key: one deferred group, ordered by the NOT DEFERRABLE key inside it',
      tables: ['public.a', 'public.b', 'public.c'],
      fks: [fk('public.a', 'public.b', true), fk('public.b', 'public.a'), fk('public.c', 'public.b')],
      groups: [
        { tables: ['public.a', 'public.b'], after: [], deferred: true },
        { tables: ['public.c'], after: ['public.b'], deferred: false },
      ],
    },
  ])('$case', ({ tables, fks, groups }) => {
    const order = loadOrder(tables, fks);
    expect(order.groups).toEqual(groups);
    expect(order.cycles).toEqual([]);
    expect(order.whole).toEqual([]);
  });

  it('a self-reference loads whole (one COPY), a key to a table not loaded is reported, a NOT DEFERRABLE cycle refused', () => {
    const tables = ['public.tree', 'public.a', 'public.b', 'public.c', 'public.d'];
    const order = loadOrder(tables, [
      fk('public.tree', 'public.tree'),
      fk('public.tree', 'public.elsewhere'),
      fk('public.a', 'public.b'),
      fk('public.b', 'public.c'),
      fk('public.c', 'public.a'),
      fk('public.d', 'public.a'),
    ]);
    expect(order.whole).toEqual(['public.tree']);
    expect(order.outside.map((f) => f.references)).toEqual(['public.elsewhere']);
    expect(order.cycles.map((c) => c.tables)).toEqual([['public.a', 'public.b', 'public.c']]);
    // the cycle's tables load nowhere; d waits for one of them, so the plan refuses before any load
    expect(order.groups.map((g) => g.tables)).toEqual([['public.d'], ['public.tree']]);
    const facts = {
      role: 'admin',
      replicaAllowed: false,
      foreignKeys: [],
      originTriggers: ['public.d: audit'],
    };
    const where = { node: 'west', serverVersion: 140013, subscription: 's' };
    const problems = loadProblems(where, facts, order, { twoPhase: false, split: false });
    expect(problems.errors).toHaveLength(2);
    expect(problems.errors[0]).toContain(
      'a_b_fkey (public.a → public.b), b_c_fkey (public.b → public.c), c_a_fkey (public.c → public.a)',
    );
    expect(problems.errors[0]).toContain(
      'leave init.parallel out so PostgreSQL copies (on PostgreSQL 14 only a superuser may set session_replication_role)',
    );
    expect(problems.errors[1]).toContain('the trigger public.d: audit would fire on every loaded row');
    expect(problems.warnings).toEqual([
      expect.stringContaining(
        'public.tree references public.elsewhere (foreign key tree_elsewhere_fkey), which it does not copy',
      ),
    ]);
  });
});

describe('a self-referencing table in several chunks (a snapshot split before its load)', () => {
  const where = { node: 'west', serverVersion: 180000, subscription: 's' };
  const facts = (deferrable: boolean) => ({
    role: 'admin',
    replicaAllowed: false,
    foreignKeys: [fk('public.tree', 'public.tree', deferrable), fk('public.leaf', 'public.tree')],
    originTriggers: [],
  });

  it('DEFERRABLE: its chunks load in one transaction with the key deferred, before the tables that reference it', () => {
    const order = loadOrder(['public.leaf', 'public.tree'], facts(true).foreignKeys, ['public.tree']);
    expect(order.groups).toEqual([
      { tables: ['public.tree'], after: [], deferred: true },
      { tables: ['public.leaf'], after: ['public.tree'], deferred: false },
    ]);
    expect(order.splitSelf).toEqual([]);
    // not split: one COPY statement, no transaction of its own needed
    expect(loadOrder(['public.tree'], facts(true).foreignKeys).groups).toEqual([
      { tables: ['public.tree'], after: [], deferred: false },
    ]);
  });

  it('NOT DEFERRABLE: refused before anything loads, naming the grant (15+) and ALTER CONSTRAINT; never another init method, the subscription being made', () => {
    const split = ['public.tree'];
    const use = { twoPhase: true, split: false, applying: true };
    const refused = planLoad(where, facts(false), ['public.leaf', 'public.tree'], use, split);
    expect(refused.errors).toEqual([
      "west: role admin may not set session_replication_role, so steep's own copy loads the tables of subscription s in foreign-key order, " +
        'and public.tree references itself through the NOT DEFERRABLE foreign key tree_tree_fkey while the snapshot holds it in several files, ' +
        'one COPY statement each, at whose end PostgreSQL checks it, so a row whose referenced row is in a later file would fail: ' +
        'run GRANT SET ON PARAMETER session_replication_role TO "admin"; on west, ' +
        'or make it deferrable (ALTER TABLE "public"."tree" ALTER CONSTRAINT "tree_tree_fkey" DEFERRABLE;) and its files load in one transaction',
    ]);
    const on14 = planLoad({ ...where, serverVersion: 140013 }, facts(false), ['public.tree'], use, split);
    expect(on14.errors[0]).toContain(
      'would fail: run steep snapshot apply as a superuser on west (on PostgreSQL 14 only a superuser may set session_replication_role), or make it deferrable',
    );
    // in one file it loads in one COPY statement
    expect(planLoad(where, facts(false), ['public.tree'], use, []).errors).toEqual([]);
    // a role that may set session_replication_role loads it as replication does
    expect(planLoad(where, { ...facts(false), replicaAllowed: true }, ['public.tree'], use, split)).toEqual({
      mode: { replica: true },
      errors: [],
      warnings: [],
    });
  });

  it('snapshot generate keeps whole only the tables whose self-reference is NOT DEFERRABLE, and only where the role may not set session_replication_role', () => {
    const both = {
      ...facts(false),
      foreignKeys: [
        fk('public.strict', 'public.strict'),
        fk('public.tree', 'public.tree', true),
        fk('public.leaf', 'public.strict'),
      ],
    };
    expect(unsplitTables(both)).toEqual(['public.strict']);
    expect(unsplitTables({ ...both, replicaAllowed: true })).toEqual([]);
  });
});
