import { describe, expect, it } from 'vitest';
import { type ErrorWatch, failedReason, failure, type InitSubject } from '../../../src/model/initFailure.js';
import type { InitProgress, SlotLag } from '../../../src/model/initState.js';
import { setRoleDeniedText } from '../../../src/model/syncVerdict.js';

/**
 * When a followed init becomes `failed`, and why: a run of samples (every 250 ms, as apply
 * samples) through the failure rules, the first verdict. The timings are PostgreSQL's: a worker
 * that fails is started again after wal_retrieve_retry_interval (5 s); a connection cut fails
 * every worker at once.
 */

const TARGET: InitSubject = {
  subscription: 'west_s',
  subscriber: 'west',
  publisher: 'east',
  slot: 'west_s',
  route: '127.0.0.1:6543 (its replicationUrl)',
};
const PG14 = 140_000;
const PG18 = 180_000;

interface Moment {
  /** sync + apply error counts (15+) */
  syncErrors?: number;
  applyErrors?: number;
  /** the slot has a walsender */
  streaming?: boolean;
  workersRunning?: boolean;
  publisherError?: string | null;
  /** rows copied so far into the one table (pg_stat_progress_copy); default: moving, 10 a millisecond */
  copied?: number;
  /** tables in `f` whose table-sync slot is gone from the publisher */
  lost?: string[];
  /** PostgreSQL disabled the subscription at an error (disable_on_error) */
  disabled?: boolean;
  /** every logical replication worker of the server taken (2 of 2, one by another database's subscription) */
  starved?: boolean;
}

function progress(m: Moment, version: number, ms: number): InitProgress {
  const copied = m.copied ?? ms * 10;
  const counted = version >= 150_000;
  return {
    subscription: 'west_s',
    node: 'west',
    from: 'east',
    method: 'snapshot',
    state: 'copying',
    percent: 40,
    tablesTotal: 1,
    tablesDone: 0,
    currentTables: ['public.a'],
    rowsCopied: copied,
    bytesTotal: null,
    rowsPerSecond: null,
    etaSeconds: null,
    lagBytes: null,
    lagSeconds: null,
    syncWorkers: m.workersRunning === false ? 0 : 1,
    applyWorkerRunning: m.workersRunning !== false,
    applyErrorCount: counted ? (m.applyErrors ?? 0) : null,
    syncErrorCount: counted ? (m.syncErrors ?? 0) : null,
    publisherError: m.publisherError ?? null,
    subscriberError: null,
    exists: true,
    enabled: m.disabled !== true,
    error: null,
    startedAt: null,
    sampledAt: new Date(0).toISOString(),
    ...(m.lost ? { lostSyncSlots: m.lost } : {}),
    ...(m.disabled ? { disabledAtError: true as const } : {}),
    ...(m.starved
      ? {
          workerUse: {
            max: 2,
            running: 2,
            users: [
              { database: 'crm', subscription: 'crm_in', workers: 1 },
              { database: 'app', subscription: 'other', workers: 1 },
            ],
          },
        }
      : {}),
    tables: [
      {
        schema: 'public',
        name: 'a',
        state: 'd',
        sizeBytes: null,
        estimatedRows: null,
        rowsCopied: copied,
        percent: 40,
      },
    ],
  };
}

function slot(streaming: boolean): SlotLag {
  return {
    slot: 'west_s',
    active: streaming,
    activePid: streaming ? 1 : null,
    walStatus: 'reserved',
    confirmedFlushLsn: '0/100',
    currentLsn: '0/200',
    lagBytes: 256,
    retainedWalBytes: 1000,
    lagSeconds: null,
  };
}

