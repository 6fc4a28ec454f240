import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { prepareHolding, startSteep, steepWith, writeConfig } from '../support/cli.js';
import { defaultVersion, otherDatabase, type TestNode, useCluster } from '../support/cluster.js';
import {
  copyAtSnapshot,
  createTables,
  digests,
  fillTables,
  startWriter,
  waitCaughtUp,
} from '../support/replicationData.js';
import { eventually, HANG_MS } from '../support/topologyFile.js';

/**
 * Two steep nodes that are two databases of one PostgreSQL server. CREATE SUBSCRIPTION that
 * makes its slot on the same server waits for its own transaction and hangs for ever
 * (PostgreSQL's CREATE SUBSCRIPTION notes); steep must create the slot as its own step first.
 * Every apply here is bounded: a hang is a failure, never a hung suite.
 */

const BOUND_MS = HANG_MS;
const TABLES = [
  { name: 'orders', rows: 20_000 },
  { name: 'items', rows: 5_000 },
  { name: 'notes', rows: 10_000 },
];
const ALL = TABLES.map((t) => t.name);

describe('a subscriber database on its publisher’s server', () => {
  const cluster = useCluster({ nodes: ['pg'], version: defaultVersion() });
  const server = () => cluster().node('pg');
  let sub: TestNode;
  let subClient: pg.Client;

  /** Wait until shop holds what main holds in `tables`: counts and checksums. */
  async function equalOn(tables: string[], what: string): Promise<void> {
    await eventually(
      async () =>
        JSON.stringify(await digests(server(), tables)) === JSON.stringify(await digests(sub, tables)),
      HANG_MS,
      `shop to hold what main holds ${what}`,
    );
  }

  const steep = steepWith({ env: () => ({ PG_PGPASSWORD: server().password }), timeoutMs: BOUND_MS });

  function file(subscriptions: string[]): string {
    const port = server().port;
    return writeConfig(
      [
        'version: 1',
        'topology: samehost',
        'nodes:',
        '  main:',
        `    url: postgres://postgres@127.0.0.1:${port}/app`,
        `    password: \${env:PG_PGPASSWORD}`,
        '  shop:',
        `    url: postgres://postgres@127.0.0.1:${port}/shop`,
        `    password: \${env:PG_PGPASSWORD}`,
        'publications:',
        '  orders_pub:',
        '    node: main',
        '    tables: [public.orders, public.items]',
        '  notes_pub:',
        '    node: main',
        '    tables: [public.notes]',
        ...subscriptions,
        '',
      ].join('\n'),
    );
  }

  const declared = [
    'subscriptions:',
    '  shop_orders:',
    '    node: shop',
    '    from: main',
    '    publications: [orders_pub]',
    // steep's own copy: its snapshot holder makes the slot over a replication connection
    '  shop_notes:',
    '    node: shop',
    '    from: main',
    '    publications: [notes_pub]',
    '    init: { method: snapshot, parallel: 2 }',
  ];

  beforeAll(async () => {
    await server().query('CREATE DATABASE shop');
    subClient = new pg.Client({ ...server().connection, database: 'shop', password: server().password });
    await subClient.connect();
    // the second database of the server, as a TestNode for the data helpers (one client for its statements)
    sub = {
      ...otherDatabase(server(), 'shop'),
      query: async <T>(sql: string, params?: unknown[]) => (await subClient.query(sql, params)).rows as T[],
    };
    await createTables([server(), sub], TABLES);
    await fillTables(server(), TABLES);
  });

  afterAll(async () => {
    await subClient?.end().catch(() => {});
  });

  test(
    'apply makes the slot as its own step and copies with a writer running; delete, reinit, manual init and switchover --reverse work there; every plan after is empty',
    async () => {
      const path = file(declared);
      const plan = await steep(['plan', '--detailed-exitcode', '--json'], path);
      expect(plan.code, plan.stderr).toBe(2);
      const steps = (JSON.parse(plan.stdout) as { steps: Array<Record<string, unknown>> }).steps;
      const slotStep = steps.find((s) => s.address === 'slot.main/shop_orders')!;
      expect(slotStep).toMatchObject({ kind: 'slot-create', node: 'main', action: 'create' });
      expect(slotStep.reasonText).toContain('shop and main are databases of one PostgreSQL server');
      expect(JSON.stringify(slotStep.sql)).toContain(
        `pg_create_logical_replication_slot('shop_orders', 'pgoutput')`,
      );
      const create = steps.find(
        (s) => s.address === 'subscription.shop_orders' && s.kind === 'subscription-create',
      )!;
      expect(create.dependsOn).toContain(slotStep.id);
      expect(JSON.stringify(create.sql)).toContain('copy_data = true, create_slot = false');
      // steep's own copy makes its slot itself: no step of its own
      expect(steps.some((s) => s.address === 'slot.main/shop_notes')).toBe(false);

      const writer = startWriter(server(), ALL);
      // a transaction left open on the server: the slot step waits for it, and says so
      const blocker = await server().client();
      let ops = 0;
      try {
        await blocker.query('BEGIN');
        const [{ pid }] = (
          await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_current_xact_id()')
        ).rows as [{ pid: number }];
        // in a process of its own: its output is read while it waits
        const applying = startSteep(['apply', '--auto-approve', '-c', path], {
          PG_PGPASSWORD: server().password,
        });
        await eventually(
          async () =>
            (
              await server().query(
                `SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid)) AND query LIKE '%pg_create_logical_replication_slot%'`,
                [pid],
              )
            ).length === 1,
          HANG_MS,
          'the slot step to wait for the open transaction',
        );
        const waiting = `waiting on main: the slot is made once the transactions open there end: pid ${pid}`;
        await eventually(
          async () => (applying.output.stdout + applying.output.stderr).includes(waiting),
          HANG_MS,
          'steep to say what the slot step waits for',
        );
        await blocker.query('COMMIT');
        const apply = await applying.exited;
        expect(apply.code, apply.stdout + apply.stderr).toBe(0);
        expect(apply.stdout + apply.stderr).toContain(waiting);
      } finally {
        await blocker.end().catch(() => {});
        ops = await writer.stop();
      }
      expect(ops).toBeGreaterThan(0);
      await waitCaughtUp(server(), 'shop_orders');
      await waitCaughtUp(server(), 'shop_notes');
      await equalOn(ALL, 'after the apply');
      const replan = await steep(['plan', '--detailed-exitcode'], path);
      expect(replan.code, replan.stdout + replan.stderr).toBe(0);

      // a delete: DROP SUBSCRIPTION drops its slot on the same server, and leaves none behind
      const orders = file(declared.slice(0, 5));
      const drop = await steep(['apply', '--auto-approve', '--allow-destroy'], orders);
      expect(drop.code, drop.stdout + drop.stderr).toBe(0);
      expect(await sub.query('SELECT subname FROM pg_subscription ORDER BY 1')).toEqual([
        { subname: 'shop_orders' },
      ]);
      expect(await server().query('SELECT slot_name FROM pg_replication_slots ORDER BY 1')).toEqual([
        { slot_name: 'shop_orders' },
      ]);
      expect((await steep(['plan', '--detailed-exitcode'], orders)).code).toBe(0);

      // reinit: PostgreSQL's table syncs copy again, their slots made on the same server
      const again = startWriter(server(), ['orders', 'items'], 20_000_000);
      try {
        const reinit = await steep(
          ['reinit', 'shop_orders', '--auto-approve', '--tables', 'public.items'],
          orders,
        );
        expect(reinit.code, reinit.stdout + reinit.stderr).toBe(0);
      } finally {
        expect(await again.stop()).toBeGreaterThan(0);
      }
      await waitCaughtUp(server(), 'shop_orders');
      await equalOn(['orders', 'items'], 'after the reinit');
      expect((await steep(['plan', '--detailed-exitcode'], orders)).code).toBe(0);

      // manual init: init prepare makes the slot over a replication connection, the DBA restores
      // at its snapshot, apply creates the subscription on it
      await sub.query('TRUNCATE public.notes');
      const manual = file([
        ...declared.slice(0, 5),
        '  shop_manual:',
        '    node: shop',
        '    from: main',
        '    publications: [notes_pub]',
        '    init: { method: manual }',
      ]);
      expect((await steep(['apply', '--auto-approve'], manual)).code).toBe(0);
      const notesWriter = startWriter(server(), ['notes'], 40_000_000);
      try {
        const { child, doc } = await prepareHolding(
          ['init', 'prepare', 'shop_manual', '--hold', '--json', '-c', manual],
          { PG_PGPASSWORD: server().password },
        );
        await copyAtSnapshot(server(), sub, ['notes'], doc.snapshotName);
        const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        const applied = await steep(['apply', '--auto-approve'], manual);
        expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      } finally {
        expect(await notesWriter.stop()).toBeGreaterThan(0);
      }
      await waitCaughtUp(server(), 'shop_manual');
      await equalOn(['notes'], 'after the manual init');
      expect((await steep(['plan', '--detailed-exitcode'], manual)).code).toBe(0);

      // switchover --reverse: the way back's slot is made on its own too (origin = none: 16+)
      await server().query(`CREATE ROLE shop_app LOGIN PASSWORD 'shop-app-pw'`);
      await server().query('GRANT SELECT, INSERT, UPDATE, DELETE ON public.orders, public.items TO shop_app');
      const switched = await steep(['switchover', 'shop_orders', '--reverse', '--grace', '1s'], manual);
      if (server().version < 16) {
        expect(switched.code).toBe(1);
        expect(switched.stderr).toContain('--reverse needs PostgreSQL 16 or later on both nodes');
        return;
      }
      expect(switched.code, switched.stdout + switched.stderr).toBe(0);
      await sub.query(`INSERT INTO public.orders (id, v) VALUES (30000001, 'back')`);
      await eventually(
        async () => (await server().query(`SELECT 1 FROM public.orders WHERE id = 30000001`)).length === 1,
        HANG_MS,
        'a write on shop to arrive on main',
      );
      expect(JSON.stringify(await digests(server(), ['orders', 'items']))).toBe(
        JSON.stringify(await digests(sub, ['orders', 'items'])),
      );
      expect(await server().query('SELECT slot_name FROM pg_replication_slots ORDER BY 1')).toEqual([
        { slot_name: 'shop_manual' },
        { slot_name: 'steep_reverse_shop_orders_8d9001d3' },
      ]);
    },
    4 * BOUND_MS,
  );
});
