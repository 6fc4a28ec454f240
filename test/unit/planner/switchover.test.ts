import { describe, expect, it } from 'vitest';
import {
  drainDetail,
  drainProven,
  type SwitchoverFacts,
  type SwitchoverOptions,
  unsentMessage,
} from '../../../src/model/switchover.js';
import { planSwitchover } from '../../../src/planner/switchover/switchover.js';
import { fenceRoles, switchoverProblems } from '../../../src/planner/switchover/switchoverChecks.js';
import { roleFacts } from './fixtures.js';

const role = roleFacts;

const FACTS: SwitchoverFacts = {
  subscription: 'new_orders',
  oldNode: 'old',
  newNode: 'new',
  oldVersion: 180000,
  newVersion: 180000,
  database: 'app',
  newDatabase: 'app',
  steepRole: 'steep',
  steepCanFence: true,

  live: { enabled: true, slot: 'new_orders', tables: { 'public.orders': 'r' } },
  state: 'synchronized',
  slot: { name: 'new_orders', active: true, lagBytes: 1000 },
  applyRate: 100_000,
  publications: ['orders pub'],
  tables: ['public.orders'],
  unkeyed: [],
  verifyRows: 200_000,
  roles: [
    role('app'),
    role('reporting', { writes: false }),
    role('postgres', { superuser: true }),
    role('replicator', { replication: true }),
    role('steep'),
    role('nologin', { login: false }),
    role('batch', { databaseSetting: 'off' }),
  ],
  sequences: [
    {
      sequence: 'public.orders_id_seq',
      schema: 'public',
      name: 'orders_id_seq',
      source: '42',
      present: true,
    },
  ],
  sequenceAccess: {
    source: {
      node: 'old',
      role: 'steep',
      sequences: new Map([['public.orders_id_seq', { select: true, update: true }]]),
    },
    target: {
      node: 'new',
      role: 'steep',
      sequences: new Map([['public.orders_id_seq', { select: true, update: true }]]),
    },
  },
  reverse: {
    publicationExists: false,
    subscriptionExists: false,
    slotExists: false,
    oldCanSubscribe: true,
    unreachable: null,
  },
};

const OPTS: SwitchoverOptions = {
  maxLagBytes: 200 * 1024,
  lagTimeoutMs: 30_000,
  fenceTimeoutMs: 30_000,
  graceMs: 5_000,
  verify: 'all',
  reverse: true,
  keepSlot: false,
  sequenceHeadroom: 1000n,
  dryRun: false,
};

const INPUTS = {
  reverseConninfo: 'host=new dbname=app user=steep password=****',
  sequenceSql: [],
  verifyTables: ['public.orders'],
};

