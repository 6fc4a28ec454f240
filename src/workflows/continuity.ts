import type pg from 'pg';
import { onNodeSession } from '../db/connect.js';
import type { ClusterState, ObservedNode, ObservedSubscription } from '../model/cluster.js';
import { addMissingSql, keptValues, withSubscriberKept } from '../model/columnIdentity.js';
import {
  type ContinuityBaseline,
  continuity,
  type GapOfTable,
  gapWayOut,
  membershipsOf,
} from '../model/continuity.js';
import { decodedCount, pausedPositions } from '../model/handMoves.js';
import { type Feed, originNoneReason, unforwardedTables } from '../model/originFilter.js';
import { foreignTopology } from '../model/ownership.js';
import { PUBLISH_OPERATIONS, qualifiedName, type Topology } from '../model/topology.js';
import { keptContents } from '../model/treeContents.js';
import { StreamContinuityStore } from '../state/streamContinuity.js';
import { type NodeReads, publisherName, readHeldBefore, readNodes } from './continuityReads.js';
import { readEachNode } from './tableFacts.js';

/**
 * The continuity of every table of every subscription (model/continuity.ts) from one reading of
 * the cluster and the baselines recorded on each subscriber; with `record`, the baselines this
 * reading starts or moves, and the gaps it finds, are recorded (status, apply; drift only reads).
 * `adopt` (apply, after its steps): steep's own change of a membership (a row filter or column
 * list set again re-creates its pg_publication_rel row) is taken into the baseline of every table
 * that had no gap before the run and is published now, except a table whose publications all
 * changed while its subscription was disabled before the run (its slot stood before their
 * creation: planner/subscriptions/dataGaps.ts, disabledJoinGap): the rule judges it, a gap.
 */

export interface TableGap extends GapOfTable {
  reason: string;
  /** `columns`: a column's identity changed on the publisher (model/columnIdentity.ts) */
  kind?: 'columns';
}

/** Init states in which a subscription streams every table it lists (else an init or reinit is under way). */
const STREAMING = new Set(['synchronized', 'diverged']);

/** `schema.table`'s partitioned ancestors on the publisher, nearest first. */
function ancestorsOf(publisher: ObservedNode, table: string): string[] {
  const out: string[] = [];
  for (
    let t = publisher.tables[table]?.partitionOf;
    t && !out.includes(t);
    t = publisher.tables[t]?.partitionOf
  )
    out.push(t);
  return out;
}

/** What each subscription of node `n` applies there, and from where. */
function feedsOf(topology: Topology, n: ObservedNode): Feed[] {
  return Object.values(n.subscriptions).map((s) => ({
    name: s.name,
    from: publisherName(topology, n.name, s),
    tables: s.tables.map(qualifiedName),
  }));
}

/**
 * Of `o`'s tables, those it misses because it was set to origin = none by hand where steep.yaml
 * says any, while its publisher receives them from a third node (model/originFilter.ts).
 */
function unforwarded(
  topology: Topology,
  node: ObservedNode,
  o: ObservedSubscription,
  publisher: ObservedNode,
): Map<string, string> {
  const declared = topology.subscriptions[o.name];
  if (o.options.origin !== 'none' || declared?.node !== node.name || declared.options.origin === 'none')
    return new Map();
  return unforwardedTables(
    o.tables.map(qualifiedName),
    node.name,
    feedsOf(topology, publisher),
    feedsOf(topology, node),
  );
}

