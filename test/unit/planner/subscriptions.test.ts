import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import { UNKNOWN } from '../../../src/model/cluster.js';
import { gapsOfStep } from '../../../src/model/continuity.js';
import type { SubscriptionOptions, Topology } from '../../../src/model/topology.js';
import {
  at,
  codes,
  conninfoFor,
  nodeSpec,
  observe,
  observedSlot,
  observedSubscription,
  PG14,
  PG15,
  PG16,
  PG17,
  PG18,
  publication,
  runPlan,
  sqlOf,
  stepAt,
  subscription,
  topology,
  unreachable,
} from './fixtures.js';

function base(opts: Parameters<typeof subscription>[4] = {}): Topology {
  return topology({
    publications: [
      publication('orders_pub', 'east'),
      publication('customers_pub', 'east', { tables: ['public.customers'] }),
    ],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'], opts)],
  });
}

const ADDR = 'subscription.west_orders';
const MASKED = 'host=east.internal port=5432 dbname=app user=steep password=****';

/** The converged state without the subscription (and its slot). */
function withoutSubscription(t: Topology, version = PG18) {
  const s = observe(t, { version });
  at(s, 'west').subscriptions = {};
  at(s, 'east').slots = {};
  return s;
}

describe('subscriptions: create', () => {
  it("creates with the masked connection, publications, slot, init snapshot and the file's options", () => {
    const t = base({ options: { binary: true, streaming: 'on', synchronousCommit: 'remote_apply' } });
    const p = runPlan(t, withoutSubscription(t));
    const step = stepAt(p, ADDR);
    const hash = conninfoFor(t, 'east').hash;
    expect(step).toMatchObject({
      node: 'west',
      kind: 'subscription-create',
      action: 'create',
      reason: 'absent',
      hazards: ['copies-data'],
    });
    expect(step.statements).toEqual([
      {
        sql:
          `CREATE SUBSCRIPTION "west_orders" CONNECTION '${MASKED}' PUBLICATION "orders_pub" WITH (slot_name = 'west_orders', ` +
          "enabled = true, copy_data = true, create_slot = true, binary = true, streaming = 'on', synchronous_commit = 'remote_apply')",
        transactional: false,
      },
      {
        sql: `COMMENT ON SUBSCRIPTION "west_orders" IS 'managed by steep: topology=orders-eu conn=sha256:${hash}'`,
        transactional: true,
      },
    ]);
    expect(step.changes).toContainEqual({ path: 'connection', before: null, after: MASKED });
    expect(step.changes).toContainEqual({ path: 'options.streaming', before: null, after: 'on' });
    expect(step.changes).toContainEqual({ path: 'options.runAsOwner', before: null, after: false });
    expect(JSON.stringify(p)).not.toContain('secret-east');
  });

  it('uses the replication URL and passfile of the publisher, with no password stored', () => {
    const t = base();
    t.nodes.east = nodeSpec('east', {
      replicationConnection: { host: '10.0.0.1', port: 5432, database: 'app', user: 'repl', password: 'pw' },
      replicationPassfile: '/etc/steep/east.pgpass',
    });
    const sql = sqlOf(runPlan(t, withoutSubscription(t)), ADDR)[0]!;
    expect(sql).toContain(
      "CONNECTION 'host=10.0.0.1 port=5432 dbname=app user=repl passfile=/etc/steep/east.pgpass'",
    );
  });

  it('lists several publications quoted and sorted; quotes odd subscription names', () => {
    const t = topology({
      publications: [
        publication('Orders Pub', 'east'),
        publication('a-pub', 'east', { tables: ['public.a'] }),
      ],
      subscriptions: [subscription('West-Orders', 'west', 'east', ['Orders Pub', 'a-pub'])],
    });
    const sql = sqlOf(runPlan(t, withoutSubscription(t)), 'subscription.West-Orders');
    expect(sql[0]).toMatch(
      /^CREATE SUBSCRIPTION "West-Orders" CONNECTION '.*' PUBLICATION "Orders Pub", "a-pub" WITH \(slot_name = 'West-Orders',/,
    );
    expect(sql[1]).toMatch(/^COMMENT ON SUBSCRIPTION "West-Orders" IS /);
  });

  it.each([
    ['none', 'enabled = true, copy_data = false, create_slot = true', false, []],
    ['two-phase', 'enabled = false, copy_data = false, create_slot = false', true, ['init-method']],
  ] as const)('init method %s → %s', (method, flags, transactional, warnings) => {
    const t = base({ init: { method, parallel: 4, existingData: 'fail' } });
    const p = runPlan(t, withoutSubscription(t));
    const step = stepAt(p, ADDR);
    expect(step.statements[0]!.sql).toContain(`WITH (slot_name = 'west_orders', ${flags})`);
    expect(step.statements[0]!.transactional).toBe(transactional);
    expect(step.hazards).toEqual([]);
    expect(codes(p.warnings)).toEqual(warnings);
    if (method === 'two-phase')
      expect(p.warnings.find((w) => w.code === 'init-method')?.message).toMatch(
        /on no slot yet; steep snapshot generate west_orders creates slot west_orders and steep snapshot apply west_orders completes it \(a snapshot seeds exactly one subscription, on its slot/,
      );
  });

  it('init method two-phase on its prepared slot: one warning, naming the step left (not two that contradict)', () => {
    const t = base({ init: { method: 'two-phase', parallel: 4, existingData: 'fail' } });
    const observed = withoutSubscription(t);
    at(observed, 'east').slots.west_orders = observedSlot('west_orders', { active: false });
    const p = runPlan(t, observed);
    expect(codes(p.warnings)).toEqual(['init-method']);
    expect(p.warnings[0]!.message).toContain(
      'on the prepared slot west_orders; steep snapshot apply west_orders completes it',
    );
  });

  it('init method merge: its create is part of one merge step, copy_data = false, on the subscriber while writes are blocked on both', () => {
    const t = base({
      init: { method: 'merge', parallel: 4, existingData: 'fail', strategy: 'prefer-source' },
    });
    const p = runPlan(t, withoutSubscription(t));
    expect(codes(p.warnings)).toEqual([]);
    const merge = p.steps.filter((s) => printAddress(s.address) === ADDR);
    expect(merge.map((s) => `${s.kind} ${s.node}`)).toEqual(['merge-init east']);
    const create = merge[0]!.statements.find((s) => s.sql.startsWith('CREATE SUBSCRIPTION'))!;
    // on the slot the merge makes first, started (and enabled) by the merge at the locked position
    expect(create.sql).toContain(
      "WITH (slot_name = 'west_orders', enabled = false, copy_data = false, create_slot = false",
    );
    expect(create.node).toBe('west');
    expect(merge[0]!.statements.filter((s) => s.sql.includes('pg_create_logical_replication_slot'))).toEqual([
      {
        sql:
          "SELECT pg_catalog.pg_create_logical_replication_slot('west_orders', 'pgoutput') WHERE NOT EXISTS " +
          "(SELECT FROM pg_catalog.pg_replication_slots WHERE slot_name = 'west_orders' AND plugin = 'pgoutput' AND database = current_database())",
        transactional: false,
        node: 'east',
      },
    ]);
    // origin any (PostgreSQL's default) would send writes under the locks back: no origin, rounds instead
    expect(merge[0]!.statements.some((s) => s.sql.includes('pg_replication_origin'))).toBe(false);
    expect(merge[0]!.reasonText).toContain('merges what was written meanwhile after releasing them');
    expect(merge[0]!.statements.filter((s) => s.sql.startsWith('LOCK TABLE')).map((s) => s.node)).toEqual([
      'east',
      'west',
    ]);
    expect(merge[0]!.hazards).toContain('blocks-writes');
  });

  it('creates a manual-init subscription on its prepared slot, which is not dropped', () => {
    const t = base({ init: { method: 'manual', parallel: 4, existingData: 'fail' } });
    const s = withoutSubscription(t);
    at(s, 'east').slots.west_orders = observedSlot('west_orders', { confirmedFlushLsn: '0/3000000' });
    at(s, 'west').initState = {
      subscriptions: {},
      slots: {
        west_orders: {
          slot: 'west_orders',
          subscription: 'west_orders',
          lsn: '0/3000000',
          snapshotName: null,
          createdAt: '2026-01-01T00:00:00.000Z',
          expiresAt: null,
        },
      },
    };
    const p = runPlan(t, s);
    expect(p.steps.map((x) => [printAddress(x.address), x.action])).toEqual([
      [ADDR, 'create'],
      [ADDR, 'init'],
    ]);
    expect(stepAt(p, ADDR).statements[0]!.sql).toContain(
      "WITH (slot_name = 'west_orders', enabled = false, copy_data = false, create_slot = false)",
    );
    expect(codes(p.warnings)).toEqual([]);
    expect(p.orphanSlots).toEqual([]);
  });

  it("depends on the publications it subscribes to and on both nodes' state schema", () => {
    const t = base();
    const s = withoutSubscription(t);
    at(s, 'east').publications = {};
    at(s, 'east').stateSchema = { exists: false, version: null };
    at(s, 'west').stateSchema = { exists: true, version: 1 };
    const p = runPlan(t, s);
    expect(p.steps.map((x) => [x.id, printAddress(x.address), x.dependsOn])).toEqual([
      ['s1', 'node.east', []],
      ['s2', 'node.west', []],
      ['s3', 'publication.customers_pub', ['s1']],
      ['s4', 'publication.orders_pub', ['s1']],
      ['s5', ADDR, ['s1', 's2', 's4']],
      ['s6', ADDR, ['s2', 's5']],
    ]);
  });
});

describe('subscriptions: a publication list changed over a table held already', () => {
  const gaining = (gained: Parameters<typeof publication>[2]) => {
    const t = base();
    t.publications.orders_pub = publication('orders_pub', 'east', {
      tables: [{ table: 'public.orders', where: 'id > 0' }],
      publish: ['insert'],
    });
    t.publications.more_pub = publication('more_pub', 'east', gained);
    const s = observe(t);
    t.subscriptions.west_orders!.publications = ['more_pub', 'orders_pub'];
    return stepAt(runPlan(t, s), ADDR);
  };

  it('sending rows the old filter left out, or actions none sent: gated data-gap, each named', () => {
    const step = gaining({ tables: ['public.orders'] });
    expect(step.hazards).toContain('data-gap');
    expect(gapsOfStep(step)).toEqual([
      expect.objectContaining({
        table: 'public.orders',
        subscription: 'west_orders',
        reason: expect.stringMatching(
          /list of subscription west_orders gains more_pub, which changes what it receives of public\.orders; on west: rows it filtered out before, never copied and what the actions it did not send before left \(verify allowed its extra, different rows until now\)/,
        ),
      }),
    ]);
  });

  it('a publication dropped that sent rows the rest filter out: they stay, a gap; the last one gone, none', () => {
    const t = base();
    t.publications.orders_pub = publication('orders_pub', 'east', {
      tables: [{ table: 'public.orders', where: 'id > 0' }],
    });
    t.publications.more_pub = publication('more_pub', 'east', { tables: ['public.orders'] });
    t.subscriptions.west_orders!.publications = ['more_pub', 'orders_pub'];
    const s = observe(t);
    t.subscriptions.west_orders!.publications = ['orders_pub'];
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.hazards).toContain('data-gap');
    expect(gapsOfStep(step).map((g) => g.reason)).toEqual([
      expect.stringContaining(
        'drops more_pub, which changes what it receives of public.orders; on west: rows it filters out now, which stay',
      ),
    ]);
    // the table leaves the subscription with the last publication of it: nothing stays received
    t.subscriptions.west_orders!.publications = ['customers_pub'];
    expect(gapsOfStep(stepAt(runPlan(t, s), ADDR))).toEqual([]);
  });

  it('the same filter and actions: nothing more is sent, no gap', () => {
    const step = gaining({ tables: [{ table: 'public.orders', where: 'id > 0' }], publish: ['insert'] });
    expect(step.hazards).not.toContain('data-gap');
    expect(gapsOfStep(step)).toEqual([]);
  });
});

describe('subscriptions: in-place changes', () => {
  it('changes the publication list with SET PUBLICATION, refresh and copy stated', () => {
    const t = base();
    const s = observe(t);
    t.subscriptions.west_orders!.publications = ['customers_pub', 'orders_pub'];
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step).toMatchObject({
      kind: 'subscription-alter',
      action: 'update',
      reason: 'drifted',
      hazards: ['copies-data'],
    });
    expect(step.statements).toEqual([
      {
        sql: 'ALTER SUBSCRIPTION "west_orders" SET PUBLICATION "customers_pub", "orders_pub" WITH (refresh = true, copy_data = true)',
        transactional: false,
      },
    ]);
    expect(step.changes).toEqual([
      { path: 'publications', before: ['orders_pub'], after: ['customers_pub', 'orders_pub'] },
      { path: 'publications.refresh', before: null, after: true },
      { path: 'publications.copyData', before: null, after: true },
    ]);
  });

  it('tables joining an init-none subscription: a data-gap error unless init.newTables says copy or skip', () => {
    const t = base({ init: { method: 'none', parallel: 4, existingData: 'fail' } });
    const s = observe(t);
    at(s, 'west').subscriptions.west_orders!.tables = [
      { schema: 'public', name: 'orders', state: 'r', lsn: null },
    ];
    t.subscriptions.west_orders!.publications = ['customers_pub', 'orders_pub'];
    const refused = runPlan(t, s);
    expect(refused.errors.map((e) => [e.code, e.address])).toEqual([['data-gap', ADDR]]);
    expect(refused.errors[0]!.message).toContain(
      'would start receiving public.customers without copying them',
    );
    expect(refused.steps).toEqual([]);

    t.subscriptions.west_orders!.init.newTables = 'skip';
    const skipped = stepAt(runPlan(t, s), ADDR);
    expect(skipped.statements[0]!.sql).toContain('WITH (refresh = true, copy_data = false)');
    expect(skipped.hazards).toEqual(['data-gap']);
    expect(skipped.changes).toContainEqual({
      path: 'init.newTables',
      before: null,
      after: { skip: ['public.customers'] },
    });
    // vouched for, not shown: the gap apply records once it ran (workflows/allowedGaps.ts)
    expect(skipped.changes).toContainEqual({
      path: 'gaps',
      before: null,
      after: [
        {
          table: 'public.customers',
          reason: expect.stringContaining(
            'public.customers joined west_orders without a copy (init.newTables: skip',
          ),
        },
      ],
    });

    t.subscriptions.west_orders!.init.newTables = 'copy';
    const copied = stepAt(runPlan(t, s), ADDR);
    expect(copied.statements[0]!.sql).toContain('WITH (refresh = true, copy_data = true)');
    expect(copied.hazards).toEqual(['copies-data']);

    // the joining table holds rows on west: copying on top of them is refused, or emptied first
    at(s, 'west').tables['public.customers'] = {
      ...at(s, 'east').tables['public.customers']!,
      hasRows: true,
    };
    const held = runPlan(t, s);
    expect(held.errors.map((e) => [e.code, e.address])).toEqual([['existing-data', ADDR]]);
    expect(held.errors[0]!.message).toContain(
      'would copy the tables joining it into tables that already hold rows there: public.customers',
    );
    expect(held.steps).toEqual([]);
    t.subscriptions.west_orders!.init.existingData = 'truncate';
    const emptied = stepAt(runPlan(t, s), ADDR);
    expect(emptied.statements.map((x) => x.sql)).toEqual([
      'TRUNCATE TABLE "public"."customers"',
      'ALTER SUBSCRIPTION "west_orders" SET PUBLICATION "customers_pub", "orders_pub" WITH (refresh = true, copy_data = true)',
    ]);
    expect(emptied.hazards).toEqual(['truncates-data', 'copies-data']);
  });

  it.each([
    [false, 'DISABLE'],
    [true, 'ENABLE'],
  ])('enabled → %s', (enabled, verb) => {
    const t = base();
    const s = observe(t);
    at(s, 'west').subscriptions.west_orders!.enabled = !enabled;
    t.subscriptions.west_orders!.enabled = enabled;
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.statements).toEqual([
      { sql: `ALTER SUBSCRIPTION "west_orders" ${verb}`, transactional: true },
    ]);
    expect(step.changes).toEqual([{ path: 'enabled', before: !enabled, after: enabled }]);
  });

  it('enables before it refreshes, and disables after', () => {
    const t = base();
    const s = observe(t);
    at(s, 'west').subscriptions.west_orders!.enabled = false;
    t.subscriptions.west_orders!.publications = ['customers_pub', 'orders_pub'];
    expect(sqlOf(runPlan(t, s), ADDR)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" ENABLE',
      'ALTER SUBSCRIPTION "west_orders" SET PUBLICATION "customers_pub", "orders_pub" WITH (refresh = true, copy_data = true)',
    ]);
    const t2 = base({ enabled: false });
    const s2 = observe(t2);
    at(s2, 'west').subscriptions.west_orders!.enabled = true;
    t2.subscriptions.west_orders!.publications = ['customers_pub', 'orders_pub'];
    expect(sqlOf(runPlan(t2, s2), ADDR)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" SET PUBLICATION "customers_pub", "orders_pub" WITH (refresh = true, copy_data = true)',
      'ALTER SUBSCRIPTION "west_orders" DISABLE',
    ]);
  });

  it('sets the publications of a subscription that stays disabled without refresh, and says so', () => {
    const t = base({ enabled: false });
    const s = observe(t);
    t.subscriptions.west_orders!.publications = ['customers_pub', 'orders_pub'];
    const p = runPlan(t, s);
    expect(sqlOf(p, ADDR)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" SET PUBLICATION "customers_pub", "orders_pub" WITH (refresh = false)',
    ]);
    // its slot stands where it stopped: once enabled, changes before orders_pub's creation could be skipped
    expect(codes(p.warnings)).toEqual(['data-gap', 'refresh-deferred']);
  });

  const optionCases: Array<[keyof SubscriptionOptions, unknown, unknown, string]> = [
    ['binary', false, true, 'binary = true'],
    ['streaming', 'parallel', 'off', "streaming = 'off'"],
    ['synchronousCommit', 'off', 'remote_apply', "synchronous_commit = 'remote_apply'"],
    ['disableOnError', false, true, 'disable_on_error = true'],
    ['origin', 'any', 'none', "origin = 'none'"],
    ['passwordRequired', true, false, 'password_required = false'],
    ['runAsOwner', false, true, 'run_as_owner = true'],
  ];
  it.each(optionCases)('option %s: %s → %s with SET (…)', (name, before, after, sql) => {
    const t = base({ options: { [name]: after } });
    const s = observe(base(), { version: PG18 });
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.statements).toEqual([
      { sql: `ALTER SUBSCRIPTION "west_orders" SET (${sql})`, transactional: true },
    ]);
    expect(step.changes).toEqual([{ path: `options.${name}`, before, after }]);
  });

  it('sets several options in one statement, in canonical order', () => {
    const t = base({ options: { runAsOwner: true, binary: true } });
    const s = observe(base());
    expect(sqlOf(runPlan(t, s), ADDR)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" SET (binary = true, run_as_owner = true)',
    ]);
  });

  it("compares an option left out of the file with the version's default: a hand-made change is drift", () => {
    const t = base();
    const s = observe(t, { version: PG18 });
    at(s, 'west').subscriptions.west_orders!.options.streaming = 'off';
    const p = runPlan(t, s);
    expect(p.drift).toEqual([
      { address: ADDR, path: 'options.streaming', expected: 'parallel', actual: 'off' },
    ]);
    expect(sqlOf(p, ADDR)).toEqual(['ALTER SUBSCRIPTION "west_orders" SET (streaming = \'parallel\')']);
    // the default on 14–17 is off
    const s14 = observe(t, { version: PG14 });
    expect(runPlan(t, s14).steps).toEqual([]);
    at(s14, 'west').subscriptions.west_orders!.options.streaming = 'on';
    expect(sqlOf(runPlan(t, s14), ADDR)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" SET (streaming = \'off\')',
    ]);
  });

  it('failover on 17: disable → alter → enable, three statements in that order', () => {
    const t = base({ options: { failover: true } });
    const s = observe(base(), { version: PG17 });
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.statements).toEqual([
      { sql: 'ALTER SUBSCRIPTION "west_orders" DISABLE', transactional: true },
      { sql: 'ALTER SUBSCRIPTION "west_orders" SET (failover = true)', transactional: false },
      { sql: 'ALTER SUBSCRIPTION "west_orders" ENABLE', transactional: true },
    ]);
    expect(step.changes).toEqual([{ path: 'options.failover', before: false, after: true }]);
  });

  it('failover on a subscription that is to end disabled: no enable', () => {
    const t = base({ options: { failover: true }, enabled: false });
    const s = observe(base(), { version: PG17 });
    expect(sqlOf(runPlan(t, s), ADDR)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" DISABLE',
      'ALTER SUBSCRIPTION "west_orders" SET (failover = true)',
    ]);
  });

  it('twoPhase on 18: disable → alter → enable, with other options set first', () => {
    const t = base({ options: { twoPhase: true, binary: true } });
    const s = observe(base(), { version: PG18 });
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.action).toBe('update');
    expect(step.statements.map((x) => x.sql)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" SET (binary = true)',
      'ALTER SUBSCRIPTION "west_orders" DISABLE',
      'ALTER SUBSCRIPTION "west_orders" SET (two_phase = true)',
      'ALTER SUBSCRIPTION "west_orders" ENABLE',
    ]);
  });

  it('twoPhase on 16: a replace, reason cannot-alter', () => {
    const t = base({ options: { twoPhase: true } });
    const s = observe(base(), { version: PG16 });
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step).toMatchObject({
      kind: 'subscription-create',
      action: 'replace',
      reason: 'cannot-alter',
      hazards: ['drops-object', 'drops-slot', 'copies-data'],
    });
    expect(step.reasonText).toContain(
      'options.twoPhase (PostgreSQL 16 cannot alter two_phase; 18 can) cannot be altered in place',
    );
    expect(step.statements.map((x) => [x.sql.slice(0, 40), x.transactional])).toEqual([
      ['DROP SUBSCRIPTION "west_orders"', false],
      ['CREATE SUBSCRIPTION "west_orders" CONNEC', false],
      ['COMMENT ON SUBSCRIPTION "west_orders" IS', true],
    ]);
    expect(step.statements[1]!.sql).toContain('two_phase = true');
    // the replace's own drop frees the slot: no separate slot step; the copy is followed again
    expect(p.steps.map((x) => [printAddress(x.address), x.action])).toEqual([
      [ADDR, 'replace'],
      [ADDR, 'init'],
    ]);
  });

  describe('connection', () => {
    it('a readable connection string that differs → CONNECTION, before shown masked', () => {
      const t = base();
      const s = observe(t);
      at(s, 'west').subscriptions.west_orders!.conninfo =
        "host=old-east.internal port=5432 dbname=app user=steep password='hunter 2'";
      const p = runPlan(t, s);
      const step = stepAt(p, ADDR);
      expect(step.changes).toEqual([
        {
          path: 'connection',
          before: 'host=old-east.internal port=5432 dbname=app user=steep password=****',
          after: MASKED,
        },
      ]);
      expect(step.statements).toEqual([
        { sql: `ALTER SUBSCRIPTION "west_orders" CONNECTION '${MASKED}'`, transactional: true },
      ]);
      expect(JSON.stringify(p)).not.toContain('hunter');
    });

    it('compares the full connection string, password included, whatever its format', () => {
      const t = base();
      const s = observe(t);
      at(s, 'west').subscriptions.west_orders!.conninfo =
        'postgresql://steep:secret-east@east.internal:5432/app';
      expect(runPlan(t, s).steps).toEqual([]);
      at(s, 'west').subscriptions.west_orders!.conninfo = 'postgresql://steep:changed@east.internal:5432/app';
      expect(stepAt(runPlan(t, s), ADDR).changes[0]!.path).toBe('connection');
    });

    it('UNKNOWN with a matching connHash in the comment → equal, no step', () => {
      const t = base();
      const s = observe(t);
      at(s, 'west').subscriptions.west_orders!.conninfo = UNKNOWN;
      expect(runPlan(t, s).steps).toEqual([]);
    });

    it('UNKNOWN with a different connHash → CONNECTION and a new comment; before is (unknown)', () => {
      const t = base();
      const s = observe(t);
      const o = at(s, 'west').subscriptions.west_orders!;
      o.conninfo = UNKNOWN;
      o.managedBy = { topology: 'orders-eu', connHash: 'ab'.repeat(32) };
      o.comment = `managed by steep: topology=orders-eu conn=sha256:${'ab'.repeat(32)}`;
      const p = runPlan(t, s);
      const step = stepAt(p, ADDR);
      expect(step.changes[0]).toEqual({ path: 'connection', before: '(unknown)', after: MASKED });
      expect(step.statements.map((x) => x.sql)).toEqual([
        `ALTER SUBSCRIPTION "west_orders" CONNECTION '${MASKED}'`,
        `COMMENT ON SUBSCRIPTION "west_orders" IS 'managed by steep: topology=orders-eu conn=sha256:${conninfoFor(t, 'east').hash}'`,
      ]);
      expect(step.reasonText).toContain('cannot be read');
      expect(p.drift).toEqual([{ address: ADDR, path: 'connection', expected: MASKED, actual: '(unknown)' }]);
    });

    it('UNKNOWN and no hash recorded → never assumed equal: an update whose reason says it cannot be read', () => {
      const t = base();
      const s = observe(t);
      const o = at(s, 'west').subscriptions.west_orders!;
      o.conninfo = UNKNOWN;
      o.managedBy = { topology: 'orders-eu' };
      o.comment = 'managed by steep: topology=orders-eu';
      const step = stepAt(runPlan(t, s), ADDR);
      expect(step.changes[0]).toEqual({ path: 'connection', before: '(unknown)', after: MASKED });
      expect(step.reasonText).toMatch(/cannot be read .* never assumed equal/);
      expect(step.statements[0]!.sql).toBe(`ALTER SUBSCRIPTION "west_orders" CONNECTION '${MASKED}'`);
    });
  });
});

