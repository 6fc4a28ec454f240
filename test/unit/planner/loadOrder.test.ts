import { describe, expect, it } from 'vitest';
import type { ForeignKeyEdge } from '../../../src/model/loadOrder.js';
import { loadOrder, loadProblems } from '../../../src/planner/loadOrder.js';

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