/** One subscription's verdicts and the baselines to record; null when it is not judged now. */
function judgeSubscription(
  topology: Topology,
  observed: ClusterState,
  node: ObservedNode,
  o: ObservedSubscription,
  recorded: Map<string, ContinuityBaseline> | undefined,
  now: string,
  adopt: boolean,
  reads: NodeReads,
  disabledBefore: boolean,
  copied = false,
): { gaps: TableGap[]; record: ContinuityBaseline[]; gone: string[] } | null {
  // another topology's subscription: its own status judges it and records its baselines
  if (foreignTopology(o, topology.topology)) return null;
  const from = publisherName(topology, node.name, o);
  const publisher = observed.nodes[from];
  if (!publisher?.reachable) return null;
  const state = node.initState?.subscriptions[o.name]?.state;
  const streaming = state === undefined || STREAMING.has(state);
  if (!streaming && !copied) return null;
  const publications = Object.fromEntries(Object.values(publisher.publications).map((p) => [p.name, p.oid]));
  const publishesAll = Object.values(publisher.publications)
    .filter((p) => PUBLISH_OPERATIONS.every((a) => p.publish.includes(a)))
    .map((p) => p.name);
  const skipped = o.slot && !o.slotNone ? publisher.slots[o.slot]?.skips : undefined;
  const paused = pausedPositions(o, publisher);
  const decoded = decodedCount(o, publisher);
  const filtered = unforwarded(topology, node, o, publisher);
  const gaps: TableGap[] = [];
  const record: ContinuityBaseline[] = [];
  for (const t of o.tables) {
    const ready = streaming && t.state === 'r';
    if (!ready && !copied) continue;
    const table = qualifiedName(t);
    const members = membershipsOf(
      publisher.publications,
      o.publications,
      table,
      ancestorsOf(publisher, table),
    );
    const before = recorded?.get(table) ?? null;
    const pubColumns = reads.columns.get(from)?.[table];
    const subColumns = reads.columns.get(node.name)?.[table];
    const contents = reads.contents.get(from)?.[table];
    if (!ready) {
      // a copy steep just made or started: its baseline is taken now, not at the first reading
      // after it (a column swapped in between would be the baseline, unseen)
      const own = before && before.subscriptionOid === o.oid;
      if (!own && members.length > 0 && pubColumns) {
        const columns = withSubscriberKept(pubColumns, subColumns && keptValues(subColumns));
        record.push({
          table,
          subscriptionOid: o.oid,
          members,
          columns,
          since: now,
          gap: null,
          contents: contents ? keptContents(contents) : null,
        });
      }
      continue;
    }
    const both =
      pubColumns && subColumns
        ? {
            publisher: pubColumns,
            subscriber: Object.keys(subColumns),
            subscriberKept: keptValues(subColumns),
          }
        : null;
    const c = continuity(before, {
      subscription: o.name,
      subscriptionOid: o.oid,
      from,
      table,
      members,
      publications,
      publishesAll,
      ...(both ? { columns: both } : {}),
      ...(skipped ? { skipped } : {}),
      ...(paused ? { paused } : {}),
      ...(decoded ? { decoded } : {}),
      ...(contents ? { contents, heldBefore: reads.held.get(from) ?? {} } : {}),
      ...(o.skipLsn ? { skipping: o.skipLsn } : {}),
      ...(filtered.has(table)
        ? { originNone: originNoneReason(o.name, node.name, from, table, filtered.get(table)!) }
        : {}),
      now,
    });
    const columnGap = c.verdict === 'gap' && c.baseline.gap?.kind === 'columns';
    // steep's own change does not explain a paused subscription's positions moved, nor what the
    // publisher's table holds
    const byHandGap =
      c.verdict === 'gap' &&
      (c.baseline.gap?.kind === 'positions' ||
        c.baseline.gap?.kind === 'contents' ||
        c.baseline.gap?.kind === 'origin');
    const switched =
      disabledBefore &&
      !before?.members.some((m) => members.some((n) => n.publicationOid === m.publicationOid));
    if (
      adopt &&
      members.length > 0 &&
      !columnGap &&
      !byHandGap &&
      !switched &&
      !(before?.gap && before.subscriptionOid === o.oid)
    ) {
      record.push({ ...c.baseline, members, gap: null });
      continue;
    }
    if (c.changed) record.push(c.baseline);
    if (c.verdict !== 'gap') continue;
    const add = columnGap && both ? addMissingSql(table, both) : null;
    gaps.push({
      table,
      reason: c.baseline.gap!.reason,
      out: members.length === 0,
      ...(columnGap ? { kind: 'columns' as const } : {}),
      ...(add ? { addFirst: { sql: add, node: node.name } } : {}),
      ...(filtered.has(table) ? { applyFirst: `${o.name}'s origin back to any` } : {}),
    });
  }
  const listed = new Set(o.tables.map(qualifiedName));
  return { gaps, record, gone: [...(recorded?.keys() ?? [])].filter((t) => !listed.has(t)) };
}

/** The gaps found, by `node/subscription`. */
export async function observeContinuity(
  topology: Topology,
  observed: ClusterState,
  opts: {
    record: boolean;
    adopt?: boolean;
    sessions?: ReadonlyMap<string, pg.Client>;
    /** `node/subscription`s that were disabled before the run (adopt) */
    disabledBefore?: ReadonlySet<string>;
    /** a copy was just made or started: tables still copying take their baseline now */
    copied?: boolean;
  },
): Promise<Map<string, TableGap[]>> {
  const out = new Map<string, TableGap[]>();
  const subscribers = Object.values(observed.nodes).flatMap((n) =>
    n.reachable && Object.keys(n.subscriptions).length > 0 ? [[n.name, n] as const] : [],
  );
  const { reads, baselines } = await readNodes(topology, observed, subscribers, opts.sessions, opts.copied);
  await readHeldBefore(topology, observed, reads, baselines, opts.sessions);
  await readEachNode(topology, subscribers, async (name, node) => {
    // a node whose baselines could not be read is not judged (as when its session failed)
    if (!baselines.has(name)) return;
    const recorded = baselines.get(name) ?? null;
    const store = new StreamContinuityStore(topology.settings.stateSchema, name);
    const now = new Date().toISOString();
    const writes: Array<(client: pg.Client) => Promise<void>> = [];
    for (const o of Object.values(node.subscriptions)) {
      const judged = judgeSubscription(
        topology,
        observed,
        node,
        o,
        recorded?.get(o.name),
        now,
        opts.adopt === true,
        reads,
        opts.disabledBefore?.has(`${name}/${o.name}`) === true,
        opts.copied,
      );
      if (!judged) continue;
      if (judged.gaps.length > 0) out.set(`${name}/${o.name}`, judged.gaps);
      if (!opts.record || recorded === null) continue;
      if (judged.record.length === 0 && judged.gone.length === 0) continue;
      // a baseline not recorded is taken again by the next reading; the gaps found stand
      writes.push(async (client) => {
        await store.record(client, o.name, judged.record).catch(() => {});
        if (judged.gone.length > 0) await store.forget(client, o.name, judged.gone).catch(() => {});
      });
    }
    if (writes.length === 0) return;
    const write = async (client: pg.Client) => {
      for (const w of writes) await w(client);
    };
    await onNodeSession(topology, name, opts.sessions, write);
  });
  return out;
}