describe('subscriptions: replace', () => {
  it('a slot change is a replace: drop (with the old slot) and create with the new one', () => {
    const t = base({ slot: 'west_orders_v2' });
    const s = observe(base());
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step).toMatchObject({
      action: 'replace',
      reason: 'cannot-alter',
      hazards: ['drops-object', 'drops-slot', 'copies-data'],
    });
    expect(step.changes).toEqual([{ path: 'slot', before: 'west_orders', after: 'west_orders_v2' }]);
    expect(step.statements[0]).toEqual({ sql: 'DROP SUBSCRIPTION "west_orders"', transactional: false });
    expect(step.statements[1]!.sql).toContain("slot_name = 'west_orders_v2'");
  });

  it('a switchover-released subscription (disabled, slot NONE) declared enabled: false plans nothing; enabling it is a replace', () => {
    const t = base({ enabled: false });
    const s = observe(t);
    at(s, 'west').subscriptions.west_orders!.slotNone = true;
    delete at(s, 'east').slots.west_orders;
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(p.steps).toEqual([]);
    t.subscriptions.west_orders!.enabled = true;
    expect(stepAt(runPlan(t, s), ADDR).changes.map((c) => c.path)).toContain('slot');
  });

  it('a publisher (from) change is a replace', () => {
    const t = topology({
      publications: [publication('orders_pub', 'east'), publication('orders_pub2', 'north')],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    const s = observe(t);
    t.subscriptions.west_orders!.from = 'north';
    t.subscriptions.west_orders!.publications = ['orders_pub2'];
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.action).toBe('replace');
    expect(step.changes.map((c) => c.path)).toEqual(['from', 'publications', 'connection', 'comment']);
    expect(step.statements[1]!.sql).toContain("CONNECTION 'host=north.internal");
  });

  it('refuses to replace a protected subscription', () => {
    const t = base({ slot: 'other', protect: true });
    const p = runPlan(t, observe(base()));
    expect(p.steps).toEqual([]);
    expect(p.errors).toEqual([
      expect.objectContaining({
        code: 'protected',
        address: ADDR,
        message: expect.stringContaining('protected, cannot replace'),
      }),
    ]);
  });

  it('leaves the slot on an unreachable old publisher, and says so', () => {
    const t = topology({
      publications: [publication('orders_pub', 'east'), publication('orders_pub2', 'north')],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    const s = observe(t);
    s.nodes.east = unreachable('east');
    t.subscriptions.west_orders!.from = 'north';
    t.subscriptions.west_orders!.publications = ['orders_pub2'];
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step.hazards).toEqual(['drops-object', 'copies-data']);
    expect(step.statements.slice(0, 3)).toEqual([
      { sql: 'ALTER SUBSCRIPTION "west_orders" DISABLE', transactional: true },
      { sql: 'ALTER SUBSCRIPTION "west_orders" SET (slot_name = NONE)', transactional: true },
      { sql: 'DROP SUBSCRIPTION "west_orders"', transactional: true },
    ]);
    expect(codes(p.warnings)).toContain('slot-left');
  });
});

describe('subscriptions: delete and ownership', () => {
  it('deletes a managed subscription no longer in the file, with its slot', () => {
    const t = base();
    const s = observe(t);
    delete t.subscriptions.west_orders;
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step).toMatchObject({
      kind: 'subscription-drop',
      action: 'delete',
      reason: 'removed-from-config',
      hazards: ['drops-object', 'drops-slot'],
      node: 'west',
    });
    expect(step.statements).toEqual([{ sql: 'DROP SUBSCRIPTION "west_orders"', transactional: false }]);
    expect(step.reasonText).toContain('also drops slot west_orders on east');
    expect(p.orphanSlots).toEqual([]);
  });

  it('detaches the slot first when the publisher is unreachable, and names the slot left behind', () => {
    const t = base();
    const s = observe(t);
    s.nodes.east = unreachable('east');
    delete t.subscriptions.west_orders;
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step.hazards).toEqual(['drops-object']);
    expect(step.statements.map((x) => x.sql)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" DISABLE',
      'ALTER SUBSCRIPTION "west_orders" SET (slot_name = NONE)',
      'DROP SUBSCRIPTION "west_orders"',
    ]);
    const left = p.warnings.find((w) => w.code === 'slot-left')!;
    expect(left.message).toContain('slot west_orders is left on east');
    expect(left.message).toContain("pg_drop_replication_slot('west_orders')");
  });

  /** west and a copy of its catalog (node west_copy, declared with nothing on it), `copy` saying which server the copy is on */
  function westAndCopy(copy: { startedAt: string; database?: string }) {
    const t = base();
    t.nodes.west_copy = nodeSpec('west_copy');
    const s = observe(t);
    const west = at(s, 'west');
    west.server = { systemIdentifier: '7400000000000000001', startedAt: '1700000000.000001' };
    s.nodes.west_copy = {
      ...structuredClone(west),
      name: 'west_copy',
      database: copy.database ?? west.database,
      server: { systemIdentifier: '7400000000000000001', startedAt: copy.startedAt },
    };
    const p = runPlan(t, s);
    return { p, drop: p.steps.find((x) => x.node === 'west_copy' && x.kind === 'subscription-drop')! };
  }

  it("detaches a physical clone's copy of a subscription: its slot is the original's (issue 64)", () => {
    // a base backup of west, promoted: the same system identifier and catalog, another server
    const { p, drop } = westAndCopy({ startedAt: '1700000500.000001' });
    expect(drop.hazards).toEqual(['drops-object']);
    expect(drop.statements.map((x) => x.sql)).toEqual([
      'ALTER SUBSCRIPTION "west_orders" DISABLE',
      'ALTER SUBSCRIPTION "west_orders" SET (slot_name = NONE)',
      'DROP SUBSCRIPTION "west_orders"',
    ]);
    expect(drop.reasonText).toContain(
      "its slot west_orders on east is west's (a physical clone's copy) and is left",
    );
    expect(p.warnings.find((w) => w.code === 'clone-leftover')?.message).toContain(
      'west_copy is a physical clone of west (or west of west_copy: both have system identifier 7400000000000000001',
    );
    // west's own subscription is untouched
    expect(p.steps.filter((x) => x.node === 'west')).toEqual([]);
  });

  it('drops the slot with the subscription when the two nodes are one server, not clones', () => {
    const { drop } = westAndCopy({ startedAt: '1700000000.000001', database: 'other' });
    expect(drop.hazards).toEqual(['drops-object', 'drops-slot']);
  });

  it('drops a subscription without a slot inside a transaction', () => {
    const t = base();
    const s = observe(t);
    at(s, 'west').subscriptions.west_orders!.slotNone = true;
    delete t.subscriptions.west_orders;
    const step = stepAt(runPlan(t, s), ADDR);
    expect(step.statements).toEqual([{ sql: 'DROP SUBSCRIPTION "west_orders"', transactional: true }]);
    expect(step.hazards).toEqual(['drops-object']);
  });

  it('reports an unmarked subscription not in the file as unmanaged', () => {
    const t = base();
    const s = observe(t);
    at(s, 'west').subscriptions.by_hand = {
      ...observedSubscription(t, subscription('by_hand', 'west', 'east', ['orders_pub']), PG18),
      comment: null,
      managedBy: null,
    };
    at(s, 'east').slots.by_hand = observedSlot('by_hand', { active: true });
    const p = runPlan(t, s);
    expect(p.unmanaged).toEqual([{ node: 'west', kind: 'subscription', name: 'by_hand' }]);
    expect(p.steps).toEqual([]);
  });

  it('refuses a subscription marked by another topology', () => {
    const t = base();
    const s = observe(t);
    at(s, 'west').subscriptions.west_orders!.managedBy = { topology: 'billing' };
    const p = runPlan(t, s);
    expect(codes(p.errors)).toEqual(['foreign-owner']);
    expect(p.steps).toEqual([]);
  });

  it('adopts an unmarked subscription the file declares: its own adopt step, comment with connHash, not drift', () => {
    const t = base();
    const s = observe(t);
    const o = at(s, 'west').subscriptions.west_orders!;
    o.comment = null;
    o.managedBy = null;
    const p = runPlan(t, s);
    const step = stepAt(p, ADDR);
    expect(step).toMatchObject({ action: 'adopt', reason: 'unmarked' });
    expect(p.drift).toEqual([]);
    expect(step.statements.map((x) => x.sql)).toEqual([
      `COMMENT ON SUBSCRIPTION "west_orders" IS 'managed by steep: topology=orders-eu conn=sha256:${conninfoFor(t, 'east').hash}'`,
    ]);
    expect(codes(p.warnings)).toEqual([]);
  });
});

