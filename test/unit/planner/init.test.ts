import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import type { ObservedInitState } from '../../../src/model/initState.js';
import type { InitSpec, Topology } from '../../../src/model/topology.js';
import { copiedTables, rowPresenceRequests } from '../../../src/planner/init/initCopy.js';
import { resolveLsnFlags } from '../../../src/planner/init/manualInit.js';
import {
  at,
  codes,
  initStepAt,
  observe,
  observedSlot,
  observedTable,
  publication,
  runPlan,
  stepAt,
  subscription,
  topology,
} from './fixtures.js';

/** Initialisation in the plan: existing data, the manual method's prepared slot and LSN, the init step. */

const ADDR = 'subscription.west_orders';

function base(init: Partial<InitSpec> = {}, extra: { enabled?: boolean } = {}): Topology {
  return topology({
    publications: [publication('orders_pub', 'east', { tables: ['public.orders', 'public.items'] })],
    subscriptions: [
      subscription('west_orders', 'west', 'east', ['orders_pub'], {
        init: { method: 'snapshot', parallel: 4, existingData: 'fail', ...init },
        ...extra,
      }),
    ],
  });
}

/** Converged, minus the subscription and its slot; the subscriber has the tables too. */
function absent(t: Topology) {
  const s = observe(t);
  at(s, 'west').subscriptions = {};
  at(s, 'east').slots = {};
  at(s, 'west').tables = {
    'public.orders': observedTable('public.orders'),
    'public.items': observedTable('public.items'),
  };
  return s;
}

function prepared(lsn = '0/3000000'): ObservedInitState {
  return {
    subscriptions: {
      west_orders: {
        subscription: 'west_orders',
        initMethod: 'manual',
        state: 'preparing',
        sourceNode: 'east',
        startedAt: '2026-01-01T00:00:00.000Z',
        completedAt: null,
        updatedAt: '2026-01-01T00:00:00.000Z',
        error: null,
      },
    },
    slots: {
      west_orders: {
        slot: 'west_orders',
        subscription: 'west_orders',
        lsn,
        snapshotName: null,
        createdAt: '2026-01-01T00:00:00.000Z',
        expiresAt: null,
      },
    },
  };
}

const ADVANCE =
  "SELECT pg_catalog.pg_replication_origin_advance('pg_' || s.oid, '0/3000000'::pg_lsn) FROM pg_catalog.pg_subscription s " +
  "WHERE s.subname = 'west_orders' AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())";

