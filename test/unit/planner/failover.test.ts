import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import type {
  FailoverServer,
  FailoverSlot,
  ObservedFailover,
  ObservedStandby,
  StreamPosition,
  TimelineHistory,
} from '../../../src/model/cluster.js';
import { publisherConninfo } from '../../../src/model/conninfo.js';
import type { ObservedInitState } from '../../../src/model/initState.js';
import type { Topology } from '../../../src/model/topology.js';
import {
  failoverDivergedReasons,
  failoverPastFork,
  failoverSlot,
  failoverVerdicts,
  failoverWayOut,
} from '../../../src/planner/failover/failover.js';
import { streamPositionsToRecord } from '../../../src/planner/failover/streamRecords.js';
import {
  at,
  failoverServer,
  nodeSpec,
  observe,
  observedPublication,
  observedSlot,
  PG16,
  PG18,
  publication,
  runPlan,
  sqlOf,
  subscription,
  topology,
} from './fixtures.js';

const STANDBY = {
  host: 'east-standby.internal',
  port: 5432,
  database: 'app',
  user: 'steep',
  password: 'secret-east',
};

function file(): Topology {
  return topology({
    nodes: [nodeSpec('east', { standbys: [STANDBY] }), 'west'],
    publications: [publication('orders_pub', 'east')],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
}

function server(overrides: Partial<FailoverServer> = {}): FailoverServer {
  return failoverServer({ synchronizedStandbySlots: ['east_standby'], ...overrides });
}

/** A standby with every piece of slot synchronisation in place, its copy of west_orders synced. */
function readyFailover(standby: Partial<FailoverServer> = {}): ObservedFailover {
  return {
    self: server({
      slots: {
        west_orders: {
          name: 'west_orders',
          synced: false,
          invalidated: null,
          confirmedFlushLsn: '0/3000000',
          active: true,
          temporary: false,
        },
      },
    }),
    standbys: [
      {
        address: 'east-standby.internal:5432',
        reachable: true,
        ...server({
          inRecovery: true,
          syncReplicationSlots: true,
          hotStandbyFeedback: true,
          primarySlotName: 'east_standby',
          primaryConninfoHasDbname: true,
          synchronizedStandbySlots: [],
          slots: {
            west_orders: {
              name: 'west_orders',
              synced: true,
              invalidated: null,
              confirmedFlushLsn: '0/3000000',
              active: false,
              temporary: false,
            },
          },
          ...standby,
        }),
      },
    ],
  };
}

function converged(t: Topology, version = PG18) {
  const state = observe(t, { version });
  at(state, 'east').slots.east_standby = observedSlot('east_standby', {
    slotType: 'physical',
    plugin: null,
    database: null,
  });
  return state;
}

describe('a publisher with standbys', () => {
  it('18: a subscription names its publisher alone, ready for a failover or not: it never follows a promotion by itself (issue 63)', () => {
    const t = file();
    const ALONE = 'host=east.internal port=5432 dbname=app user=steep password=****';
    // a new one: the publisher alone
    const fresh = converged(t);
    delete at(fresh, 'west').subscriptions.west_orders;
    delete at(fresh, 'east').slots.west_orders;
    const create = sqlOf(runPlan(t, fresh), 'subscription.west_orders').join('\n');
    expect(create).toContain(`CONNECTION '${ALONE}'`);
    expect(create).toContain('failover = true');
    // ready, and the connection names every host (an earlier steep, or by hand): the publisher alone
    const ready = converged(t);
    at(ready, 'west').subscriptions.west_orders!.options.failover = true;
    at(ready, 'east').failover = readyFailover();
    at(ready, 'west').subscriptions.west_orders!.conninfo = publisherConninfo(t.nodes.east!);
    expect(sqlOf(runPlan(t, ready), 'subscription.west_orders')).toEqual([
      `ALTER SUBSCRIPTION "west_orders" CONNECTION '${ALONE}'`,
    ]);
    expect((runPlan(t, ready).failover ?? []).map((v) => v.verdict)).toEqual(['ready']);
    // naming it alone already: nothing to do
    const alone = converged(t);
    at(alone, 'west').subscriptions.west_orders!.options.failover = true;
    at(alone, 'east').failover = readyFailover();
    expect(sqlOf(runPlan(t, alone), 'subscription.west_orders')).toEqual([]);
  });

  it('18: names each missing piece of slot synchronisation with the setting that fixes it', () => {
    const t = file();
    const state = converged(t);
    at(state, 'west').subscriptions.west_orders!.options.failover = false;
    at(state, 'east').failover = readyFailover({
      syncReplicationSlots: false,
      hotStandbyFeedback: false,
      primaryConninfoHasDbname: false,
      slots: {},
    });
    at(state, 'east').failover!.self.synchronizedStandbySlots = [];
    const plan = runPlan(t, state);
    expect(plan.failover?.[0]?.verdict).toBe('not-ready');
    expect(plan.failover?.[0]?.reasons).toEqual([
      'subscription west_orders has failover = false: steep apply sets it (ALTER SUBSCRIPTION west_orders SET (failover = true), with the subscription disabled for that moment)',
      'standby east-standby.internal:5432 of east: set sync_replication_slots = on',
      'standby east-standby.internal:5432 of east: set hot_standby_feedback = on',
      'east: set synchronized_standby_slots to include east_standby, so no subscriber receives a change before east-standby.internal:5432 does',
      'standby east-standby.internal:5432 of east: add dbname=app to primary_conninfo (slot synchronisation connects to a database)',
      'standby east-standby.internal:5432 of east holds no synced copy of slot west_orders yet',
      'its connection names east alone, so after a promotion it waits until steep has judged the failover',
    ]);
    expect(plan.warnings.map((w) => w.code)).toContain('failover.not-ready');
    // the connection names the publisher alone already; the plan sets failover = true: disabled, set, enabled again
    expect(sqlOf(plan, 'subscription.west_orders')).toEqual([
      'ALTER SUBSCRIPTION "west_orders" DISABLE',
      'ALTER SUBSCRIPTION "west_orders" SET (failover = true)',
      'ALTER SUBSCRIPTION "west_orders" ENABLE',
    ]);
  });

  it('18: not ready while a table is still being copied (its table-sync slot is not judged)', () => {
    const t = file();
    const state = converged(t);
    at(state, 'west').subscriptions.west_orders!.options.failover = true;
    at(state, 'west').subscriptions.west_orders!.tables[0]!.state = 'f';
    at(state, 'east').failover = readyFailover();
    expect(runPlan(t, state).failover?.[0]?.reasons[0]).toBe(
      '1 table(s) of west_orders are not ready yet: a failover needs their table-sync slots synced to each standby too, which steep does not check; it is ready once every table is (steep status shows them)',
    );
  });

  it('18: ready when every piece is in place', () => {
    const t = file();
    const state = converged(t);
    at(state, 'west').subscriptions.west_orders!.options.failover = true;
    at(state, 'east').failover = readyFailover();
    const plan = runPlan(t, state);
    expect(plan.failover).toEqual([
      { subscription: 'west_orders', node: 'west', from: 'east', verdict: 'ready', reasons: [] },
    ]);
    expect(plan.steps).toEqual([]);
  });

  it('16: a failover loses the slot; the plan says so and what steep does then', () => {
    const plan = runPlan(file(), converged(file(), PG16));
    expect(plan.failover?.[0]?.verdict).toBe('no-failover-slots');
    expect(plan.warnings.find((w) => w.code === 'failover.no-failover-slots')?.message).toBe(
      'subscription west_orders on west: PostgreSQL 16 on east has no failover slots: a failover of east loses slot west_orders, ' +
        'and resuming on a new slot would skip the changes in between; steep then marks west_orders diverged and names the way out: ' +
        'where west applied writes of the old primary past the fork (which east lacks), what it must keep goes to east first, then steep reinit west_orders --full --discard-past-fork deletes them and copies its tables again',
    );
  });

  describe('after a promotion', () => {
    const HISTORY = {
      read: true as const,
      systemIdentifier: '7100',
      timeline: 2,
      forks: [{ timeline: 1, switchLsn: '0/2800000' }],
    };
    const promoted = (opts: { positions?: StreamPosition[]; history?: TimelineHistory } = {}) => {
      const state = converged(t);
      at(state, 'west').subscriptions.west_orders!.options.failover = true;
      const f = readyFailover();
      f.self.history = opts.history ?? HISTORY;
      f.self.slots.west_orders = {
        name: 'west_orders',
        synced: true,
        invalidated: null,
        confirmedFlushLsn: '0/2000000',
        active: true,
        temporary: false,
      };
      at(state, 'east').failover = f;
      if (opts.positions) at(state, 'west').streamPositions = opts.positions;
      return state;
    };
    const t = file();
    const seen = (
      originLsn: string,
      ready: boolean,
      over: Partial<StreamPosition> = {},
    ): StreamPosition[] => [
      {
        subscription: 'west_orders',
        systemIdentifier: '7100',
        timeline: 1,
        originLsn,
        ready,
        recordedAt: '2026-11-26T12:00:00Z',
        settledAt: null,
        settledBy: null,
        ...over,
      },
    ];
    const SYNCHRONIZED = {
      subscriptions: { west_orders: { state: 'synchronized' } },
    } as unknown as ObservedInitState;
    /** Disabled by hand, recorded synchronized, west past the fork: the slot kept, and the slot gone. */
    const disabledPastFork = () => {
      const kept = promoted({ positions: seen('0/3000000', true) });
      const gone = promoted({ positions: seen('0/3000000', true) });
      delete at(gone, 'east').slots.west_orders;
      for (const state of [kept, gone]) {
        at(state, 'west').subscriptions.west_orders!.enabled = false;
        at(state, 'west').initState = SYNCHRONIZED;
      }
      return [kept, gone];
    };
    const verdicts = (state: ReturnType<typeof promoted>) =>
      (runPlan(t, state).failover ?? []).map((v) => `${v.verdict}: ${v.reasons.join('; ')}`);

    /** What the subscriber applied, read now (its origin), and the promoted node's copy of the slot. */
    const reading = (
      state: ReturnType<typeof promoted>,
      applied: string,
      slot: Partial<FailoverSlot> = {},
      walLsn: string | null = null,
    ) => {
      at(state, 'west').subscriptions.west_orders!.originLsn = applied;
      Object.assign(at(state, 'east').failover!.self.slots.west_orders!, slot);
      at(state, 'east').failover!.self.walLsn = walLsn;
      return state;
    };

    it.each([
      [
        'no record from before the promotion, and it already streamed from the new primary',
        promoted(),
        'unknown',
        'west has applied 0/3000000, past the fork, and already streamed from east (slot west_orders confirms 0/2000000), which moved its origin',
      ],
      [
        'the record is of another primary',
        promoted({ positions: seen('0/2000000', true, { systemIdentifier: '9999' }) }),
        'unknown',
        'already streamed from east',
      ],
      [
        'recorded at or before the fork and ready then, but it already streamed from the new primary: a recorded ready is history, not proof',
        promoted({ positions: seen('0/2000000', true) }),
        'unknown',
        'steep found it ready for a failover at 2026-11-26T12:00:00Z: that is history, not proof',
      ],
      [
        'the history cannot be read',
        promoted({
          history: { read: false, error: 'must be superuser or replication role' },
          positions: seen('0/2000000', true),
        }),
        'unknown',
        'steep cannot read where its timeline began (must be superuser or replication role',
      ],
      [
        'recorded past the fork',
        promoted({ positions: seen('0/3000000', true) }),
        'diverged',
        'west had applied 0/3000000 when steep last saw it stream from timeline 1 (2026-11-26T12:00:00Z), past the fork: the changes it applied past 0/2800000 never reached east (phantom rows on west)',
      ],
      [
        'phantom rows: what the subscriber must keep goes to the publisher before the full copy replaces it',
        promoted({ positions: seen('0/3000000', true) }),
        'diverged',
        "the rows west applied past the fork are writes of the old primary that east lacks, and west (with the old primary's data directory) may hold their only copy: copy what west must keep to east first, then steep reinit west_orders --full --discard-past-fork deletes them and copies its tables again",
      ],
      [
        'the idle synced slot confirms past what it applied, but not past the fork (WAL with nothing for it, acknowledged): resumed',
        reading(promoted(), '0/2000000', { active: false, confirmedFlushLsn: '0/2400000' }),
        'resumed',
        'west has applied 0/2000000 (read now), at or before the fork',
      ],
      [
        'applied at or before the fork, read now',
        reading(promoted(), '0/2000000', { active: false }),
        'resumed',
        'timeline 2 of east forked from timeline 1 at 0/2800000; west has applied 0/2000000 (read now), at or before the fork',
      ],
      [
        "ready recorded, and the slot confirms a position beyond the promoted node's own WAL (readiness lost between two readings)",
        reading(
          promoted({ positions: seen('0/2000000', true) }),
          '0/3000000',
          { confirmedFlushLsn: '0/3000000' },
          '0/2900000',
        ),
        'diverged',
        "slot west_orders on east confirms 0/3000000, beyond east's own WAL (0/2900000) by 7.0 MB: west applied changes east never had (phantom rows, from the old primary past the fork) " +
          "and confirmed them when it reconnected, so east's own changes up to there are skipped (a gap); the rows west applied past the fork are writes of the old primary that east lacks",
      ],
      [
        'applied past the fork, and the idle slot never confirmed that far (it came from the old primary)',
        reading(promoted({ positions: seen('0/2000000', true) }), '0/3000000', {
          active: false,
          confirmedFlushLsn: '0/2000000',
        }),
        'diverged',
        'west has applied 0/3000000, past the fork, and slot west_orders on east confirms only 0/2000000: it never received that from east',
      ],
    ])('%s: %s', (_what, state, verdict, reason) => {
      const [last] = verdicts(state);
      expect(last).toContain(`${verdict}: `);
      expect(last).toContain(reason);
    });

    it('a failover proven resumed is recorded (settled by failover) and stays resumed once the subscriber streams on: a later reading does not judge it again', () => {
      const state = promoted({
        positions: [
          ...seen('0/2000000', true),
          ...seen('0/2100000', false, {
            timeline: 2,
            settledAt: '2026-11-26T13:00:00Z',
            settledBy: 'failover',
          }),
        ],
      });
      expect(verdicts(state)).toEqual([
        expect.stringContaining(
          'resumed: on east (promoted) from slot west_orders, synced before the promotion: steep read at 2026-11-26T13:00:00Z that west had applied nothing past the fork',
        ),
        'ready: ',
      ]);
      // facts read now still come first: a slot beyond the node's own WAL is diverged all the same
      expect(
        verdicts(reading(state, '0/3000000', { confirmedFlushLsn: '0/3000000' }, '0/2900000'))[0],
      ).toMatch(/^diverged: slot west_orders on east confirms 0\/3000000, beyond east's own WAL/);
    });

    it('the subscriber streams from a declared standby out of recovery (the old primary restarted): diverged, with the way out', () => {
      const state = reading(promoted(), '0/2000000', { active: false });
      at(state, 'east').slots.west_orders!.active = false;
      at(state, 'east').failover!.standbys[0] = {
        ...(at(state, 'east').failover!.standbys[0] as ObservedStandby & { reachable: true }),
        inRecovery: false,
        slots: {
          west_orders: {
            name: 'west_orders',
            synced: false,
            invalidated: null,
            confirmedFlushLsn: '0/5000000',
            active: true,
            temporary: false,
          },
        },
      };
      expect(verdicts(state)).toEqual([
        expect.stringContaining(
          'diverged: west streams from east-standby.internal:5432 (slot west_orders active there), not from east (its slot there is inactive)',
        ),
      ]);
      expect(verdicts(state)[0]).toContain(
        'then steep reinit west_orders --full copies its tables again from east',
      );
    });

    it('a resumed failover still says what asynchronous physical replication may have lost with the old primary, and that steep cannot count it', () => {
      const [last] = verdicts(reading(promoted(), '0/2000000', { active: false }));
      expect(last).toContain('resumed: ');
      expect(last).toContain(
        'what the old primary committed after 0/2800000, if anything, never reached east (asynchronous physical replication at a crash): steep cannot count it from here',
      );
    });

    it('says which acknowledged writes the failover lost only where the subscriber had applied past the fork from the old primary (its slot kept or gone)', () => {
      const lost =
        'writes lost with the old primary: it had committed at least up to 0/3000000 on timeline 1 (west applied that far from it), past the fork at 0/2800000; what it committed after 0/2800000 is not on east';
      expect(verdicts(promoted({ positions: seen('0/3000000', true) }))[0]).toContain(lost);
      const gone = promoted({ positions: seen('0/3000000', false) });
      delete at(gone, 'east').slots.west_orders;
      expect(verdicts(gone)).toEqual([
        expect.stringMatching(/^diverged: slot west_orders is missing on east: .*; writes lost/),
      ]);
      expect(verdicts(gone)[0]).toContain(lost);
      const before = promoted({ positions: seen('0/2800000', false) });
      delete at(before, 'east').slots.west_orders;
      expect(verdicts(before)[0]).not.toContain('writes lost');
      expect(verdicts(promoted({ positions: seen('0/2000000', false) }))[0]).not.toContain('writes lost');
    });

    it('the file lists no standbys of the promoted node: judged while the slot is a failover slot or the subscription is recorded diverged (apply may turn the failover off; torture seed t2c-4)', () => {
      const alone = topology({
        publications: [publication('orders_pub', 'east')],
        subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
      });
      const state = promoted({ positions: seen('0/3000000', true) });
      at(state, 'east').slots.west_orders!.failover = false;
      expect(runPlan(alone, state).failover).toBeUndefined();
      at(state, 'west').initState = {
        subscriptions: { west_orders: { state: 'diverged' } },
      } as unknown as ObservedInitState;
      expect(runPlan(alone, state).failover?.map((v) => v.verdict)).toEqual(['diverged']);
    });

    it("the file lists no standbys, and PostgreSQL disabled the subscription at a conflict (disable_on_error) with the old primary's rows: still judged, its writes lost said (torture 17 seed 24701)", () => {
      const alone = topology({
        publications: [publication('orders_pub', 'east')],
        subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
      });
      const state = promoted({ positions: seen('0/3000000', true) });
      delete at(state, 'east').slots.west_orders;
      const o = at(state, 'west').subscriptions.west_orders!;
      o.enabled = false;
      o.options.disableOnError = true;
      // disabled by hand: left to status (below); errors counted with disable_on_error: PostgreSQL's
      expect(runPlan(alone, state).failover).toBeUndefined();
      o.errorsCounted = 2;
      const judged = runPlan(alone, state).failover ?? [];
      expect(judged.map((v) => v.verdict)).toEqual(['diverged']);
      expect(judged[0]!.reasons.join('; ')).toContain('writes lost with the old primary');
      // why PostgreSQL disabled it, but no ENABLE: it would resume past the fork; the failover's way out comes first
      const disabled = runPlan(alone, state).warnings.filter(
        (w) => w.code === 'subscription.disabled-on-error',
      );
      expect(disabled.map((w) => w.message)).toEqual([
        expect.stringMatching(
          /^subscription west_orders on west: disabled by PostgreSQL after an error .*; a failover of east left west_orders diverged, so the failover's way out comes first: enabling it before that resumes past the fork$/,
        ),
      ]);
      expect(disabled[0]!.message).not.toContain('ALTER SUBSCRIPTION');
    });

    it('disabled by hand (or otherwise with no error counted) and left diverged: apply does not enable it, which would resume past the fork', () => {
      for (const state of disabledPastFork()) {
        const plan = runPlan(t, state);
        expect(plan.failover?.map((v) => v.verdict)).toEqual(['diverged']);
        expect(sqlOf(plan, 'subscription.west_orders').join('\n')).not.toContain('ENABLE');
        const told = plan.warnings.filter((w) => w.code === 'subscription.failover-diverged');
        expect(told.map((w) => w.message)).toEqual([
          "subscription west_orders on west is disabled: a failover of east left west_orders diverged, so steep apply does not enable it: enabling it before the failover's way out resumes past the fork; once what west must keep is on east, steep reinit west_orders --full --discard-past-fork copies its tables again and enables it",
        ]);
      }
      // enabled again once the failover is behind it (a reinit --full settled it)
      const settled = promoted({
        positions: [
          ...seen('0/3000000', true),
          ...seen('0/0', false, { timeline: 2, settledAt: '2026-11-26T13:00:00Z', settledBy: 'reinit' }),
        ],
      });
      at(settled, 'west').subscriptions.west_orders!.enabled = false;
      expect(sqlOf(runPlan(t, settled), 'subscription.west_orders')).toContain(
        'ALTER SUBSCRIPTION "west_orders" ENABLE',
      );
    });

    it('its tables replicated both ways (a way back from west): disabled, no text names a reinit (it reconciles them only while it streams, and refuses), only the rows to copy by hand; enabled, the full reinit reconciles them', () => {
      const looped = topology({
        nodes: [nodeSpec('east', { standbys: [STANDBY] }), 'west'],
        publications: [publication('orders_pub', 'east'), publication('back_pub', 'west')],
        subscriptions: [
          subscription('west_orders', 'west', 'east', ['orders_pub']),
          subscription('east_back', 'east', 'west', ['back_pub']),
        ],
      });
      const noRepair =
        'west_orders is disabled and its tables come back to east through east_back (origin = none), which steep reinit reconciles only while west_orders streams, and enabling it resumes past the fork, so steep has no repair for it: ';
      for (const state of disabledPastFork()) {
        const plan = runPlan(looped, state);
        const told = [
          ...(plan.failover ?? []).filter((v) => v.subscription === 'west_orders').flatMap((v) => v.reasons),
          ...plan.warnings.filter((w) => w.code === 'subscription.failover-diverged').map((w) => w.message),
        ].join('\n');
        expect(told).toContain(
          `${noRepair}copy what west must keep to east by hand, and copy what east wrote past the fork to west by hand (docs/failover.md)`,
        );
        expect(told).not.toContain('steep reinit west_orders');
        expect(plan.warnings.map((w) => w.code)).toContain('subscription.failover-diverged');
      }
      // nothing past the fork (the slot gone, west at the fork): what east wrote since, by hand
      const bare = promoted();
      at(bare, 'west').subscriptions.west_orders!.originLsn = '0/2000000';
      delete at(bare, 'east').slots.west_orders;
      at(bare, 'west').subscriptions.west_orders!.enabled = false;
      at(bare, 'west').initState = SYNCHRONIZED;
      const bareText = (runPlan(looped, bare).failover ?? []).flatMap((v) => v.reasons).join('\n');
      expect(bareText).toContain(`${noRepair}copy what east wrote past the fork to west by hand`);
      expect(bareText).not.toContain('steep reinit west_orders');
      // verify and reinit refusing its slot name that way out too, never a bare full reinit
      expect(failoverWayOut(looped, bare, looped.subscriptions.west_orders!)).toContain(
        `${noRepair}copy what east wrote past the fork to west by hand`,
      );
      // enabled: the full reinit reconciles the tables both ways, never empties them
      const enabled = promoted({ positions: seen('0/3000000', true) });
      expect((runPlan(looped, enabled).failover ?? []).flatMap((v) => v.reasons).join('\n')).toContain(
        "copy what west must keep to east first, then steep reinit west_orders --full --discard-past-fork reconciles the tables it shares with east_back in place (a row only one node holds goes to the other, a key on both takes east's row; so a row deleted on east since the failover, a delete west never received, comes back; each row it copies back is kept in merge_log, strategy copied-back) and copies the others again",
      );
    });

    it('a reinit --full (or a verify that found every table equal) on the promoted primary puts the failover behind it: only readiness is judged', () => {
      const state = promoted({
        positions: [
          ...seen('0/3000000', true),
          ...seen('0/0', false, { timeline: 2, settledAt: '2026-11-26T13:00:00Z', settledBy: 'reinit' }),
        ],
      });
      expect(verdicts(state)).toEqual(['ready: ']);
      // copied on another primary's timeline 2: still judged
      const elsewhere = promoted({
        positions: [
          ...seen('0/3000000', true),
          ...seen('0/0', false, {
            timeline: 2,
            systemIdentifier: '9999',
            settledAt: '2026-11-26T13:00:00Z',
            settledBy: 'reinit',
          }),
        ],
      });
      expect(verdicts(elsewhere)).toEqual([expect.stringMatching(/^diverged: /)]);
    });

    it('the readiness for the next failover is judged every time: a resumed slot does not hide it', () => {
      const state = reading(promoted(), '0/2000000', { active: false });
      at(state, 'east').failover!.standbys[0] = {
        address: 'east-standby.internal:5432',
        reachable: false,
        error: 'connection refused',
      };
      expect(verdicts(state)).toEqual([
        expect.stringMatching(/^resumed: /),
        'not-ready: standby east-standby.internal:5432 of east cannot be read: connection refused; its connection names east alone, so after a promotion it waits until steep has judged the failover',
      ]);
      expect(verdicts(reading(promoted(), '0/2000000', { active: false }))).toEqual([
        expect.stringMatching(/^resumed: /),
        'ready: ',
      ]);
    });

    describe('a slot that cannot stream what the subscriber missed: a bare full copy only where steep shows it applied nothing past the fork', () => {
      // a full copy empties west's rows: those it applied past the fork are the old primary's
      // writes, which east lacks and west may hold the only copy of (model/advice.ts)
      const keepFirst =
        'copy what west must keep to east first, then steep reinit west_orders --full --discard-past-fork deletes them and copies its tables again';
      /** every reinit --full it names comes after what west must keep */
      const bareFull = (text: string) =>
        text.split('steep reinit west_orders --full').length -
        text.split(`then steep reinit west_orders --full`).length;
      const missing = (opts: Parameters<typeof promoted>[0], applied: string) => {
        const state = reading(promoted(opts), applied);
        delete at(state, 'east').slots.west_orders;
        return state;
      };
      const invalidated = (opts: Parameters<typeof promoted>[0], applied: string, confirmed = '0/2000000') =>
        reading(promoted(opts), applied, {
          active: false,
          confirmedFlushLsn: confirmed,
          invalidated: 'wal_removed',
        });
      it.each([
        [
          'missing, nothing recorded, and west has applied past the fork (read now): from the old primary, or from a slot east dropped since',
          missing({}, '0/3000000'),
          'steep cannot show that west applied nothing past the fork (west has applied 0/3000000, past the fork at 0/2800000, which it may have received from east before its slot stopped streaming)',
        ],
        [
          'missing, west recorded past the fork',
          missing({ positions: seen('0/3000000', false) }, '0/3000000'),
          'writes lost with the old primary: it had committed at least up to 0/3000000 on timeline 1',
        ],
        [
          'missing, and the history cannot be read',
          missing({ history: { read: false, error: 'must be superuser or replication role' } }, '0/2000000'),
          'steep cannot show that west applied nothing past the fork (',
        ],
        [
          'its synced copy invalidated, west recorded past the fork',
          invalidated({ positions: seen('0/3000000', true) }, '0/3000000'),
          'writes lost with the old primary',
        ],
        [
          'its synced copy invalidated, west applied past the fork, which the copy never confirmed',
          invalidated({}, '0/3000000'),
          'writes lost with the old primary',
        ],
        [
          'its synced copy invalidated after west streamed from it past the fork: cannot tell',
          invalidated({}, '0/3000000', '0/3000000'),
          'steep cannot show that west applied nothing past the fork (',
        ],
        [
          'idle, confirming past what west applied, which is past the fork: cannot tell',
          reading(promoted(), '0/3000000', { active: false, confirmedFlushLsn: '0/4000000' }),
          'steep cannot show that west applied nothing past the fork (',
        ],
      ])('%s: what west must keep first', (_what, state, reason) => {
        const [last] = verdicts(state);
        expect(last).toMatch(/^diverged: /);
        expect(last).toContain(reason);
        expect(last).toContain(keepFirst);
        expect(bareFull(last!), last).toBe(0);
      });
      it.each([
        ['missing', missing({}, '0/2000000')],
        ['its synced copy invalidated', invalidated({}, '0/2000000')],
        [
          'idle, confirming past the fork and what west applied',
          reading(promoted(), '0/2000000', { active: false, confirmedFlushLsn: '0/4000000' }),
        ],
      ])('%s, west applied nothing past the fork (read now): the bare full copy', (_what, state) => {
        const [last] = verdicts(state);
        expect(last).toMatch(/^diverged: .*steep reinit west_orders --full copies its tables again$/);
        expect(last).not.toContain('must keep');
      });
      it('an origin past the fork with the slot gone is no proof of writes lost (a promotion long before the subscription, its slot dropped since)', () => {
        expect(verdicts(missing({}, '0/3000000'))[0]).not.toContain('writes lost');
      });
      it('a publisher never promoted (no fork in its history): the bare full copy', () => {
        const state = missing({ history: { ...HISTORY, timeline: 1, forks: [] } }, '0/3000000');
        expect(verdicts(state)[0]).toMatch(
          /^diverged: .*steep reinit west_orders --full copies its tables again$/,
        );
      });
      it('verify and reinit, refusing a slot gone or invalidated, name the way out the verdict names (none where it is the bare full copy)', () => {
        const d = t.subscriptions.west_orders!;
        expect(failoverWayOut(t, missing({ positions: seen('0/3000000', false) }, '0/3000000'), d)).toContain(
          keepFirst,
        );
        expect(failoverWayOut(t, invalidated({}, '0/3000000', '0/3000000'), d)).toMatch(
          /^steep cannot show that west applied nothing past the fork/,
        );
        expect(failoverWayOut(t, missing({}, '0/2000000'), d)).toBeUndefined();
        expect(failoverWayOut(t, converged(t), d)).toBeUndefined();
        // one PostgreSQL disabled at an error (reinit, the switchover's preflight): the diverged verdict's reasons, none else
        for (const state of [
          missing({ positions: seen('0/3000000', false) }, '0/3000000'),
          missing({}, '0/2000000'),
        ])
          expect(failoverDivergedReasons(t, state, d)).toEqual(
            failoverVerdicts(t, state).find((v) => v.subscription === d.name && v.verdict === 'diverged')!
              .reasons,
          );
        expect(failoverDivergedReasons(t, converged(t), d)).toBeUndefined();
        // a reinit deletes rows past the fork only with --discard-past-fork: where the verdict keeps them first (or cannot tell), not where it is the bare full copy
        for (const state of [
          missing({ positions: seen('0/3000000', false) }, '0/3000000'),
          invalidated({}, '0/3000000', '0/3000000'),
          promoted(),
        ])
          expect(failoverPastFork(t, state, d)).toEqual(
            failoverVerdicts(t, state).find((v) => v.subscription === d.name)!.reasons,
          );
        expect(failoverPastFork(t, missing({}, '0/2000000'), d)).toBeUndefined();
        expect(failoverPastFork(t, converged(t), d)).toBeUndefined();
        // the verdicts carry no way out of their own (plan.schema.json)
        expect(Object.keys(runPlan(t, missing({}, '0/3000000')).failover?.[0] ?? {}).sort()).toEqual([
          'from',
          'node',
          'reasons',
          'subscription',
          'verdict',
        ]);
      });
    });

    it('unknown: steep verify (read-only) first, then what the subscriber must keep before any full copy', () => {
      const unknown = verdicts(promoted());
      expect(unknown[0]).toMatch(/^unknown: /);
      expect(unknown[0]).toContain(
        'steep verify west_orders compares its rows first (read-only; every table equal puts this failover behind it); if they differ, ',
      );
      expect(unknown[0]).toContain(
        'copy what west must keep to east first, then steep reinit west_orders --full --discard-past-fork deletes them and copies its tables again',
      );
      expect(unknown[0]).not.toContain(', and steep reinit west_orders --full');
    });

    /** Its synced copy idle, confirming past what west applied (diverged). */
    const idleAhead = () => {
      const state = promoted({ positions: seen('0/2000000', true) });
      at(state, 'east').failover!.self.slots.west_orders = {
        name: 'west_orders',
        synced: true,
        invalidated: null,
        confirmedFlushLsn: '0/4000000',
        active: false,
        temporary: false,
      };
      return state;
    };

    it('diverged when the slot is missing or, idle, ahead of what the subscriber applied: no readiness then', () => {
      const missing = promoted({ positions: seen('0/2000000', true) });
      delete at(missing, 'east').slots.west_orders;
      expect(verdicts(missing)).toEqual([
        expect.stringContaining('diverged: slot west_orders is missing on east'),
      ]);

      expect(verdicts(idleAhead())).toEqual([
        expect.stringContaining('confirms 0/4000000, past what west applied (0/3000000)'),
      ]);
    });

    it('a publication the diverged subscription would read: refused, not a wait for a slot steep tells not to resume', () => {
      const ahead = idleAhead;
      // the file adds orders_pub2 on east, read by west_orders too
      const more = topology({
        nodes: [nodeSpec('east', { standbys: [STANDBY] }), 'west'],
        publications: [
          publication('orders_pub', 'east'),
          publication('orders_pub2', 'east', { tables: ['public.items'] }),
        ],
        subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub', 'orders_pub2'])],
      });
      const refusals = (p: ReturnType<typeof runPlan>) =>
        p.errors.filter((e) => e.code === 'failover-diverged');
      const absent = runPlan(more, ahead());
      expect(absent.failover?.[0]?.verdict).toBe('diverged');
      expect(refusals(absent).map((e) => e.message)).toEqual([
        "subscription west_orders on west is diverged since the failover of east (this plan's warning failover.diverged says why): " +
          'this step would wait for its slot west_orders to confirm a position past now, which steep cannot expect of a subscription it tells not to resume; ' +
          "follow that warning's way out first, then run steep apply again",
      ]);
      expect(absent.warnings.map((w) => w.code)).toContain('failover.diverged');
      // the publication exists already (made by hand, or by an apply stopped in its wait): the
      // subscription's own wait before its list gains it is refused the same way
      const existing = ahead();
      at(existing, 'east').publications.orders_pub2 = observedPublication(
        more,
        more.publications.orders_pub2!,
        PG18,
      );
      expect(refusals(runPlan(more, existing))).toHaveLength(1);
      // the control: the same change after a failover it resumed from waits, unrefused
      const resumed = promoted({
        positions: seen('0/2000000', true, {
          timeline: 2,
          settledAt: '2026-11-26T12:05:00Z',
          settledBy: 'failover',
        }),
      });
      const waits = runPlan(more, resumed);
      expect(waits.failover?.[0]?.verdict).toBe('resumed');
      expect(refusals(waits)).toEqual([]);
      expect(waits.steps.find((s) => s.kind === 'publication-create')?.catchUpAfter).toEqual({
        publication: 'orders_pub2',
        slots: ['west_orders'],
      });

      // steep.yaml re-points east and adds orders_pub2 in one edit: the connection still names the
      // old primary (a standby in the file), so the warning's way out follows the apply that
      // re-points it, which this refusal stops; the refusal names that apply, without orders_pub2, first
      const unrepointed = ahead();
      const old = { ...more.nodes.east!, connection: { ...more.nodes.east!.connection, host: STANDBY.host } };
      at(unrepointed, 'west').subscriptions.west_orders!.conninfo = publisherConninfo(old);
      const oneEdit = runPlan(more, unrepointed);
      expect(oneEdit.warnings.find((w) => w.code === 'failover.diverged')?.message).toContain(
        'once steep apply has re-pointed its connection to east (it names east-standby.internal:5432 now)',
      );
      expect(refusals(oneEdit).map((e) => e.message)).toEqual([
        "subscription west_orders on west is diverged since the failover of east (this plan's warning failover.diverged says why): " +
          'this step would wait for its slot west_orders to confirm a position past now, which steep cannot expect of a subscription it tells not to resume; ' +
          "its connection still names east-standby.internal:5432, and that warning's way out follows the steep apply that re-points it, which this step stops: " +
          "leave orders_pub2 out of west_orders's publications in steep.yaml, run steep apply, follow that warning's way out, then put it back and run steep apply again",
      ]);
      // followed: orders_pub2 out of its list, the apply re-points it and makes orders_pub2, waiting on no slot
      const unread = topology({
        nodes: [nodeSpec('east', { standbys: [STANDBY] }), 'west'],
        publications: [...Object.values(more.publications)],
        subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
      });
      const repoints = runPlan(unread, unrepointed);
      expect(refusals(repoints)).toEqual([]);
      expect(sqlOf(repoints, 'subscription.west_orders').join('\n')).toContain('CONNECTION');
      expect(repoints.steps.find((s) => s.kind === 'publication-create')?.catchUpAfter).toBeUndefined();
    });
  });

  it('the publisher down: no change proposed to the subscription, and its standbys named with what to do', () => {
    const t = file();
    const state = converged(t);
    at(state, 'west').subscriptions.west_orders!.options.failover = true;
    state.nodes.east = {
      name: 'east',
      reachable: false,
      error: 'node east: connection refused',
      standbys: [{ address: 'east-standby.internal:5432', reachable: true, ...server() }],
    };
    const plan = runPlan(t, state);
    expect(plan.steps.filter((s) => printAddress(s.address) === 'subscription.west_orders')).toEqual([]);
    expect(plan.failover).toEqual([
      expect.objectContaining({
        verdict: 'unknown',
        reasons: [
          'east cannot be read, so steep cannot judge a failover of it: node east: connection refused',
          "its standby east-standby.internal:5432 is out of recovery: if it was promoted, make it east's connection in steep.yaml (and list the old primary as a standby once it follows it); steep status then says whether west_orders resumed without a gap",
        ],
      }),
    ]);
  });

  it('the file names the promoted standby, without standbys yet (as status advises): its slot gone, failover is kept, not altered on a slot that is not there (torture seed f-20)', () => {
    const t = topology({
      publications: [publication('orders_pub', 'east')],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    const state = observe(t);
    at(state, 'west').subscriptions.west_orders!.options.failover = true;
    delete at(state, 'east').slots.west_orders;
    const plan = runPlan(t, state);
    expect(sqlOf(plan, 'subscription.west_orders').join('\n')).not.toContain('failover');
    // once the slot is there again (steep reinit --full), the option follows the file
    at(state, 'east').slots.west_orders = observedSlot('west_orders');
    expect(sqlOf(runPlan(t, state), 'subscription.west_orders')).toContain(
      'ALTER SUBSCRIPTION "west_orders" SET (failover = false)',
    );
  });

  it('the file names the promoted standby without standbys: an enabled subscription whose slot is gone is diverged with the way out, a disabled one is left to status (stopped)', () => {
    const t = topology({
      publications: [publication('orders_pub', 'east')],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    const state = observe(t);
    expect(runPlan(t, state).failover).toBeUndefined();
    delete at(state, 'east').slots.west_orders;
    expect(runPlan(t, state).failover).toEqual([
      expect.objectContaining({
        verdict: 'diverged',
        reasons: [
          expect.stringMatching(/^slot west_orders is missing on east: .*steep reinit west_orders --full/),
        ],
      }),
    ]);
    at(state, 'west').subscriptions.west_orders!.enabled = false;
    expect(runPlan(t, state).failover).toBeUndefined();
  });

  it("the slot steep's own copy or a two-phase generate makes is a failover slot by the same rule as the subscription (torture seed ci-2)", () => {
    const t = file();
    const d = t.subscriptions.west_orders!;
    expect(failoverSlot(t, d, PG18, PG18)).toBe(true);
    expect(failoverSlot(t, d, PG16, PG18)).toBe(false);
    expect(failoverSlot(t, d, PG18, PG16)).toBe(false);
    expect(failoverSlot(t, { ...d, options: { ...d.options, failover: false } }, PG18, PG18)).toBe(false);
    const alone = topology({
      publications: [publication('orders_pub', 'east')],
      subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
    });
    expect(failoverSlot(alone, alone.subscriptions.west_orders!, PG18, PG18)).toBe(false);
  });

  it('records what the subscriber applied only while it streams from a primary whose history was read', () => {
    const t = file();
    const state = converged(t);
    at(state, 'west').subscriptions.west_orders!.options.failover = true;
    at(state, 'east').failover = readyFailover();
    at(state, 'east').failover!.self.history = {
      read: true,
      systemIdentifier: '7100',
      timeline: 1,
      forks: [],
    };
    at(state, 'east').slots.west_orders!.active = true;
    const plan = runPlan(t, state);
    expect(streamPositionsToRecord(t, state, plan.failover ?? []).get('west')).toEqual([
      {
        subscription: 'west_orders',
        systemIdentifier: '7100',
        timeline: 1,
        originLsn: '0/3000000',
        ready: true,
      },
    ]);
    at(state, 'east').slots.west_orders!.active = false;
    expect(streamPositionsToRecord(t, state, plan.failover ?? []).size).toBe(0);
  });
});