describe('switchover planner', () => {
  it('fences the login roles that write the tables, never superusers, replication roles or steep', () => {
    expect(fenceRoles(FACTS, {})).toEqual(['app', 'batch']);
    expect(fenceRoles(FACTS, { roles: ['reporting', 'app'] })).toEqual(['app', 'reporting']);
  });

  const cases: Array<{
    what: string;
    facts?: Partial<SwitchoverFacts>;
    opts?: Partial<SwitchoverOptions>;
    problem: RegExp;
  }> = [
    {
      what: 'no subscription',
      facts: { live: null },
      problem: /does not exist on new: create it with steep apply/,
    },
    {
      what: 'still copying',
      facts: { live: { enabled: true, slot: 'x', tables: { 'public.orders': 'd' } } },
      problem: /still copying public\.orders \(d\)/,
    },
    {
      what: 'diverged',
      facts: { state: 'diverged' },
      problem: /repair it with steep verify new_orders --repair/,
    },
    {
      what: 'lag',
      facts: { slot: { name: 'new_orders', active: true, lagBytes: 10 * 1024 * 1024 } },
      problem:
        /lagged more than --max-lag 200\.0 kB behind old throughout --lag-timeout 30s \(10\.0 MB at the least\)/,
    },
    {
      what: 'slot not streaming',
      facts: { slot: { name: 'new_orders', active: false, lagBytes: 0 } },
      problem: /is not streaming/,
    },
    {
      what: 'no key',
      facts: { unkeyed: [{ table: 'public.logs', reason: 'it has no primary key' }] },
      problem: /public\.logs cannot be switched over safely/,
    },
    {
      what: 'nobody to fence',
      facts: { roles: [role('postgres', { superuser: true })] },
      problem: /name the roles to fence with --roles/,
    },
    {
      what: 'unknown role',
      opts: { roles: ['ghost'] },
      problem: /--roles names ghost, which is not a role on old/,
    },
    { what: 'superuser named', opts: { roles: ['postgres'] }, problem: /postgres on old is a superuser/ },
    {
      what: 'a fence left in place',
      facts: { roles: [role('app', { databaseSetting: 'on' })] },
      problem:
        /role app is already read-only in database app on old, as a fence an interrupted switchover left would be: make it writable \(ALTER ROLE "app" IN DATABASE "app" RESET default_transaction_read_only\)/,
    },
    { what: 'cannot ALTER ROLE', facts: { steepCanFence: false }, problem: /grant it CREATEROLE/ },
    {
      what: 'sequence missing',
      facts: { sequences: [{ ...FACTS.sequences[0]!, present: false }] },
      problem: /sequence public\.orders_id_seq exists on old but not on new/,
    },
    {
      what: 'sequence the role may not set on the new primary',
      facts: {
        sequenceAccess: {
          ...FACTS.sequenceAccess,
          target: {
            node: 'new',
            role: 'steep',
            sequences: new Map([['public.orders_id_seq', { select: true, update: false }]]),
          },
        },
      },
      problem:
        /new: role steep may not read and set \(setval\) sequence public\.orders_id_seq, which the switchover sets there; run GRANT UPDATE ON SEQUENCE "public"\."orders_id_seq" TO "steep"; on new/,
    },
    {
      what: 'reverse on 15',
      facts: { oldVersion: 150004 },
      problem: /--reverse needs PostgreSQL 16 or later on both nodes for origin = none \(old runs 15\)/,
    },
    {
      what: 'old primary cannot reach the new one',
      facts: {
        reverse: { ...FACTS.reverse!, unreachable: 'could not connect to the publisher: connection refused' },
      },
      problem:
        /old cannot subscribe to new for the way back \(could not connect to the publisher: connection refused\): old cannot reach new's host and port: open the network path/,
    },
    {
      what: 'the new primary refuses the replication connection: its role lacks REPLICATION',
      facts: {
        reverse: {
          ...FACTS.reverse!,
          reverseUser: 'runner',
          unreachable:
            'subscription "steep_reverse_new_orders" could not connect to the publisher: connection to server at "10.0.0.2", port 5432 failed: FATAL: permission denied to start WAL sender DETAIL: Only roles with the REPLICATION attribute may start a WAL sender process.',
        },
      },
      problem:
        /: role runner on new lacks the REPLICATION attribute a subscriber's connection needs: run ALTER ROLE "runner" REPLICATION; on new as a superuser or the cloud admin role/,
    },
    {
      what: "the way back's publication name taken by one steep cannot show it made",
      facts: { reverse: { ...FACTS.reverse!, publicationExists: true, publicationMarked: false } },
      problem:
        /^publication steep_reverse_new_orders already exists on new, and steep cannot show it made it \(no comment of steep's\): rename it \(ALTER PUBLICATION "steep_reverse_new_orders" RENAME TO "steep_reverse_new_orders_old" on new\) or switch over without --reverse$/,
    },
    {
      what: "the way back's subscription left from an earlier way back (steep's comment on it)",
      facts: { reverse: { ...FACTS.reverse!, subscriptionExists: true, subscriptionMarked: true } },
      problem:
        /^subscription steep_reverse_new_orders on old is left from an earlier way back of this subscription \(steep's comment on it\): drop it \(DROP SUBSCRIPTION "steep_reverse_new_orders" on old\) or switch over without --reverse$/,
    },
    {
      what: 'reverse leftovers, whose slot unread',
      facts: { reverse: { ...FACTS.reverse!, slotExists: true } },
      problem:
        /slot steep_reverse_new_orders_a172cedc already exists on new, and whose it is could not be read: steep does not drop it/,
    },
    {
      what: "the way back's slot name taken by another database of the new primary's server",
      facts: {
        reverse: {
          ...FACTS.reverse!,
          slotExists: true,
          slot: { database: 'shop2', here: false, active: true, streamedBy: 'steep_reverse_x' },
        },
      },
      problem:
        /slot steep_reverse_new_orders_a172cedc on new belongs to database shop2, not app \(slots are the server's; another topology's way back, maybe, streaming now to steep_reverse_x\): it is not steep's to drop from app; switch over without --reverse/,
    },
    {
      what: "the way back's slot streaming in this database",
      facts: {
        reverse: {
          ...FACTS.reverse!,
          slotExists: true,
          slot: { database: 'app', here: true, active: true, streamedBy: 'other_sub' },
        },
      },
      problem:
        /slot steep_reverse_new_orders_a172cedc in database app on new is streaming now to other_sub: a live way back, which steep does not drop/,
    },
    {
      what: "an earlier way back's slot left in this database, unused",
      facts: {
        reverse: {
          ...FACTS.reverse!,
          slotExists: true,
          slot: { database: 'app', here: true, active: false, streamedBy: null },
        },
      },
      problem:
        /slot steep_reverse_new_orders_a172cedc in database app on new is left from an earlier way back of subscription new_orders \(nobody streams from it\): drop it on new \(SELECT pg_drop_replication_slot\('steep_reverse_new_orders_a172cedc'\)\)/,
    },
    {
      what: 'a role steep may not alter, steep not a member of it: a new membership, ADMIN OPTION only',
      facts: {
        roles: [
          ...FACTS.roles.filter((r) => r.name !== 'app'),
          role('app', { alterable: false, steepMember: false }),
        ],
      },
      problem:
        /may not alter role app, .*: run GRANT "app" TO "steep" WITH ADMIN OPTION, INHERIT FALSE, SET FALSE; on old as the role's creator or the cloud admin role, or leave app out with --roles/,
    },
    {
      what: 'a role steep may not alter, steep a member of it already: ADMIN OPTION alone, its INHERIT and SET kept',
      facts: {
        roles: [
          ...FACTS.roles.filter((r) => r.name !== 'app'),
          role('app', { alterable: false, steepMember: true }),
        ],
      },
      problem:
        /may not alter role app, .*: run GRANT "app" TO "steep" WITH ADMIN OPTION; on old as the role's creator or the cloud admin role \(steep is a member of app already: this adds ADMIN OPTION and keeps its INHERIT and SET\), or leave app out with --roles/,
    },
    {
      what: 'steep may not end the sessions of a fenced role (no INHERIT membership, no pg_signal_backend)',
      facts: {
        roles: [...FACTS.roles.filter((r) => r.name !== 'app'), role('app', { steepCanSignal: false })],
      },
      problem:
        /cannot end the sessions of role app, which the fence must end: GRANT "app" TO "steep"; on old \(a member that inherits app's privileges may end its sessions\), or GRANT pg_signal_backend TO "steep";/,
    },
    {
      what: 'no TRIGGER on a table for the data fence',
      facts: {
        fence: {
          schema: 'steep',
          schemaExists: true,
          schemaCreate: true,
          tables: [{ table: '"public"."orders"', trigger: false }],
        },
      },
      problem:
        /may not create the data fence's trigger on "public"\."orders".*: GRANT TRIGGER ON "public"\."orders" TO "steep"; on old as the table's owner/,
    },
    {
      what: 'no CREATE on the state schema for the data fence',
      facts: { fence: { schema: 'steep', schemaExists: true, schemaCreate: false, tables: [] } },
      problem:
        /may not create the data fence's function in schema steep: GRANT CREATE ON SCHEMA "steep" TO "steep"; on old/,
    },
    {
      what: 'a prepared transaction',
      facts: { prepared: [{ gid: 'tx 1', owner: 'app', prepared: '2026-01-01 00:00:00+00' }] },
      problem:
        /prepared transaction 'tx 1' of role app in database app on old \(prepared at 2026-01-01 00:00:00\+00\) is open: .*COMMIT PREPARED 'tx 1'.*--wait-prepared 60s/,
    },
    {
      what: 'a subscription writing into the tables on the old primary',
      facts: { inbound: [{ name: 'feed', tables: ['public.orders'], triggers: [] }] },
      problem:
        /subscription feed on old writes into public\.orders, .*ALTER SUBSCRIPTION "feed" DISABLE on old; what it has not applied waits in its slot/,
    },
    {
      what: 'a subscription whose apply fires a trigger (ENABLE ALWAYS) on a table it writes',
      facts: { inbound: [{ name: 'inbox', tables: [], triggers: ['public.inbox: to_orders'] }] },
      problem:
        /^subscription inbox on old fires public\.inbox: to_orders as it applies \(ENABLE ALWAYS or REPLICA\), which may write into the tables the switchover moves to new, and no fence stops a subscription's apply: disable it \(ALTER SUBSCRIPTION "inbox" DISABLE on old;/,
    },
    {
      what: "a gap steep recorded in a table's stream",
      facts: {
        gaps: [{ table: 'public.orders', reason: 'public.orders left publication p1 and came back' }],
      },
      problem:
        /has a gap in public\.orders \(public\.orders left publication p1 and came back\): new may lack changes old made there, which no drain brings; steep reinit \S+ --tables public\.orders copies it again, then run again$/,
    },
    {
      what: 'the application role cannot log in on the new primary',
      facts: { newLogins: [{ name: 'app', exists: true, login: false, connect: true }] },
      problem:
        /^role app cannot log in \(NOLOGIN\) on new, as an earlier rollback leaves it: .*run ALTER ROLE "app" LOGIN; on new, then run again$/,
    },
    {
      what: 'the application role is NOLOGIN and read-only on the new primary (a rollback)',
      facts: { newLogins: [{ name: 'app', exists: true, login: false, connect: true, readOnly: true }] },
      problem:
        /^role app cannot log in \(NOLOGIN\) and starts read-only in database app \(default_transaction_read_only = on\) on new, .*run ALTER ROLE "app" LOGIN; ALTER ROLE "app" IN DATABASE "app" RESET default_transaction_read_only; on new, then run again$/,
    },
    {
      what: 'the application role may log in but is read-only on the new primary',
      facts: { newLogins: [{ name: 'app', exists: true, login: true, connect: true, readOnly: true }] },
      problem:
        /^role app starts read-only in database app .*run ALTER ROLE "app" IN DATABASE "app" RESET default_transaction_read_only; on new/,
    },
    {
      what: 'the application role may not connect on the new primary',
      facts: { newLogins: [{ name: 'batch', exists: true, login: true, connect: false }] },
      problem:
        /role batch may not connect to database app on new: GRANT CONNECT ON DATABASE "app" TO "batch"; on new/,
    },
    ...(
      [
        ['slots', 'old', /old has no free replication slot for the release's copy.*max_replication_slots/],
        [
          'origins',
          'old',
          /old has no free replication origin for the way back's subscription: raise max_active_replication_origins on old/,
        ],
        ['workers', 'old', /no free logical replication worker.*max_logical_replication_workers on old/],
        [
          'slots',
          'new',
          /new has no free replication slot for the way back: raise max_replication_slots on new/,
        ],
        ['walsenders', 'new', /new has no free walsender for the way back: raise max_wal_senders on new/],
      ] as const
    ).map(([what, node, problem]) => ({
      what: `no ${what} left on ${node}`,
      facts: {
        capacity: {
          old: { slots: 1, origins: 1, workers: 1, walsenders: 1, ...(node === 'old' ? { [what]: 0 } : {}) },
          new: { slots: 1, origins: 1, workers: 1, walsenders: 1, ...(node === 'new' ? { [what]: 0 } : {}) },
        },
      },
      problem,
    })),
  ];
  it('asks only for the capacity it uses: without --reverse and with --keep-slot, none', () => {
    const none = { slots: 0, origins: 0, workers: 0, walsenders: 0 };
    expect(
      switchoverProblems(
        { ...FACTS, capacity: { old: none, new: none } },
        { ...OPTS, reverse: false, keepSlot: true },
      ),
    ).toEqual([]);
    // before 18 the origins count against max_replication_slots
    const on17 = switchoverProblems(
      {
        ...FACTS,
        oldVersion: 170000,
        capacity: { old: { ...none, slots: 1, workers: 1 }, new: { ...none, slots: 1, walsenders: 1 } },
      },
      OPTS,
    );
    expect(on17).toEqual([
      expect.stringContaining(
        'raise max_replication_slots on old (a restart), or switch over without --reverse',
      ),
    ]);
  });
  it.each(cases)('refuses: $what', ({ facts, opts, problem }) => {
    const p = switchoverProblems({ ...FACTS, ...facts }, { ...OPTS, ...opts });
    expect(p.join('\n')).toMatch(problem);
  });

  it('accepts a healthy pair and plans fence → drain → sequences → verify → reverse → release', () => {
    expect(switchoverProblems(FACTS, OPTS)).toEqual([]);
    const plan = planSwitchover(FACTS, OPTS, INPUTS);
    expect(plan.steps.map((s) => s.id)).toEqual([
      'fence',
      'drain',
      'sequences',
      'verify',
      'reverse',
      'release',
    ]);
    const fence = plan.steps[0]!;
    expect(fence.statements[0]).toEqual({
      node: 'old',
      sql: 'ALTER ROLE "app" IN DATABASE "app" SET default_transaction_read_only = on',
    });
    // NOLOGIN: a session could turn the read-only default off (PGOPTIONS, BEGIN READ WRITE)
    expect(fence.statements[1]).toEqual({ node: 'old', sql: 'ALTER ROLE "app" NOLOGIN' });
    // undo restores what was there before, statement by statement: RESET, or the role's own
    // earlier setting, and LOGIN
    expect(fence.undo.map((u) => u.sql)).toEqual([
      'ALTER ROLE "app" IN DATABASE "app" RESET default_transaction_read_only',
      'ALTER ROLE "app" LOGIN',
      `ALTER ROLE "batch" IN DATABASE "app" SET default_transaction_read_only = 'off'`,
      'ALTER ROLE "batch" LOGIN',
    ]);
    // the fence LSN is a flushed message past every commit, not the WAL write position
    expect(fence.statements.map((x) => x.sql).slice(-4)).toEqual([
      'BEGIN READ WRITE',
      'SET LOCAL synchronous_commit = local',
      "SELECT pg_catalog.pg_logical_emit_message(true, 'steep', 'switchover new_orders: fence')::text AS lsn",
      'COMMIT',
    ]);
    // the reverse slot is made on its own first (one server: CREATE SUBSCRIPTION would wait for itself)
    // each with steep's comment: what a later switchover reads to show the way back is steep's
    expect(plan.steps[4]!.statements.map((s) => `${s.node}: ${s.sql}`).slice(1)).toEqual([
      `new: COMMENT ON PUBLICATION "steep_reverse_new_orders" IS 'managed by steep: the way back of subscription new_orders'`,
      "new: SELECT pg_catalog.pg_create_logical_replication_slot('steep_reverse_new_orders_a172cedc', 'pgoutput')",
      `old: CREATE SUBSCRIPTION "steep_reverse_new_orders" CONNECTION 'host=new dbname=app user=steep password=****' PUBLICATION "steep_reverse_new_orders" WITH (copy_data = false, origin = none, create_slot = false, slot_name = 'steep_reverse_new_orders_a172cedc')`,
      `old: COMMENT ON SUBSCRIPTION "steep_reverse_new_orders" IS 'managed by steep: the way back of subscription new_orders'`,
    ]);
    expect(plan.steps[4]!.undo.map((u) => u.node)).toEqual(['old', 'new', 'new']);
    // the slot copied before it is dropped, the copy read after the drop and a flush: a commit
    // between a look and the drop is counted, not dropped with the slot
    const check = "'steep_release_' || pg_catalog.pg_backend_pid()";
    expect(plan.steps[5]!.statements.map((s) => `${s.node}: ${s.sql}`)).toEqual([
      'new: ALTER SUBSCRIPTION "new_orders" DISABLE',
      `old: SELECT pg_catalog.pg_copy_logical_replication_slot('new_orders', ${check}, true)`,
      'new: ALTER SUBSCRIPTION "new_orders" SET (slot_name = NONE)',
      "old: SELECT pg_catalog.pg_drop_replication_slot('new_orders')",
      'old: BEGIN READ WRITE',
      'old: SET LOCAL synchronous_commit = local',
      "old: SELECT pg_catalog.pg_logical_emit_message(true, 'steep', 'switchover new_orders: release')::text AS lsn",
      'old: COMMIT',
      // what the slot held past what new confirmed, whatever its origin but the way back's own
      expect.stringMatching(
        /^old: WITH c AS \(SELECT xid::text AS xid, .* FROM pg_catalog\.pg_logical_slot_peek_binary_changes\('steep_release_' \|\| pg_catalog\.pg_backend_pid\(\), NULL, NULL, 'proto_version', '1', 'publication_names', '"orders pub"'\)\),\n.*o\.origin IS DISTINCT FROM \(SELECT 'pg_' \|\| s\.oid FROM pg_catalog\.pg_subscription s WHERE s\.subname = 'steep_reverse_new_orders' .*GROUP BY w\.origin/s,
      ),
      `old: SELECT pg_catalog.pg_drop_replication_slot(${check})`,
    ]);
    // some: the slot back from the copy, where it stood, and the subscription on it again
    expect(plan.steps[5]!.undo.map((s) => `${s.node}: ${s.sql}`)).toEqual([
      `old: SELECT pg_catalog.pg_copy_logical_replication_slot(${check}, 'new_orders', false)`,
      `old: SELECT pg_catalog.pg_drop_replication_slot(${check})`,
      `new: ALTER SUBSCRIPTION "new_orders" SET (slot_name = 'new_orders')`,
    ]);
    // nothing measured: drain 200 ms + 1,000 bytes at 100 kB/s, verify 200,000 rows at
    // 200,000/s, reverse 500 ms, the fence's exit poll 20 ms
    expect(plan.expectedBlackoutMs).toBe(200 + 10 + 1000 + 500 + 20);
    // measured: round trip 1 ms (12 fence statements, the prepared transactions' check
    // included, 3 for the sequences, the release's DISABLE), the drain 40 ms, verify 100 ms +
    // 200,000 rows at 1,000,000/s, reverse 60 ms + 3
    const measured = planSwitchover(
      {
        ...FACTS,
        measured: {
          drainMs: 40,
          verifyRowsPerSecond: 1_000_000,
          verifyFixedMs: 100,
          reverseConnectMs: 60,
          roundTripMs: 1,
        },
      },
      OPTS,
      INPUTS,
    );
    expect(measured.expectedBlackoutMs).toBe(12 + 20 + 40 + 3 + (100 + 200) + (60 + 3) + 1);
    expect(measured.blackoutBasis).toContain('the subscriber confirmed the flushed WAL in 40 ms');
    expect(plan.rollback.some((r) => r.sql === 'ALTER SUBSCRIPTION "steep_reverse_new_orders" DISABLE')).toBe(
      true,
    );
    // the way back fences on new as the switchover did on old, and moves old's sequences past
    // new's before the roles may write on old again
    const back = plan.rollback.map((r) => r.command ?? `${r.node}: ${r.sql}`);
    expect(back).toContain('new: ALTER ROLE "app" NOLOGIN');
    const seq = back.indexOf('steep sequences sync steep_reverse_new_orders --headroom 1000');
    expect(seq).toBeGreaterThan(back.indexOf('old: ALTER SUBSCRIPTION "steep_reverse_new_orders" DISABLE'));
    expect(seq).toBeLessThan(back.indexOf('old: ALTER ROLE "app" LOGIN'));
  });

  it('fences the tables with a trigger after the roles, undoes and rolls it back with them', () => {
    const facts: SwitchoverFacts = {
      ...FACTS,
      fence: {
        schema: 'steep',
        schemaExists: true,
        schemaCreate: true,
        tables: [{ table: '"public"."orders"', trigger: true }],
      },
    };
    const plan = planSwitchover(facts, OPTS, INPUTS);
    const sql = plan.steps[0]!.statements.map((x) => x.sql);
    const fn = sql.findIndex((x) =>
      x.startsWith(
        'CREATE FUNCTION "steep"."switchover_fence_new_orders"() RETURNS trigger LANGUAGE plpgsql',
      ),
    );
    expect(fn).toBeGreaterThan(sql.findIndex((x) => x.includes('pg_terminate_backend')));
    expect(sql[fn + 1]).toBe(
      `CREATE TRIGGER "steep_fence_new_orders" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "public"."orders" FOR EACH STATEMENT EXECUTE FUNCTION "steep"."switchover_fence_new_orders"('switchover of new_orders moved its writes to new', 'steep switchover fenced this table on old; write on new. The rollback steep printed removes the fence.')`,
    );
    expect(sql[fn + 2]).toMatch(/^SELECT gid, owner, prepared FROM pg_catalog\.pg_prepared_xacts/);
    expect(plan.dataFence.unfence.map((x) => x.sql)).toEqual([
      'DROP TRIGGER IF EXISTS "steep_fence_new_orders" ON "public"."orders"',
      'DROP FUNCTION IF EXISTS "steep"."switchover_fence_new_orders"()',
    ]);
    // the printed rollback removes it before the roles may write on old again
    const back = plan.rollback.map((r) => `${r.node}: ${r.sql}`);
    expect(back.indexOf('old: DROP FUNCTION IF EXISTS "steep"."switchover_fence_new_orders"()')).toBeLessThan(
      back.indexOf('old: ALTER ROLE "app" LOGIN'),
    );
    expect(
      back.indexOf('old: DROP TRIGGER IF EXISTS "steep_fence_new_orders" ON "public"."orders"'),
    ).toBeGreaterThan(back.indexOf('old: ALTER SUBSCRIPTION "steep_reverse_new_orders" DISABLE'));
  });

  it("the rollback fences the new primary's tables too, and the next switchover removes that fence right after its DISABLE", () => {
    const fence = {
      schema: 'steep',
      schemaExists: true,
      schemaCreate: true,
      tables: [{ table: '"public"."orders"', trigger: true }],
    };
    const plan = planSwitchover({ ...FACTS, fence }, OPTS, INPUTS);
    const back = plan.rollback.map((r) => `${r.node}: ${r.sql}`);
    const trigger = back.indexOf(
      `new: CREATE OR REPLACE TRIGGER "steep_fence_new_orders" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "public"."orders" FOR EACH STATEMENT EXECUTE FUNCTION "steep"."switchover_fence_new_orders"('the rollback of new_orders''s switchover moved its writes back to old', 'the rollback steep printed fenced this table on new; write on old. The next switchover of new_orders removes the fence.')`,
    );
    expect(
      back.findIndex((b) =>
        b.startsWith('new: CREATE OR REPLACE FUNCTION "steep"."switchover_fence_new_orders"()'),
      ),
    ).toBe(trigger - 1);
    // after the roles' fence, before the new primary's WAL is flushed for the way back's drain
    expect(trigger).toBeGreaterThan(back.findIndex((b) => b.includes('pg_terminate_backend')));
    expect(trigger).toBeLessThan(back.findIndex((b) => b.includes('pg_logical_emit_message')));
    expect(plan.newPrimaryUnfence).toEqual([]);
    // what no fence stops: prepared transactions finished before it (its CREATE TRIGGER would
    // wait for them), other subscriptions into the tables after it
    const checks = [plan.rollback[trigger - 2]!, plan.rollback[trigger + 1]!];
    expect(checks.map((c) => c.sql)).toEqual([
      expect.stringContaining('FROM pg_catalog.pg_prepared_xacts'),
      expect.stringMatching(
        /ARRAY\['"public"\."orders"'\].* AS tables, .*tgenabled IN \('A', 'R'\).* AS triggers FROM pg_catalog\.pg_subscription s .*s\.subname IS DISTINCT FROM 'new_orders'/,
      ),
    ]);
    expect(
      checks.every((c) => c.node === 'new' && c.why.startsWith('repeat until it returns no row: ')),
    ).toBe(true);

    const again = planSwitchover({ ...FACTS, fence, newFenced: ['"public"."orders"'] }, OPTS, INPUTS);
    const release = again.steps.at(-1)!.statements.map((x) => `${x.node}: ${x.sql}`);
    expect(release.slice(0, 3)).toEqual([
      'new: ALTER SUBSCRIPTION "new_orders" DISABLE',
      'new: DROP TRIGGER IF EXISTS "steep_fence_new_orders" ON "public"."orders"',
      'new: DROP FUNCTION IF EXISTS "steep"."switchover_fence_new_orders"()',
    ]);
    expect(again.newPrimaryUnfence.map((x) => `${x.node}: ${x.sql}`)).toEqual(release.slice(1, 3));
  });

  it("an inbound subscription: the refusal says what waits in its slot and where it goes after; the rollback's check has its rows on the new primary copied back by hand", () => {
    const feed = { inbound: [{ name: 'feed', tables: ['public.orders'], triggers: [] }] };
    const [refusal] = switchoverProblems({ ...FACTS, ...feed }, OPTS);
    expect(refusal).toMatch(
      /^subscription feed on old writes into public\.orders, .*: disable it \(ALTER SUBSCRIPTION "feed" DISABLE on old; what it has not applied waits in its slot on its publisher\), then run again; afterwards move it to new with that slot, as docs\/switchover\.md "Inbound subscriptions" shows, or enable it on old once a rollback moved the writes back$/,
    );
    // "write into new" alone: the way back (origin = none) never carries its rows to old
    expect(refusal).not.toContain('have it write into new');
    const fence = {
      schema: 'steep',
      schemaExists: true,
      schemaCreate: true,
      tables: [{ table: '"public"."orders"', trigger: true }],
    };
    for (const reverse of [true, false]) {
      const plan = planSwitchover({ ...FACTS, fence }, { ...OPTS, reverse }, INPUTS);
      const check = plan.rollback.find((r) => r.sql?.includes('FROM pg_catalog.pg_subscription s'))!;
      expect(check.why).toBe(
        'repeat until it returns no row: another subscription on new applying into these tables passes the fence: disable each (ALTER SUBSCRIPTION name DISABLE); ' +
          "the rows it applied on new are only there (no way back carries another origin's rows) and steep verify cannot tell them from the application's, " +
          "so once old's fence is removed, before the application is pointed back at old, copy to old by hand every row of its tables new holds and old lacks (one the application deletes on old first would come back), then move it back to old",
      );
    }
  });

  it("the kept slot's advice sets origin = none for the catch-up when the way back runs and the subscription's origin is any", () => {
    const p = { subscription: 'new_orders', oldNode: 'old', newNode: 'new', slot: 'new_orders' };
    const unsent = {
      changes: 3,
      transactions: 2,
      writers: [{ origin: null, subscription: null, tables: ['public.orders'], changes: 3, transactions: 2 }],
    };
    const any = unsentMessage({ ...p, reverse: true, origin: 'any' }, unsent);
    expect(any).toContain(
      'then ALTER SUBSCRIPTION "new_orders" SET (origin = none); ALTER SUBSCRIPTION "new_orders" ENABLE on new deliver exactly them',
    );
    expect(any).toContain(
      'ALTER SUBSCRIPTION "new_orders" DISABLE; ALTER SUBSCRIPTION "new_orders" SET (origin = any) on new',
    );
    expect(any).toContain('(3 in 2 transaction(s) to public.orders by local sessions');
    const none = unsentMessage({ ...p, reverse: true, origin: 'none' }, unsent);
    expect(none).not.toContain('SET (origin');
    expect(none).toContain("its origin is none: the way back's own changes stay out");
    expect(unsentMessage({ ...p, reverse: false, origin: 'any' }, unsent)).not.toContain('origin = none');
  });

  it('refuses a role an interrupted switchover left without login and read-only', () => {
    const left = {
      ...FACTS,
      roles: [...FACTS.roles, role('orphan', { login: false, databaseSetting: 'on' })],
    };
    expect(switchoverProblems(left, OPTS)).toEqual([
      expect.stringMatching(
        /^role orphan cannot log in and is read-only in database app on old, as a fence an interrupted switchover leaves it: .*ALTER ROLE "orphan" LOGIN; ALTER ROLE "orphan" IN DATABASE "app" RESET default_transaction_read_only/,
      ),
    ]);
    // named roles: the DBA chose
    expect(switchoverProblems(left, { ...OPTS, roles: ['app'] })).toEqual([]);
  });

  it('keeps the slot and offers it back without --reverse', () => {
    const plan = planSwitchover(FACTS, { ...OPTS, reverse: false, keepSlot: true, verify: 'none' }, INPUTS);
    expect(plan.steps.map((s) => s.id)).toEqual(['fence', 'drain', 'sequences', 'release']);
    expect(plan.steps.at(-1)!.statements.map((s) => `${s.node}: ${s.sql}`)).toEqual([
      'new: ALTER SUBSCRIPTION "new_orders" DISABLE',
      'old: BEGIN READ WRITE',
      'old: SET LOCAL synchronous_commit = local',
      "old: SELECT pg_catalog.pg_logical_emit_message(true, 'steep', 'switchover new_orders: release')::text AS lsn",
      'old: COMMIT',
      // no way back: every origin counts
      expect.stringMatching(
        /^old: WITH c AS .*pg_logical_slot_peek_binary_changes\('new_orders', NULL, NULL, 'proto_version', '1', 'publication_names', '"orders pub"'\)\),\n.*o\.origin IS DISTINCT FROM NULL\)/s,
      ),
    ]);
    expect(plan.steps.at(-1)!.undo).toEqual([]);
    // the new primary fenced first, as the switchover fenced the old one: never both writable
    const n = 2 * plan.roles.length + 1;
    expect(plan.roles).toEqual(['app', 'batch']);
    expect(plan.rollback.slice(0, n).every((r) => r.node === 'new')).toBe(true);
    expect(plan.rollback.slice(0, n).map((r) => r.sql)).toEqual(
      expect.arrayContaining(['ALTER ROLE "app" NOLOGIN', 'ALTER ROLE "batch" NOLOGIN']),
    );
    expect(plan.rollback[n - 1]!.sql).toContain('pg_terminate_backend(pid)');
    // a prepared transaction commits through every fence: none may be left on the new primary
    expect(plan.rollback[n]).toMatchObject({
      node: 'new',
      sql: expect.stringContaining('pg_prepared_xacts'),
    });
    expect(plan.rollback[n]!.why).toMatch(/^repeat until it returns no row: /);
    // what stays on the new primary, counted while both are fenced
    expect(plan.rollback[n + 1]).toMatchObject({ command: 'steep verify new_orders' });
    expect(plan.rollback[n + 1]!.why).toContain('--repair would delete them');
    expect(plan.rollback[n + 2]).toMatchObject({
      node: 'new',
      sql: 'ALTER SUBSCRIPTION "new_orders" ENABLE',
    });
    expect(plan.rollback[n + 3]).toMatchObject({
      command: 'steep sequences sync new_orders --reverse --headroom 1000',
    });
  });

  it('prints each drain position against the fence with the relation that holds, compared as numbers', () => {
    // the origin proved it; the slot's confirmed position is still behind the fence (it was printed as ≥)
    expect(drainDetail('0/863A4000', '0/863A4010', '0/863A3ED8', 'origin')).toBe(
      'origin 0/863A4010 ≥ fence 0/863A4000, slot confirmed 0/863A3ED8 < fence 0/863A4000 (origin past the fence)',
    );
    // as numbers: 0/10000 is past 0/9A00 although its text sorts first
    expect(drainDetail('0/9A00', '0/10000', null, 'origin')).toBe(
      'origin 0/10000 ≥ fence 0/9A00, slot confirmed none (origin past the fence)',
    );
    expect(drainDetail('0/863A4000', null, '1/0', 'acknowledged')).toBe(
      'origin none, slot confirmed 1/0 ≥ fence 0/863A4000 (acknowledged by the subscriber)',
    );
  });

  it('proves the drain by the origin past the fence, or by the subscriber acknowledging it', () => {
    expect(drainProven(100n, 100n, null)).toBe('origin');
    expect(drainProven(100n, 90n, 100n)).toBe('acknowledged');
    expect(drainProven(100n, 90n, 99n)).toBeNull();
    expect(drainProven(100n, null, null)).toBeNull();
  });
});

describe('switchover refusal of a disabled subscription: the way out that enables it', () => {
  const disabled = (
    o: Partial<SwitchoverFacts> = {},
    errors?: NonNullable<SwitchoverFacts['live']>['errors'],
  ) =>
    switchoverProblems(
      { ...FACTS, live: { ...FACTS.live!, enabled: false, ...(errors ? { errors } : {}) }, ...o },
      OPTS,
    ).filter((p) => p.startsWith('subscription new_orders on new is disabled'));
  // PostgreSQL disabled it at an apply error (disable_on_error): steep apply leaves it so (planner)
  const byError = { options: { disableOnError: true }, errorsCounted: 1 };

  it('disabled by PostgreSQL at an error: its cause and the ENABLE, as status says, never steep apply', () => {
    expect(disabled({}, byError)).toEqual([
      'subscription new_orders on new is disabled by PostgreSQL after an error (disable_on_error; errors apply and sync 1 counted since the statistics were reset): ' +
        'its message is in the server log of new ("logical replication subscription "new_orders" has been disabled due to an error" and the error before it); ' +
        'fix its cause, then run ALTER SUBSCRIPTION "new_orders" ENABLE on new (steep apply does not enable it while this stands: it would be disabled again); ' +
        'let it catch up, then run the switchover again',
    ]);
  });

  it("left diverged by a failover of its publisher: the failover's way out first, no ENABLE", () => {
    const wayOut =
      'slot new_orders is missing on old: …; copy what new must keep to old first, then steep reinit new_orders --full copies its tables again';
    const [p] = disabled({ failoverDiverged: [wayOut] }, byError);
    expect(p).toContain(
      "a failover of old left new_orders diverged, so the failover's way out comes first: enabling it before that resumes past the fork",
    );
    expect(p).toContain(`; ${wayOut}; `);
    expect(p).not.toContain('ENABLE on new');
    expect(p).not.toContain('steep apply)');
  });

  it("disabled by hand (or otherwise with no error counted) and left diverged by a failover of its publisher: the failover's way out, not steep apply", () => {
    const wayOut =
      'slot new_orders is missing on old: …; copy what new must keep to old first, then steep reinit new_orders --full copies its tables again';
    expect(disabled({ failoverDiverged: [wayOut] })).toEqual([
      "subscription new_orders on new is disabled: a failover of old left new_orders diverged, so steep apply does not enable it: enabling it before the failover's way out resumes past the fork; " +
        `${wayOut}; let it catch up, then run the switchover again`,
    ]);
  });

  it('disabled by steep apply itself (no errors since its DISABLE) and enabled in the file: steep apply enables it', () => {
    for (const errors of [
      undefined,
      { ...byError, steepDisabledAt: 1 },
      { ...byError, options: { disableOnError: false } },
    ])
      expect(disabled({}, errors)).toEqual([
        'subscription new_orders on new is disabled: enable it (steep apply) and let it catch up first',
      ]);
  });

  it('disabled with its init unfinished (two-phase between snapshot generate and apply): what finishes the init, as reinit names it, never steep apply', () => {
    const [p] = disabled({ state: 'preparing', initMethod: 'two-phase' });
    expect(p).toBe(
      'subscription new_orders on new is disabled and its two-phase init is preparing, not finished: steep apply does not enable it before its init does; ' +
        'steep snapshot apply new_orders --input DIR (the directory steep snapshot generate new_orders wrote) loads its snapshot and enables it; ' +
        'let it catch up, then run the switchover again',
    );
    expect(p).not.toContain('enable it (steep apply)');
    // and no wait for it to be synchronized beside it: waiting never finishes that init
    const all = switchoverProblems(
      { ...FACTS, live: { ...FACTS.live!, enabled: false }, state: 'preparing', initMethod: 'two-phase' },
      OPTS,
    );
    expect(all.filter((x) => x.includes('wait until steep init status'))).toEqual([]);
    // a manual init waiting for its restore: its own steps
    expect(disabled({ state: 'preparing', initMethod: 'manual' })[0]).toContain(
      'steep init prepare new_orders, the restore it prints, then steep apply finish it (docs/init.md)',
    );
    // finished (synchronized): steep apply enables it, as before
    expect(disabled({ state: 'synchronized', initMethod: 'two-phase' })).toEqual([
      'subscription new_orders on new is disabled: enable it (steep apply) and let it catch up first',
    ]);
  });

  it('disabled as steep.yaml declares (enabled: false), which steep apply keeps: the file is named, and the primary it may be already', () => {
    expect(disabled({ declaredEnabled: false })).toEqual([
      'subscription new_orders on new is disabled as steep.yaml declares it (enabled: false), which steep apply keeps: ' +
        'unless new is the primary already (a switchover leaves it so), set enabled: true on new_orders in steep.yaml, run steep apply and let it catch up first',
    ]);
  });

  it('released by a switchover (slot_name = NONE): no enable is advised, new may be the primary already', () => {
    const [p] = switchoverProblems(
      { ...FACTS, live: { ...FACTS.live!, enabled: false, slot: null }, slot: null },
      OPTS,
    ).filter((x) => x.startsWith('subscription new_orders on new is disabled'));
    const released =
      "subscription new_orders on new is disabled without a slot (slot_name = NONE), as a switchover's release leaves it: new may be the primary already, " +
      'so no enable is advised; if that switchover is done, nothing is left to switch over';
    expect(p).toBe(`${released}: set enabled: false on new_orders in steep.yaml`);
    // the file says so already
    expect(
      switchoverProblems(
        {
          ...FACTS,
          live: { ...FACTS.live!, enabled: false, slot: null },
          slot: null,
          declaredEnabled: false,
        },
        OPTS,
      ).filter((x) => x.startsWith('subscription new_orders on new is disabled')),
    ).toEqual([released]);
  });
});
