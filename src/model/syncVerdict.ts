/**
 * Is a subscription synchronized? The one rule `status`, `status --check` and the metrics use,
 * pure, returning its answer with the evidence. `synchronized` is said only when every condition
 * is proven by this reading: enabled, every table ready (`r`), the apply worker running, and no
 * apply or table-sync error since steep's last reading (PostgreSQL 15+ counts them, cumulatively,
 * in pg_stat_subscription_stats: only a rise since a recorded reading says "now"). Anything it
 * could not read is `unknown` with the reason, never the green word. A table whose stream broke
 * (model/continuity.ts) makes it `gap`, with the way out. `status --check` adds the lag
 * (model/lagVerdict.ts).
 *
 * PostgreSQL facts this rests on:
 * - an apply worker that errors exits; the launcher starts it again after
 *   wal_retrieve_retry_interval (5 s by default), so a crash loop shows no worker most of the
 *   time, and one for a moment between errors. Its walsender on the publisher exits with it.
 * - a worker is also absent for a moment at a benign restart (just after CREATE or ENABLE, or
 *   after ALTER SUBSCRIPTION changes an option): the publisher's walsender of the old worker may
 *   still hold the slot. So: no worker while the slot is active at the publisher is `unknown`
 *   (a restart under way); no worker while the slot is inactive or gone (or the publisher
 *   cannot be read) is `failing`: nothing applies.
 * - in a crash loop the worker may be caught running between two errors: a rise of the counters
 *   seen within `riseWindowMs` (six of the subscriber's wal_retrieve_retry_interval, so a loop
 *   errs several times within it however the server is set) keeps the verdict `failing`, so two
 *   readings close together cannot both miss it.
 * - a rise across a restart of the publisher, with the worker streaming again, is the restart's
 *   connection loss, not a failure (model/reconnect.ts).
 * - a slot gone from the publisher, or invalidated there (wal_status `lost`: the WAL it still
 *   needed removed), decodes nothing again: what the subscriber missed is unknown, and only a
 *   copy on a slot made again repairs it (`steep reinit --full`, named in the reasons).
 */

import { adviceText } from './advice.js';
import { gapWayOut } from './continuity.js';
import { disabledOnError, disabledOnErrorText } from './disableOnError.js';
import { reconnect, riseAcrossRestart } from './reconnect.js';
import { quoteIdent } from './sql.js';
import type { SyncVerdictWord } from './statusWords.js';
import type { SubscriptionRef } from './topology.js';
import { sentColumns } from './verify.js';

/** pg_stat_subscription_stats' counters as steep last read them on the subscriber. */
export interface ErrorReading {
  applyErrors: number;
  syncErrors: number;
  /** when read (ISO 8601) */
  at: string;
  /** the last reading that saw them rise (ISO 8601), null: none seen; a rise across a restart of the publisher does not move it (model/reconnect.ts) */
  roseAt: string | null;
}

/**
 * How long a seen rise of the error counters keeps a subscription `failing`: six of the
 * launcher's waits between a failed worker and the next (wal_retrieve_retry_interval, in ms, as
 * the subscriber is set; null: not read, taken as its default 5 s), and never under 10 s.
 */
export function riseWindowMs(retryIntervalMs: number | null): number {
  return Math.max(10_000, 6 * (retryIntervalMs ?? 5_000));
}

export interface SyncVerdict {
  verdict: SyncVerdictWord;
  /** the evidence, one sentence each (for synchronized: what was proven) */
  reasons: string[];
}

