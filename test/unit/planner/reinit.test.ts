import { describe, expect, it } from 'vitest';
import type { ReinitPublication } from '../../../src/model/cluster.js';
import { planReinit, type ReinitInput } from '../../../src/planner/init/reinit.js';
import {
  refuseDisabled,
  refusePastFork,
  refuseRetired,
  refuseUnfinishedInit,
} from '../../../src/planner/init/reinitRefusals.js';

function pub(name: string, tables: string[], extra: Partial<ReinitPublication> = {}): ReinitPublication {
  return {
    name,
    publish: ['insert', 'update', 'delete', 'truncate'],
    viaRoot: false,
    tables: tables.map((t) => {
      const [schema, n] = t.split('.') as [string, string];
      return { table: t, schema, name: n, columns: null, filter: null };
    }),
    ...extra,
  };
}

function input(over: Partial<ReinitInput> = {}): ReinitInput {
  const p = pub('orders_pub', ['public.a', 'public.b', 'sales.c']);
  const f = pub('eu_pub', [], { publish: ['insert', 'update'] });
  f.tables = [
    {
      table: 'public.d',
      schema: 'public',
      name: 'd',
      columns: ['id', 'region'],
      filter: "(region = 'eu'::text)",
    },
  ];
  return {
    subscription: 's',
    stateSchema: 'steep',
    subscriber: 'west',
    publisher: 'east',
    publications: ['orders_pub', 'eu_pub'],
    current: ['orders_pub', 'eu_pub'],
    enabled: true,
    defs: new Map([
      ['orders_pub', p],
      ['eu_pub', f],
    ]),
    subscribed: new Map(['public.a', 'public.b', 'sales.c', 'public.d'].map((t) => [t, 'r'])),
    recorded: 'diverged',
    request: { tables: ['public.a'] },
    alsoFedBy: new Map(),
    fedUpstream: new Map(),
    foreignKeys: [],
    lostSyncSlots: [],
    ...over,
  };
}

