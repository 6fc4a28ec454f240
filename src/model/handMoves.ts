import type { ObservedNode, ObservedSubscription } from './cluster.js';
import { compareLsn } from './lsn.js';

/**
 * What a hand can do to a subscription's positions that the stream rule (model/continuity.ts)
 * reads from two readings: while it is paused, its slot or its origin moved forward; whenever,
 * its slot dropped and created again, which a smaller count of decoded transactions tells; and
 * how both facts are read from a subscription and its publisher.
 */

/** The table judged, and the facts of its subscription now (model/continuity.ts ContinuityFacts). */
interface Judged {
  subscription: string;
  from: string;
  table: string;
  paused?: PausedPositions;
  decoded?: DecodedCount;
}

/**
 * Where a disabled subscription stands while nothing streams it (no walsender holds its slot),
 * read by the same reading: the positions its worker resumes from when enabled.
 */
export interface PausedPositions {
  /** pg_subscription's row version (xmin): every ALTER SUBSCRIPTION, an ENABLE among them, makes a new one */
  rowVersion: string;
  slot: string;
  /** the slot's confirmed_flush_lsn on the publisher */
  slotLsn: string;
  /** the subscriber's origin (`pg_<oid>`) remote_lsn */
  originLsn: string;
}

/**
 * How many transactions a subscription's slot had decoded (pg_stat_replication_slots.total_txns),
 * since when the server's statistics count, and the slot's own last reset (null: none; a slot
 * made again has none): model/cluster.ts ObservedSlot.
 */
export interface DecodedCount {
  slot: string;
  txns: string;
  since: string;
  reset: string | null;
}

/** A slot's count as a baseline keeps it, with when it was read (ISO 8601). */
export interface DecodedRecord extends DecodedCount {
  at: string;
}

/**
 * Why the stream of `f.table` broke where its subscription's positions moved forward between two
 * readings that found it paused, with no ALTER SUBSCRIPTION between them (none: undefined). A
 * position behind the one recorded loses nothing (what comes again is sent again, or applied
 * again and fails): only forward counts.
 */
export function pausedMoveReason(before: PausedPositions | null | undefined, f: Judged): string | undefined {
  const now = f.paused;
  if (!before || !now || before.rowVersion !== now.rowVersion || before.slot !== now.slot) return undefined;
  const lost = `PostgreSQL resumes past it, so changes to ${f.table} committed in between are never sent`;
  if (compareLsn(now.slotLsn, before.slotLsn) > 0)
    return `${f.subscription}'s slot ${now.slot} on ${f.from} moved from ${before.slotLsn} to ${now.slotLsn} while the subscription was disabled and nothing streamed from it (advanced, or dropped and created again, by hand): ${lost}`;
  if (compareLsn(now.originLsn, before.originLsn) > 0)
    return `${f.subscription}'s origin on its subscriber moved from ${before.originLsn} to ${now.originLsn} while the subscription was disabled and no worker applied (advanced by hand): ${lost}`;
  return undefined;
}

/**
 * The same slot's counts, the server's statistics kept between them, and no reset of the slot's
 * since the one before (a reset of the slot's own shows its time; a slot made again shows none).
 */
const comparable = (before: DecodedRecord, now: DecodedCount) =>
  before.slot === now.slot &&
  before.since === now.since &&
  (now.reset === null || now.reset === before.reset);

/**
 * Why the stream of `f.table` broke where its slot, counted as before, decoded fewer
 * transactions than at a reading before, or no longer shows the reset it showed then (none:
 * undefined): the slot was dropped and created again, and PostgreSQL resumes at the new slot's
 * start, past what the old one had still to send.
 */
export function recreatedReason(before: DecodedRecord | null | undefined, f: Judged): string | undefined {
  const now = f.decoded;
  if (!before || !now || !comparable(before, now)) return undefined;
  const fewer = BigInt(now.txns) < BigInt(before.txns);
  if (!fewer && !(before.reset !== null && now.reset === null)) return undefined;
  const slot = `${f.subscription}'s slot ${now.slot} on ${f.from}`;
  return (
    (fewer
      ? `${slot} has decoded ${now.txns} transactions, fewer than the ${before.txns} it had at steep's reading of ${before.at}`
      : `${slot} no longer shows the reset of its statistics it showed at steep's reading of ${before.at} (a reset is never undone)`) +
    `, with ${f.from}'s statistics kept since on the same server and timeline: it was dropped and created again (by hand), and PostgreSQL streams from the new slot's start, ` +
    `so changes to ${f.table} committed before it and not yet applied were never sent`
  );
}

/** Read again after this long, a slot's count is recorded again even where it did not double. */
const DECODED_REFRESH_MS = 10 * 60_000;

/**
 * The count to keep: the one now where none is kept, the slot or its counting changed, the
 * count doubled or the one kept is older than DECODED_REFRESH_MS; else the one kept. A count
 * that starts over is found while it stays below the one kept: at least half of the old slot's
 * (a slot's whole life) or its count 10 minutes before, with a record at most every 10 minutes
 * and on each doubling.
 */
export function nextDecoded(
  before: DecodedRecord | null | undefined,
  now: DecodedCount | undefined,
  at: string,
): DecodedRecord | null {
  if (!now) return before ?? null;
  const fresh = { ...now, at };
  if (!before || !comparable(before, now)) return fresh;
  const doubled = BigInt(now.txns) >= 2n * BigInt(before.txns);
  return doubled || Date.parse(at) - Date.parse(before.at) >= DECODED_REFRESH_MS ? fresh : before;
}

export const samePaused = (a: PausedPositions | null | undefined, b: PausedPositions | null | undefined) =>
  (a ?? null) === (b ?? null) ||
  (!!a &&
    !!b &&
    a.rowVersion === b.rowVersion &&
    a.slot === b.slot &&
    a.slotLsn === b.slotLsn &&
    a.originLsn === b.originLsn);

/**
 * The subscription's positions where it is paused: disabled, no worker of it running as its
 * subscriber was read, no walsender holding its slot as its publisher was read. Until an ALTER
 * SUBSCRIPTION (an ENABLE) neither position can move but by hand (model/continuity.ts).
 */
export function pausedPositions(
  o: ObservedSubscription,
  publisher: ObservedNode,
): PausedPositions | undefined {
  if (o.enabled || o.workerRunning !== false || o.slotNone || !o.slot || !o.rowVersion || !o.originLsn)
    return undefined;
  const slot = publisher.slots[o.slot];
  if (slot?.slotType !== 'logical' || slot.active || !slot.confirmedFlushLsn) return undefined;
  return { rowVersion: o.rowVersion, slot: o.slot, slotLsn: slot.confirmedFlushLsn, originLsn: o.originLsn };
}

/**
 * The count of transactions the subscription's slot decoded, where its publisher has it. Its
 * statistics count since their start on this server and timeline: a promoted standby (a failover)
 * has other counts, for a slot of the same name, on the same system.
 */
export function decodedCount(o: ObservedSubscription, publisher: ObservedNode): DecodedCount | undefined {
  const slot = o.slot && !o.slotNone ? publisher.slots[o.slot] : undefined;
  const server = publisher.server;
  if (slot?.slotType !== 'logical' || !slot.decodedTxns || !slot.countedSince || !server) return undefined;
  return {
    slot: slot.name,
    txns: slot.decodedTxns,
    since: `${server.systemIdentifier}/${server.timeline ?? 'recovery'}/${slot.countedSince}`,
    reset: slot.countReset ?? null,
  };
}