describe('init: snapshot', () => {
  it('follows a new snapshot subscription with an init step after its create', () => {
    const t = base();
    const p = runPlan(t, absent(t));
    const create = stepAt(p, ADDR);
    const init = initStepAt(p, ADDR);
    expect(init).toMatchObject({
      node: 'west',
      kind: 'subscription-init',
      action: 'init',
      reason: 'not-initialised',
      statements: [],
      hazards: [],
    });
    expect(init.dependsOn).toContain(create.id);
    expect(init.changes).toContainEqual({
      path: 'init.copies',
      before: null,
      after: ['public.items', 'public.orders'],
    });
    expect(init.reasonText).toMatch(/^PostgreSQL copies 2 tables \(about 128\.0 kB on east\)/);
    expect(p.summary.init).toBe(1);
  });

  it('follows no copy of a new subscription created disabled, and follows it once enabled', () => {
    // 033_run_as_table_owner: CREATE SUBSCRIPTION … WITH (copy_data = true, enabled = false), then
    // ENABLE. A disabled subscription copies nothing: apply followed a copy that never began
    const t = base({}, { enabled: false });
    const created = runPlan(t, absent(t));
    expect(stepAt(created, ADDR).statements[0]!.sql).toContain('enabled = false, copy_data = true');
    expect(created.steps.filter((x) => x.action === 'init')).toEqual([]);
    // created so: its tables wait in state i, its init unrecorded; enabled by the file, the
    // ENABLE is followed until the copy is done
    const s = observe(t);
    const o = at(s, 'west').subscriptions.west_orders!;
    o.enabled = false;
    o.tables = o.tables.map((x) => ({ ...x, state: 'i' }));
    const stays = runPlan(t, s);
    expect(stays.steps).toEqual([]);
    const enabled = runPlan(base(), s);
    expect(stepAt(enabled, ADDR).statements.map((x) => x.sql)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" ENABLE',
    ]);
    const init = initStepAt(enabled, ADDR);
    expect(init.dependsOn).toContain(stepAt(enabled, ADDR).id);
    expect(init.reasonText).toBe(
      'subscription west_orders was created disabled, as steep.yaml declared, and PostgreSQL copies nothing until it is enabled: ' +
        'enabled now, PostgreSQL copies 2 tables, and apply follows the copy and the catch-up until it is synchronized' +
        '; then apply compares its rows before it calls it synchronized: every row of 2 tables; in all under a second at 40.0 MB/s',
    );
  });

  it("plans the statements steep's own copy runs besides COPY, each with the condition it runs under", () => {
    const LOCK = (t: string) =>
      `-- when its copy starts, if public.${t} is empty and split into key ranges or of at least 16.0 MB, ` +
      `its indexes are dropped under this lock and built after its copy:\nLOCK TABLE "public"."${t}" IN ACCESS EXCLUSIVE MODE`;
    // a create: a lock for each table big enough that its indexes may be built after its copy
    const t = base({ parallel: 2, parallelDeclared: true, splitAbove: 100 * 1024 });
    const s = absent(t);
    at(s, 'east').tables['public.orders'] = {
      ...at(s, 'east').tables['public.orders']!,
      sizeBytes: 200 * 1024,
    };
    const created = initStepAt(runPlan(t, s), ADDR);
    expect(created.statements).toEqual([{ sql: LOCK('orders'), transactional: true }]);
    expect(created.hazards).toEqual(['locks-table']);

    // an interrupted copy resumed: if it starts over, it empties what it loaded and drops its slot
    const r = observe(t);
    at(r, 'west').subscriptions.west_orders!.enabled = false;
    at(r, 'east').slots = { west_orders: observedSlot('west_orders') };
    const copying = prepared();
    copying.subscriptions.west_orders = {
      ...copying.subscriptions.west_orders!,
      state: 'copying',
      initMethod: 'snapshot',
    };
    at(r, 'west').initState = {
      ...copying,
      copied: { west_orders: [{ schema: 'public', name: 'orders' }] },
    };
    const resumed = initStepAt(runPlan(t, r), ADDR);
    const why = 'if the copy starts over (no snapshot of an earlier copy of west_orders is still held)';
    expect(resumed.statements).toEqual([
      {
        sql: `-- ${why}, empty what that copy loaded:\nTRUNCATE TABLE "public"."orders"`,
        transactional: true,
      },
      {
        sql: `-- ${why}, drop the slot that copy made unless a process uses it:\nSELECT pg_catalog.pg_drop_replication_slot('west_orders')`,
        transactional: false,
        node: 'east',
      },
    ]);
    expect(resumed.hazards).toEqual(['truncates-data', 'drops-slot']);
  });

  it("takes steep's own copy when init.parallel > 1 is declared or a table is above splitAbove, and says why", () => {
    const cases: Array<{ init: Partial<InitSpec>; own: boolean; why: RegExp }> = [
      // parallel inherited from settings keeps PostgreSQL's copy
      {
        init: {},
        own: false,
        why: /init\.parallel is not set and no table is above init\.splitAbove \(1\.0 GB\)/,
      },
      { init: { parallel: 1, parallelDeclared: true }, own: false, why: /init\.parallel is 1 and no table/ },
      {
        init: { parallel: 4, parallelDeclared: true },
        own: true,
        why: /with 4 sessions: init\.parallel is 4$/,
      },
      {
        init: { parallel: 1, parallelDeclared: true, splitAbove: 100 * 1024 },
        own: true,
        why: /public\.items and public\.orders are above init\.splitAbove \(100\.0 kB\), split into key ranges/,
      },
    ];
    for (const c of cases) {
      const t = base(c.init);
      const s = absent(t);
      at(s, 'east').tables['public.orders'] = {
        ...at(s, 'east').tables['public.orders']!,
        sizeBytes: 200 * 1024,
      };
      at(s, 'east').tables['public.items'] = {
        ...at(s, 'east').tables['public.items']!,
        sizeBytes: 300 * 1024,
      };
      const p = runPlan(t, s);
      const init = initStepAt(p, ADDR);
      const create = stepAt(p, ADDR);
      expect(init.changes).toContainEqual({
        path: 'init.copy',
        before: null,
        after: c.own ? 'steep' : 'postgresql',
      });
      expect(init.reasonText.replace(/; the subscription then starts.*$/, '').replace(/\)$/, '')).toMatch(
        c.why,
      );
      // steep's own copy says which tables' indexes it builds after their copy
      if (c.own)
        expect(init.reasonText).toMatch(
          /; a table split into key ranges or of at least 16\.0 MB, empty on west, has its indexes built after its copy; then apply compares its rows before it calls it synchronized: every row of \d+ tables?; in all (under a second|about \d+ s) at 40\.0 MB\/s$/,
        );
      else expect(init.reasonText).not.toMatch(/indexes/);
      const sql = create.statements.map((x) => x.sql).find((x) => x.startsWith('CREATE SUBSCRIPTION'))!;
      if (c.own) {
        expect(sql).toMatch(/create_slot = false/);
        expect(sql).toMatch(/copy_data = false/);
        expect(sql).toMatch(/enabled = false/);
      } else expect(sql).not.toMatch(/create_slot = false|copy_data = false/);
      expect(create.hazards).toContain('copies-data');
    }
  });

  it('counts a table never analysed on the publisher apart, never as 0 B', () => {
    const t = base();
    const s = absent(t);
    const east = at(s, 'east');
    const items = east.tables['public.items']!;
    east.tables['public.items'] = { ...items, sizeBytes: null, estimatedRows: null };
    expect(initStepAt(runPlan(t, s), ADDR).reasonText).toMatch(
      /^PostgreSQL copies 2 tables \(about 64\.0 kB on east, plus 1 never analysed there, of unknown size\)/,
    );
    const orders = east.tables['public.orders']!;
    east.tables['public.orders'] = { ...orders, sizeBytes: null, estimatedRows: null };
    expect(initStepAt(runPlan(t, s), ADDR).reasonText).toMatch(
      /^PostgreSQL copies 2 tables \(size unknown: never analysed on east\)/,
    );
  });

  it('asks for row presence only of tables a subscription still to be created copies into', () => {
    const t = base();
    const s = absent(t);
    expect(rowPresenceRequests(t, s)).toEqual(
      new Map([
        [
          'west',
          [
            { schema: 'public', name: 'items' },
            { schema: 'public', name: 'orders' },
          ],
        ],
      ]),
    );
    expect(rowPresenceRequests(t, observe(t))).toEqual(new Map());
    const none = base({ method: 'none' });
    expect(rowPresenceRequests(none, absent(none))).toEqual(new Map());
  });

  it('expands allTables and schemas with the publisher’s tables, never steep’s own', () => {
    const t = topology({
      publications: [publication('all_pub', 'east', { allTables: true, tables: [] })],
      subscriptions: [subscription('west_orders', 'west', 'east', ['all_pub'])],
    });
    const s = absent(t);
    at(s, 'east').tables = {
      'public.a': observedTable('public.a'),
      'sales.b': observedTable('sales.b'),
      'steep.apply_log': observedTable('steep.apply_log'),
    };
    expect(copiedTables(t, s, t.subscriptions.west_orders!).map((x) => `${x.schema}.${x.name}`)).toEqual([
      'public.a',
      'sales.b',
    ]);
  });

  it('existing data: a plan error naming the tables that hold rows, no step', () => {
    const t = base();
    const s = absent(t);
    at(s, 'west').tables['public.orders']!.hasRows = true;
    at(s, 'west').tables['public.items']!.hasRows = false;
    const p = runPlan(t, s);
    expect(codes(p.errors)).toEqual(['existing-data']);
    expect(p.errors[0]!.message).toBe(
      'subscription west_orders would copy into tables that already hold rows on west: public.orders; copying on top of ' +
        'them would fail or duplicate rows: empty them, or set init.existingData: truncate (apply empties them and copies again) or keep (they stay as they are, nothing is copied)',
    );
    expect(p.steps.filter((x) => printAddress(x.address) === ADDR)).toEqual([]);
  });

  it('existingData: truncate → TRUNCATE of exactly those tables before CREATE SUBSCRIPTION, hazard truncates-data', () => {
    const t = base({ existingData: 'truncate' });
    const s = absent(t);
    at(s, 'west').tables['public.orders']!.hasRows = true;
    at(s, 'west').tables['public.items']!.hasRows = true;
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    const step = stepAt(p, ADDR);
    expect(step.statements[0]).toEqual({
      sql: 'TRUNCATE TABLE "public"."items", "public"."orders"',
      transactional: true,
    });
    expect(step.statements[1]!.sql).toMatch(/^CREATE SUBSCRIPTION/);
    expect(step.hazards).toEqual(['copies-data', 'truncates-data']);
    expect(step.changes).toContainEqual({
      path: 'init.truncate',
      before: null,
      after: ['public.items', 'public.orders'],
    });
  });

  it('empty target tables need nothing', () => {
    const t = base({ existingData: 'truncate' });
    const s = absent(t);
    at(s, 'west').tables['public.orders']!.hasRows = false;
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.statements[0]!.sql).toMatch(/^CREATE SUBSCRIPTION/);
    expect(step.hazards).toEqual(['copies-data']);
  });

  /** west_orders exists, its init recorded failed with `error` */
  function failedWith(error: string) {
    const t = base();
    const s = observe(t);
    const record = prepared().subscriptions.west_orders!;
    at(s, 'west').initState = {
      subscriptions: { west_orders: { ...record, initMethod: 'snapshot', state: 'failed', error } },
      slots: {},
    };
    return { t, s };
  }

  it('resumes a failed init: an init step with no SQL; nothing for one that is copying', () => {
    const { t, s } = failedWith(
      'init of subscription west_orders on west failed: the publisher east cannot be reached',
    );
    const p = runPlan(t, s);
    expect(p.steps.map((x) => [printAddress(x.address), x.action])).toEqual([[ADDR, 'init']]);
    expect(initStepAt(p, ADDR).reasonText).toBe(
      'its init failed (the publisher east cannot be reached); PostgreSQL resumes from the slot that was kept, and apply follows it again until it is synchronized' +
        '; then apply compares its rows before it calls it synchronized: every row of 2 tables; in all under a second at 40.0 MB/s',
    );
    at(s, 'west').initState!.subscriptions.west_orders!.state = 'copying';
    expect(runPlan(t, s).steps).toEqual([]);
  });

  it('an init that failed on a lost table-sync slot: the step names the reinit that ends it', () => {
    const { t, s } = failedWith(
      'init of subscription west_orders on west failed: PostgreSQL lost the table synchronisation slot of public.orders: its copy is recorded done (state f) but …; ' +
        'copy it again with steep reinit west_orders --tables public.orders (the other tables keep streaming), which follows the init to synchronized',
    );
    expect(initStepAt(runPlan(t, s), ADDR).reasonText).toBe(
      'its init failed (PostgreSQL lost the table synchronisation slot of public.orders: its copy is recorded done (state f) but …); ' +
        'PostgreSQL cannot finish it: steep reinit west_orders --tables public.orders copies those tables again and follows the init ' +
        'to synchronized (apply only follows it, and fails the same way)' +
        '; then apply compares its rows before it calls it synchronized: every row of 2 tables; in all under a second at 40.0 MB/s',
    );
  });
});

