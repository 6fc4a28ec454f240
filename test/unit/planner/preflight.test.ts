import { describe, expect, it } from 'vitest';
import { toRole } from '../../../src/catalog/queries/role.js';
import { printAddress } from '../../../src/model/address.js';
import type { Topology } from '../../../src/model/topology.js';
import {
  at,
  codes,
  observe,
  observedSlot,
  observedTable,
  PG15,
  PG16,
  publication,
  runPlan,
  subscription,
  topology,
  unreachable,
} from './fixtures.js';

function base(): Topology {
  return topology({
    publications: [publication('orders_pub', 'east', { tables: ['public.orders', 'public.Order Items'] })],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
}

function fresh(t: Topology, version?: number) {
  const s = observe(t, { version });
  at(s, 'east').publications = {};
  at(s, 'east').slots = {};
  if (s.nodes.west) at(s, 'west').subscriptions = {};
  return s;
}

describe('preflight', () => {
  it('wal_level other than logical on a publisher → error with the fix', () => {
    const t = base();
    const s = fresh(t);
    at(s, 'east').settings.walLevel = 'replica';
    const p = runPlan(t, s);
    expect(p.errors).toEqual([
      {
        code: 'preflight.wal_level',
        node: 'east',
        message: 'east: wal_level is replica; set wal_level = logical and restart',
      },
    ]);
  });

  it('wal_level only matters on publishers', () => {
    const t = base();
    const s = fresh(t);
    at(s, 'west').settings.walLevel = 'replica';
    expect(runPlan(t, s).errors).toEqual([]);
  });

  it('an unreachable node → error with its message; its objects get no steps', () => {
    const t = base();
    const s = fresh(t);
    s.nodes.west = unreachable('west', 'connection refused (is the server running on west.internal:5432?)');
    const p = runPlan(t, s);
    expect(p.errors).toEqual([
      {
        code: 'preflight.unreachable',
        node: 'west',
        message: 'west: connection refused (is the server running on west.internal:5432?)',
      },
    ]);
    expect(p.steps.map((x) => printAddress(x.address))).toEqual(['publication.orders_pub']);
    expect(p.observed.nodes).toEqual({ east: { serverVersion: 180004 } });
  });

  it('a published table that does not exist → error naming node and table', () => {
    const t = base();
    const s = fresh(t);
    delete at(s, 'east').tables['public.Order Items'];
    const p = runPlan(t, s);
    expect(p.errors).toEqual([
      {
        code: 'preflight.missing-table',
        address: 'publication.orders_pub',
        node: 'east',
        message:
          'east: table public."Order Items" does not exist (publication orders_pub publishes it); create it on east or remove it from the publication',
      },
    ]);
  });

  it('no replica identity while updates or deletes are published → error with the ALTER TABLE fix', () => {
    const t = base();
    const s = fresh(t);
    at(s, 'east').tables['public.Order Items'] = observedTable('public.Order Items', {
      hasPrimaryKey: false,
      hasReplicaIdentity: false,
    });
    const p = runPlan(t, s);
    expect(p.errors).toEqual([
      {
        code: 'preflight.replica-identity',
        address: 'publication.orders_pub',
        node: 'east',
        message:
          'east: table public."Order Items" has no replica identity, but publication orders_pub publishes update and delete; ' +
          'run ALTER TABLE "public"."Order Items" REPLICA IDENTITY FULL on east (or add a primary key)',
      },
    ]);
  });

  it('no replica identity is fine when only inserts are published', () => {
    const t = base();
    t.publications.orders_pub!.publish = ['insert', 'truncate'];
    const s = fresh(t);
    at(s, 'east').tables['public.orders']!.hasReplicaIdentity = false;
    expect(runPlan(t, s).errors).toEqual([]);
  });

  it('allTables and schema publications warn about the tables they cover without replica identity', () => {
    const t = topology({
      publications: [
        publication('all_pub', 'east', { allTables: true, tables: [] }),
        publication('sales_pub', 'east', { tables: [], schemas: ['sales'] }),
      ],
    });
    const s = fresh(t);
    at(s, 'east').tables['sales.log'] = observedTable('sales.log', {
      hasReplicaIdentity: false,
      hasPrimaryKey: false,
    });
    const p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(p.warnings.map((w) => [w.code, w.address])).toEqual([
      ['preflight.replica-identity', 'publication.all_pub'],
      ['preflight.replica-identity', 'publication.sales_pub'],
    ]);
    expect(p.warnings[0]!.message).toContain('ALTER TABLE "sales"."log" REPLICA IDENTITY FULL');
  });

  it('not enough free replication slots for the new ones → error', () => {
    const t = base();
    const s = fresh(t);
    const east = at(s, 'east');
    east.settings.maxReplicationSlots = 2;
    east.slots.a = observedSlot('a', { slotType: 'physical', plugin: null, active: true });
    east.slots.b = observedSlot('b', { slotType: 'physical', plugin: null, active: true });
    const p = runPlan(t, s);
    expect(p.errors).toEqual([
      {
        code: 'preflight.max_replication_slots',
        node: 'east',
        message:
          'east: max_replication_slots is 2 with 2 slots in use, and this plan needs 1 more (west_orders); set max_replication_slots = 3 or more and restart',
      },
    ]);
  });

  it('not enough free WAL senders → error', () => {
    const t = base();
    const s = fresh(t);
    const east = at(s, 'east');
    east.settings.maxWalSenders = 1;
    east.slots.a = observedSlot('a', { slotType: 'physical', plugin: null, active: true });
    expect(codes(runPlan(t, s).errors)).toEqual(['preflight.max_wal_senders']);
  });

  it('the initial copy needs a slot and a walsender per table sync on the publisher → error when they run out', () => {
    const t = base(); // two tables, max_sync_workers_per_subscription 2: two syncs at once
    const s = fresh(t);
    const east = at(s, 'east');
    east.settings.maxReplicationSlots = 3;
    east.settings.maxWalSenders = 3;
    expect(runPlan(t, s).errors).toEqual([]);
    east.settings.maxReplicationSlots = 2;
    east.settings.maxWalSenders = 2;
    expect(runPlan(t, s).errors).toEqual([
      {
        code: 'preflight.max_replication_slots',
        node: 'east',
        message:
          'east: max_replication_slots is 2; after this plan 1 slot is in use, and the initial copies create up to 2 more at once ' +
          '(a temporary slot per table sync); set max_replication_slots = 3 or more and restart',
      },
      {
        code: 'preflight.max_wal_senders',
        node: 'east',
        message:
          'east: max_wal_senders is 2; after this plan 1 is in use, and the initial copies use up to 2 more at once ' +
          '(one per table sync); set max_wal_senders = 3 or more and restart',
      },
    ]);
    at(s, 'west').settings.maxSyncWorkersPerSubscription = 1;
    expect(runPlan(t, s).errors).toEqual([]);
  });

  it('too few logical replication workers on the subscriber: error for apply workers, warning for table syncs', () => {
    const t = base();
    const s = fresh(t);
    const west = at(s, 'west');
    west.settings.maxLogicalReplicationWorkers = 2;
    let p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(p.warnings).toContainEqual({
      code: 'preflight.max_logical_replication_workers',
      node: 'west',
      message:
        'west: max_logical_replication_workers is 2, and the initial copies want 3 workers at once (1 apply, 2 table sync): ' +
        'table syncs wait for a free worker and the copy takes longer; set max_logical_replication_workers = 3 and restart to copy at full speed',
    });
    west.settings.maxLogicalReplicationWorkers = 0;
    p = runPlan(t, s);
    expect(codes(p.errors)).toEqual(['preflight.max_logical_replication_workers']);
    expect(p.errors[0]!.message).toBe(
      'west: max_logical_replication_workers is 0, and 1 enabled subscription needs an apply worker; set max_logical_replication_workers = 3 or more and restart',
    );
    west.settings.maxLogicalReplicationWorkers = 4;
    west.settings.maxWorkerProcesses = 3;
    expect(codes(runPlan(t, s).warnings)).toContain('preflight.max_worker_processes');
  });

  it('workers the apply workers take all: an error when this database alone does, a warning naming the other databases', () => {
    const t = base();
    const s = fresh(t);
    const west = at(s, 'west');
    west.settings.maxLogicalReplicationWorkers = 1;
    let p = runPlan(t, s);
    expect(p.errors).toEqual([
      {
        code: 'preflight.max_logical_replication_workers',
        node: 'west',
        message:
          'west: max_logical_replication_workers is 1, and the apply workers of its 1 enabled subscription take them all, so no table copy can start ' +
          '(PostgreSQL waits for a free worker for as long as they run); set max_logical_replication_workers = 3 or more and restart',
      },
    ]);
    west.settings.maxLogicalReplicationWorkers = 3;
    west.otherDatabaseSubscriptions = [
      { database: 'crm', name: 'crm_in', slot: 'crm_in', enabled: true },
      { database: 'crm', name: 'crm_out', slot: 'crm_out', enabled: true },
      { database: 'crm', name: 'crm_off', slot: 'crm_off', enabled: false },
    ];
    p = runPlan(t, s);
    expect(p.errors).toEqual([]);
    expect(p.warnings).toContainEqual({
      code: 'preflight.max_logical_replication_workers',
      node: 'west',
      message:
        'west: max_logical_replication_workers is 3, and the apply workers of 3 enabled subscriptions take them all ' +
        '(other databases of this server: crm_in, crm_out in crm), so no table copy can start while those run ' +
        '(the init would wait for a free worker): set max_logical_replication_workers = 5 and restart, or disable those subscriptions first',
    });
  });

  it('another steep command holding the lock on a node → a warning naming it', () => {
    const t = base();
    const s = observe(t);
    at(s, 'west').steepLock = {
      applicationName: 'steep apply',
      pid: 4242,
      since: '2026-11-23T01:00:00.000Z',
    };
    expect(runPlan(t, s).warnings).toContainEqual({
      code: 'preflight.locked',
      node: 'west',
      message:
        'node west: another steep command holds the lock: steep apply (pid 4242, since 2026-11-23T01:00:00.000Z); wait for it to finish, or end that session',
    });
  });

  it('a lock holder whose start this role may not see → the warning names it without a start', () => {
    const t = base();
    const s = observe(t);
    at(s, 'west').steepLock = { applicationName: 'steep apply', pid: 4242, since: null };
    expect(runPlan(t, s).warnings).toContainEqual({
      code: 'preflight.locked',
      node: 'west',
      message:
        'node west: another steep command holds the lock: steep apply (pid 4242); wait for it to finish, or end that session',
    });
  });

  it('worker and slot capacity is not checked when the plan starts no subscription or copy', () => {
    const t = base();
    const s = observe(t);
    Object.assign(at(s, 'west').settings, { maxLogicalReplicationWorkers: 0, maxWorkerProcesses: 0 });
    Object.assign(at(s, 'east').settings, { maxReplicationSlots: 1, maxWalSenders: 1 });
    const p = runPlan(t, s);
    expect(p.steps).toEqual([]);
    expect(p.errors).toEqual([]);
    expect(p.warnings).toEqual([]);
  });

  it('a role that may not create subscriptions → error with the grant (16+) or the need for a superuser (before 16)', () => {
    const t = base();
    const s16 = fresh(t, PG16);
    Object.assign(at(s16, 'west').role, { superuser: false, canCreateSubscription: false });
    expect(runPlan(t, s16).errors).toEqual([
      {
        code: 'preflight.privilege',
        node: 'west',
        message: 'west: role steep may not create subscriptions; GRANT pg_create_subscription TO "steep"',
      },
    ]);
    const s15 = fresh(t, PG15);
    Object.assign(at(s15, 'west').role, { superuser: false, canCreateSubscription: false });
    expect(runPlan(t, s15).errors[0]!.message).toBe(
      'west: CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16, and role steep is not one; run steep as a superuser on west',
    );
  });

  it("before 16, a member of a managed service's admin role (rds_superuser, cloudsqlsuperuser, azure_pg_admin) creates subscriptions: no error, a warning naming the membership relied on; any other role is still refused", () => {
    const t = base();
    t.publications.items_pub = publication('items_pub', 'east', { tables: ['public.items'] });
    t.subscriptions.west_two = subscription('west_two', 'west', 'east', ['items_pub']);
    for (const [cloud, service] of [
      ['rds_superuser', 'Amazon RDS'],
      ['cloudsqlsuperuser', 'Cloud SQL'],
      ['azure_pg_admin', 'Azure Database for PostgreSQL'],
    ] as const) {
      const s = fresh(t, PG15);
      Object.assign(at(s, 'west').role, {
        superuser: false,
        canCreateSubscription: false,
        cloudAdminRole: cloud,
      });
      const p = runPlan(t, s);
      expect(p.errors).toEqual([]);
      expect(p.steps.filter((x) => x.kind === 'subscription-create')).toHaveLength(2);
      // once per node, however many subscriptions it creates
      expect(p.warnings.filter((w) => w.code === 'preflight.cloud-admin')).toEqual([
        {
          code: 'preflight.cloud-admin',
          node: 'west',
          message: `west: role steep is a member of ${cloud}, which ${service} lets create subscriptions before PostgreSQL 16`,
        },
      ]);
    }
    // a role of another name, or none: the error stays, and no such warning
    for (const other of ['rds_replication', undefined]) {
      const s = fresh(t, PG15);
      Object.assign(at(s, 'west').role, {
        superuser: false,
        canCreateSubscription: false,
        cloudAdminRole: other,
      });
      const p = runPlan(t, s);
      expect(p.errors.map((e) => e.message)).toEqual([
        'west: CREATE SUBSCRIPTION needs a superuser before PostgreSQL 16, and role steep is not one; run steep as a superuser on west',
      ]);
      expect(p.warnings.map((w) => w.code)).not.toContain('preflight.cloud-admin');
    }
    // 16+: the membership changes nothing, pg_create_subscription is what counts
    const s16 = fresh(t, PG16);
    Object.assign(at(s16, 'west').role, {
      superuser: false,
      canCreateSubscription: false,
      cloudAdminRole: 'rds_superuser',
    });
    const p16 = runPlan(t, s16);
    expect(p16.errors.map((e) => e.message)).toEqual([
      'west: role steep may not create subscriptions; GRANT pg_create_subscription TO "steep"',
    ]);
    expect(p16.warnings.map((w) => w.code)).not.toContain('preflight.cloud-admin');
  });

  it('the role read: the managed admin role it is a member of is kept when it is one of the three, dropped otherwise', () => {
    const row = {
      name: 'admin',
      superuser: false,
      replication: true,
      can_create_in_database: true,
      can_read_conninfo: false,
      member_of_pg_create_subscription: false,
      can_read_origin_status: false,
      denied_functions: '[]',
    };
    expect(toRole({ ...row, cloud_admin_role: 'azure_pg_admin' }, PG15).cloudAdminRole).toBe(
      'azure_pg_admin',
    );
    expect(toRole({ ...row, cloud_admin_role: null }, PG15)).not.toHaveProperty('cloudAdminRole');
    expect(toRole({ ...row, cloud_admin_role: 'pg_monitor' }, PG15)).not.toHaveProperty('cloudAdminRole');
    expect(toRole(row, PG15)).not.toHaveProperty('cloudAdminRole');
  });

  it('a managed role: a denied origin function is an error naming the GRANT, without session_replication_role the own copy loads in foreign-key order (a NOT DEFERRABLE cycle is an error naming it); a member of pg_create_subscription is told only what it lacks', () => {
    const t = base();
    t.subscriptions.west_orders!.init = { ...t.subscriptions.west_orders!.init, method: 'two-phase' };
    const s = fresh(t, PG16);
    Object.assign(at(s, 'west').role, {
      superuser: false,
      canCreateInDatabase: false,
      canCreateSubscription: false,
      memberOfCreateSubscription: true,
      gaps: {
        functions: { pg_replication_origin_advance: 'pg_replication_origin_advance(text,pg_lsn)' },
        setSessionReplicationRole: false,
      },
    });
    const fk = (name: string, table: string, references: string) => ({
      name,
      table,
      references,
      deferrable: false,
    });
    at(s, 'west').tables['public.orders'] = observedTable('public.orders', {
      foreignKeys: [fk('orders_item', 'public.orders', 'public.Order Items')],
    });
    at(s, 'west').tables['public.Order Items'] = observedTable('public.Order Items', {
      foreignKeys: [fk('item_order', 'public.Order Items', 'public.orders')],
    });
    const planned = runPlan(t, s);
    expect(planned.steps.find((x) => x.kind === 'subscription-create')!.reasonText).toContain(
      'steep snapshot apply loads in foreign-key order: role steep may not set session_replication_role',
    );
    const messages = planned.errors.map((e) => e.message);
    expect(messages).toContain(
      'west: role steep may not create subscriptions (no CREATE on database app); GRANT CREATE ON DATABASE "app" TO "steep"',
    );
    expect(messages.some((m) => m.includes('GRANT pg_create_subscription'))).toBe(false);
    expect(messages).toContain(
      "west: role steep may not set session_replication_role, so steep's own copy loads the tables of subscription west_orders in foreign-key order, " +
        'and the NOT DEFERRABLE foreign keys item_order (public.Order Items → public.orders), orders_item (public.orders → public.Order Items) ' +
        'form a cycle that no order loads: run GRANT SET ON PARAMETER session_replication_role TO "steep"; on west, ' +
        'or use init: { method: snapshot } so PostgreSQL copies, or make one of them deferrable ' +
        '(ALTER TABLE "public"."Order Items" ALTER CONSTRAINT "item_order" DEFERRABLE;)',
    );
  });

  it('a role without CREATE on the database cannot create publications; one without REPLICATION cannot be subscribed through', () => {
    const t = base();
    const s = fresh(t);
    Object.assign(at(s, 'east').role, { superuser: false, canCreateInDatabase: false, replication: false });
    const p = runPlan(t, s);
    expect(p.errors.map((e) => e.message)).toEqual([
      'east: role steep may not create publications (no CREATE on database app); GRANT CREATE ON DATABASE "app" TO "steep"',
      'east: subscribers connect as role steep, which lacks the REPLICATION attribute; run ALTER ROLE "steep" REPLICATION on east',
    ]);
  });

  it('publishing a table the role does not own → error naming its owner and the membership that fixes it; a table it owns, or one already published, is fine', () => {
    const t = base();
    const s = fresh(t);
    const east = at(s, 'east');
    east.role.superuser = false;
    for (const [name, table] of Object.entries(east.tables))
      Object.assign(table, {
        owner: name === 'public.orders' ? 'app_owner' : 'steep',
        owned: name !== 'public.orders',
      });
    const refused = runPlan(t, s).errors.map((e) => e.message);
    expect(refused).toContainEqual(
      expect.stringContaining(
        "east: role steep does not own public.orders (owner app_owner), and only a table's owner may publish it in publication orders_pub; " +
          'run GRANT "app_owner" TO "steep"; on east (a member of the owner role may), or run steep as app_owner',
      ),
    );
    // granted: steep's role is a member of the owner role
    east.tables['public.orders']!.owned = true;
    expect(
      runPlan(t, s)
        .errors.map((e) => e.message)
        .some((m) => m.includes('does not own')),
    ).toBe(false);
  });

  it("16+, runAsOwner false: the subscription's workers run as each table's owner, so a role that may not SET ROLE to it is refused in plan, naming the GRANT; runAsOwner true, or a role that may, is fine", () => {
    const t = base();
    const s = fresh(t, PG16);
    const west = at(s, 'west');
    west.role.superuser = false;
    Object.assign(west.role, { canCreateSubscription: true, memberOfCreateSubscription: true });
    west.tables['public.orders'] = observedTable('public.orders', { owner: 'shopapp', canSetRole: false });
    const message =
      "west: subscription west_orders applies changes as each table's owner (runAsOwner: false), and role steep may not SET ROLE to shopapp, which owns public.orders; " +
      'run GRANT "shopapp" TO "steep" WITH SET TRUE; on west, or set runAsOwner: true on the subscription';
    expect(runPlan(t, s).errors.map((e) => e.message)).toContain(message);
    west.tables['public.orders']!.canSetRole = true;
    expect(runPlan(t, s).errors.map((e) => e.message)).not.toContain(message);
    west.tables['public.orders']!.canSetRole = false;
    t.subscriptions.west_orders!.options = { ...t.subscriptions.west_orders!.options, runAsOwner: true };
    expect(runPlan(t, s).errors.map((e) => e.message)).not.toContain(message);
  });

  it("steep's own copy inserts as steep's role: a subscriber table it may not insert into is refused in plan, naming the GRANT", () => {
    const t = base();
    t.subscriptions.west_orders!.init = { ...t.subscriptions.west_orders!.init, method: 'two-phase' };
    const s = fresh(t, PG16);
    const west = at(s, 'west');
    west.role.superuser = false;
    Object.assign(west.role, { canCreateSubscription: true, memberOfCreateSubscription: true });
    west.tables['public.orders'] = observedTable('public.orders', {
      owner: 'shopapp',
      canInsert: false,
      canSetRole: true,
    });
    expect(runPlan(t, s).errors.map((e) => e.message)).toContain(
      "west: steep's own copy of subscription west_orders inserts the rows as role steep, which may not insert into public.orders (owner shopapp); " +
        'run GRANT INSERT ON public.orders TO "steep"; on west',
    );
  });

  it('altering an object the role does not own → error with the fix', () => {
    const t = base();
    const s = observe(t);
    t.publications.orders_pub!.publish = ['insert'];
    at(s, 'east').role.superuser = false;
    at(s, 'east').publications.orders_pub!.owner = 'postgres';
    expect(runPlan(t, s).errors).toEqual([
      expect.objectContaining({
        code: 'preflight.privilege',
        message: expect.stringContaining('ALTER PUBLICATION "orders_pub" OWNER TO "steep"'),
      }),
    ]);
  });

  it('adopting or altering a subscription the role does not own: ALTER … OWNER TO from 16 (with CREATE on the database first when it lacks it); before 16 only a superuser may own one, so the hint is to run steep as its owner', () => {
    const t = base();
    for (const [version, canCreate, message] of [
      [
        PG16,
        true,
        'west: role steep does not own subscription west_orders (its owner is postgres), and only its owner or a superuser may alter, adopt or drop it; run ALTER SUBSCRIPTION "west_orders" OWNER TO "steep" on west',
      ],
      [
        PG16,
        false,
        'west: role steep does not own subscription west_orders (its owner is postgres), and only its owner or a superuser may alter, adopt or drop it; run GRANT CREATE ON DATABASE "app" TO "steep"; ALTER SUBSCRIPTION "west_orders" OWNER TO "steep" on west',
      ],
      [
        PG15,
        true,
        'west: role steep does not own subscription west_orders (its owner is postgres), and only its owner or a superuser may alter, adopt or drop it; before PostgreSQL 16 the owner of a subscription must be a superuser: run steep as postgres or a superuser on west',
      ],
    ] as const) {
      const s = observe(t, { version });
      at(s, 'west').subscriptions.west_orders!.options.binary = true;
      Object.assign(at(s, 'west').role, { superuser: false, canCreateInDatabase: canCreate });
      at(s, 'west').subscriptions.west_orders!.owner = 'postgres';
      expect(runPlan(t, s).errors.map((e) => e.message)).toContain(message);
    }
  });
});