/** Sample `at(ms)` every 250 ms up to `untilMs`; the first failure, with when it came. */
function follow(
  at: (ms: number) => Moment,
  opts: { version: number; failAfterMs: number; untilMs: number },
): { atMs: number; kind: string; reason: string } | null {
  let w: ErrorWatch = {};
  for (let ms = 0; ms <= opts.untilMs; ms += 250) {
    const m = at(ms);
    const s = m.publisherError ? null : slot(m.streaming !== false);
    const before = structuredClone(w);
    const f = failure(TARGET, progress(m, opts.version, ms), s, ms, w, opts.failAfterMs, opts.version);
    expect(w).toEqual(before);
    w = f.watch;
    if (f.failed) return { atMs: ms, ...f.failed };
  }
  return null;
}

/** A connection cut at `cutMs`: every worker fails at once (one sync, one apply error). */
function burst(ms: number, cutMs: number): Pick<Moment, 'syncErrors' | 'applyErrors'> {
  return ms >= cutMs + 100 ? { syncErrors: 1, applyErrors: 1 } : {};
}

describe('init failure rules', () => {
  it.each([PG18, PG14])(
    'the subscriber cut from the publisher for good (steep still reaches it): path, after twice the patience (%i)',
    (version) => {
      const f = follow(
        (ms) => (ms < 1000 ? {} : { ...burst(ms, 1000), streaming: false, workersRunning: false }),
        {
          version,
          failAfterMs: 3000,
          untilMs: 60_000,
        },
      );
      expect(f?.kind).toBe('path');
      expect(f?.atMs).toBe(7000);
      expect(f?.reason).toBe(
        'no worker of west has streamed from the slot west_s on east for 6 s, although steep reaches east: ' +
          'west cannot connect (or stay connected) to east at 127.0.0.1:6543 (its replicationUrl)',
      );
    },
  );

  it.each([
    [PG18, 3000],
    [PG18, 15_000],
    [PG14, 3000],
  ])(
    'one cut that heals (workers back 5 s later) never fails the init (%i, patience %i ms)',
    (version, failAfterMs) => {
      const f = follow(
        (ms) => ({
          ...burst(ms, 1000),
          streaming: ms < 1000 || ms >= 6000,
          workersRunning: ms < 1000 || ms >= 6000,
        }),
        { version, failAfterMs, untilMs: 120_000 },
      );
      expect(f).toBeNull();
    },
  );

  it('two cuts far apart are two episodes, not a worker that keeps failing', () => {
    const f = follow(
      (ms) => {
        const first = burst(ms, 1000);
        const second = ms >= 50_100 ? { syncErrors: 2, applyErrors: 2 } : first;
        const down = (ms >= 1000 && ms < 6000) || (ms >= 50_000 && ms < 55_000);
        return { ...second, streaming: !down };
      },
      { version: PG18, failAfterMs: 3000, untilMs: 120_000 },
    );
    expect(f).toBeNull();
  });

  it('a copy PostgreSQL disabled at its first error (disable_on_error): disabled, at the first sample showing it', () => {
    // one error only: never twice, so the worker rule alone would wait for ever
    const f = follow(
      (ms) => (ms < 1000 ? {} : { syncErrors: 1, disabled: true, streaming: false, workersRunning: false }),
      { version: PG18, failAfterMs: 15_000, untilMs: 120_000 },
    );
    expect(f).toMatchObject({ kind: 'disabled', atMs: 1000 });
    const p = progress({ syncErrors: 1, disabled: true }, PG18, 1000);
    expect(failedReason(TARGET, f as never, p, 'the server log of west', [])).toBe(
      'init of subscription west_s on west failed: PostgreSQL disabled it at an error of its table synchronisation worker ' +
        '(disable_on_error; pg_stat_subscription_stats: sync_error_count 1, apply_error_count 0), so its copy has stopped; ' +
        "tables not yet ready: public.a; PostgreSQL's message is in the server log of west " +
        '("logical replication subscription "west_s" has been disabled due to an error" and the error before it); ' +
        'fix its cause, then run ALTER SUBSCRIPTION "west_s" ENABLE on west and `steep apply` again, which follows the copy to synchronized',
    );
    const reinit = { ...TARGET, resume: 'steep reinit west_s --tables public.a' };
    expect(failedReason(reinit, f as never, p, 'the server log of west', [])).toContain(
      'and `steep reinit west_s --tables public.a` again',
    );
  });

  it('disabled before pg_stat_subscription_stats counts the error: the worker named once counted, never guessed', () => {
    // the counters reach the view a moment after the worker exits (seen under CI load: 0 and 0)
    const late = follow(
      (ms) =>
        ms < 1000
          ? {}
          : {
              ...(ms >= 1750 ? { syncErrors: 1 } : {}),
              disabled: true,
              streaming: false,
              workersRunning: false,
            },
      { version: PG18, failAfterMs: 15_000, untilMs: 120_000 },
    );
    expect(late).toMatchObject({ kind: 'disabled', atMs: 1750 });
    expect(late!.reason).toContain('at an error of its table synchronisation worker');
    // never counted: said after the wait, without naming a worker
    const never = follow(
      (ms) => (ms < 1000 ? {} : { disabled: true, streaming: false, workersRunning: false }),
      {
        version: PG18,
        failAfterMs: 15_000,
        untilMs: 120_000,
      },
    );
    expect(never).toMatchObject({ kind: 'disabled', atMs: 4000 });
    expect(never!.reason).toContain('at an error of its workers (not counted yet)');
  });

  it.each([PG18, PG14])(
    'a copy that waits for a free worker (all taken, its apply worker too): workers after four times the patience, not path (%i)',
    (version) => {
      const f = follow(() => ({ copied: 0, workersRunning: false, streaming: false, starved: true }), {
        version,
        failAfterMs: 3000,
        untilMs: 60_000,
      });
      expect(f).toMatchObject({ kind: 'workers', atMs: 12_000 });
      expect(f?.reason).toBe(
        'no table synchronisation worker could start for 12 s: it waits for a free logical replication worker on west: ' +
          'all 2 of max_logical_replication_workers 2 are in use (subscription in database (workers): crm_in in crm (1), other in app (1))',
      );
    },
  );

  it('a table sync that fails again after each restart: sync, once it failed twice and the patience is over', () => {
    const f = follow((ms) => ({ syncErrors: ms >= 500 ? 1 + Math.floor((ms - 500) / 5000) : 0 }), {
      version: PG18,
      failAfterMs: 3000,
      untilMs: 60_000,
    });
    expect(f).toMatchObject({ kind: 'sync', atMs: 5500 });
    expect(f?.reason).toBe(
      'its table synchronisation worker failed 2 times (pg_stat_subscription_stats: sync_error_count 2, apply_error_count 0)',
    );
  });

  it('an apply worker that connects, fails and is restarted (its slot mostly idle): apply, not path', () => {
    // errors at 0.5 s, 5.5 s, 10.5 s …; the walsender lives only for a moment after each restart
    const f = follow(
      (ms) => ({
        applyErrors: ms >= 500 ? 1 + Math.floor((ms - 500) / 5000) : 0,
        streaming: ms % 5000 === 250,
        workersRunning: ms % 5000 === 250,
      }),
      { version: PG18, failAfterMs: 15_000, untilMs: 120_000 },
    );
    expect(f).toMatchObject({ kind: 'apply', atMs: 15_500 });
  });

  it('before 15, a copy that stops moving: sync, after four times the patience; a moving copy never', () => {
    // a sync worker failing at once and restarted every 5 s: the apply worker runs, the copy stays put
    const f = follow((ms) => ({ copied: Math.min(ms, 2000) * 10, workersRunning: ms % 5000 === 0 }), {
      version: PG14,
      failAfterMs: 3000,
      untilMs: 60_000,
    });
    expect(f).toMatchObject({ kind: 'sync', atMs: 14_000 });
    expect(f?.reason).toBe(
      'its copy has not moved for 12 s: a table synchronisation worker keeps failing (PostgreSQL 14 counts no worker errors), ' +
        'or waits for a free worker or for a long transaction on east',
    );
    expect(follow(() => ({}), { version: PG14, failAfterMs: 3000, untilMs: 120_000 })).toBeNull();
    // 15+ goes by the error counters, not by the copy's progress
    expect(follow(() => ({ copied: 0 }), { version: PG18, failAfterMs: 3000, untilMs: 120_000 })).toBeNull();
  });

  it.each([PG18, PG14])(
    'a table copied whose table-sync slot is gone, its worker failing every 5 s: sync_slot after the patience, before the error count (%i)',
    (version) => {
      const f = follow(
        (ms) =>
          ms < 1000
            ? {}
            : { lost: ['public.a'], syncErrors: 1 + Math.floor((ms - 1000) / 5000), copied: 10_000 },
        { version, failAfterMs: 3000, untilMs: 60_000 },
      );
      expect(f).toMatchObject({ kind: 'sync_slot', atMs: 4000 });
      expect(f?.reason).toBe(
        'PostgreSQL lost the table synchronisation slot of public.a: its copy is recorded done (state f) but the slot is gone ' +
          'from the publisher, so its worker fails with "replication slot … does not exist" and can never finish ' +
          '(this follows a subscriber restart or a cut connection as a table sync ends)',
      );
      // the moment between the slot's drop and the commit that records the table's sync done
      expect(
        follow((ms) => (ms >= 1000 && ms < 1500 ? { lost: ['public.a'] } : {}), {
          version,
          failAfterMs: 3000,
          untilMs: 60_000,
        }),
      ).toBeNull();
      // the publisher unreachable: nothing is known of its slots
      expect(
        follow((ms) => ({ lost: ['public.a'], publisherError: ms >= 1000 ? 'connection refused' : null }), {
          version,
          failAfterMs: 3000,
          untilMs: 3500,
        }),
      ).toBeNull();
    },
  );

  it('the publisher unreachable for steep: publisher, after the patience', () => {
    const f = follow((ms) => (ms < 1000 ? {} : { publisherError: 'connection refused' }), {
      version: PG18,
      failAfterMs: 3000,
      untilMs: 60_000,
    });
    expect(f).toMatchObject({ kind: 'publisher', atMs: 4000 });
  });

  it("a sync failure whose reason the catalog shows (16+: SET ROLE to a table's owner) says it with the GRANT, not where the log is", () => {
    const p = progress({}, PG18, 1000);
    const causes = setRoleDeniedText('west_s', 'west', {
      owner: 'runner',
      denied: { shopapp: ['public.orders'] },
    });
    const said = failedReason(
      TARGET,
      { kind: 'sync', reason: 'its table synchronisation worker failed 3 times' },
      p,
      'the server log of west',
      causes,
    );
    expect(said).toContain(
      'PostgreSQL refuses it: role runner, the owner of subscription west_s, may not SET ROLE to shopapp, which owns public.orders, and its workers apply as each table\'s owner (runAsOwner false): run GRANT "shopapp" TO "runner" WITH SET TRUE; on west',
    );
    expect(said).not.toContain('server log');
    expect(failedReason(TARGET, { kind: 'sync', reason: 'x' }, p, 'the server log of west')).toContain(
      "PostgreSQL's message is in the server log of west",
    );
  });

  it('a slot stuck before a publication (14–17): its cause and way out as the follow read them, nothing else', () => {
    const p = progress({}, PG18, 1000);
    const reason =
      'slot west_s … cannot get past the creation of publication p; only a new slot gets past it: `steep init cancel west_s` …';
    expect(failedReason(TARGET, { kind: 'stuck', reason }, p, 'the server log of west')).toBe(
      `init of subscription ${TARGET.subscription} on ${TARGET.subscriber} failed: ${reason}`,
    );
  });
});