export interface SyncFacts extends SubscriptionRef {
  enabled: boolean;
  /** its disable_on_error option (15+): PostgreSQL disables it at an apply or table-sync error */
  disableOnError?: boolean;
  /** the errors counted when apply last disabled it itself (ObservedSubscription); absent: none recorded */
  steepDisabledAt?: number | null;
  tables: readonly { schema: string; name: string; state: string }[];
  /** null: the subscriber's workers could not be read */
  applyRunning: boolean | null;
  /** PostgreSQL 15+ counts errors (pg_stat_subscription_stats) */
  countsErrors: boolean;
  /** null: before 15, or could not be read */
  applyErrors: number | null;
  syncErrors: number | null;
  /** steep's last reading of the counters; null: none recorded */
  previous: ErrorReading | null;
  /** the subscriber's wal_retrieve_retry_interval in ms; null: not read */
  retryIntervalMs: number | null;
  /** now (ISO 8601) */
  now: string;
  /** the subscription's slot on the publisher: null when the publisher was not read (or slot_name = NONE) */
  slot:
    | {
        name: string;
        active: boolean;
        /** invalidated (wal_status lost) */
        lost?: boolean;
        /** 14–17: the publication whose creation it cannot decode past, with the publisher's version (catalog/publicationHole.ts) */
        stuckAt?: { publication: string; version: number };
      }
    | 'absent'
    | null;
  /** the publisher's pg_postmaster_start_time() (ISO 8601); null or absent: not read */
  publisherStartedAt?: string | null;
  /** the slot's unconfirmed WAL on the publisher (bytes); null or absent: not read */
  lagBytes?: number | null;
  /** columns the publisher's published tables have and the subscriber's tables lack, by `schema.table` */
  missingColumns: Record<string, string[]>;
  /** what else PostgreSQL refuses the workers, read for failing ones (setRoleDeniedText) */
  obstacles?: string[];
  /** why steep could not record this reading for the next (null: recorded, or nothing to record) */
  notRecorded: string | null;
  /** tables whose stream broke (model/continuity.ts); absent or empty: none found */
  gaps?: readonly { table: string; reason: string; out: boolean }[];
  /** a reinit not finished (planner/init/reinitLeftovers.ts), its reason; absent or null: none */
  unfinishedReinit?: string | null;
  /** a failover of its publisher left it diverged (planner/failover/failoverPromotion.ts): that verdict names the way out */
  failoverDiverged?: boolean;
}

/**
 * The gaps' reasons and the way out of them; none when there is no gap. Where the slot is gone,
 * invalidated or stuck, only the reasons: a copy of some tables would wait on a slot that cannot
 * stream, and the slot's own way out (a full reinit, or none) copies every table.
 */
function gapReasons(f: SyncFacts): string[] {
  const gaps = f.gaps ?? [];
  if (gaps.length === 0) return [];
  const reasons = gaps.map((g) => g.reason);
  return slotGone(f) || stuckAt(f) ? reasons : [...reasons, gapWayOut(f.subscription, gaps)];
}

function errorsText(apply: number, sync: number): string {
  return `apply ${apply}, sync ${sync}`;
}

/** The counters' rise since the previous reading, or their last rise within riseWindowMs; null when neither. */
function errorRise(f: SyncFacts): string | null {
  if (f.applyErrors === null || f.syncErrors === null || !f.previous) return null;
  const p = f.previous;
  const now = Date.parse(f.now);
  // the statistics were reset since (pg_stat_reset_subscription_stats): every error counted is newer
  if (f.applyErrors < p.applyErrors || f.syncErrors < p.syncErrors) {
    if (f.applyErrors + f.syncErrors === 0) return null;
    return `errors ${errorsText(f.applyErrors, f.syncErrors)} since the statistics were reset after steep's reading at ${p.at}`;
  }
  if (f.applyErrors > p.applyErrors || f.syncErrors > p.syncErrors) {
    const parts: string[] = [];
    if (f.applyErrors > p.applyErrors)
      parts.push(`apply errors rose from ${p.applyErrors} to ${f.applyErrors}`);
    if (f.syncErrors > p.syncErrors) parts.push(`sync errors rose from ${p.syncErrors} to ${f.syncErrors}`);
    return `${parts.join(', ')} since steep's reading at ${p.at}`;
  }
  const window = riseWindowMs(f.retryIntervalMs);
  if (p.roseAt !== null && now - Date.parse(p.roseAt) < window)
    return `errors (${errorsText(f.applyErrors, f.syncErrors)}) last rose at ${p.roseAt}, under ${window / 1000} s ago: a failing worker errors again every wal_retrieve_retry_interval`;
  return null;
}

/** why PostgreSQL invalidates a slot (wal_status lost) */
const INVALIDATED = 'wal_status lost: PostgreSQL removed WAL it still needed, past max_slot_wal_keep_size';

