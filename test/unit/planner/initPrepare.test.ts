import { describe, expect, it } from 'vitest';
import type { SubscriptionSpec, Topology } from '../../../src/model/topology.js';
import {
  dumpCommands,
  dumpScope,
  planInitPrepare,
  type SentColumns,
} from '../../../src/planner/init/initPrepare.js';
import { check } from '../config/support.js';
import { at, observe, observedSlot, observedTable, publication, subscription, topology } from './fixtures.js';

const FILE = `version: 1
topology: manual
nodes:
  east: { url: postgres://steep@east.internal:5432/app }
  west: { url: postgres://steep@west.internal:5432/app }
publications:
  whole: { node: east, tables: [public.orders] }
  part:
    node: east
    tables:
      - name: public.customers
        columns: [id, region]
        where: "region = 'eu'"
      - name: public.notes
        where: "id > 10"
subscriptions:
  west_man:
    node: west
    from: east
    publications: [part, whole]
    init: { method: manual }
`;

/** What the publisher sends of each table (read by the workflow): plain tables */
const sent = (...tables: Array<[string, string[], Partial<SentColumns>?]>) =>
  new Map(tables.map(([qn, columns, o]) => [qn, { columns, generated: false, partitioned: false, ...o }]));
const SENT = sent(
  ['public.customers', ['id', 'region', 'secret']],
  ['public.notes', ['id', 'body']],
  ['public.orders', ['id', 'total']],
);

/** The commands `init prepare --hold` prints for `sent` */
function commands(t: Topology, d: SubscriptionSpec, s: ReadonlyMap<string, SentColumns>, superuser = true) {
  return dumpCommands(t, d, dumpScope(t, d, s), '00000003-1', superuser);
}

describe('manual init: the printed dump and copies', () => {
  it('dumps whole tables with pg_dump and copies a filtered one by a psql COPY of exactly its carried rows and columns', () => {
    const { topology, errors } = check(FILE);
    expect(errors).toEqual([]);
    const d = topology!.subscriptions.west_man!;
    const c = commands(topology!, d, SENT);
    expect(c.pgDump).toContain(`--table='"public"."orders"'`);
    expect(c.pgDump).not.toContain('customers');
    expect(c.pgDump).not.toContain('notes');
    expect(c.copies).toHaveLength(2);
    expect(c.copies[0]).toContain(`SET TRANSACTION SNAPSHOT '\\''00000003-1'\\''`);
    expect(c.copies[0]).toContain(
      `COPY (SELECT "id", "region" FROM "public"."customers" WHERE (region = '\\''eu'\\'')) TO STDOUT`,
    );
    expect(c.copies[0]).toContain(`COPY "public"."customers" ("id", "region") FROM STDIN`);
    // no column list: the columns the publisher sends, named on both sides (COPY matches by position)
    expect(c.copies[1]).toContain(
      `COPY (SELECT "id", "body" FROM "public"."notes" WHERE (id > 10)) TO STDOUT`,
    );
    expect(c.copies[1]).toContain(`COPY "public"."notes" ("id", "body") FROM STDIN`);
    // the same table whole in another publication: carried whole, so dumped
    const both = check(FILE.replace('tables: [public.orders]', 'tables: [public.orders, public.notes]'));
    const c2 = commands(
      both.topology!,
      both.topology!.subscriptions.west_man!,
      sent(['public.notes', ['id', 'body']]),
    );
    expect(c2.copies).toEqual([]);
    expect(c2.pgDump).toContain('notes');
  });

  it('copies a table whose publication sends a stored generated column, and a partitioned one published via its root, through psql', () => {
    const { topology } = check(FILE);
    const d = topology!.subscriptions.west_man!;
    const c = commands(
      topology!,
      d,
      sent(
        ['public.orders', ['id', 'total', 'tax'], { generated: true }],
        ['public.tree', ['id', 'v'], { partitioned: true }],
      ),
    );
    // pg_dump leaves generated columns out, and dumps no partition's rows for a partitioned table
    expect(c.pgDump).toBeNull();
    expect(c.copies).toHaveLength(2);
    expect(c.copies[0]).toContain(`COPY (SELECT "id", "total", "tax" FROM "public"."orders") TO STDOUT`);
    expect(c.copies[0]).toContain(`COPY "public"."orders" ("id", "total", "tax") FROM STDIN`);
    expect(c.copies[1]).toContain(`COPY (SELECT "id", "v" FROM "public"."tree") TO STDOUT`);
    // what the publisher does not send is not copied: a partition's rows come with its root's
    expect(commands(topology!, d, sent(['public.orders', ['id', 'total']])).pgDump).not.toContain('notes');
  });

  it("restores in one transaction; only a superuser's restore disables triggers (pg_restore refuses it to others)", () => {
    const { topology } = check(FILE);
    const d = topology!.subscriptions.west_man!;
    const orders = sent(['public.orders', ['id', 'total']]);
    expect(commands(topology!, d, orders, true).pgRestore!).toMatch(
      /^pg_restore .*--data-only --single-transaction --disable-triggers west_man\.dump$/,
    );
    expect(commands(topology!, d, orders, false).pgRestore!).toMatch(
      /^pg_restore .*--data-only --single-transaction west_man\.dump$/,
    );
    // and its copies, the same
    const customers = sent(['public.customers', ['id', 'region']]);
    expect(commands(topology!, d, customers, true).copies[0]).toContain(
      `| psql -X -q -v ON_ERROR_STOP=1 --dbname='host=west.internal port=5432 dbname=app user=steep' -c 'SET session_replication_role = replica' -c 'COPY "public"."customers"`,
    );
    expect(commands(topology!, d, customers, false).copies[0]).not.toContain('session_replication_role');
  });
});

describe('manual init: a slot of that name already there', () => {
  it('is refused naming another slot name, never a drop of a slot steep cannot show it made (issue 81 item 4)', () => {
    const t = topology({
      publications: [publication('orders_pub', 'east', { tables: ['public.orders'] })],
      subscriptions: [
        subscription('west_orders', 'west', 'east', ['orders_pub'], {
          init: { method: 'manual', parallel: 4, existingData: 'fail' },
        }),
      ],
    });
    const s = observe(t);
    at(s, 'west').subscriptions = {};
    at(s, 'west').tables = { 'public.orders': observedTable('public.orders') };
    at(s, 'east').slots.west_orders = observedSlot('west_orders', { confirmedFlushLsn: '0/3000000' });
    delete at(s, 'west').initState;
    expect(() => planInitPrepare(t, s, t.subscriptions.west_orders!, false)).toThrow(
      /^slot west_orders already exists on east and was not made by steep init prepare for west_orders; give the subscription another slot name \(slot: in steep\.yaml\): steep drops no slot it cannot show it made$/,
    );
  });
});