describe('subscriptions: version-gated options', () => {
  it.each([
    [
      'failover',
      { failover: true },
      PG16,
      'option failover needs PostgreSQL 17 or later; west runs PostgreSQL 16.4',
    ],
    [
      'origin',
      { origin: 'none' },
      PG15,
      'option origin needs PostgreSQL 16 or later; west runs PostgreSQL 15.8',
    ],
    [
      'twoPhase',
      { twoPhase: false },
      PG14,
      'option twoPhase needs PostgreSQL 15 or later; west runs PostgreSQL 14.12',
    ],
    [
      'runAsOwner',
      { runAsOwner: false },
      PG15,
      'option runAsOwner needs PostgreSQL 16 or later; west runs PostgreSQL 15.8',
    ],
    [
      'streaming parallel',
      { streaming: 'parallel' },
      PG15,
      'option streaming: parallel needs PostgreSQL 16 or later; west runs PostgreSQL 15.8',
    ],
  ] as const)(
    '%s on an old server is a plan error naming option, node and version',
    (_what, options, version, message) => {
      const t = base({ options });
      const s = withoutSubscription(t, version);
      const p = runPlan(t, s);
      expect(p.errors).toEqual([
        {
          code: 'unsupported-option',
          address: ADDR,
          node: 'west',
          message: `subscription west_orders: ${message}`,
        },
      ]);
      expect(p.steps.filter((x) => printAddress(x.address) === ADDR)).toEqual([]);
    },
  );
});