/** markColumnGaps' reading, by the observed state it was taken of (a plan's). */
const readings = new WeakMap<ClusterState, Promise<Map<string, TableGap[]>>>();

/**
 * The gaps of `observed`, read only: the reading markColumnGaps took of it when it took one (a
 * plan's live check and drift then read the nodes' columns and baselines once, not twice), else a new one.
 */
export function continuityOf(topology: Topology, observed: ClusterState): Promise<Map<string, TableGap[]>> {
  const taken = readings.get(observed);
  const reread = () => observeContinuity(topology, observed, { record: false });
  return taken ? taken.catch(reread) : reread();
}

/**
 * For `plan` (read only): the tables whose publisher gave a column name to another column since
 * steep's baseline (model/columnIdentity.ts), on each subscriber's observed node, with the way
 * out; schema sync refuses to plan them (planner/schema/schemaSync.ts).
 */
export async function markColumnGaps(topology: Topology, observed: ClusterState): Promise<void> {
  const reading = observeContinuity(topology, observed, { record: false });
  readings.set(observed, reading);
  const gaps = await reading;
  for (const [key, tables] of gaps) {
    const [node, subscription] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
    const n = observed.nodes[node];
    if (!n?.reachable) continue;
    const broken = tables.filter((t) => t.kind === 'columns');
    if (broken.length === 0) continue;
    n.columnGaps = {
      ...n.columnGaps,
      [subscription]: Object.fromEntries(
        broken.map((g) => [g.table, { reason: g.reason, wayOut: gapWayOut(subscription, [g]) }]),
      ),
    };
  }
}

/** What the reading before an apply's steps tells the one after: the subscriptions disabled then. */
export interface ContinuityBefore {
  /** `node/subscription` */
  disabled: ReadonlySet<string>;
}

/**
 * `apply` around its steps, when a publication changes: before them, this reading's gaps are
 * recorded (a table put back by the plan was out: its gap stands); after them (with `before`),
 * the baselines of every table without a gap take the memberships now (steep's own change of a
 * row filter or column list re-creates a membership row without a break), except a switch of
 * publications of a subscription disabled before. Best effort: false when the reading before
 * could not be taken, and then nothing is adopted after.
 */
export async function continuityAroundApply(
  topology: Topology,
  observe: () => Promise<ClusterState>,
  sessions?: ReadonlyMap<string, pg.Client>,
  before?: ContinuityBefore,
): Promise<ContinuityBefore | false> {
  try {
    const observed = await observe();
    await observeContinuity(topology, observed, {
      record: true,
      adopt: before !== undefined,
      sessions,
      ...(before ? { disabledBefore: before.disabled } : {}),
    });
    const disabled = Object.values(observed.nodes).flatMap((n) =>
      n.reachable
        ? Object.values(n.subscriptions).flatMap((o) => (o.enabled ? [] : [`${n.name}/${o.name}`]))
        : [],
    );
    return { disabled: new Set(disabled) };
  } catch {
    return false;
  }
}

/**
 * After a copy steep made or started (apply's creates and refreshes, init, reinit): the baseline
 * of every table whose copy is done or under way and that has none yet is recorded now, with the
 * publisher's column identity as it is at the copy (model/columnIdentity.ts), so a column swapped
 * before the first status reading is a gap. A table still copying cannot have its columns renamed
 * meanwhile (the copy holds a lock the rename waits for). Best effort: the next reading takes
 * what was not recorded.
 */
export async function baselinesAtCopy(
  topology: Topology,
  observe: () => Promise<ClusterState>,
  sessions?: ReadonlyMap<string, pg.Client>,
): Promise<void> {
  try {
    await observeContinuity(topology, await observe(), {
      record: true,
      copied: true,
      ...(sessions ? { sessions } : {}),
    });
  } catch {
    // the next reading takes the baselines
  }
}