function slotText(f: SyncFacts): string {
  if (f.slot === null) return `its slot on ${f.from} could not be read`;
  if (f.slot === 'absent') return `its slot is gone from ${f.from}`;
  if (f.slot.lost) return `its slot ${f.slot.name} on ${f.from} was invalidated (${INVALIDATED})`;
  return `its slot ${f.slot.name} on ${f.from} is ${f.slot.active ? 'active' : 'inactive'}`;
}

/** The slot is gone or invalidated: nothing can replay what the subscriber missed. */
function slotGone(f: SyncFacts): boolean {
  return f.slot === 'absent' || (f.slot !== null && f.slot.lost === true);
}

/** The slot's walsender cannot get past a publication's creation (14–17): the cause; null when not. */
function stuckAt(f: SyncFacts): string | null {
  if (f.slot === null || f.slot === 'absent' || !f.slot.stuckAt) return null;
  const { publication, version } = f.slot.stuckAt;
  return publicationHoleText(
    { slot: f.slot.name, subscription: f.subscription, from: f.from },
    publication,
    version,
  );
}

/**
 * The way out of a gone or invalidated slot (none otherwise); `enables`: the reinit enables it too.
 * None after a failover that left it diverged: that verdict's way out keeps what may be the only
 * copy first, and a bare full copy beside it would empty those rows.
 */
function replayLost(f: SyncFacts, enables = false): string[] {
  if (!slotGone(f) || f.failoverDiverged) return [];
  const also = enables ? `, enables ${f.subscription} (where steep.yaml enables it)` : '';
  return [
    `nothing can replay what ${f.node} missed since: ${adviceText('reinitFull', f.subscription)} creates the slot again${also} and copies every table`,
  ];
}

/**
 * What is wrong with a subscription's slot that only a copy on a slot made again repairs: gone
 * from its publisher (`absent`: a failover lost it, or it was dropped), invalidated there
 * (`lost`), or confirming a position beyond the publisher's own WAL (`beyond`: a diverged
 * failover).
 */
export type SlotTrouble =
  | { kind: 'absent' | 'lost' }
  | { kind: 'beyond'; confirmed: string; wal: string }
  | { kind: 'publication'; publication: string; version: number };

/**
 * PostgreSQL 14–17: the slot cannot decode past `publication`'s creation (catalog/publicationHole.ts);
 * the cause as status, plan, reinit and apply's waits say it.
 */
export function publicationHoleText(
  s: { slot: string; subscription: string; from: string },
  publication: string,
  version: number,
): string {
  return (
    `slot ${s.slot} of ${s.subscription} on ${s.from} cannot get past the creation of publication ${publication}: ` +
    `PostgreSQL ${Math.floor(version / 10_000)} looks a subscription's publications up as of each change it decodes, ` +
    `and changes were committed after the slot's confirmed position while ${publication} did not exist (dropped and created again, or renamed, by hand), ` +
    `so its walsender fails with "publication "${publication}" does not exist" at every start and nothing streams from that slot again`
  );
}

/**
 * The same, for an init (or a reinit's copy) that failed on it: reinit repairs only an
 * initialised subscription, so a new subscription on a new slot re-copies.
 */
export function publicationHoleInitWayOut(subscription: string): string {
  return (
    `only a new slot gets past it: \`${adviceText('initCancel', subscription)}\` (it drops the subscription and its slot and empties what its copy filled), ` +
    `then \`steep apply\` creates it again and copies every table (${adviceText('existingDataTruncate', subscription)} first where its tables hold other rows)`
  );
}

/** The way out of such a slot: the only one that moves it on re-copies. */
export function publicationHoleWayOut(subscription: string): string {
  return (
    `only \`${adviceText('reinitFull', subscription)}\` gets past it: it creates the slot again and copies every table again ` +
    '(what was written since is copied, not replayed; copying some tables again or waiting cannot help)'
  );
}

/** The trouble of `slot` (of `subscription`, from `from` to `node`), as reinit and verify say it. */
export function slotTroubleText(
  t: SlotTrouble,
  s: { slot: string; subscription: string; from: string; node: string },
): string {
  switch (t.kind) {
    case 'lost':
      return `slot ${s.slot} of ${s.subscription} was invalidated on ${s.from} (${INVALIDATED})`;
    case 'absent':
      return `slot ${s.slot} of ${s.subscription} is missing on ${s.from} (a failover lost it, or it was dropped)`;
    case 'publication':
      return publicationHoleText(s, t.publication, t.version);
    case 'beyond':
      return (
        `slot ${s.slot} of ${s.subscription} on ${s.from} confirms ${t.confirmed}, beyond ${s.from}'s own WAL (${t.wal}): ` +
        `${s.node} applied changes ${s.from} never had (a diverged failover), and the slot replays nothing of ${s.from}'s own up to there`
      );
  }
}