describe('planReinit', () => {
  it('an inheritance parent is truncated alone (ONLY): its copy brings back its own rows, its children keep theirs', () => {
    const plan = planReinit(
      input({ request: { tables: ['public.a', 'public.d'] }, inheritanceParents: ['public.a'] }),
    );
    expect(plan.statements.map((s) => s.sql)).toContain('TRUNCATE TABLE ONLY "public"."a", "public"."d"');
  });

  it('a leaf published on its own beside its root via root: no table of the reinit, and never in a temporary publication when 16+ leaves it out', () => {
    const leaf = (t: string, filter: string | null) => {
      const [schema, name] = t.split('.') as [string, string];
      return { table: t, schema, name, columns: null, filter, ancestors: ['vr.d'] };
    };
    const droot = pub('vr_droot', ['vr.d'], { viaRoot: true });
    droot.tables[0]!.filter = '((id % (5)::bigint) <> 0)';
    const dleaf = pub('vr_dleaf', []);
    dleaf.tables = [leaf('vr.d_0', '((id % (3)::bigint) <> 0)')];
    const shape = (subscribed: string[], request: ReinitInput['request']) =>
      input({
        publications: ['vr_droot', 'vr_dleaf'],
        current: ['vr_droot', 'vr_dleaf'],
        defs: new Map([
          ['vr_droot', droot],
          ['vr_dleaf', dleaf],
        ]),
        subscribed: new Map(subscribed.map((t) => [t, 'r'])),
        request,
      });
    // 16+: the subscription lists vr.d alone; taking vr.d out must not bring vr.d_0 in on its own
    const plan = planReinit(shape(['vr.d'], { tables: ['vr.d'] }));
    expect(plan.tables).toEqual(['vr.d']);
    expect(plan.statements.map((s) => s.sql).filter((s) => s.startsWith('CREATE'))).toEqual([
      `CREATE PUBLICATION "steep_reinit_0_s" WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`,
      `CREATE PUBLICATION "steep_reinit_1_s" WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = false)`,
    ]);
    const full = planReinit(shape(['vr.d'], { full: true }));
    expect(full.tables).toEqual(['vr.d']);
    expect(full.statements.map((s) => s.sql)).toContain('TRUNCATE TABLE "vr"."d"');
    expect(() => planReinit(shape(['vr.d'], { tables: ['vr.d_0'] }))).toThrow(
      'subscription s does not carry vr.d_0 on west (it carries vr.d)',
    );
    // before 16 the subscription lists the leaf too, a table of its own that no change streams
    // into: while vr.d is away it stays subscribed through a publication that sends none of its
    // changes (in its own temporary one it would stream into the subscriber's vr.d_0)
    const old = planReinit(shape(['vr.d', 'vr.d_0'], { tables: ['vr.d'] }));
    expect(old.statements.map((s) => s.sql)).toEqual([
      'DROP PUBLICATION IF EXISTS "steep_reinit_0_s"',
      'DROP PUBLICATION IF EXISTS "steep_reinit_1_s"',
      'DROP PUBLICATION IF EXISTS "steep_reinit_2_s"',
      `CREATE PUBLICATION "steep_reinit_0_s" WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`,
      `CREATE PUBLICATION "steep_reinit_1_s" WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = false)`,
      `CREATE PUBLICATION "steep_reinit_2_s" FOR TABLE ONLY "vr"."d_0" WITH (publish = '', publish_via_partition_root = false)`,
      'ALTER SUBSCRIPTION "s" SET PUBLICATION "steep_reinit_0_s", "steep_reinit_1_s", "steep_reinit_2_s"',
      'TRUNCATE TABLE "vr"."d"',
      'ALTER SUBSCRIPTION "s" SET PUBLICATION "vr_droot", "vr_dleaf" WITH (copy_data = true)',
    ]);
    expect(old.temporary).toEqual(['steep_reinit_0_s', 'steep_reinit_1_s', 'steep_reinit_2_s']);
    // the leaf copied again itself: its root stays, so its changes go on as the root's
    const ownLeaf = planReinit(shape(['vr.d', 'vr.d_0'], { tables: ['vr.d_0'] }));
    expect(ownLeaf.statements.map((s) => s.sql).filter((s) => s.startsWith('CREATE'))).toEqual([
      `CREATE PUBLICATION "steep_reinit_0_s" FOR TABLE ONLY "vr"."d" WHERE (((id % (5)::bigint) <> 0)) WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`,
      `CREATE PUBLICATION "steep_reinit_1_s" WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = false)`,
    ]);
    const both = planReinit(shape(['vr.d', 'vr.d_0'], { full: true }));
    expect(both.tables).toEqual(['vr.d', 'vr.d_0']);
    expect(both.temporary).toEqual(['steep_reinit_0_s', 'steep_reinit_1_s']);
    // interrupted on the temporary publications: the quiet one is part of the switch, still not pending
    const switched = shape(['vr.d', 'vr.d_0'], { tables: ['vr.d'] });
    const quiet = pub('steep_reinit_2_s', ['vr.d_0'], { publish: [] });
    const t0 = pub('steep_reinit_0_s', [], { viaRoot: true });
    const t1 = pub('steep_reinit_1_s', []);
    for (const p of [t0, t1, quiet]) switched.defs.set(p.name, p);
    switched.current = ['steep_reinit_0_s', 'steep_reinit_1_s', 'steep_reinit_2_s'];
    switched.recorded = 'reinitializing';
    const resumed = planReinit(switched);
    expect(resumed).toMatchObject({ stage: 'switched', tables: ['vr.d'] });
    expect(resumed.cleanup.map((s) => s.sql)).toContain('DROP PUBLICATION IF EXISTS "steep_reinit_2_s"');
  });

  it('fresh: temporary publications with the same options, filters and column lists, minus the tables; switch, truncate, switch back', () => {
    const plan = planReinit(input({ request: { tables: ['public.a', 'public.d'] } }));
    expect(plan.stage).toBe('fresh');
    expect(plan.tables).toEqual(['public.a', 'public.d']);
    expect(plan.statements.map((s) => `${s.node}: ${s.sql}`)).toEqual([
      'publisher: DROP PUBLICATION IF EXISTS "steep_reinit_0_s"',
      'publisher: DROP PUBLICATION IF EXISTS "steep_reinit_1_s"',
      `publisher: CREATE PUBLICATION "steep_reinit_0_s" FOR TABLE ONLY "public"."b", ONLY "sales"."c" WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = false)`,
      `publisher: CREATE PUBLICATION "steep_reinit_1_s" WITH (publish = 'insert, update', publish_via_partition_root = false)`,
      'subscriber: ALTER SUBSCRIPTION "s" SET PUBLICATION "steep_reinit_0_s", "steep_reinit_1_s"',
      'subscriber: TRUNCATE TABLE "public"."a", "public"."d"',
      'subscriber: ALTER SUBSCRIPTION "s" SET PUBLICATION "orders_pub", "eu_pub" WITH (copy_data = true)',
    ]);
    expect(plan.cleanup.map((s) => s.sql)).toEqual([
      'DROP PUBLICATION IF EXISTS "steep_reinit_0_s"',
      'DROP PUBLICATION IF EXISTS "steep_reinit_1_s"',
    ]);
    const keep = planReinit(input({ request: { tables: ['public.a'] } }));
    expect(keep.statements[3]!.sql).toBe(
      `CREATE PUBLICATION "steep_reinit_1_s" FOR TABLE ONLY "public"."d" ("id", "region") WHERE ((region = 'eu'::text)) WITH (publish = 'insert, update', publish_via_partition_root = false)`,
    );
  });

  it('copied in full: its tables emptied before the switch as well (a conflict with their rows holds no slot back); disabled by PostgreSQL at an error, enabled once they are', () => {
    expect(
      planReinit(input({ request: { full: true } }))
        .statements.filter((s) => s.node === 'subscriber')
        .map((s) => s.sql),
    ).toEqual([
      'TRUNCATE TABLE "public"."a", "public"."b", "public"."d", "sales"."c"',
      'ALTER SUBSCRIPTION "s" SET PUBLICATION "steep_reinit_0_s", "steep_reinit_1_s"',
      'TRUNCATE TABLE "public"."a", "public"."b", "public"."d", "sales"."c"',
      'ALTER SUBSCRIPTION "s" SET PUBLICATION "orders_pub", "eu_pub" WITH (copy_data = true)',
    ]);
    const disabled = input({ enabled: false, request: { full: true } });
    expect(() => planReinit(disabled)).toThrow('subscription s on west is disabled');
    const plan = planReinit({ ...disabled, enableAfterTruncate: true });
    expect(plan.statements.filter((s) => s.node === 'subscriber').map((s) => s.sql)).toEqual([
      'TRUNCATE TABLE "public"."a", "public"."b", "public"."d", "sales"."c"',
      'ALTER SUBSCRIPTION "s" ENABLE',
      'ALTER SUBSCRIPTION "s" SET PUBLICATION "steep_reinit_0_s", "steep_reinit_1_s"',
      'TRUNCATE TABLE "public"."a", "public"."b", "public"."d", "sales"."c"',
      'ALTER SUBSCRIPTION "s" SET PUBLICATION "orders_pub", "eu_pub" WITH (copy_data = true)',
    ]);
  });

  it('--schema and --full resolve to the tables the publications carry', () => {
    expect(planReinit(input({ request: { schema: 'sales' } })).tables).toEqual(['sales.c']);
    expect(planReinit(input({ request: { full: true } })).tables).toEqual([
      'public.a',
      'public.b',
      'public.d',
      'sales.c',
    ]);
  });

  it.each([
    [{ request: { tables: ['public.zz'] } }, /does not carry public\.zz on west/],
    [{ request: { schema: 'nope' } }, /carries no table of schema nope/],
    [{ recorded: 'copying' as const }, /is copying, not initialised/],
    [{ recorded: null, subscribed: new Map([['public.a', 'd']]) }, /still copying public\.a/],
    [{ enabled: false }, /is disabled/],
    [
      { foreignKeys: [{ from: 'public.b', to: 'public.a', constraint: 'b_a_fkey' }] },
      /public\.a is referenced by public\.b \(foreign key b_a_fkey\) on west, which is not being reinitialised.*--tables public\.a,public\.b\)/,
    ],
    // a chain a ← b ← d: named whole in one refusal, not one level per try
    [
      {
        foreignKeys: [
          { from: 'public.d', to: 'public.b', constraint: 'd_b_fkey' },
          { from: 'public.b', to: 'public.a', constraint: 'b_a_fkey' },
        ],
      },
      /public\.a is referenced by public\.b \(foreign key b_a_fkey\) on west, public\.b by public\.d \(d_b_fkey\), which are not being reinitialised.*--tables public\.a,public\.b,public\.d\)/,
    ],
    // another subscription applies into public.a too: its TRUNCATE would delete that one's rows
    [
      { alsoFedBy: new Map([['public.a', ['s_north']]]) },
      /^public\.a on west also receives rows from subscription s_north: a copy from east alone would delete them/,
    ],
    [
      { request: { full: true }, alsoFedBy: new Map([['sales.c', ['s_north', 's_south']]]) },
      /^sales\.c on west also receives rows from subscriptions s_north, s_south/,
    ],
    // origin = none: east receives public.a from another node too, rows it never sends to west
    [
      { fedUpstream: new Map([['public.a', ['s_third']]]) },
      /^public\.a on east also receives rows from subscription s_third there, which \S+ \(origin = none\) rightly never receives: a copy from east would put them on west/,
    ],
  ])('refuses %#', (over, message) => {
    expect(() => planReinit(input(over as Partial<ReinitInput>))).toThrow(message);
  });

  it('an init that failed on tables whose table-sync slot is gone: copies exactly those again, the others still copying', () => {
    const subscribed = new Map([
      ['public.a', 'f'],
      ['public.b', 'd'],
      ['sales.c', 'r'],
      ['public.d', 'f'],
    ]);
    const lost = { recorded: 'failed' as const, subscribed, lostSyncSlots: ['public.a'] };
    const plan = planReinit(input(lost));
    expect(plan.stage).toBe('fresh');
    expect(plan.tables).toEqual(['public.a']);
    expect(plan.statements.map((s) => s.sql)).toContain('TRUNCATE TABLE "public"."a"');
    // without steep's state schema too
    expect(planReinit(input({ ...lost, recorded: null })).tables).toEqual(['public.a']);
    // a table not lost (public.d is in f with its slot), or an init not failed: refused as before
    expect(() => planReinit(input({ ...lost, request: { tables: ['public.a', 'public.d'] } }))).toThrow(
      /is failed, not initialised/,
    );
    // still recorded copying: the refusal says what ends it
    expect(() => planReinit(input({ ...lost, recorded: 'copying' }))).toThrow(
      'subscription s on west is copying, and PostgreSQL cannot finish public.a: its table-sync slot is gone from east; ' +
        'steep apply records the init failed once the slot stays gone, then steep reinit s --tables public.a copies it again',
    );
    expect(() =>
      planReinit(input({ ...lost, recorded: 'copying', request: { tables: ['public.a', 'public.d'] } })),
    ).toThrow(/is copying, not initialised/);
    expect(() => planReinit(input({ ...lost, recorded: null, request: { tables: ['public.d'] } }))).toThrow(
      /still copying public\.a, public\.b, public\.d/,
    );
  });

  it('a foreign key between two tables both reinitialised is fine', () => {
    const plan = planReinit(
      input({
        request: { tables: ['public.a', 'public.b'] },
        foreignKeys: [{ from: 'public.b', to: 'public.a', constraint: 'b_a_fkey' }],
      }),
    );
    expect(plan.tables).toEqual(['public.a', 'public.b']);
  });

  function interrupted(over: Partial<ReinitInput>): ReinitInput {
    const base = input();
    const defs = new Map(base.defs);
    defs.set('steep_reinit_0_s', pub('steep_reinit_0_s', ['public.b', 'sales.c']));
    defs.set('steep_reinit_1_s', pub('steep_reinit_1_s', ['public.d']));
    return { ...base, defs, ...over };
  }

  it('resumes where an interrupted reinit stopped, from what the nodes show', () => {
    const switched = planReinit(
      interrupted({ current: ['steep_reinit_0_s', 'steep_reinit_1_s'], recorded: 'reinitializing' }),
    );
    expect(switched.stage).toBe('switched');
    expect(switched.tables).toEqual(['public.a']);
    expect(switched.statements.map((s) => s.sql)).toEqual([
      'TRUNCATE TABLE "public"."a"',
      'ALTER SUBSCRIPTION "s" SET PUBLICATION "orders_pub", "eu_pub" WITH (copy_data = true)',
    ]);
    const copying = planReinit(interrupted({ recorded: 'copying' }));
    expect(copying.stage).toBe('copying');
    expect(copying.statements).toEqual([]);
    // stopped between the switch back and recording `copying`: the table is being copied
    const midCopy = interrupted({ recorded: 'reinitializing' });
    midCopy.subscribed = new Map([...midCopy.subscribed, ['public.a', 'd']]);
    expect(planReinit(midCopy).stage).toBe('copying');
    // created the temporary publications, never switched: start over
    expect(planReinit(interrupted({ recorded: 'reinitializing' })).stage).toBe('fresh');
    // left over after a finished reinit: a new one
    expect(
      planReinit(interrupted({ recorded: 'synchronized', request: { tables: ['public.b'] } })).tables,
    ).toEqual(['public.b']);
    // stopped after its copy, before the drop: the same request only drops the leftovers
    const copied = planReinit(interrupted({ recorded: 'synchronized' }));
    expect(copied).toMatchObject({ stage: 'copied', tables: ['public.a'], statements: [] });
    expect(copied.cleanup.map((s) => s.sql)).toEqual([
      'DROP PUBLICATION IF EXISTS "steep_reinit_0_s"',
      'DROP PUBLICATION IF EXISTS "steep_reinit_1_s"',
    ]);
    // not over (a table not ready), diverged since (a verify), or --full: copied again
    const notReady = interrupted({ recorded: 'synchronized' });
    notReady.subscribed = new Map([...notReady.subscribed, ['public.a', 'd']]);
    for (const again of [
      notReady,
      interrupted({ recorded: 'diverged' }),
      interrupted({ recorded: 'synchronized', request: { full: true } }),
    ])
      expect(planReinit(again).stage).toBe('fresh');
    expect(() => planReinit(interrupted({ recorded: 'copying', request: { tables: ['public.b'] } }))).toThrow(
      /a reinit of public\.a in subscription s is under way: run steep reinit s --tables public\.a to finish it \(the other tables keep streaming\)$/,
    );
  });
});

