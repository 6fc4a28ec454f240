import { describe, expect, it } from 'vitest';
import { printAddress } from '../../../src/model/address.js';
import { globMatches } from '../../../src/model/glob.js';
import { commentWithMarker, ownText, parseOwnership } from '../../../src/model/ownership.js';
import type { Topology } from '../../../src/model/topology.js';
import { importTopology, tableText } from '../../../src/planner/imported.js';
import {
  at,
  observe,
  observedSlot,
  observedTable,
  publication,
  runPlan,
  stepAt,
  subscription,
  topology,
} from './fixtures.js';

/**
 * The pure parts of issue 12: glob patterns, the marker appended to a DBA's comment, import's
 * table names and notes, double apply, --target scoping, a replace over rows.
 */

function base(): Topology {
  return topology({
    publications: [publication('orders_pub', 'east')],
    subscriptions: [subscription('west_orders', 'west', 'east', ['orders_pub'])],
  });
}

describe('globs, markers and names', () => {
  it.each([
    ['debezium_*', 'debezium_orders', true],
    ['debezium_*', 'xdebezium_orders', false],
    ['old_?', 'old_1', true],
    ['old_?', 'old_12', false],
    ['a.b*', 'a.bc', true],
    ['a.b*', 'axbc', false],
  ])('%s matches %s: %s', (pattern, name, expected) => {
    expect(globMatches(pattern, name)).toBe(expected);
  });

  it('a DBA comment is kept above the marker, and the marker is still read', () => {
    const marker = 'managed by steep: topology=shop';
    expect(commentWithMarker(null, marker)).toBe(marker);
    const kept = commentWithMarker('orders (DBA-12)', marker);
    expect(kept).toBe(`orders (DBA-12)\n${marker}`);
    expect(parseOwnership(kept)).toEqual({ topology: 'shop' });
    expect(ownText(kept)).toBe('orders (DBA-12)');
    // an older marker is replaced, not stacked
    expect(commentWithMarker(kept, 'managed by steep: topology=shop protect=true')).toBe(
      'orders (DBA-12)\nmanaged by steep: topology=shop protect=true',
    );
    expect(parseOwnership('see managed by steep: topology=x')).toBeNull();
  });

  it('table names are written so that steep.yaml reads them back', () => {
    expect(tableText({ schema: 'public', name: 'orders' })).toBe('public.orders');
    expect(tableText({ schema: 'Odd Schema', name: 'Odd "Table"' })).toBe('Odd Schema."Odd ""Table"""');
    expect(tableText({ schema: 'my.schema', name: 't' })).toBe('"my.schema".t');
  });
});

describe('import notes', () => {
  it("a subscription from an undeclared node is a note with its conninfo masked; another topology's objects too", () => {
    const t = base();
    const s = observe(t);
    const west = at(s, 'west');
    west.subscriptions.west_orders = {
      ...west.subscriptions.west_orders!,
      from: '',
      conninfo: 'host=10.9.9.9 port=5432 dbname=app user=repl password=s3cret',
      managedBy: null,
      comment: null,
    };
    at(s, 'east').publications.orders_pub!.managedBy = { topology: 'billing' };
    const imported = importTopology(t, s);
    expect(imported.publications).toEqual([]);
    expect(imported.subscriptions).toEqual([]);
    expect(imported.notes).toEqual([
      'publication orders_pub on east is managed by steep topology billing: not imported',
      "subscription west_orders on west: its publisher matches none of this file's nodes (conninfo host=10.9.9.9 port=5432 dbname=app user=repl password=****); declare that node under nodes:, then import again",
    ]);
    expect(JSON.stringify(imported)).not.toContain('s3cret');
  });
});