describe('init: manual', () => {
  function manualAbsent(lsn?: string) {
    const t = base({ method: 'manual' });
    const s = absent(t);
    at(s, 'east').slots.west_orders = observedSlot('west_orders', { confirmedFlushLsn: '0/3000000' });
    if (lsn !== undefined) at(s, 'west').initState = prepared(lsn);
    return { t, s };
  }

  it('not prepared: a warning that says what to do, and no step', () => {
    const t = base({ method: 'manual' });
    const p = runPlan(t, absent(t));
    expect(p.steps).toEqual([]);
    expect(codes(p.warnings)).toEqual(['init-not-prepared']);
    expect(p.warnings[0]!.message).toContain('run steep init prepare west_orders');
  });

  it('prepared: created disabled on the slot, then origin advanced to the recorded LSN and enabled', () => {
    const { t, s } = manualAbsent('0/3000000');
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(stepAt(p, ADDR).statements[0]!.sql).toContain(
      "WITH (slot_name = 'west_orders', enabled = false, copy_data = false, create_slot = false)",
    );
    const init = initStepAt(p, ADDR);
    expect(init.statements).toEqual([
      { sql: ADVANCE, transactional: true },
      { sql: 'ALTER SUBSCRIPTION "west_orders" ENABLE', transactional: true },
    ]);
    expect(init.changes).toContainEqual({ path: 'init.lsn', before: null, after: '0/3000000' });
    expect(p.orphanSlots).toEqual([]);
  });

  it('a slot steep did not prepare needs --lsn', () => {
    const { t, s } = manualAbsent();
    const p = runPlan(t, s);
    expect(codes(p.errors)).toEqual(['init-lsn-unknown']);
    const q = runPlan(t, s, { initLsn: { west_orders: '0/3000010' } });
    expect(q.errors).toEqual([]);
    expect(initStepAt(q, ADDR).statements[0]!.sql).toContain("'0/3000010'::pg_lsn");
  });

  it('--lsn: a later one is used, an earlier one refused, a malformed one named', () => {
    const { t, s } = manualAbsent('0/3000000');
    const later = runPlan(t, s, { initLsn: { west_orders: '0/5a000000' } });
    expect(initStepAt(later, ADDR).statements[0]!.sql).toContain("'0/5A000000'::pg_lsn");
    const early = runPlan(t, s, { initLsn: { west_orders: '0/1' } });
    expect(codes(early.errors)).toEqual(['init-lsn-early']);
    expect(early.errors[0]!.message).toBe(
      "subscription west_orders: --lsn 0/1 is earlier than slot west_orders's LSN 0/3000000 on east: the changes between them " +
        'are neither in the restored backup nor in the slot; restore a backup consistent at 0/3000000 or later',
    );
    expect(codes(runPlan(t, s, { initLsn: { west_orders: 'yesterday' } }).errors)).toEqual([
      'init-lsn-invalid',
    ]);
  });

  it('a slot consumed past its prepared LSN, or in use, is an error', () => {
    const { t, s } = manualAbsent('0/3000000');
    at(s, 'east').slots.west_orders!.confirmedFlushLsn = '0/4000000';
    expect(codes(runPlan(t, s).errors)).toEqual(['init-slot-consumed']);
    at(s, 'east').slots.west_orders!.confirmedFlushLsn = '0/3000000';
    at(s, 'east').slots.west_orders!.active = true;
    expect(codes(runPlan(t, s).errors)).toEqual(['slot-in-use']);
  });

  it('an existing disabled subscription waiting for its init: the init step enables it, not an ALTER', () => {
    const t = base({ method: 'manual' });
    const s = observe(t);
    at(s, 'west').subscriptions.west_orders!.enabled = false;
    at(s, 'east').slots.west_orders = observedSlot('west_orders', { confirmedFlushLsn: '0/3000000' });
    at(s, 'west').initState = prepared('0/3000000');
    const p = runPlan(t, s);
    expect(p.steps.map((x) => [printAddress(x.address), x.action])).toEqual([[ADDR, 'init']]);
    expect(initStepAt(p, ADDR).statements.map((x) => x.sql)).toEqual([
      ADVANCE,
      'ALTER SUBSCRIPTION "west_orders" ENABLE',
    ]);
  });

  it('--lsn for a subscription with nothing to complete is an error', () => {
    const t = base();
    const p = runPlan(t, observe(t), { initLsn: { west_orders: '0/1', nope: '0/2' } });
    expect(codes(p.errors)).toEqual(['init-lsn-unused', 'init-lsn-unused']);
    expect(p.errors.map((e) => e.message)).toEqual([
      '--lsn nope=0/2: steep.yaml declares no subscription nope',
      '--lsn west_orders=0/1: subscription west_orders has no manual init to complete (init method snapshot)',
    ]);
  });

  it('--lsn LSN without a name means the one manual subscription', () => {
    expect(resolveLsnFlags(base({ method: 'manual' }), ['0/10', 'other=0/20'])).toEqual({
      west_orders: '0/10',
      other: '0/20',
    });
    expect(() => resolveLsnFlags(base(), ['0/10'])).toThrow(
      /declares no subscription with init method manual/,
    );
  });
});

