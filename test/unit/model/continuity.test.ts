import { describe, expect, it } from 'vitest';
import type { ObservedPublication } from '../../../src/model/cluster.js';
import {
  type ContinuityBaseline,
  type ContinuityFacts,
  continuity,
  gapWayOut,
  type Membership,
  membershipsOf,
} from '../../../src/model/continuity.js';

const NOW = '2026-11-27T13:00:00.000Z';
const rel = (oid: number, publication = 'shop_pub', publicationOid = 100): Membership => ({
  publication,
  publicationOid,
  via: 'table',
  rowOid: oid,
});
const facts = (
  members: Membership[],
  publications: Record<string, number> = { shop_pub: 100 },
): ContinuityFacts => ({
  subscription: 'shop_sub',
  subscriptionOid: 7,
  from: 'east',
  table: 'public.customers',
  members,
  publications,
  now: NOW,
});
const baseline = (members: Membership[], gap: ContinuityBaseline['gap'] = null): ContinuityBaseline => ({
  table: 'public.customers',
  subscriptionOid: 7,
  members,
  since: '2026-11-27T12:00:00.000Z',
  gap,
});

describe('continuity (model/continuity.ts)', () => {
  it('no baseline: this reading starts one', () => {
    const c = continuity(null, facts([rel(5)]));
    expect(c).toMatchObject({
      verdict: 'continuous',
      changed: true,
      baseline: { members: [rel(5)], gap: null },
    });
  });

  it('the same membership row: continuous, nothing to record', () => {
    const b = baseline([rel(5)]);
    expect(continuity(b, facts([rel(5)]))).toEqual({ verdict: 'continuous', baseline: b, changed: false });
  });

  it('out of every publication now: a gap now, naming the table and the publication it left', () => {
    const c = continuity(baseline([rel(5)]), facts([]));
    expect(c.verdict).toBe('gap');
    expect(c.baseline.gap?.reason).toBe(
      'public.customers left publication shop_pub on east: changes made while it was out were never sent',
    );
    expect(continuity(null, facts([])).baseline.gap?.reason).toBe(
      'public.customers is in none of the publications shop_sub lists on east: changes to it are not sent',
    );
  });

  it('dropped and added back between two readings: a new row oid is a gap', () => {
    const c = continuity(baseline([rel(5)]), facts([rel(9)]));
    expect(c.verdict).toBe('gap');
    expect(c.baseline.gap?.reason).toMatch(
      /^public\.customers left and rejoined publication shop_pub on east/,
    );
  });

  it('the publication row written anew (its actions, via root, name or owner, by hand): a gap', () => {
    const v = (version: string | undefined) => ({ ...rel(5), ...(version ? { version } : {}) });
    const c = continuity(baseline([v('700')]), facts([v('731')]));
    expect(c.verdict).toBe('gap');
    expect(c.baseline.gap?.reason).toBe(
      'publication shop_pub on east was altered by hand (ALTER PUBLICATION of what it publishes, publish_via_partition_root, its name or its owner, maybe changed and back): changes to public.customers made meanwhile may never have been sent',
    );
    // an owner change writes the row anew too: said as such, still a gap (steep cannot tell
    // nothing else changed meanwhile; a verify that finds the table equal clears it)
    const owned = continuity(
      baseline([{ ...v('700'), owner: 'admin' }]),
      facts([{ ...v('731'), owner: 'steep' }]),
    );
    expect(owned.verdict).toBe('gap');
    expect(owned.baseline.gap?.reason).toBe(
      "publication shop_pub on east changed owner (admin to steep) since steep's reading, which writes its row anew as a change of what it publishes or of publish_via_partition_root does: steep cannot show that every change to public.customers was sent meanwhile",
    );
    // the same version: nothing to record
    const b = baseline([v('700')]);
    expect(continuity(b, facts([v('700')]))).toEqual({ verdict: 'continuous', baseline: b, changed: false });
    // a baseline from before versions were read takes the version now, judging nothing
    const older = continuity(baseline([v(undefined)]), facts([v('731')]));
    expect(older).toMatchObject({ verdict: 'continuous', changed: true, baseline: { members: [v('731')] } });
    // another publication, unchanged, that publishes every action sent every change meanwhile;
    // one that publishes fewer did not carry what the altered one may have stopped
    const other = (version: string) => ({ ...rel(6, 'other_pub', 101), version });
    const both = facts([v('731'), other('400')], { shop_pub: 100, other_pub: 101 });
    expect(continuity(baseline([v('700'), other('400')]), both).baseline.gap?.reason).toMatch(
      /^publication shop_pub on east was altered by hand/,
    );
    const two = continuity(baseline([v('700'), other('400')]), { ...both, publishesAll: ['other_pub'] });
    expect(two).toMatchObject({
      verdict: 'continuous',
      changed: true,
      baseline: { members: [v('731'), other('400')] },
    });
  });

  it('a publication dropped and created again: a new publication oid', () => {
    const c = continuity(baseline([rel(5)]), facts([rel(9, 'shop_pub', 200)], { shop_pub: 200 }));
    expect(c.baseline.gap?.reason).toMatch(/^publication shop_pub on east was dropped and created again/);
  });

  it('18: a slot that skips every publication the table is published through is a gap; one that flows is not', () => {
    const b = baseline([rel(5)]);
    const c = continuity(b, { ...facts([rel(5)]), skipped: ['shop_pub'] });
    expect(c.verdict).toBe('gap');
    expect(c.baseline.gap?.reason).toMatch(
      /^publication shop_pub on east did not exist under that name where changes shop_sub's slot has still to send were committed .*PostgreSQL 18 skips it there, so changes to public\.customers made meanwhile are never sent$/,
    );
    // another publication still sent it meanwhile
    const two = [rel(5), rel(6, 'other_pub', 101)];
    const flows = continuity(baseline(two), {
      ...facts(two, { shop_pub: 100, other_pub: 101 }),
      skipped: ['shop_pub'],
    });
    expect(flows.verdict).toBe('continuous');
    // a table with no baseline yet: this reading starts one, the next judges it
    expect(continuity(null, { ...facts([rel(5)]), skipped: ['shop_pub'] }).verdict).toBe('continuous');
  });

  it('paused: positions recorded while disabled; either moved forward with no ALTER SUBSCRIPTION between is a gap', () => {
    const at = { rowVersion: '901', slot: 'shop_sub', slotLsn: '0/3000100', originLsn: '0/3000000' };
    const paused = (p: Partial<typeof at>) => ({ ...facts([rel(5)]), paused: { ...at, ...p } });
    // the first reading that finds it paused records where it stands
    const first = continuity(baseline([rel(5)]), paused({}));
    expect(first).toMatchObject({ verdict: 'continuous', changed: true, baseline: { paused: at } });
    const b = first.baseline;
    expect(continuity(b, paused({}))).toEqual({ verdict: 'continuous', baseline: b, changed: false });
    const slot = continuity(b, paused({ slotLsn: '0/3A00000' }));
    expect(slot.verdict).toBe('gap');
    expect(slot.baseline.gap).toEqual({
      since: NOW,
      kind: 'positions',
      reason:
        "shop_sub's slot shop_sub on east moved from 0/3000100 to 0/3A00000 while the subscription was disabled and nothing streamed from it (advanced, or dropped and created again, by hand): PostgreSQL resumes past it, so changes to public.customers committed in between are never sent",
    });
    expect(continuity(b, paused({ originLsn: '0/3A00000' })).baseline.gap?.reason).toMatch(
      /^shop_sub's origin on its subscriber moved from 0\/3000000 to 0\/3A00000 while the subscription was disabled and no worker applied \(advanced by hand\)/,
    );
    // an ALTER SUBSCRIPTION between (an ENABLE, then a DISABLE: its worker streamed), another
    // slot, a position behind (sent or applied again, nothing skipped), or not paused now: no gap
    for (const now of [
      paused({ rowVersion: '950', slotLsn: '0/3A00000', originLsn: '0/3A00000' }),
      paused({ slot: 'other', slotLsn: '0/3A00000' }),
      paused({ slotLsn: '0/2000000', originLsn: '0/2000000' }),
      facts([rel(5)]),
    ])
      expect(continuity(b, now).verdict).toBe('continuous');
    // enabled again: the positions are forgotten (recorded as none)
    expect(continuity(b, facts([rel(5)]))).toMatchObject({ changed: true, baseline: { paused: null } });
  });

  it("a slot's decoded count smaller than at a reading before, counted as before, is a gap", () => {
    const since = '1764590000.123456';
    const count = (
      txns: string,
      p: { slot?: string; since?: string; reset?: string | null; now?: string } = {},
    ) => ({
      ...facts([rel(5)]),
      now: p.now ?? NOW,
      decoded: { slot: p.slot ?? 'shop_sub', txns, since: p.since ?? since, reset: p.reset ?? null },
    });
    const later = (minutes: number) => new Date(Date.parse(NOW) + minutes * 60_000).toISOString();
    // the first reading with a count records it, with when
    const first = continuity(baseline([rel(5)]), count('5000'));
    expect(first).toMatchObject({
      verdict: 'continuous',
      changed: true,
      baseline: { decoded: { slot: 'shop_sub', txns: '5000', since, reset: null, at: NOW } },
    });
    const b = first.baseline;
    // it grows: kept as recorded until it doubles or the record is 10 minutes old
    expect(continuity(b, count('9999', { now: later(9) }))).toEqual({
      verdict: 'continuous',
      baseline: b,
      changed: false,
    });
    expect(continuity(b, count('10000', { now: later(1) })).baseline.decoded).toMatchObject({
      txns: '10000',
    });
    expect(continuity(b, count('5001', { now: later(10) })).baseline.decoded).toMatchObject({
      txns: '5001',
      at: later(10),
    });
    // smaller, counted as before: the slot was made again
    const made = continuity(b, count('20', { now: later(3) }));
    expect(made.verdict).toBe('gap');
    expect(made.baseline.gap).toEqual({
      since: later(3),
      kind: 'positions',
      reason: `shop_sub's slot shop_sub on east has decoded 20 transactions, fewer than the 5000 it had at steep's reading of ${NOW}, with east's statistics kept since on the same server and timeline: it was dropped and created again (by hand), and PostgreSQL streams from the new slot's start, so changes to public.customers committed before it and not yet applied were never sent`,
    });
    // the server's statistics discarded since (a crash), the slot's reset since, another slot, or
    // not read: nothing judged, and the count now is recorded where there is one
    for (const now of [
      count('20', { since: '1764599999.5' }),
      count('20', { reset: '1764599999.5' }),
      count('20', { slot: 'other' }),
    ]) {
      const c = continuity(b, now);
      expect(c).toMatchObject({
        verdict: 'continuous',
        changed: true,
        baseline: { decoded: { txns: '20' } },
      });
    }
    expect(continuity(b, facts([rel(5)]))).toEqual({ verdict: 'continuous', baseline: b, changed: false });
    // a slot reset by hand once: made again, it shows no reset, fewer transactions or not
    const wasReset = continuity(null, count('30', { reset: '1764595000.5' })).baseline;
    expect(continuity(wasReset, count('10', { reset: '1764595000.5' })).verdict).toBe('gap');
    const gone = continuity(wasReset, count('40', { reset: null }));
    expect(gone.verdict).toBe('gap');
    expect(gone.baseline.gap?.reason).toMatch(
      /^shop_sub's slot shop_sub on east no longer shows the reset of its statistics it showed at steep's reading of \S+ \(a reset is never undone\), with east's statistics kept since on the same server and timeline: it was dropped and created again/,
    );
  });

  it('a transaction set to be skipped (ALTER SUBSCRIPTION … SKIP) is a gap, paused or not', () => {
    const c = continuity(baseline([rel(5)]), { ...facts([rel(5)]), skipping: '0/3000500' });
    expect(c.verdict).toBe('gap');
    expect(c.baseline.gap).toMatchObject({
      kind: 'positions',
      reason:
        'ALTER SUBSCRIPTION shop_sub SKIP (lsn = 0/3000500) was set by hand: PostgreSQL skips the transaction finishing there, so its changes to public.customers are never applied',
    });
  });

  it('a rename keeps the oid: the subscription no longer lists it', () => {
    const c = continuity(baseline([rel(5)]), facts([], { shop_pub2: 100 }));
    expect(c.baseline.gap?.reason).toMatch(/^publication shop_pub on east was renamed to shop_pub2/);
  });

  it('another publication kept it flowing: continuous, and the baseline follows', () => {
    const c = continuity(
      baseline([rel(5), rel(6, 'other', 101)]),
      facts([rel(6, 'other', 101)], { shop_pub: 100, other: 101 }),
    );
    expect(c).toMatchObject({
      verdict: 'continuous',
      changed: true,
      baseline: { members: [rel(6, 'other', 101)] },
    });
  });

  it('a recorded gap stays, whatever the facts now', () => {
    const gap = { since: NOW, reason: 'x' };
    expect(continuity(baseline([rel(5)], gap), facts([rel(5)])).verdict).toBe('gap');
  });

  it("another subscription instance's baseline is not this one's", () => {
    const other = { ...baseline([rel(5)], { since: NOW, reason: 'x' }), subscriptionOid: 8 };
    expect(continuity(other, facts([rel(9)]))).toMatchObject({ verdict: 'continuous', changed: true });
  });

  it('memberships: own row, schema, FOR ALL TABLES, a partitioned ancestor', () => {
    const pub = (oid: number, p: Partial<ObservedPublication>) =>
      ({ oid, allTables: false, ...p }) as ObservedPublication;
    const pubs = {
      a: pub(1, { members: { tables: { 'public.customers': 11 }, schemas: {} } }),
      b: pub(2, { members: { tables: {}, schemas: { public: 12 } } }),
      c: pub(3, { allTables: true }),
      d: pub(4, { members: { tables: { 'public.root': 14 }, schemas: {} } }),
    };
    expect(membershipsOf(pubs, ['a', 'b', 'c', 'missing'], 'public.customers')).toEqual([
      { publication: 'a', publicationOid: 1, via: 'table', rowOid: 11 },
      { publication: 'b', publicationOid: 2, via: 'schema', rowOid: 12 },
      { publication: 'c', publicationOid: 3, via: 'all', rowOid: null },
    ]);
    expect(membershipsOf(pubs, ['d'], 'public.part1', ['public.root'])).toEqual([
      { publication: 'd', publicationOid: 4, via: 'table', rowOid: 14 },
    ]);
  });

  it('the way out: a copy of the table; put it back first when it is out', () => {
    expect(gapWayOut('shop_sub', [{ table: 'public.customers', out: false }])).toContain(
      '`steep reinit shop_sub --tables public.customers`',
    );
    expect(gapWayOut('shop_sub', [{ table: 'public.customers', out: true }])).toMatch(
      /^put the table back in its publication with steep apply .*--allow-hazard data-gap/,
    );
  });
});
