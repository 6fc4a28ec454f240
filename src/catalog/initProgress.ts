import type pg from 'pg';
import type {
  PublishedTableSize,
  SlotLag,
  SubscriberSample,
  SubscriptionActivity,
  SubscriptionTableSample,
} from '../model/initState.js';
import type { TableName } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import {
  FINISHED_COPIES,
  INDEX_BUILDS,
  PUBLISHED_TABLE_SIZES,
  SERVER_LOG,
  type ServerLogRow,
  SLOT_LAG,
  SLOTS_WITH_PREFIXES,
  SUBSCRIPTION_TABLE_PROGRESS,
  subscriptionActivityQuery,
} from './queries/initProgress.js';

/**
 * Samples of an init's live figures, one round trip per node: what the subscriber's workers
 * are doing, and the publisher's sizes and slot lag. Pure reads; the caller owns the sessions.
 */

/** Every subscription's activity on the node (or one). */
export async function readSubscriptionActivity(
  client: pg.Client,
  version: number,
  subscription: string | null = null,
): Promise<SubscriptionActivity[]> {
  const { text } = subscriptionActivityQuery(version);
  return (await client.query<SubscriptionActivity>({ text, values: [subscription] })).rows;
}

/** One subscription on its subscriber: activity and per-table progress (pipelined). */
export async function sampleSubscriber(
  client: pg.Client,
  version: number,
  subscription: string,
): Promise<SubscriberSample> {
  const [activity, tables] = await Promise.all([
    readSubscriptionActivity(client, version, subscription),
    client.query<SubscriptionTableSample>({ text: SUBSCRIPTION_TABLE_PROGRESS.text, values: [subscription] }),
  ]);
  return { activity: activity[0] ?? null, tables: tables.rows };
}

/** Sizes of the given tables on the publisher, by `schema.name`. */
export async function readPublishedTableSizes(
  client: pg.Client,
  tables: readonly TableName[],
): Promise<Map<string, PublishedTableSize>> {
  const { rows } = await client.query<TableName & PublishedTableSize>({
    text: PUBLISHED_TABLE_SIZES.text,
    values: [tables.map((t) => t.schema), tables.map((t) => t.name)],
  });
  return new Map(rows.map(({ schema, name, ...size }) => [qualifiedName({ schema, name }), size]));
}

/** Logical slots on the publisher with their lag (or one slot). */
export async function readSlotLag(client: pg.Client, slot: string | null = null): Promise<SlotLag[]> {
  return (await client.query<SlotLag>({ text: SLOT_LAG.text, values: [slot] })).rows;
}

/** The server's log file when the role may ask; null otherwise (or when logging goes to stderr). */
export async function readServerLog(client: pg.Client): Promise<string | null> {
  try {
    const { rows } = await client.query<ServerLogRow>(SERVER_LOG.text);
    return rows[0]?.logfile ?? null;
  } catch {
    return null;
  }
}

/** A table whose copy PostgreSQL finished (`f`), and how its table-sync slot's name begins. */
export interface FinishedCopy {
  table: string;
  slotPrefix: string;
}

/** The subscription's tables in FINISHEDCOPY (`f`) on its subscriber. */
export async function readFinishedCopies(client: pg.Client, subscription: string): Promise<FinishedCopy[]> {
  return (await readAllFinishedCopies(client, subscription)).get(subscription) ?? [];
}

/** Every subscription's (or one's) tables in FINISHEDCOPY (`f`) on this node, by subscription. */
export async function readAllFinishedCopies(
  client: pg.Client,
  subscription: string | null = null,
): Promise<Map<string, FinishedCopy[]>> {
  const { rows } = await client.query<{ subscription: string } & FinishedCopy>({
    text: FINISHED_COPIES.text,
    values: [subscription],
  });
  const out = new Map<string, FinishedCopy[]>();
  for (const { subscription: sub, ...copy } of rows) out.set(sub, [...(out.get(sub) ?? []), copy]);
  return out;
}

/**
 * The tables of `finished` whose table-sync slot is gone from the publisher (`client`). The
 * slot outlives the `f` state: PostgreSQL drops it in the transaction that records the table's
 * sync done, so a table in `f` without one lost it (see model/initFailure.ts, lostSyncSlots).
 */
export async function withoutSyncSlot(
  client: pg.Client,
  finished: readonly FinishedCopy[],
): Promise<string[]> {
  if (finished.length === 0) return [];
  const { rows } = await client.query<{ slot_name: string }>({
    text: SLOTS_WITH_PREFIXES.text,
    values: [finished.map((f) => f.slotPrefix)],
  });
  return withoutSyncSlotAmong(
    finished,
    rows.map((r) => r.slot_name),
  );
}

/** withoutSyncSlot, from the publisher's slot names already read. */
export function withoutSyncSlotAmong(
  finished: readonly FinishedCopy[],
  slotNames: readonly string[],
): string[] {
  return finished.filter((f) => !slotNames.some((n) => n.startsWith(f.slotPrefix))).map((f) => f.table);
}

/** An index build under way on a table: its phase, and how far that phase is when it says. */
export interface IndexBuild {
  phase: string;
  percent: number | null;
}

/**
 * The index builds running in this database, by table (`schema.name`). The percent is of the
 * phase: the table's blocks while it is scanned, else the tuples while they are loaded (a sort
 * reports neither).
 */
export async function readIndexBuilds(client: pg.Client): Promise<Map<string, IndexBuild>> {
  const { rows } = await client.query<TableName & IndexBuild>(INDEX_BUILDS.text);
  return new Map(rows.map(({ schema, name, ...build }) => [qualifiedName({ schema, name }), build]));
}
