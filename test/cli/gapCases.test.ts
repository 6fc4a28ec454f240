import { describe, expect, it } from 'vitest';
import { GAP_SUB, type GapCase, runGapCase } from '../support/gapCases.js';

/**
 * Holes in a subscription's stream while its apply worker runs on (docs/status.md, `gap`), one
 * case each, on two fresh nodes under an id-logging writer (test/support/gapCases.ts): the
 * verdict status, status --check and drift give, the way out status --check prints followed
 * literally, then no acknowledged id lost and every table equal by column name.
 */
const shop = {
  tables: [
    'CREATE TABLE public.customers (id bigserial PRIMARY KEY, v text NOT NULL)',
    'CREATE TABLE public.orders (id bigserial PRIMARY KEY, amount int NOT NULL)',
  ],
  east: [
    'INSERT INTO public.customers (v) SELECT md5(g::text) FROM generate_series(1, 500) g',
    'INSERT INTO public.orders (amount) SELECT g FROM generate_series(1, 500) g',
  ],
  published: ['public.customers', 'public.orders'],
  writes: 'public.customers',
};

const CASES: GapCase[] = [
  {
    // the tutorial's drift scenario: apply puts the table back (gated), only a copy closes the hole
    ...shop,
    name: 'a table taken out of its publication by hand',
    changes: [
      {
        sql: ['ALTER PUBLICATION gap_pub DROP TABLE public.customers'],
        reasons: [/public\.customers left publication gap_pub on east/],
      },
    ],
    named: ['public.customers'],
    driftSays: [/Gap \(changes never sent[\s\S]*public\.customers left publication gap_pub/],
    between: async ({ steep, moreWrites }) => {
      // REFRESH does not copy a table the subscription still lists: the rejoin is gated
      const plan = await steep(['plan']);
      expect(plan.stdout + plan.stderr).toContain('data-gap');
      const refused = await steep(['apply', '--auto-approve']);
      expect(refused.code, refused.stdout + refused.stderr).not.toBe(0);
      expect(refused.stdout + refused.stderr).toContain('--allow-hazard data-gap');
      const rejoined = await steep(['apply', '--auto-approve', '--allow-hazard', 'data-gap']);
      expect(rejoined.code, `${rejoined.stdout}\n${rejoined.stderr}`).toBe(0);
      await moreWrites(50);
      // still a gap: what was written while it was out never reached west
      const r = await steep(['status', '--json']);
      const sub = (JSON.parse(r.stdout) as { subscriptions: Array<{ name: string; state: string }> })
        .subscriptions;
      expect(sub.find((s) => s.name === GAP_SUB)?.state, r.stdout).toBe('gap');
    },
    reinit: `steep reinit ${GAP_SUB} --tables public.customers`,
  },
  {
    // between two readings of steep: the same list, a new membership row
    ...shop,
    name: 'a table dropped and added back by hand',
    changes: [
      {
        sql: [
          'ALTER PUBLICATION gap_pub DROP TABLE public.orders',
          'INSERT INTO public.orders (amount) SELECT g FROM generate_series(1, 7) g',
          'ALTER PUBLICATION gap_pub ADD TABLE public.orders',
        ],
        reasons: [/public\.orders left and rejoined publication gap_pub on east/],
      },
    ],
    named: ['public.orders'],
    reinit: `steep reinit ${GAP_SUB} --tables public.orders`,
  },
  {
    // column identity (docs/steep-yaml.md, "A renamed column"): PostgreSQL maps a subscriber's
    // columns by name, so a name given to another column sends new rows into the subscriber's
    // column of that name; a subscriber made by hand in another column order stays green
    name: 'columns swapped, renamed then added, dropped then added, under lag',
    tables: [
      "CREATE TABLE public.t_swap (id bigserial PRIMARY KEY, v text, a text DEFAULT 'A', b text DEFAULT 'B')",
      'CREATE TABLE public.t_rename (id bigint PRIMARY KEY, c text DEFAULT md5(random()::text))',
      'CREATE TABLE public.t_drop (id bigint PRIMARY KEY, c text)',
    ],
    east: [
      'CREATE TABLE public.t_order (id bigint PRIMARY KEY, x text, y text)',
      "INSERT INTO public.t_swap (v, a, b) SELECT 'v' || g, 'a' || g, 'b' || g FROM generate_series(1, 2000) g",
      "INSERT INTO public.t_rename SELECT g, 'c' || g FROM generate_series(1, 300) g",
      "INSERT INTO public.t_drop SELECT g, 'c' || g FROM generate_series(1, 300) g",
      "INSERT INTO public.t_order SELECT g, 'x' || g, 'y' || g FROM generate_series(1, 300) g",
    ],
    west: ['CREATE TABLE public.t_order (id bigint PRIMARY KEY, y text, x text)'],
    published: ['public.t_swap', 'public.t_rename', 'public.t_drop', 'public.t_order'],
    subscription: ['schemaSync: auto'],
    writes: 'public.t_swap',
    changes: [
      {
        // the swap alone: the apply worker runs on, the subscription is a gap (not failing)
        lag: true,
        sql: [
          'BEGIN; ALTER TABLE public.t_swap RENAME a TO tmp; ALTER TABLE public.t_swap RENAME b TO a; ALTER TABLE public.t_swap RENAME tmp TO b; COMMIT',
        ],
        reasons: [/^columns a and b of public\.t_swap were swapped on east/],
      },
      {
        lag: true,
        sql: [
          'ALTER TABLE public.t_rename RENAME c TO c_old',
          "ALTER TABLE public.t_rename ADD COLUMN c text DEFAULT 'new'",
          'INSERT INTO public.t_rename (id) SELECT g FROM generate_series(301, 320) g',
          'ALTER TABLE public.t_drop DROP COLUMN c',
          "ALTER TABLE public.t_drop ADD COLUMN c text DEFAULT 'd'",
          'INSERT INTO public.t_drop (id) SELECT g FROM generate_series(301, 320) g',
        ],
        // west lacks c_old, which east publishes now: the worker stops there too
        state: 'failing',
        reasons: [
          /public\.t_rename on west lacks column c_old/,
          /column c of public\.t_drop on east is another column now/,
          /column c of public\.t_rename on east is another column now/,
        ],
      },
    ],
    named: ['public.t_swap', 'public.t_rename', 'public.t_drop'],
    notNamed: ['public.t_order'],
    checkSays: [/columns? a and b of public\.t_swap .*swapped/],
    between: async ({ steep, west }) => {
      const plan = await steep(['plan']);
      const planned = plan.stdout + plan.stderr;
      expect(planned).not.toContain('No changes');
      expect(planned).not.toMatch(/t_swap[^\n]*harmless/);
      expect(planned).not.toMatch(/ADD COLUMN "?c_old"? text DEFAULT/);
      expect(planned).toContain('public.t_swap');
      // apply refuses rather than adding c_old with made-up values
      const refused = await steep(['apply', '--auto-approve']);
      expect(refused.code, refused.stdout).not.toBe(0);
      expect(
        await west.query(
          "SELECT 1 FROM information_schema.columns WHERE table_name = 't_rename' AND column_name = 'c_old'",
        ),
      ).toEqual([]);
    },
    westStatements: 1,
    reinit: `steep reinit ${GAP_SUB} --tables public.t_drop,public.t_rename,public.t_swap`,
    // what the copy leaves to schema sync (c_old's default) is a plain plan then
    applyAfter: true,
  },
];

describe('holes in the stream, as cases (18)', () => {
  for (const c of CASES) it(c.name, () => runGapCase(c), 300_000);
});
