import type pg from 'pg';
import { slotConfirmedPast } from '../catalog/compareScope.js';
import { subscriptionErrorCount } from '../catalog/errorCounters.js';
import {
  chunkBounds,
  denseKeyEnds,
  type Grouping,
  hashChunks,
  multisetHash,
  streamRowHashes,
} from '../catalog/rowHashes.js';
import { heldTwice, keyId, lookupRowHashes } from '../catalog/rowsByKey.js';
import { serverVersionOf } from '../catalog/session.js';
import { SteepError } from '../model/errors.js';
import { qualifiedName } from '../model/topology.js';
import {
  type CompareSide,
  compareKeys,
  confirmsDifference,
  type DifferenceKind,
  mergeRowHashes,
  type RowDifference,
  type RowKey,
  type TableComparison,
  type TableVerdict,
} from '../model/verify.js';
import { DIFFERENCE_KINDS, directionVerdict } from '../model/verifyDirection.js';
import { SAY_EVERY_MS, waitedText } from '../model/waits.js';
import { chunkCount, keySteps, subGroupCount } from '../planner/compare/verify.js';
import { sleep } from './sleep.js';
import { flushedWalMark } from './walMark.js';

/**
 * Compare one table on a live pair (docs/repair.md), reading only:
 *
 * 1. every key-range chunk hashed on both sides at once (count and hash sum per chunk, or per
 *    sub-group of a chunk when `groupRows` asks for them; one scan each side: no row leaves a
 *    server);
 * 2. groups that differ hashed again, the publisher first, then the subscriber once it has
 *    replayed past the publisher's WAL position taken after that publisher pass — a bounded number
 *    of rounds, so chunks that only differed because writes were in flight drop out;
 * 3. groups still different: (key, row hash) streamed ordered by key from both sides and merge
 *    joined, giving candidate keys;
 * 4. candidates re-checked by key the same way (publisher, its LSN, subscriber replayed past it)
 *    until each either matches (it was in flight), shows the same difference twice in a row
 *    (diverged: model/verify.ts confirmsDifference; a row missing or extra stays so whatever the
 *    other side's image), or has run out of rounds while still changing (in flux, not reported).
 */

export interface CompareOptions {
  /**
   * A streaming pair: how the subscriber catches up with the publisher between the two sides'
   * passes of a re-check (`replayed`). Absent (two nodes that do not replicate between them, as
   * before a merge): no re-check, every difference the first passes find is a difference.
   */
  replay?: Replay;
  examples: number;
  /** rows per chunk aimed at (default CHUNK_ROWS) */
  chunkRows?: number;
  /**
   * rows per group aimed at: chunks split into sub-groups by key hash (planner subGroupCount),
   * so spread-out differences read few rows; absent: chunks only
   */
  groupRows?: number;
  onRows?: (rows: number) => void;
  /** every difference confirmed, as it is confirmed (not in key order once re-checks run) */
  onDifference?: (d: RowDifference) => void;
}

/** How far a subscriber has replayed: its subscription's slot on the publisher. */
export interface Replay {
  slot: string;
  /** how long to wait for the subscriber to replay past a publisher position */
  timeoutMs: number;
  subscriberNode: string;
  /** the subscription, whose error counters on the subscriber end the wait when they rise */
  subscription: string;
  /** told what the wait is for and how long it has lasted, every SAY_EVERY_MS while it lasts */
  onWaiting?: (message: string) => void;
  /**
   * a link's other direction (its rows written on the subscriber flow back): before the publisher
   * is read, it has replayed what the subscriber wrote, so a row changed there last is not taken
   * for a difference
   */
  reverse?: Omit<Replay, 'reverse'>;
}

/** Re-hash rounds of differing chunks before going row by row. */
const CHUNK_ROUNDS = 3;
/** Re-check rounds of candidate keys. */
const KEY_ROUNDS = 6;
/** Candidates held for re-checking; past this a diff is counted without re-checks. */
const CANDIDATE_CAP = 200_000;

