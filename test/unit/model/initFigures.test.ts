import { describe, expect, it } from 'vitest';
import type { SubscriptionRelState } from '../../../src/model/cluster.js';
import { advanceState, type InitSample, InitTracker, liveState } from '../../../src/model/initFigures.js';
import type { SlotLag, SubscriberSample, SubscriptionActivity } from '../../../src/model/initState.js';

/** From samples to the figures an init shows, and the state they mean. */

const INFO = { subscription: 's', node: 'west', from: 'east', method: 'snapshot' };

function activity(over: Partial<SubscriptionActivity> = {}): SubscriptionActivity {
  return {
    oid: 1,
    name: 's',
    enabled: true,
    applyRunning: true,
    syncWorkers: 1,
    lastMessageAt: null,
    applyErrorCount: 0,
    syncErrorCount: 0,
    conflictCount: 0,
    conflicts: null,
    ...over,
  };
}

function subscriber(
  tables: Array<[string, SubscriptionRelState, number | null]>,
  over = {},
): SubscriberSample {
  return {
    activity: activity(over),
    tables: tables.map(([name, state, rows]) => ({
      schema: 'public',
      name,
      state,
      tuplesProcessed: rows,
      bytesProcessed: null,
    })),
  };
}

function slot(over: Partial<SlotLag> = {}): SlotLag {
  return {
    slot: 's',
    active: true,
    activePid: 1,
    walStatus: 'reserved',
    confirmedFlushLsn: '0/100',
    currentLsn: '0/200',
    lagBytes: 256,
    retainedWalBytes: 1000,
    lagSeconds: null,
    ...over,
  };
}

const SIZES = new Map([
  ['public.big', { sizeBytes: 900_000, estimatedRows: 9000 }],
  ['public.small', { sizeBytes: 100_000, estimatedRows: 1000 }],
]);

function sample(at: number, sub: SubscriberSample, s: SlotLag | null = slot()): InitSample {
  return { at, subscriber: sub, sizes: SIZES, slot: s, publisherError: null };
}

describe('InitTracker', () => {
  it('weighs the copy by table size, counts rows, measures rows/s and an ETA', () => {
    const t = new InitTracker(INFO, 'copying', { follow: true });
    const a = t.update(
      sample(
        0,
        subscriber([
          ['big', 'd', 900],
          ['small', 'r', null],
        ]),
      ),
    );
    expect(a).toMatchObject({
      state: 'copying',
      tablesTotal: 2,
      tablesDone: 1,
      currentTables: ['public.big'],
      rowsCopied: 1900,
      rowsPerSecond: null,
      etaSeconds: null,
    });
    // big: 10% of 900 kB + small: 100% of 100 kB → 19%
    expect(a.percent).toBe(19);
    const b = t.update(
      sample(
        1000,
        subscriber([
          ['big', 'd', 1800],
          ['small', 'r', null],
        ]),
      ),
    );
    expect(b.percent).toBe(28);
    expect(b.rowsPerSecond).toBe(900);
    expect(b.etaSeconds).toBe(8); // 72% left at 9%/s
  });

  it('copying → catching_up → synchronized once confirmed past the WAL written when every table was ready', () => {
    const t = new InitTracker(INFO, 'copying', { follow: true });
    const ready = subscriber([
      ['big', 'r', null],
      ['small', 'r', null],
    ]);
    expect(
      t.update(
        sample(
          0,
          subscriber([
            ['big', 's', null],
            ['small', 'r', null],
          ]),
        ),
      ).state,
    ).toBe('catching_up');
    expect(t.update(sample(1, ready, slot({ confirmedFlushLsn: '0/100', currentLsn: '0/900' }))).state).toBe(
      'catching_up',
    );
    expect(t.update(sample(2, ready, slot({ confirmedFlushLsn: '0/800', currentLsn: '0/1000' }))).state).toBe(
      'catching_up',
    );
    expect(t.update(sample(3, ready, slot({ confirmedFlushLsn: '0/900', currentLsn: '0/1000' }))).state).toBe(
      'synchronized',
    );
  });

  it('following never takes a small lag for caught up before the worker confirmed anything', () => {
    const t = new InitTracker(INFO, 'catching_up', { follow: true });
    const ready = subscriber([['big', 'r', null]]);
    expect(
      t.update(sample(0, ready, slot({ confirmedFlushLsn: '0/100', currentLsn: '0/200', lagBytes: 256 })))
        .state,
    ).toBe('catching_up');
    // an observer looking once accepts a streaming slot with almost no lag
    const o = new InitTracker(INFO, 'catching_up');
    expect(o.update(sample(0, ready, slot({ lagBytes: 256 }))).state).toBe('synchronized');
    expect(new InitTracker(INFO, 'catching_up').update(sample(0, ready, slot({ active: false }))).state).toBe(
      'catching_up',
    );
  });

  it('reports the publisher as unreachable without losing the figures', () => {
    const t = new InitTracker(INFO, 'copying', { follow: true });
    const p = t.update({
      at: 0,
      subscriber: subscriber([['big', 'd', 10]]),
      sizes: null,
      slot: null,
      publisherError: 'refused',
    });
    expect(p).toMatchObject({
      state: 'copying',
      publisherError: 'refused',
      lagBytes: null,
      bytesTotal: null,
    });
  });
});

describe('states from samples', () => {
  it('live state: absent, disabled, copying, catching up, synchronized', () => {
    const s = (sub: SubscriberSample) => sample(0, sub);
    expect(liveState(s({ activity: null, tables: [] }), false)).toBe('uninitialized');
    expect(liveState(s(subscriber([['big', 'r', null]], { enabled: false })), true)).toBe('preparing');
    expect(liveState(s(subscriber([['big', 'i', null]])), false)).toBe('copying');
    expect(liveState(s(subscriber([['big', 's', null]])), false)).toBe('catching_up');
    expect(liveState(s(subscriber([['big', 'r', null]])), true)).toBe('synchronized');
  });

  it('a recorded state only moves forward; failed and synchronized stay', () => {
    expect(advanceState('copying', 'catching_up')).toBe('catching_up');
    expect(advanceState('catching_up', 'copying')).toBe('catching_up');
    expect(advanceState('failed', 'synchronized')).toBe('failed');
    expect(advanceState('synchronized', 'catching_up')).toBe('synchronized');
    expect(advanceState('preparing', 'catching_up')).toBe('catching_up');
  });
});