function missingText(missing: Record<string, string[]>, from: string, node: string): string[] {
  return Object.entries(missing)
    .filter(([, cols]) => cols.length > 0)
    .map(
      ([table, cols]) =>
        `${table} on ${node} lacks column${cols.length > 1 ? 's' : ''} ${cols.join(', ')}, which ${from} publishes: the apply worker cannot apply its changes`,
    );
}

/**
 * 16+, runAsOwner false: the table owners the subscription's owner may not SET ROLE to, which
 * its workers switch to (PostgreSQL's reason for their failure, which only its server log has).
 */
export function setRoleDeniedText(
  subscription: string,
  node: string,
  d: { owner: string; denied: Record<string, string[]> },
): string[] {
  return Object.entries(d.denied).map(
    ([owner, tables]) =>
      `role ${d.owner}, the owner of subscription ${subscription}, may not SET ROLE to ${owner}, which owns ${tables.join(', ')}, ` +
      `and its workers apply as each table's owner (runAsOwner false): run GRANT ${quoteIdent(owner)} TO ${quoteIdent(d.owner)} WITH SET TRUE; on ${node}, or set runAsOwner: true`,
  );
}

/** The verdict on one existing subscription, with its evidence. */
export function syncVerdict(f: SyncFacts): SyncVerdict {
  const missing = [...missingText(f.missingColumns, f.from, f.node), ...(f.obstacles ?? [])];
  const gaps = gapReasons(f);
  if (!f.enabled) {
    const gone = slotGone(f)
      ? [`${slotText(f)}: enabling the subscription cannot resume it`]
      : stuckAt(f)
        ? [`${stuckAt(f)}: enabling the subscription cannot resume it`]
        : [];
    if (
      disabledOnError({
        enabled: f.enabled,
        options: { disableOnError: f.disableOnError },
        errorsCounted: (f.applyErrors ?? 0) + (f.syncErrors ?? 0),
        steepDisabledAt: f.steepDisabledAt,
      })
    )
      return {
        verdict: 'failing',
        reasons: [
          disabledOnErrorText(
            f.subscription,
            f.node,
            errorsText(f.applyErrors ?? 0, f.syncErrors ?? 0),
            f.failoverDiverged ? f.from : undefined,
          ),
          ...gone,
          // PostgreSQL disabled it (not a switchover): the reinit enables it where the file does
          ...replayLost(f, true),
          ...(stuckAt(f) && !f.failoverDiverged ? [publicationHoleWayOut(f.subscription)] : []),
          ...missing,
          ...gaps,
        ],
      };
    return { verdict: 'stopped', reasons: ['disabled: no apply worker runs', ...gone, ...missing, ...gaps] };
  }
  // 14–17: its walsender fails at the same change at every start: only a slot made again moves on
  // (the gaps' own way out, a copy of some tables, would wait on that slot for good)
  const stuck = stuckAt(f);
  if (stuck)
    return {
      verdict: 'failing',
      reasons: [stuck, publicationHoleWayOut(f.subscription), ...missing, ...gaps],
    };
  if (f.applyRunning === null)
    return {
      verdict: 'unknown',
      reasons: [`the workers of ${f.subscription} on ${f.node} could not be read`],
    };
  // errors a restart of the publisher explains, the worker streaming again: not a failure
  const seen = errorRise(f);
  const reconnected = seen === null ? null : reconnect(f);
  const rise = reconnected ? null : seen;
  if (!f.applyRunning) {
    if (rise === null && f.slot !== null && f.slot !== 'absent' && f.slot.active && !f.slot.lost)
      return {
        verdict: 'unknown',
        reasons: [
          `no apply worker on ${f.node}, while ${slotText(f)}: a worker restarting (read again)`,
          ...missing,
        ],
      };
    return {
      verdict: 'failing',
      reasons: [
        `apply worker not running on ${f.node}, ${slotText(f)}`,
        ...replayLost(f),
        ...(rise ? [rise] : []),
        ...missing,
        ...gaps,
      ],
    };
  }
  if (rise !== null) return { verdict: 'failing', reasons: [rise, ...missing, ...gaps] };
  if (missing.length > 0) return { verdict: 'failing', reasons: [...missing, ...gaps] };
  // proven: the publisher's changes to a table never reached it, whatever else is unknown
  if (gaps.length > 0) return { verdict: 'gap', reasons: gaps };
  // its worker runs while no walsender of the declared publisher holds its slot: it streams
  // from another node (a connection naming another host that is read-write), or is connecting
  if (f.slot !== null && (f.slot === 'absent' || !f.slot.active))
    return {
      verdict: 'unknown',
      reasons: [
        `apply worker running on ${f.node}, while ${slotText(f)}: it streams from a node other than ${f.from}, or is still connecting (read again)`,
      ],
    };
  if (reconnected?.verdict === 'catching_up') return { verdict: 'unknown', reasons: [reconnected.note] };
  if (f.countsErrors) {
    if (f.applyErrors === null || f.syncErrors === null)
      return {
        verdict: 'unknown',
        reasons: [`the error counters of ${f.subscription} on ${f.node} could not be read`],
      };
    if (f.previous === null && f.applyErrors + f.syncErrors > 0)
      return {
        verdict: 'unknown',
        reasons: [
          `errors ${errorsText(f.applyErrors, f.syncErrors)} counted since the statistics were reset, and no earlier reading of steep's to tell whether they still rise` +
            (f.notRecorded
              ? ` (nor could this reading be recorded: ${f.notRecorded})`
              : ': this reading is recorded, the next steep status compares with it'),
        ],
      };
  }
  const notReady = f.tables.filter((t) => t.state !== 'r');
  // its temporary publications left: the copy is not proven done until a reinit drops them
  const reinit = f.unfinishedReinit ? [f.unfinishedReinit] : [];
  if (notReady.length > 0 || reinit.length > 0)
    return {
      verdict: 'not_ready',
      reasons: [
        ...(notReady.length > 0
          ? [`tables ${f.tables.length - notReady.length}/${f.tables.length} ready`]
          : []),
        ...reinit,
      ],
    };
  const proven = [`enabled, tables ${f.tables.length}/${f.tables.length} ready, apply worker running`];
  if (!f.countsErrors) proven.push('errors not counted before PostgreSQL 15');
  else if (f.previous) proven.push(`no error since steep's reading at ${f.previous.at}`);
  else proven.push('no error counted');
  if (reconnected) proven.push(reconnected.note);
  return { verdict: 'synchronized', reasons: proven };
}

