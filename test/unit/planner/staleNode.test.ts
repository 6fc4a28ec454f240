import { describe, expect, it } from 'vitest';
import type {
  FailoverServer,
  ObservedStandby,
  StreamPosition,
  TimelineHistory,
} from '../../../src/model/cluster.js';
import { publisherConninfo } from '../../../src/model/conninfo.js';
import type { Topology } from '../../../src/model/topology.js';
import { failoverVerdicts } from '../../../src/planner/failover/failover.js';
import { staleServers } from '../../../src/planner/failover/staleNode.js';
import {
  at,
  failoverServer,
  nodeSpec,
  observe,
  PG16,
  publication,
  runPlan,
  subscription,
  topology,
  unreachable,
} from './fixtures.js';

/**
 * Issue 81 item 3: the old primary started again on its timeline after a failover is `stale`
 * (an older branch of the node's system, read, never taken from its address): named with its
 * writes past the fork, never advised as the node's url, and a url naming it fails the plan.
 */

const STANDBY = {
  host: 'east-b.internal',
  port: 5432,
  database: 'app',
  user: 'steep',
  password: 'secret-east',
};
const SYSTEM = '7400000000000000001';
const FORK = '0/5000000';

function file(): Topology {
  return topology({
    nodes: [nodeSpec('east', { standbys: [STANDBY] }), 'west'],
    publications: [publication('orders_pub', 'east')],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
}

function primary(timeline: number, walLsn: string): FailoverServer {
  const history: TimelineHistory = {
    read: true,
    systemIdentifier: SYSTEM,
    timeline,
    forks: timeline === 2 ? [{ timeline: 1, switchLsn: FORK }] : [],
    flushLsn: walLsn,
  };
  return failoverServer({ walLsn, history });
}

const standby = (server: FailoverServer): ObservedStandby => ({
  address: 'east-b.internal:5432',
  reachable: true,
  ...server,
});

/** What steep recorded of west_orders streaming from the new primary, on timeline 2. */
function onTimeline2(): StreamPosition {
  return {
    subscription: 'west_orders',
    systemIdentifier: SYSTEM,
    timeline: 2,
    originLsn: '0/6000000',
    ready: false,
    recordedAt: '2026-11-29T20:00:00Z',
    settledAt: null,
    settledBy: null,
  };
}

/** The subscription's connection names east-b, as apply re-pointed it after the failover. */
function repointedToB(t: Topology) {
  const state = observe(t);
  const b = { ...t.nodes.east!, connection: { ...t.nodes.east!.connection, host: STANDBY.host } };
  at(state, 'west').subscriptions.west_orders!.conninfo = publisherConninfo(b);
  return state;
}

describe('a stale server of a node (issue 81)', () => {
  it('a declared standby out of recovery on an older timeline: stale, its WAL past the fork named, never advised as the url', () => {
    const t = file();
    const state = observe(t);
    at(state, 'east').failover = {
      self: primary(2, '0/7000000'),
      standbys: [standby(primary(1, '0/5100000'))],
    };
    expect(staleServers(t, state)).toMatchObject([
      {
        node: 'east',
        address: 'east-b.internal:5432',
        role: 'standby',
        timeline: 1,
        fork: FORK,
        pastFork: 0x100000,
      },
    ]);
    const plan = runPlan(t, state);
    expect(plan.errors).toEqual([]);
    const text = (plan.failover ?? []).flatMap((v) => v.reasons).join('\n');
    expect(text).toContain('standby east-b.internal:5432 of east is stale');
    expect(text).toContain(`it wrote 1048576 bytes of WAL past the fork at ${FORK} (up to 0/5100000)`);
    expect(text).toContain('copy what the application must keep of them to east');
    expect(text).not.toContain("make it east's connection");
  });

  it('16 (no failover slots): the stale standby is named all the same', () => {
    const t = file();
    const state = observe(t, { version: PG16 });
    at(state, 'east').failover = {
      self: primary(2, '0/7000000'),
      standbys: [standby(primary(1, '0/5100000'))],
    };
    const verdicts = failoverVerdicts(t, state);
    expect(verdicts.map((v) => v.verdict)).toEqual(['no-failover-slots']);
    expect(verdicts[0]!.reasons.join('\n')).toContain(
      `standby east-b.internal:5432 of east is stale: a primary on timeline 1 of east's system (${SYSTEM})`,
    );
  });

  it("the node's url on the older timeline, the new primary among its standbys: the plan fails in one sentence and re-points nothing", () => {
    const t = file();
    const state = repointedToB(t);
    at(state, 'east').failover = {
      self: primary(1, '0/5100000'),
      standbys: [standby(primary(2, '0/7000000'))],
    };
    const plan = runPlan(t, state);
    expect(plan.errors.map((e) => e.code)).toEqual(['failover.stale-url']);
    expect(plan.errors[0]!.message).toMatch(
      /^node east: its url east\.internal:5432 is stale: a primary on timeline 1 of east's system \(7400000000000000001\), an older branch than timeline 2 of east-b\.internal:5432 .*; make east-b\.internal:5432 east's url in steep\.yaml again, then /,
    );
    expect(plan.steps.flatMap((s) => s.statements).filter((q) => q.sql.includes('CONNECTION'))).toEqual([]);
    const verdicts = failoverVerdicts(t, state);
    expect(verdicts.map((v) => v.verdict)).toEqual(['unknown']);
    const text = verdicts.flatMap((v) => v.reasons).join('\n');
    expect(text).not.toContain('shut east-b.internal:5432 down');
    expect(text).not.toMatch(/steep reinit \S+ --full/);
  });

  it('the new primary not read: the timeline steep recorded streaming from it makes the url stale all the same', () => {
    const t = file();
    const state = repointedToB(t);
    at(state, 'east').failover = {
      self: primary(1, '0/5100000'),
      standbys: [{ address: 'east-b.internal:5432', reachable: false, error: 'connection refused' }],
    };
    at(state, 'west').streamPositions = [onTimeline2()];
    const plan = runPlan(t, state);
    expect(plan.errors.map((e) => e.message)).toEqual([
      expect.stringContaining(
        "node east: its url east.internal:5432 is stale: a primary on timeline 1 of east's system (7400000000000000001), an older branch than timeline 2, which steep recorded east's subscribers streaming from (2026-11-29T20:00:00Z)",
      ),
    ]);
    // another system's record, or the same timeline: not stale
    at(state, 'west').streamPositions![0]!.systemIdentifier = '7400000000000000002';
    expect(staleServers(t, state)).toEqual([]);
  });

  it('the url down, a standby out of recovery on a timeline older than the one recorded: named stale, never "if it was promoted"', () => {
    const t = file();
    const state = repointedToB(t);
    state.nodes.east = { ...unreachable('east'), standbys: [standby(primary(1, '0/5100000'))] };
    at(state, 'west').streamPositions = [onTimeline2()];
    const text = failoverVerdicts(t, state)
      .flatMap((v) => v.reasons)
      .join('\n');
    expect(text).toContain('standby east-b.internal:5432 of east is stale');
    expect(text).toContain('where timeline 2 left timeline 1 is not read now');
    expect(text).not.toContain('if it was promoted');
  });
});