describe('double apply, --target, replace over rows', () => {
  it('a declared subscription receiving what a hand-made one on its node already receives is an error naming both', () => {
    const t = base();
    const s = observe(t);
    const west = at(s, 'west');
    west.subscriptions.legacy_sub = {
      ...west.subscriptions.west_orders!,
      name: 'legacy_sub',
      slot: 'legacy_sub',
      managedBy: null,
      comment: null,
    };
    delete west.subscriptions.west_orders;
    const p = runPlan(t, s);
    expect(p.errors.map((e) => [e.code, e.address])).toEqual([['double-apply', 'subscription.west_orders']]);
    expect(p.errors[0]!.message).toContain(
      'subscription legacy_sub on west (not managed by steep) already receives public.orders from east',
    );
    expect(p.steps.filter((x) => printAddress(x.address) === 'subscription.west_orders')).toEqual([]);
  });

  it('two declared subscriptions on one node covering one table from one publisher are an error', () => {
    const t = base();
    t.subscriptions.west_orders2 = subscription('west_orders2', 'west', 'east', ['orders_pub']);
    const p = runPlan(t, observe(base()));
    expect(p.errors.map((e) => e.code)).toContain('double-apply');
    expect(p.errors.find((e) => e.code === 'double-apply')!.message).toContain(
      'steep.yaml declares subscriptions west_orders and west_orders2 on west, both receiving public.orders from east',
    );
  });

  it('--target turns errors about other objects into warnings', () => {
    const t = topology({
      publications: [
        publication('orders_pub', 'east'),
        publication('bad_pub', 'east', { tables: ['public.missing'] }),
      ],
      subscriptions: [
        subscription('west_orders', 'west', 'east', ['orders_pub']),
        subscription('west_bad', 'west', 'east', ['bad_pub']),
      ],
    });
    const s = observe(t);
    delete at(s, 'east').publications.bad_pub;
    delete at(s, 'east').tables['public.missing'];
    delete at(s, 'east').slots.west_bad;
    delete at(s, 'west').subscriptions.west_bad;
    delete at(s, 'east').slots.west_orders;
    delete at(s, 'west').subscriptions.west_orders;
    const whole = runPlan(t, s);
    expect(whole.errors.length).toBeGreaterThan(0);
    const scoped = runPlan(t, s, { targets: ['subscription.west_orders'] });
    expect(scoped.errors).toEqual([]);
    expect(
      scoped.warnings.some((w) =>
        w.message.startsWith('outside --target, not applied now: east: table public.missing'),
      ),
    ).toBe(true);
    expect(scoped.steps.some((x) => printAddress(x.address) === 'subscription.west_orders')).toBe(true);
  });

  it('a slot-name replace over rows is an error naming the cheaper fix; keep is a data-gap error, never a quiet recreate', () => {
    const t = base();
    const s = observe(t);
    const o = at(s, 'west').subscriptions.west_orders!;
    o.slot = 'hand_slot_v2';
    at(s, 'east').slots.hand_slot_v2 = observedSlot('hand_slot_v2');
    delete at(s, 'east').slots.west_orders;
    at(s, 'west').tables['public.orders'] = { ...observedTable('public.orders'), hasRows: true };
    const refused = runPlan(t, s);
    expect(refused.errors.map((e) => e.code)).toEqual(['existing-data']);
    expect(refused.errors[0]!.message).toContain(
      'the cheaper fix: declare slot: hand_slot_v2 for subscription west_orders',
    );
    // a replace starts from a new slot: keeping the rows would lose what is committed in between
    t.subscriptions.west_orders!.init.existingData = 'keep';
    const kept = runPlan(t, s);
    expect(kept.errors.map((e) => e.code)).toEqual(['data-gap']);
    expect(kept.errors[0]!.message).toContain('the cheaper fix: declare slot: hand_slot_v2');
    expect(kept.errors[0]!.message).not.toContain('or keep');
    expect(kept.steps.filter((x) => printAddress(x.address) === 'subscription.west_orders')).toEqual([]);
  });
});

describe('what moves', () => {
  it('a copying step states tables, size and duration at the rate earlier inits from that publisher achieved', () => {
    const t = base();
    t.subscriptions.north_orders = subscription('north_orders', 'north', 'east', ['orders_pub']);
    t.nodes.north = { ...t.nodes.west!, name: 'north' };
    const s = observe(t);
    delete at(s, 'north').subscriptions.north_orders;
    delete at(s, 'east').slots.north_orders;
    const fresh = stepAt(runPlan(t, s), 'subscription.north_orders');
    // public.orders is 65536 bytes on east; nothing measured yet: the stated default
    expect(fresh.copy).toEqual({
      tables: ['public.orders'],
      bytes: 65536,
      unknownTables: 0,
      seconds: 0,
      bytesPerSecond: 20 * 1024 * 1024,
      rateSource: 'default',
    });
    // west_orders copied the same 64 kB from east in 2 s: 32 kB/s
    at(s, 'west').subscriptions.west_orders!.tables = [
      { schema: 'public', name: 'orders', state: 'r', lsn: null },
    ];
    at(s, 'west').initState = {
      subscriptions: {
        west_orders: {
          subscription: 'west_orders',
          initMethod: 'snapshot',
          state: 'synchronized',
          sourceNode: 'east',
          startedAt: '2026-01-01T00:00:00Z',
          completedAt: '2026-01-01T00:00:02Z',
          updatedAt: '2026-01-01T00:00:02Z',
          error: null,
        },
      },
      slots: {},
    };
    const measured = stepAt(runPlan(t, s), 'subscription.north_orders');
    expect(measured.copy).toMatchObject({ bytesPerSecond: 32768, seconds: 2, rateSource: 'measured' });
  });
});