/**
 * Wait until the subscriber has replayed past `lsn`. A worker that fails does not replay: once
 * the subscription's error counters (15+) rise during the wait, it ends at once, naming them,
 * rather than at the timeout as a lag.
 */
async function waitReplayed(pub: pg.Client, sub: pg.Client, opts: Replay, lsn: string): Promise<void> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  let said = started;
  let errorsBefore: number | null | undefined;
  let version: number | undefined;
  for (;;) {
    const ok = await slotConfirmedPast(pub, opts.slot, lsn);
    if (ok === null)
      throw new SteepError(
        'verify.no_slot',
        `the subscription's slot ${opts.slot} does not exist on the publisher: ${opts.subscriberNode} does not replay anything to compare against`,
      );
    if (ok) return;
    version ??= await serverVersionOf(sub);
    const errors = await subscriptionErrorCount(sub, version, opts.subscription);
    if (errorsBefore === undefined) errorsBefore = errors;
    else if (errors !== null && errorsBefore !== null && errors > errorsBefore)
      throw new SteepError(
        'verify.failing',
        `verify cannot compare subscription ${opts.subscription}: its workers on ${opts.subscriberNode} are failing (errors rose from ${errorsBefore} to ${errors} while verify waited for it to replay past the publisher's WAL position ${lsn}), so it does not replay; ` +
          'steep status says why: run verify again once it is synchronized',
      );
    if (Date.now() > deadline)
      throw new SteepError(
        'verify.lagging',
        `${opts.subscriberNode} has not replayed past the publisher's WAL position ${lsn} within ${Math.round(opts.timeoutMs / 1000)} s; ` +
          'verify compares a streaming subscription: check it with steep status and run verify again once its lag is small',
      );
    if (Date.now() - said >= SAY_EVERY_MS) {
      said = Date.now();
      opts.onWaiting?.(
        `verify of ${opts.subscription} waits for ${opts.subscriberNode} to replay past its publisher's WAL position ${lsn} (slot ${opts.slot}; ${waitedText(started, said, opts.timeoutMs)})`,
      );
    }
    await sleep(50);
  }
}

/**
 * Reads both sides the same way: the publisher, then the subscriber once it has replayed past the
 * publisher's WAL position taken after that read (at once without a replay); for a link, the
 * publisher only once it has replayed what the subscriber wrote before.
 */
function pairReader(pub: pg.Client, sub: pg.Client, cmp: TableComparison, replay: Replay | undefined) {
  const mark = `verify ${qualifiedName(cmp.table)}: re-check`;
  return async <T>(read: (c: pg.Client, side: CompareSide) => Promise<T>): Promise<[T, T]> => {
    if (replay?.reverse) await waitReplayed(sub, pub, replay.reverse, await flushedWalMark(sub, mark));
    const p = await read(pub, cmp.publisher);
    if (replay) await waitReplayed(pub, sub, replay, await flushedWalMark(pub, mark));
    return [p, await read(sub, cmp.subscriber)];
  };
}
type PairReader = ReturnType<typeof pairReader>;

/**
 * The first pass's groups (catalog Grouping): runs of key values for a dense integer key, else
 * sampled key-range chunks split by key hash; as many chunks and sub-groups either way.
 */
async function grouping(
  pub: pg.Client,
  cmp: TableComparison,
  opts: Pick<CompareOptions, 'chunkRows' | 'groupRows'>,
): Promise<Grouping> {
  const chunks = chunkCount(cmp.estimatedRows, opts.chunkRows);
  const ends = chunks > 1 ? await denseKeyEnds(pub, cmp.publisher, cmp.estimatedRows) : null;
  if (ends) {
    const subs = subGroupCount(cmp.estimatedRows, chunks, opts.groupRows);
    return { bounds: [], subs, steps: keySteps(ends, chunks * subs) };
  }
  const bounds = await chunkBounds(pub, cmp.publisher, chunks, cmp.estimatedRows, cmp.tableRows);
  return { bounds, subs: subGroupCount(cmp.estimatedRows, bounds.length + 1, opts.groupRows) };
}