/**
 * The reading to record for the next verdict: the counters now, and when they last rose. Null
 * when they could not be read (before 15 too): the previous one stays.
 */
export function nextReading(
  f: Pick<SyncFacts, 'applyErrors' | 'syncErrors' | 'previous' | 'now' | 'publisherStartedAt'>,
): ErrorReading | null {
  if (f.applyErrors === null || f.syncErrors === null) return null;
  const p = f.previous;
  const rose =
    p !== null &&
    (f.applyErrors > p.applyErrors ||
      f.syncErrors > p.syncErrors ||
      ((f.applyErrors < p.applyErrors || f.syncErrors < p.syncErrors) && f.applyErrors + f.syncErrors > 0));
  return {
    applyErrors: f.applyErrors,
    syncErrors: f.syncErrors,
    at: f.now,
    // the restart's connection loss keeps no later reading failing (model/reconnect.ts)
    roseAt: rose && !riseAcrossRestart(f) ? f.now : (p?.roseAt ?? null),
  };
}

/**
 * The columns of a published table its subscriber's table lacks: the publisher's, in the
 * publications' column list where they have one (`null`: every column but the generated ones;
 * a list names a generated one PostgreSQL 18 sends). A change to such a table stops the
 * apply worker ("logical replication target relation … is missing replicated column").
 */
export function missingColumns(
  published: readonly { name: string; generated: unknown }[],
  subscriber: readonly { name: string }[],
  columnList: readonly string[] | null,
): string[] {
  const have = new Set(subscriber.map((c) => c.name));
  return sentColumns(published, columnList)
    .filter((c) => !have.has(c.name))
    .map((c) => c.name);
}
