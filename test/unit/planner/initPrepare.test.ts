import { describe, expect, it } from 'vitest';
import type { SubscriptionSpec, Topology } from '../../../src/model/topology.js';
import {
  copiedSlices,
  dumpCommands,
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

/** What the publisher sends of each table (read by the workflow): none with a generated column */
const SENT = new Map([
  ['public.customers', { columns: ['id', 'region'], generated: false }],
  ['public.notes', { columns: ['id', 'body'], generated: false }],
  ['public.orders', { columns: ['id', 'total'], generated: false }],
]);

/** dumpCommands of the slices copiedSlices resolves, as the workflow calls them */
function commands(
  ...[t, d, tables, snapshot, superuser, sent]: [
    Topology,
    SubscriptionSpec,
    string[],
    string,
    boolean,
    ReadonlyMap<string, SentColumns>,
  ]
) {
  return dumpCommands(t, d, tables, snapshot, superuser, copiedSlices(t, d, tables, sent));
}

describe('manual init: the printed dump and copies', () => {
  it('dumps whole tables with pg_dump and copies a filtered one by a psql COPY of exactly its carried rows and columns', () => {
    const { topology, errors } = check(FILE);
    expect(errors).toEqual([]);
    const d = topology!.subscriptions.west_man!;
    const c = commands(
      topology!,
      d,
      ['public.customers', 'public.notes', 'public.orders'],
      '00000003-1',
      true,
      SENT,
    );
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
      ['public.notes'],
      's',
      true,
      SENT,
    );
    expect(c2.copies).toEqual([]);
    expect(c2.pgDump).toContain('notes');
  });

  it('copies a whole table whose publication sends a stored generated column (pg_dump leaves it out); refuses a slice whose columns were not read', () => {
    const { topology } = check(FILE);
    const d = topology!.subscriptions.west_man!;
    const sent = new Map([...SENT, ['public.orders', { columns: ['id', 'total', 'tax'], generated: true }]]);
    const c = commands(topology!, d, ['public.orders'], 's', true, sent);
    expect(c.pgDump).toBeNull();
    expect(c.copies).toHaveLength(1);
    expect(c.copies[0]).toContain(`COPY (SELECT "id", "total", "tax" FROM "public"."orders") TO STDOUT`);
    expect(c.copies[0]).toContain(`COPY "public"."orders" ("id", "total", "tax") FROM STDIN`);
    expect(() => copiedSlices(topology!, d, ['public.notes'], new Map())).toThrow(
      /subscription west_man carries public\.notes from east, which does not list it among what its publications send .*; nothing was made$/,
    );
  });

  it("restores in one transaction; only a superuser's restore disables triggers (pg_restore refuses it to others)", () => {
    const { topology } = check(FILE);
    const d = topology!.subscriptions.west_man!;
    const tables = ['public.orders'];
    const asSuperuser = commands(topology!, d, tables, 's', true, SENT).pgRestore!;
    const asRole = commands(topology!, d, tables, 's', false, SENT).pgRestore!;
    expect(asSuperuser).toMatch(
      /^pg_restore .*--data-only --single-transaction --disable-triggers west_man\.dump$/,
    );
    expect(asRole).toMatch(/^pg_restore .*--data-only --single-transaction west_man\.dump$/);
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