describe('init: physical (and manual on a physical clone)', () => {
  const ID = '7400000000000000001';
  /** west a clone of east forked from east's timeline 1 at `fork`; the slot prepared at 0/3000000 */
  function cloned(fork: string | null, method: 'physical' | 'manual' = 'physical', westId = ID) {
    const t = base({ method });
    const s = absent(t);
    at(s, 'east').slots.west_orders = observedSlot('west_orders', { confirmedFlushLsn: '0/3000000' });
    at(s, 'east').server = { systemIdentifier: ID, startedAt: '1700000000.000001' };
    at(s, 'west').server = { systemIdentifier: westId, startedAt: '1700000500.000001' };
    at(s, 'east').walHistory = { read: true, systemIdentifier: ID, timeline: 1, forks: [] };
    at(s, 'west').walHistory =
      fork === null
        ? { read: true, systemIdentifier: westId, timeline: 1, forks: [] }
        : { read: true, systemIdentifier: westId, timeline: 2, forks: [{ timeline: 1, switchLsn: fork }] };
    return { t, s };
  }

  it('starts the subscription where the clone forked, at or after the slot', () => {
    const { t, s } = cloned('0/3500028');
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    const init = initStepAt(p, ADDR);
    expect(init.statements[0]!.sql).toContain("'0/3500028'::pg_lsn");
    expect(init.changes).toContainEqual({ path: 'init.method', before: null, after: 'physical' });
    expect(init.reasonText).toContain(
      `west is a physical clone of east (system identifier ${ID}) whose timeline 2 forked from east's timeline 1 at 0/3500028, at or after slot west_orders's LSN 0/3000000`,
    );
  });

  it('refuses a clone that forked before the slot, one not promoted, and a node that is no clone', () => {
    const forkedEarly = cloned('0/2FFFFF0');
    const early = runPlan(forkedEarly.t, forkedEarly.s);
    expect(codes(early.errors)).toEqual(['init-restore-early']);
    expect(early.errors[0]!.message).toContain(
      "west holds east's changes up to 0/2FFFFF0 (where its timeline forked from east's), before slot west_orders's LSN 0/3000000",
    );
    const { t, s } = cloned(null);
    const notPromoted = runPlan(t, s);
    expect(codes(notPromoted.errors)).toEqual(['init-clone-not-promoted']);
    expect(notPromoted.errors[0]!.message).toContain(
      "if west is a standby of east still in recovery, promote it (pg_ctl promote) once it has replayed slot west_orders's LSN 0/3000000",
    );
    const other = cloned('0/3500028', 'physical', '7400000000000000999');
    const notClone = runPlan(other.t, other.s);
    expect(codes(notClone.errors)).toEqual(['init-not-a-clone']);
    // what starts: a new base backup recovers to its own end (past the slot) and is promoted; a
    // recovery_target_lsn at the slot is before a later backup's consistency point, and PostgreSQL
    // refuses to start with it (issue 81)
    for (const e of [early.errors[0]!, notPromoted.errors[0]!, notClone.errors[0]!]) {
      expect(e.message).not.toContain('recovery_target_lsn');
      if (e.code !== 'init-clone-not-promoted')
        expect(e.message).toContain(
          'restore a new base backup of east on west (the pg_basebackup line steep init prepare west_orders prints: it recovers to its end and is promoted), then apply again',
        );
    }
  });

  it("refuses a clone that left the publisher's timeline beyond all the WAL the publisher has written: a copy of another server", () => {
    // two standbys of one primary promoted at the same point share timeline 2's number and history
    const { t, s } = cloned('0/5000028');
    at(s, 'east').walHistory = {
      read: true,
      systemIdentifier: ID,
      timeline: 1,
      forks: [],
      flushLsn: '0/4FFFF00',
    };
    const p = runPlan(t, s);
    expect(codes(p.errors)).toEqual(['init-clone-of-another']);
    expect(p.errors[0]!.message).toContain(
      "west's timeline 2 left timeline 1 at 0/5000028, beyond all the WAL east has written (0/4FFFF00)",
    );
    // at the publisher's end, or where it is a standby (no flushed position read): proven as before
    at(s, 'east').walHistory = {
      read: true,
      systemIdentifier: ID,
      timeline: 1,
      forks: [],
      flushLsn: '0/5000028',
    };
    expect(runPlan(t, s).errors).toEqual([]);
    at(s, 'east').walHistory = { read: true, systemIdentifier: ID, timeline: 1, forks: [] };
    expect(runPlan(t, s).errors).toEqual([]);
  });

  it('refuses a clone without the mark the publisher committed before the slot; a mark copied, or none made, proves nothing against it', () => {
    const { t, s } = cloned('0/3500028');
    at(s, 'east').cloneMarks = { 'east/west_orders': 'm1' };
    for (const held of [null, 'm0']) {
      at(s, 'west').cloneMarks = { 'east/west_orders': held };
      const p = runPlan(t, s);
      expect(codes(p.errors)).toEqual(['init-clone-of-another']);
      expect(p.errors[0]!.message).toContain(
        'west does not hold the mark east committed just before it made slot west_orders',
      );
    }
    at(s, 'west').cloneMarks = { 'east/west_orders': 'm1' };
    expect(runPlan(t, s).errors).toEqual([]);
    // a slot prepared before marks (none on the publisher), or marks not read: the history alone
    at(s, 'east').cloneMarks = { 'east/west_orders': null };
    at(s, 'west').cloneMarks = { 'east/west_orders': null };
    expect(runPlan(t, s).errors).toEqual([]);
    at(s, 'east').cloneMarks = { 'east/west_orders': 'm1' };
    delete at(s, 'west').cloneMarks;
    expect(runPlan(t, s).errors).toEqual([]);
  });

  it('a proven clone that runs no logical replication worker is created once it does: warned, not an error', () => {
    const { t, s } = cloned('0/3500028');
    at(s, 'west').settings = { ...at(s, 'west').settings, maxLogicalReplicationWorkers: 0 };
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(codes(p.warnings)).toContain('init-clone-workers-off');
    expect(p.warnings.find((w) => w.code === 'init-clone-workers-off')!.message).toContain(
      'then run ALTER SYSTEM RESET max_logical_replication_workers on west, restart it, and apply again',
    );
    expect(p.steps.filter((x) => printAddress(x.address) === ADDR)).toEqual([]);
  });

  it('--lsn that disagrees with the fork is refused with both positions; the fork itself is accepted', () => {
    const { t, s } = cloned('0/3500028');
    const typed = runPlan(t, s, { initLsn: { west_orders: '0/3000000' } });
    expect(typed.errors[0]!.message).toContain(
      '--lsn 0/3000000 for subscription west_orders disagrees with where west forked from east: 0/3500028',
    );
    expect(runPlan(t, s, { initLsn: { west_orders: '0/3500028' } }).errors).toEqual([]);
  });

  it("manual on another database of the publisher's own server (one system identifier, one server) is no clone: the record is used", () => {
    const { t, s } = cloned('0/3500028', 'manual');
    at(s, 'west').server = { ...at(s, 'east').server! };
    at(s, 'west').initState = prepared('0/3000000');
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(initStepAt(p, ADDR).statements[0]!.sql).toContain("'0/3000000'::pg_lsn");
  });

  it('manual on a physical clone is proven the same way: a recorded LSN before the fork is not trusted', () => {
    const { t, s } = cloned('0/3500028', 'manual');
    at(s, 'west').initState = prepared('0/3000000');
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(initStepAt(p, ADDR).statements[0]!.sql).toContain("'0/3500028'::pg_lsn");
    const early = cloned('0/2FFFFF0', 'manual');
    expect(codes(runPlan(early.t, early.s, { initLsn: { west_orders: '0/3000000' } }).errors)).toContain(
      'init-restore-early',
    );
  });
});