/** A key on several rows of the subscriber (no key there) holds extra rows, whatever their images. */
function classify(key: RowKey, p: string | undefined, s: string | undefined): RowDifference | null {
  if (p === s && !heldTwice(s)) return null;
  const kind: DifferenceKind =
    p === undefined || heldTwice(s) ? 'extra' : s === undefined || heldTwice(p) ? 'missing' : 'different';
  return { key, kind, publisherHash: p ?? null, subscriberHash: s ?? null };
}

/** Re-checks of a keyless table's multiset before it counts as written throughout. */
const MULTISET_ROUNDS = 4;

/**
 * A table without a key (planner/compare/verify.ts WHOLE_ROW): its rows' count and hash sum on both sides,
 * the subscriber's once it has replayed past the publisher's position after the publisher's read.
 * Equal once they match; diverged when they differ twice in a row with neither side changed in
 * between (nothing was in flight); written throughout every round: not verifiable, never equal.
 */
async function compareMultiset(
  cmp: TableComparison,
  opts: CompareOptions,
  both: PairReader,
): Promise<TableVerdict> {
  const t0 = Date.now();
  const name = qualifiedName(cmp.table);
  const same = (a: { rows: number; sum: string }, b: { rows: number; sum: string }) =>
    a.rows === b.rows && a.sum === b.sum;
  let prev: { p: { rows: number; sum: string }; s: { rows: number; sum: string } } | null = null;
  let status: 'equal' | 'diverged' | 'changing' = 'changing';
  let p = { rows: 0, sum: '0' };
  let s = p;
  for (let round = 0; round < (opts.replay ? MULTISET_ROUNDS : 1); round++) {
    [p, s] = await both(multisetHash);
    if (same(p, s)) {
      status = 'equal';
      break;
    }
    if (!opts.replay || (prev && same(prev.p, p) && same(prev.s, s))) {
      status = 'diverged';
      break;
    }
    prev = { p, s };
  }
  opts.onRows?.(p.rows);
  const reason =
    status === 'diverged'
      ? `no key: compared as a multiset of whole rows, ${p.rows} rows on the publisher and ${s.rows} on the subscriber differ; which rows cannot be told without a key`
      : status === 'changing'
        ? `${name} has no key and was written through all ${MULTISET_ROUNDS} re-checks: compared as a multiset of whole rows, it never held still; verify it again when writes to it pause`
        : null;
  return {
    table: name,
    status: status === 'changing' ? 'not_verifiable' : status,
    reason,
    keyColumns: [],
    rows: p.rows,
    subscriberRows: s.rows,
    chunks: 1,
    chunksIdentical: status === 'equal' ? 1 : 0,
    missing: status === 'diverged' ? Math.max(0, p.rows - s.rows) : 0,
    extra: status === 'diverged' ? Math.max(0, s.rows - p.rows) : 0,
    different: 0,
    examples: { missing: [], extra: [], different: [] },
    changing: 0,
    durationMs: Date.now() - t0,
  };
}

