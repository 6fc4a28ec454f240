import { describe, expect, it } from 'vitest';
import { type LagFacts, lagVerdict } from '../../../src/model/lagVerdict.js';
import type { SyncVerdictWord } from '../../../src/model/statusWords.js';
import {
  missingColumns,
  nextReading,
  riseWindowMs,
  type SyncFacts,
  syncVerdict,
} from '../../../src/model/syncVerdict.js';
import { sentNames } from '../../../src/model/verify.js';

const NOW = '2026-01-01T12:00:00.000Z';
const EARLIER = '2026-01-01T11:59:00.000Z';
const ago = (ms: number) => new Date(Date.parse(NOW) - ms).toISOString();

/** west_x on west from east, every condition of synchronized true (PostgreSQL 15+, a reading recorded). */
const SYNCED: SyncFacts = {
  subscription: 'west_x',
  node: 'west',
  from: 'east',
  enabled: true,
  tables: [
    { schema: 'public', name: 'a', state: 'r' },
    { schema: 'public', name: 'b', state: 'r' },
  ],
  applyRunning: true,
  countsErrors: true,
  applyErrors: 3,
  syncErrors: 1,
  previous: { applyErrors: 3, syncErrors: 1, at: EARLIER, roseAt: null },
  retryIntervalMs: 5_000,
  now: NOW,
  slot: { name: 'west_x', active: true },
  missingColumns: {},
  notRecorded: null,
};

