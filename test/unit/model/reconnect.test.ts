import { describe, expect, it } from 'vitest';
import { nextReading, type SyncFacts, syncVerdict } from '../../../src/model/syncVerdict.js';

const NOW = '2026-01-01T12:00:00.000Z';
const ago = (s: number) => new Date(Date.parse(NOW) - s * 1000).toISOString();

/** west_x from east: the reading 20 s ago saw 0 errors; 1 apply error now; east restarted 10 s ago. */
const RESTARTED: SyncFacts = {
  subscription: 'west_x',
  node: 'west',
  from: 'east',
  enabled: true,
  tables: [{ schema: 'public', name: 'a', state: 'r' }],
  applyRunning: true,
  countsErrors: true,
  applyErrors: 1,
  syncErrors: 0,
  previous: { applyErrors: 0, syncErrors: 0, at: ago(20), roseAt: null },
  retryIntervalMs: 5_000,
  now: NOW,
  slot: { name: 'west_x', active: true },
  publisherStartedAt: ago(10),
  lagBytes: 120,
  missingColumns: {},
  notRecorded: null,
};

describe('a rise of the error counters across a restart of the publisher (model/reconnect.ts)', () => {
  it('the worker streaming again, caught up: synchronized, with the reconnect as evidence', () => {
    const v = syncVerdict(RESTARTED);
    expect(v.verdict).toBe('synchronized');
    expect(v.reasons.at(-1)).toBe(
      `reconnected after east restarted at ${ago(10)}: the errors (apply 0 → 1, sync 0 → 0) are its connection loss; its apply worker streams again, caught up`,
    );
    // and the reading recorded keeps no window open for the next one
    expect(nextReading(RESTARTED)).toEqual({ applyErrors: 1, syncErrors: 0, at: NOW, roseAt: null });
  });

  it('a rise seen while the publisher was down, the worker streaming again now: synchronized', () => {
    const v = syncVerdict({
      ...RESTARTED,
      previous: { applyErrors: 1, syncErrors: 0, at: ago(15), roseAt: ago(15) },
    });
    expect(v.verdict).toBe('synchronized');
    expect(v.reasons.at(-1)).toMatch(
      /^reconnected after east restarted at .*: the errors \(apply 1, sync 0, last rose at /,
    );
  });

  it('streaming again with WAL to confirm: unknown (read again), not failing', () => {
    const v = syncVerdict({ ...RESTARTED, lagBytes: 10_000_000 });
    expect(v.verdict).toBe('unknown');
    expect(v.reasons[0]).toMatch(/with 10000000 bytes of WAL to confirm yet \(read again\)$/);
  });

  // each condition made false: failing, as any other rise
  const failing: Array<[string, Partial<SyncFacts>]> = [
    ['the publisher started before the previous reading (a crash loop)', { publisherStartedAt: ago(30) }],
    ['the publisher not read', { publisherStartedAt: null, slot: null }],
    [
      'the rise seen after the restart, no rise now (a crash loop between errors)',
      {
        applyErrors: 2,
        previous: { applyErrors: 2, syncErrors: 0, at: ago(3), roseAt: ago(5) },
      },
    ],
  ];
  for (const [name, change] of failing)
    it(`${name}: failing`, () => {
      expect(syncVerdict({ ...RESTARTED, ...change }).verdict).toBe('failing');
    });

  it('the worker not running yet, or its slot inactive: failing; the rise recorded without a window', () => {
    const down = { ...RESTARTED, applyRunning: false, slot: { name: 'west_x', active: false } };
    expect(syncVerdict(down).verdict).toBe('failing');
    expect(nextReading(down)?.roseAt).toBeNull();
    expect(syncVerdict({ ...RESTARTED, slot: { name: 'west_x', active: false } }).verdict).not.toBe(
      'synchronized',
    );
  });

  it('a rise with the restart older than the previous reading opens the window as before', () => {
    expect(nextReading({ ...RESTARTED, publisherStartedAt: ago(30) })?.roseAt).toBe(NOW);
  });
});