export async function compareTable(
  pub: pg.Client,
  sub: pg.Client,
  cmp: TableComparison,
  opts: CompareOptions,
): Promise<TableVerdict> {
  const both = pairReader(pub, sub, cmp, opts.replay);
  if (cmp.publisher.keys.length === 0) return compareMultiset(cmp, opts, both);
  const t0 = Date.now();
  const g = await grouping(pub, cmp, opts);
  const [p1, s1] = await Promise.all([hashChunks(pub, cmp.publisher, g), hashChunks(sub, cmp.subscriber, g)]);
  const rows = p1.rows();
  const subscriberRows = s1.rows();
  opts.onRows?.(rows);
  const chunkOf = (id: number) => Math.floor(id / g.subs);
  const nominal = g.steps ? Math.ceil(g.steps.count / g.subs) : g.bounds.length + 1;
  // KeySteps' groups below and above the key's ends read make chunks of their own
  const beyond = new Set([...p1.ids(), ...s1.ids()].map(chunkOf).filter((c) => c < 0 || c >= nominal));
  const chunkTotal = nominal + beyond.size;
  const first = p1.differing(s1);
  const firstDiffering = new Set(first.map(chunkOf)).size;
  const replay = opts.replay;
  const differing = replay ? await recheckChunks(g, first, both) : first;

  const counts: Record<DifferenceKind, number> = { missing: 0, extra: 0, different: 0 };
  const examples: Record<DifferenceKind, RowKey[]> = { missing: [], extra: [], different: [] };
  const confirm = (d: RowDifference) => {
    counts[d.kind] += 1;
    if (examples[d.kind].length < opts.examples) examples[d.kind].push(d.key);
    opts.onDifference?.(d);
  };
  let changing = 0;
  if (differing.length > 0) {
    // candidates by key, with the difference last seen
    let candidates = new Map<string, RowDifference>();
    for await (const d of mergeRowHashes(
      streamRowHashes(pub, cmp.publisher, g, differing),
      streamRowHashes(sub, cmp.subscriber, g, differing),
      cmp.publisher.keys,
    )) {
      if (replay && candidates.size < CANDIDATE_CAP) candidates.set(keyId(d.key), d);
      else confirm(d);
    }
    if (replay) candidates = await recheckKeys(candidates, confirm, both);
    changing = candidates.size;
  }
  for (const kind of ['missing', 'extra', 'different'] as const)
    examples[kind].sort((a, b) => compareKeys(a, b, cmp.publisher.keys));
  // every difference is found alike; those of the kinds PostgreSQL rightly leaves are counted apart
  const verdict = directionVerdict(counts, cmp.allowed);
  for (const kind of DIFFERENCE_KINDS) if (cmp.allowed?.[kind] !== undefined) examples[kind] = [];
  return {
    table: qualifiedName(cmp.table),
    status: verdict.status,
    reason: null,
    keyColumns: cmp.publisher.keys.map((k) => k.name),
    rows,
    subscriberRows,
    chunks: chunkTotal,
    chunksIdentical: chunkTotal - firstDiffering,
    missing: verdict.counts.missing,
    extra: verdict.counts.extra,
    different: verdict.counts.different,
    ...(verdict.allowed ? { allowed: verdict.allowed } : {}),
    examples,
    changing,
    durationMs: Date.now() - t0,
  };
}

/**
 * The differing chunks hashed again after the subscriber replayed what the publisher had
 * flushed: a chunk stays differing only while it differs every round (CHUNK_ROUNDS in all).
 */
async function recheckChunks(g: Grouping, first: number[], both: PairReader): Promise<number[]> {
  let differing = first;
  for (let round = 1; round < CHUNK_ROUNDS && differing.length > 0; round++) {
    const [p, s] = await both((c, side) => hashChunks(c, side, g, differing));
    const before = new Set(differing);
    differing = p.differing(s).filter((id) => before.has(id));
  }
  return differing;
}

/**
 * The differing keys looked up again after each replay (KEY_ROUNDS): a difference is confirmed
 * once it holds still (confirmsDifference); a row that became equal drops out. Returns the keys
 * still changing.
 */
async function recheckKeys(
  candidates: Map<string, RowDifference>,
  confirm: (d: RowDifference) => void,
  both: PairReader,
): Promise<Map<string, RowDifference>> {
  for (let round = 0; round < KEY_ROUNDS && candidates.size > 0; round++) {
    const keys = [...candidates.values()].map((d) => d.key);
    const [p, s] = await both((c, side) => lookupRowHashes(c, side, keys));
    const next = new Map<string, RowDifference>();
    for (const [id, before] of candidates) {
      const now = classify(before.key, p.get(id), s.get(id));
      if (now === null) continue;
      if (confirmsDifference(before, now)) confirm(now);
      else next.set(id, now);
    }
    candidates = next;
  }
  return candidates;
}