describe('syncVerdict: synchronized only when every condition is proven', () => {
  const cases: Array<[string, Partial<SyncFacts>, SyncVerdictWord, RegExp]> = [
    ['every condition true', {}, 'synchronized', /^enabled, tables 2\/2 ready, apply worker running$/],
    [
      'before PostgreSQL 15 (no counters)',
      { countsErrors: false, applyErrors: null, syncErrors: null, previous: null },
      'synchronized',
      /^errors not counted before PostgreSQL 15$/,
    ],
    [
      'no error ever, no reading yet',
      { applyErrors: 0, syncErrors: 0, previous: null },
      'synchronized',
      /^no error counted$/,
    ],
    // each condition made false
    [
      'a reinit not finished: its temporary publications are on the publisher',
      { unfinishedReinit: 'a reinit of public.a has not finished: …' },
      'not_ready',
      /^a reinit of public\.a has not finished/,
    ],
    [
      "a table's stream broke (model/continuity.ts)",
      { gaps: [{ table: 'public.a', reason: 'public.a left publication p on east: …', out: false }] },
      'gap',
      /^copy it again: `steep reinit west_x --tables public\.a`/,
    ],
    [
      'disabled, with a gap: the gap is in its evidence',
      {
        enabled: false,
        applyRunning: false,
        gaps: [{ table: 'public.a', reason: 'public.a left publication p on east: …', out: true }],
      },
      'stopped',
      /^put the table back in its publication with steep apply/,
    ],
    ['disabled', { enabled: false, applyRunning: false }, 'stopped', /^disabled: no apply worker runs$/],
    [
      'disabled by PostgreSQL at an error (disable_on_error, errors counted)',
      { enabled: false, applyRunning: false, disableOnError: true },
      'failing',
      /^disabled by PostgreSQL after an error \(disable_on_error; errors apply 3, sync 1 counted since the statistics were reset\): .*fix its cause, then run ALTER SUBSCRIPTION "west_x" ENABLE on west/,
    ],
    [
      'disabled by steep (the file) after an incident resolved: the errors counted then are not new',
      { enabled: false, applyRunning: false, disableOnError: true, steepDisabledAt: 4 },
      'stopped',
      /^disabled: no apply worker runs$/,
    ],
    [
      'disabled by steep, then enabled by hand and disabled by PostgreSQL at a new error',
      { enabled: false, applyRunning: false, disableOnError: true, steepDisabledAt: 3 },
      'failing',
      /^disabled by PostgreSQL after an error \(disable_on_error; errors apply 3, sync 1 counted/,
    ],
    [
      'disabled with disable_on_error, no error counted (by hand)',
      { enabled: false, applyRunning: false, disableOnError: true, applyErrors: 0, syncErrors: 0 },
      'stopped',
      /^disabled: no apply worker runs$/,
    ],
    [
      "its worker runs while the declared publisher's slot is inactive (it streams from another node)",
      { slot: { name: 'west_x', active: false } },
      'unknown',
      /^apply worker running on west, while its slot west_x on east is inactive: it streams from a node other than east, or is still connecting/,
    ],
    [
      'disabled, its slot gone from the publisher',
      { enabled: false, applyRunning: false, slot: 'absent' },
      'stopped',
      /^its slot is gone from east: enabling the subscription cannot resume it$/,
    ],
    [
      'a table not ready',
      {
        tables: [
          { schema: 'public', name: 'a', state: 'r' },
          { schema: 'public', name: 'b', state: 'd' },
        ],
      },
      'not_ready',
      /^tables 1\/2 ready$/,
    ],
    [
      'the apply worker not running, slot inactive',
      { applyRunning: false, slot: { name: 'west_x', active: false } },
      'failing',
      /^apply worker not running on west, its slot west_x on east is inactive$/,
    ],
    [
      'the apply worker not running, slot gone',
      { applyRunning: false, slot: 'absent' },
      'failing',
      /^apply worker not running on west, its slot is gone from east$/,
    ],
    [
      'the apply worker not running, slot gone: the full reinit named',
      { applyRunning: false, slot: 'absent' },
      'failing',
      /^nothing can replay what west missed since: steep reinit west_x --full creates the slot again and copies every table$/,
    ],
    [
      'the apply worker not running, slot invalidated',
      { applyRunning: false, slot: { name: 'west_x', active: false, lost: true } },
      'failing',
      /^apply worker not running on west, its slot west_x on east was invalidated \(wal_status lost: PostgreSQL removed WAL it still needed, past max_slot_wal_keep_size\)$/,
    ],
    [
      'the apply worker not running, slot invalidated: the full reinit named',
      { applyRunning: false, slot: { name: 'west_x', active: false, lost: true } },
      'failing',
      /^nothing can replay what west missed since: steep reinit west_x --full/,
    ],
    [
      'no worker, the invalidated slot held a moment: not a restart',
      { applyRunning: false, slot: { name: 'west_x', active: true, lost: true } },
      'failing',
      /was invalidated/,
    ],
    [
      'disabled by PostgreSQL at an error, its slot invalidated: the full reinit named, which enables it',
      {
        enabled: false,
        disableOnError: true,
        applyRunning: false,
        slot: { name: 'west_x', active: false, lost: true },
      },
      'failing',
      /^nothing can replay what west missed since: steep reinit west_x --full creates the slot again, enables west_x \(where steep\.yaml enables it\) and copies every table$/,
    ],
    [
      '14–17, its slot stuck before a publication re-created by hand: the cause',
      {
        applyRunning: false,
        slot: { name: 'west_x', active: false, stuckAt: { publication: 'pub_a', version: 160004 } },
      },
      'failing',
      /^slot west_x of west_x on east cannot get past the creation of publication pub_a: PostgreSQL 16 .*"publication "pub_a" does not exist" at every start/,
    ],
    [
      '14–17, its slot stuck, caught running between errors, with gaps: the full reinit, never the copy of some tables',
      {
        slot: { name: 'west_x', active: true, stuckAt: { publication: 'pub_a', version: 160004 } },
        gaps: [
          {
            table: 'public.a',
            reason: 'publication pub_a on east was dropped and created again',
            out: false,
          },
        ],
      },
      'failing',
      /^only `steep reinit west_x --full` gets past it: it creates the slot again and copies every table again/,
    ],
    [
      'disabled, its slot stuck: enabling cannot resume it, no repair advised',
      {
        enabled: false,
        applyRunning: false,
        slot: { name: 'west_x', active: false, stuckAt: { publication: 'pub_a', version: 170000 } },
      },
      'stopped',
      /^slot west_x .* cannot get past the creation of publication pub_a: .*: enabling the subscription cannot resume it$/,
    ],
    [
      'disabled, its slot invalidated: no repair advised (it may be retired by a switchover)',
      { enabled: false, applyRunning: false, slot: { name: 'west_x', active: false, lost: true } },
      'stopped',
      /^its slot west_x on east was invalidated \(.*\): enabling the subscription cannot resume it$/,
    ],
    [
      'the apply worker not running, publisher unread',
      { applyRunning: false, slot: null },
      'failing',
      /^apply worker not running on west, its slot on east could not be read$/,
    ],
    [
      'before 15: worker not running is enough',
      {
        countsErrors: false,
        applyErrors: null,
        syncErrors: null,
        previous: null,
        applyRunning: false,
        slot: { name: 'west_x', active: false },
      },
      'failing',
      /^apply worker not running/,
    ],
    [
      'apply errors rose since the last reading',
      { applyErrors: 7 },
      'failing',
      new RegExp(`^apply errors rose from 3 to 7 since steep's reading at ${EARLIER}$`),
    ],
    [
      'sync errors rose since the last reading',
      { syncErrors: 2 },
      'failing',
      /^sync errors rose from 1 to 2 since/,
    ],
    [
      'a rise seen moments ago, worker caught between two errors',
      { previous: { applyErrors: 3, syncErrors: 1, at: ago(2000), roseAt: ago(5000) } },
      'failing',
      /last rose at .*under 30 s ago/,
    ],
    [
      'counters reset since the reading, errors counted after',
      { applyErrors: 1, syncErrors: 0 },
      'failing',
      /since the statistics were reset after steep's reading/,
    ],
    [
      'a column the publisher publishes is missing',
      { missingColumns: { 'public.a': ['note'] } },
      'failing',
      /^public\.a on west lacks column note, which east publishes/,
    ],
    // what steep could not read
    [
      'the workers could not be read',
      { applyRunning: null },
      'unknown',
      /^the workers of west_x on west could not be read$/,
    ],
    [
      'the counters could not be read (15+)',
      { applyErrors: null, syncErrors: null },
      'unknown',
      /error counters of west_x on west could not be read/,
    ],
    [
      'errors counted, no earlier reading',
      { previous: null },
      'unknown',
      /no earlier reading of steep's .*this reading is recorded/,
    ],
    [
      'errors counted, no earlier reading, none recordable',
      { previous: null, notRecorded: 'permission denied for table status_readings' },
      'unknown',
      /nor could this reading be recorded: permission denied/,
    ],
    [
      'no worker while the slot is still active: a restart',
      { applyRunning: false },
      'unknown',
      /^no apply worker on west, while its slot west_x on east is active: a worker restarting/,
    ],
  ];
  it.each([
    ['disabled', { enabled: false, applyRunning: false }],
    ['disabled at an error', { enabled: false, applyRunning: false, disableOnError: true, applyErrors: 9 }],
    ['enabled, its worker failing', { applyRunning: false, applyErrors: 9 }],
  ] as Array<[string, Partial<SyncFacts>]>)(
    'its slot gone, with a gap (%s): the gap is said, never the copy of some tables that would wait on a slot that is not there',
    (_, over) => {
      const gaps = [{ table: 'public.a', reason: 'public.a left publication p on east: …', out: false }];
      for (const slot of ['absent', { name: 'west_x', active: false, lost: true }] as const) {
        const v = syncVerdict({ ...SYNCED, ...over, slot, gaps });
        const text = v.reasons.join(' | ');
        expect(text).toContain('public.a left publication p on east');
        expect(text).not.toContain('--tables');
      }
    },
  );

  it.each(cases)('%s', (_, over, verdict, reason) => {
    const v = syncVerdict({ ...SYNCED, ...over });
    expect(v.verdict).toBe(verdict);
    expect(
      v.reasons.some((r) => reason.test(r)),
      v.reasons.join(' | '),
    ).toBe(true);
  });

  it('a slot stuck before a publication (14–17): the gaps are named, their copy of some tables is not advised', () => {
    const v = syncVerdict({
      ...SYNCED,
      slot: { name: 'west_x', active: false, stuckAt: { publication: 'pub_a', version: 140010 } },
      gaps: [
        { table: 'public.a', reason: 'publication pub_a on east was dropped and created again', out: false },
      ],
    });
    expect(v.verdict).toBe('failing');
    expect(v.reasons).toContain('publication pub_a on east was dropped and created again');
    expect(v.reasons.join(' | ')).not.toContain('--tables');
  });

  it('a rise older than its window no longer counts: the counters stayed put since', () => {
    const window = riseWindowMs(SYNCED.retryIntervalMs);
    expect(window).toBe(30_000);
    const old = { applyErrors: 3, syncErrors: 1, at: ago(1000), roseAt: ago(window + 1) };
    expect(syncVerdict({ ...SYNCED, previous: old }).verdict).toBe('synchronized');
    expect(syncVerdict({ ...SYNCED, previous: { ...old, roseAt: ago(window - 1) } }).verdict).toBe('failing');
  });

  it("the window follows the subscriber's wal_retrieve_retry_interval: a loop that errs once a minute stays failing between its errors", () => {
    // the launcher starts the failed worker again only after 60 s: caught running 40 s after
    // its last error, it has not yet failed again (a fixed 30 s window said synchronized here)
    const slow = { ...SYNCED, retryIntervalMs: 60_000 };
    const rose40s = { applyErrors: 3, syncErrors: 1, at: ago(1000), roseAt: ago(40_000) };
    const v = syncVerdict({ ...slow, previous: rose40s });
    expect(v.verdict).toBe('failing');
    expect(v.reasons.join(' | ')).toMatch(/last rose at .*under 360 s ago/);
    expect(syncVerdict({ ...slow, previous: { ...rose40s, roseAt: ago(360_001) } }).verdict).toBe(
      'synchronized',
    );
    // a short interval: six of it, but never under 10 s; not read: as PostgreSQL's default 5 s
    expect(riseWindowMs(500)).toBe(10_000);
    expect(riseWindowMs(3_000)).toBe(18_000);
    expect(riseWindowMs(null)).toBe(30_000);
    const fast = { ...SYNCED, retryIntervalMs: 500 };
    expect(syncVerdict({ ...fast, previous: { ...rose40s, roseAt: ago(9_000) } }).verdict).toBe('failing');
    expect(syncVerdict({ ...fast, previous: { ...rose40s, roseAt: ago(10_001) } }).verdict).toBe(
      'synchronized',
    );
  });
});

describe('syncVerdict: a subscription a failover of its publisher left diverged', () => {
  // the failover's verdict (planner/failover/failoverPromotion.ts) names its way out, which keeps
  // what the subscriber must keep first: no bare full reinit (it empties rows that may be the only
  // copy) and no ENABLE (it resumes past the fork) beside it
  const bare = (r: string) => /creates the slot again|ALTER SUBSCRIPTION/.test(r);
  const disabledAtError = {
    ...SYNCED,
    enabled: false,
    applyRunning: false,
    disableOnError: true,
    failoverDiverged: true,
  };
  it('disabled by PostgreSQL at an error, its slot gone: why it is disabled, and the failover first', () => {
    const v = syncVerdict({ ...disabledAtError, slot: 'absent' });
    expect(v.verdict).toBe('failing');
    expect(v.reasons.filter(bare), v.reasons.join(' | ')).toEqual([]);
    expect(v.reasons[0]).toMatch(
      /^disabled by PostgreSQL after an error \(disable_on_error; errors apply 3, sync 1 counted since the statistics were reset\): its message is in the server log of west .*; a failover of east left west_x diverged, so the failover's way out comes first: enabling it before that resumes past the fork$/,
    );
    expect(v.reasons).toContain('its slot is gone from east: enabling the subscription cannot resume it');
  });
  it('disabled by PostgreSQL at an error, its slot beyond the WAL (not gone): no ENABLE named', () => {
    const v = syncVerdict({ ...disabledAtError, slot: { name: 'west_x', active: false } });
    expect(v.verdict).toBe('failing');
    expect(v.reasons.filter(bare), v.reasons.join(' | ')).toEqual([]);
  });
  it.each([
    ['gone', 'absent' as const],
    ['invalidated', { name: 'west_x', active: false, lost: true }],
  ])('enabled, no worker, its slot %s: no bare full reinit', (_, slot) => {
    const v = syncVerdict({ ...SYNCED, applyRunning: false, slot, failoverDiverged: true });
    expect(v.verdict).toBe('failing');
    expect(v.reasons.filter(bare), v.reasons.join(' | ')).toEqual([]);
    expect(v.reasons[0]).toMatch(/^apply worker not running on west, its slot/);
  });
});

describe('nextReading: what the next verdict compares with', () => {
  it('the counters now; roseAt moves only when they rose (or counted again after a reset)', () => {
    const previous = SYNCED.previous;
    expect(nextReading({ ...SYNCED })).toEqual({ applyErrors: 3, syncErrors: 1, at: NOW, roseAt: null });
    expect(nextReading({ ...SYNCED, applyErrors: 4 })).toEqual({
      applyErrors: 4,
      syncErrors: 1,
      at: NOW,
      roseAt: NOW,
    });
    expect(nextReading({ ...SYNCED, previous: { ...previous!, roseAt: EARLIER } })?.roseAt).toBe(EARLIER);
    expect(nextReading({ ...SYNCED, applyErrors: 0, syncErrors: 0 })?.roseAt).toBeNull();
    expect(nextReading({ ...SYNCED, applyErrors: 1, syncErrors: 0 })?.roseAt).toBe(NOW);
    expect(nextReading({ ...SYNCED, previous: null })).toEqual({
      applyErrors: 3,
      syncErrors: 1,
      at: NOW,
      roseAt: null,
    });
    // nothing to record before 15
    expect(nextReading({ ...SYNCED, applyErrors: null, syncErrors: null })).toBeNull();
  });
});

describe('lagVerdict: --max-lag', () => {
  const LAG: LagFacts = { lagBytes: 1000, lagSeconds: 2, walsender: 'streaming', unreadable: null };
  const cases: Array<
    [string, { bytes: number } | { seconds: number }, Partial<LagFacts>, string, RegExp | null]
  > = [
    ['seconds within', { seconds: 30 }, {}, 'within', null],
    ['seconds over', { seconds: 1 }, {}, 'over', /^lag 2\.0 s, over --max-lag 1 s$/],
    ['bytes within', { bytes: 2048 }, {}, 'within', null],
    ['bytes over', { bytes: 512 }, {}, 'over', /^lag 1000 B, over --max-lag 512 B$/],
    [
      'the publisher unreadable',
      { seconds: 30 },
      { unreadable: 'east (its publisher) cannot be read: lag unknown' },
      'unknown',
      /^east \(its publisher\)/,
    ],
    [
      'seconds hidden from a role without pg_read_all_stats',
      { seconds: 30 },
      { lagSeconds: null, walsender: 'hidden' },
      'unknown',
      /may not read the walsender's replay_lag.*pg_read_all_stats/,
    ],
    [
      'hidden seconds do not matter to a size',
      { bytes: 2048 },
      { lagSeconds: null, walsender: 'hidden' },
      'within',
      null,
    ],
    [
      'caught up and idle: PostgreSQL shows no replay lag',
      { seconds: 30 },
      { lagSeconds: null },
      'within',
      null,
    ],
    [
      'no replay lag yet with WAL pending',
      { seconds: 30 },
      { lagSeconds: null, lagBytes: 10_000_000 },
      'unknown',
      /reports no replay lag yet/,
    ],
    [
      'no walsender',
      { seconds: 30 },
      { lagSeconds: null, walsender: 'none' },
      'unknown',
      /no walsender streams its slot/,
    ],
    ['bytes unknown', { bytes: 2048 }, { lagBytes: null }, 'unknown', /its slot was not read/],
    [
      "a slot confirming beyond its publisher's WAL is no (negative) lag",
      { seconds: 30 },
      { lagBytes: -4_000_000, lagSeconds: 0 },
      'over',
      /its slot confirms 3\.8 MB beyond its publisher's own WAL: not a lag/,
    ],
  ];
  it.each(cases)('%s', (_, limit, over, verdict, reason) => {
    const v = lagVerdict(limit, { ...LAG, ...over });
    expect(v.verdict).toBe(verdict);
    if (reason) expect('reason' in v ? v.reason : '').toMatch(reason);
  });
});

describe('missingColumns', () => {
  const pub = [
    { name: 'id', generated: null },
    { name: 'v', generated: null },
    { name: 'note', generated: null },
    { name: 'total', generated: 's' },
  ];
  it('names published columns the subscriber lacks, within a column list, never generated ones', () => {
    expect(missingColumns(pub, [{ name: 'id' }, { name: 'v' }], null)).toEqual(['note']);
    expect(missingColumns(pub, [{ name: 'id' }, { name: 'v' }], ['id', 'v'])).toEqual([]);
    expect(missingColumns(pub, [{ name: 'id' }, { name: 'v' }, { name: 'note' }], null)).toEqual([]);
  });

  it('names a stored generated column a publication sends (18: publish_generated_columns = stored), never a virtual one', () => {
    const t = { schema: 'public', name: 'items' };
    const columns = [
      { name: 'id', generated: null },
      { name: 'total', generated: 'stored' as const },
      { name: 'shown', generated: 'virtual' as const },
    ];
    const pub = (o: {
      generatedColumns?: 'stored' | 'none';
      columns?: string[] | null;
      allTables?: boolean;
    }) => ({
      allTables: o.allTables ?? false,
      schemas: [],
      tables: o.allTables ? [] : [{ ...t, columns: o.columns ?? null, where: null }],
      generatedColumns: o.generatedColumns ?? null,
    });
    const subscriber = [{ name: 'id' }];
    const lacks = (pubs: ReturnType<typeof pub>[]) =>
      missingColumns(columns, subscriber, sentNames(pubs, t, columns));
    expect(lacks([pub({})])).toEqual([]);
    expect(lacks([pub({ generatedColumns: 'none' })])).toEqual([]);
    expect(lacks([pub({ generatedColumns: 'stored' })])).toEqual(['total']);
    expect(lacks([pub({ allTables: true, generatedColumns: 'stored' })])).toEqual(['total']);
    expect(lacks([pub({ columns: ['id', 'total'] })])).toEqual(['total']);
    // a publication of another table sends nothing of this one
    expect(sentNames([{ ...pub({}), tables: [] }], t, columns)).toBeNull();
  });
});