describe('refuseRetired and refuseDisabled (checked before the slot or anything else is written)', () => {
  const d = { name: 'orders_sub', node: 'west', from: 'east' };
  const refusal = (f: () => void) => {
    try {
      f();
    } catch (err) {
      return (err as Error).message;
    }
    return '';
  };
  it('enabled: nothing to refuse', () => {
    expect(() => refuseRetired({ ...d, enabled: true }, true, false)).not.toThrow();
    expect(() => refuseDisabled(d, true)).not.toThrow();
  });
  it('disabled by hand while the file enables it: not retired; enable it with steep apply, then reinit', () => {
    expect(() => refuseRetired({ ...d, enabled: true }, false, false)).not.toThrow();
    expect(() => refuseDisabled(d, false)).toThrow(
      'subscription orders_sub on west is disabled: PostgreSQL refreshes only enabled subscriptions; enable it (steep apply) and run reinit again; nothing was changed',
    );
  });
  it('disabled by PostgreSQL at an error (disable_on_error): apply does not enable it, so the advice is its cause and the ENABLE as status and the switchover give it, not steep apply', () => {
    expect(refusal(() => refuseDisabled(d, false, { byPostgres: { errorsCounted: 2 } }))).toBe(
      'subscription orders_sub on west is disabled by PostgreSQL after an error (disable_on_error; errors apply and sync 2 counted since the statistics were reset): ' +
        'its message is in the server log of west ("logical replication subscription "orders_sub" has been disabled due to an error" and the error before it); ' +
        'fix its cause, then run ALTER SUBSCRIPTION "orders_sub" ENABLE on west (steep apply does not enable it while this stands: it would be disabled again); ' +
        'then run reinit again (PostgreSQL refreshes only enabled subscriptions); nothing was changed',
    );
  });
  it("disabled at an error after a failover of its publisher left it diverged: the failover's way out first, no ENABLE (it would resume past the fork)", () => {
    const wayOut =
      'timeline 2 of east forked …; copy what west must keep to east first, then steep reinit orders_sub --full copies its tables again';
    const message = refusal(() =>
      refuseDisabled(d, false, { byPostgres: { errorsCounted: 1 }, diverged: [wayOut] }),
    );
    expect(message).toContain(
      "a failover of east left orders_sub diverged, so the failover's way out comes first: enabling it before that resumes past the fork",
    );
    expect(message.endsWith(`; ${wayOut}; nothing was changed`)).toBe(true);
    expect(message).not.toContain('ENABLE on west');
    expect(message).not.toContain('steep apply)');
    expect(message).not.toContain('run reinit again');
  });
  it("disabled by hand (or otherwise with no error counted) after a failover of its publisher left it diverged: the failover's way out, not steep apply (it would resume past the fork)", () => {
    const wayOut =
      'timeline 2 of east forked …; copy what west must keep to east first, then steep reinit orders_sub --full copies its tables again';
    expect(refusal(() => refuseDisabled(d, false, { diverged: [wayOut] }))).toBe(
      "subscription orders_sub on west is disabled: a failover of east left orders_sub diverged, so steep apply does not enable it: enabling it before the failover's way out resumes past the fork; " +
        `${wayOut}; nothing was changed`,
    );
  });
  it('after a failover under which the subscriber may hold rows past the fork (maybe their only copy): reinit --full deletes them only with --discard-past-fork, --auto-approve alone is not enough; a partial reinit never', () => {
    const reasons = [
      'timeline 2 of east forked …; copy what west must keep to east first, then steep reinit orders_sub --full --discard-past-fork deletes them and copies its tables again',
    ];
    expect(refusal(() => refusePastFork(d, reasons, true, false))).toBe(
      `subscription orders_sub on west may hold rows past the fork of east's failover: ${reasons[0]}; ` +
        'reinit --full without --discard-past-fork deletes no rows west may hold the only copy of; nothing was changed',
    );
    expect(refusal(() => refusePastFork(d, reasons, false, false))).toBe(
      `subscription orders_sub on west may hold rows past the fork of east's failover: ${reasons[0]}; ` +
        "a reinit of some of its tables would delete such rows too and leave the failover's gap in the others; nothing was changed",
    );
    expect(refusal(() => refusePastFork(d, reasons, false, true))).not.toBe('');
    expect(() => refusePastFork(d, reasons, true, true)).not.toThrow();
    // no failover, or steep shows no row past the fork: nothing to hold
    expect(() => refusePastFork(d, undefined, true, false)).not.toThrow();
    expect(() => refusePastFork(d, undefined, false, false)).not.toThrow();
  });
  it('disabled with its init not finished: steep apply does not enable it, so the refusal names what finishes the init by method, never steep apply or a switchover', () => {
    const spec = (method: string) =>
      ({ ...d, enabled: true, init: { method } }) as unknown as Parameters<typeof refuseUnfinishedInit>[0];
    expect(refusal(() => refuseUnfinishedInit(spec('two-phase'), false, 'preparing'))).toBe(
      'subscription orders_sub on west is disabled and its two-phase init is preparing, not finished: reinit repairs an initialised subscription, and steep apply does not enable this one before its init does; ' +
        'steep snapshot apply orders_sub --input DIR (the directory steep snapshot generate orders_sub wrote) loads its snapshot and enables it; nothing was changed',
    );
    expect(refusal(() => refuseUnfinishedInit(spec('manual'), false, 'uninitialized'))).toContain(
      'steep init prepare orders_sub, the restore it prints, then steep apply finish it (docs/init.md); nothing was changed',
    );
    expect(refusal(() => refuseUnfinishedInit(spec('snapshot'), false, 'copying'))).toContain(
      'steep apply resumes its copy and enables it; nothing was changed',
    );
    // enabled, finished, never recorded, or disabled by the file: the other refusals decide
    expect(() => refuseUnfinishedInit(spec('two-phase'), true, 'copying')).not.toThrow();
    expect(() => refuseUnfinishedInit(spec('two-phase'), false, 'synchronized')).not.toThrow();
    expect(() => refuseUnfinishedInit(spec('two-phase'), false, undefined)).not.toThrow();
    expect(() =>
      refuseUnfinishedInit({ ...spec('two-phase'), enabled: false }, false, 'copying'),
    ).not.toThrow();
  });
  it('disabled by the file (after a switchover): its rows may be the only copy, and no enable is advised', () => {
    let message = '';
    try {
      refuseRetired({ ...d, enabled: false }, false, false);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(
      'subscription orders_sub is disabled (after a switchover west is the primary), so rows only west holds may be the only copy: a reinit would empty its tables there and copy them from east, so steep does not reinit a subscription steep.yaml disables; nothing was changed',
    );
    expect(message).not.toMatch(/enable it/);
  });
  it('released by a switchover (no slot) while the file still enables it: refused the same way', () => {
    expect(() => refuseRetired({ ...d, enabled: true }, false, true)).toThrow(
      /so rows only west holds may be the only copy: a reinit would empty its tables there and copy them from east, so steep does not reinit a subscription a switchover released \(slot_name = NONE\); nothing was changed$/,
    );
  });
});
