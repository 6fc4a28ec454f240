import type pg from 'pg';
import { readDeferrableIndexes } from '../catalog/deferrableIndexes.js';
import type { EventSink } from '../executors/events.js';
import type { Statement } from '../model/plan.js';
import { quoteTable } from '../model/sql.js';
import { DEFER_INDEXES_FROM, qualifiedName, type TableName } from '../model/topology.js';
import type { ChunkRecord } from '../state/copyChunks.js';
import { byTable, type DeferredIndex, type DeferredIndexStore } from '../state/deferredIndexes.js';

/**
 * A big table's indexes built after steep's own copy has loaded it, as pg_restore and pgcopydb
 * do: one sort per index instead of a descent of every index, and a WAL record, for every row
 * (copying into an unindexed table and building the primary key after it takes clearly less
 * than copying into the indexed table: bench/README.md, `init-split`).
 *
 * Only for a big table (split into key ranges, or of at least DEFER_INDEXES_FROM) that is empty
 * when its copy starts, and only the indexes catalog/deferrableIndexes.ts says come back exactly
 * as they were. A table's indexes are dropped in one transaction with their `deferred_indexes`
 * rows, and built in one with their removal: whatever stops steep in between, the rows say what
 * to build, and the next apply (the copy's resume) or `steep init cancel` builds them. Deferring
 * is never needed: a table whose lock is not had within 5 s, or whose indexes steep's role may
 * not drop or build again (catalog/deferrableIndexes.ts), keeps them; so does one for which the
 * caller gives no lock (the planner decides the lock: planner/init/ownCopyStatements.ts).
 */

/**
 * Defer the indexes of the plan's big tables none of whose chunks is copied yet (split into
 * key ranges, or of at least DEFER_INDEXES_FROM, the chunks' estimates summed) that `lockOf`
 * gives a lock for; the indexes deferred for the subscription, these and those an interrupted
 * run deferred, and the locks taken (the statements run).
 */
export async function deferBigTables(
  client: pg.Client,
  store: DeferredIndexStore,
  subscription: string,
  plan: readonly ChunkRecord[],
  lockOf: (table: TableName) => Statement | undefined,
): Promise<{ deferred: DeferredIndex[]; ran: string[] }> {
  const per = new Map<string, { table: TableName; chunks: number; bytes: number; done: boolean }>();
  for (const r of plan) {
    const t = per.get(qualifiedName(r.table)) ?? { table: r.table, chunks: 0, bytes: 0, done: false };
    per.set(qualifiedName(r.table), t);
    t.chunks += 1;
    t.bytes += r.estimatedBytes;
    t.done ||= r.rows !== null;
  }
  const before = new Set((await store.list(client, subscription)).map((x) => qualifiedName(x.table)));
  const ran: string[] = [];
  for (const [name, t] of per) {
    const lock = lockOf(t.table);
    if (lock && !t.done && !before.has(name) && (t.chunks > 1 || t.bytes >= DEFER_INDEXES_FROM))
      if (await deferIndexes(client, store, subscription, t.table, lock)) ran.push(lock.sql);
  }
  return { deferred: await store.list(client, subscription), ran };
}

/** "; the indexes of public.big (2) are built after the copy", or '' for none. */
export function deferredText(deferred: readonly DeferredIndex[]): string {
  const per = byTable(deferred);
  return per.length > 0
    ? `; the indexes of ${per.map((t) => `${qualifiedName(t.table)} (${t.indexes.length})`).join(', ')} are built after the copy`
    : '';
}

/**
 * Under `lock` (the planner's LOCK TABLE … ACCESS EXCLUSIVE), drop `table`'s deferrable indexes,
 * with their rows in `deferred_indexes`, if it is empty; whether the lock was taken.
 */
async function deferIndexes(
  client: pg.Client,
  store: DeferredIndexStore,
  subscription: string,
  table: TableName,
  lock: Statement,
): Promise<boolean> {
  await client.query('BEGIN');
  try {
    await client.query("SET LOCAL lock_timeout = '5s'");
    await client.query(lock.sql);
    const { rows } = await client.query(`SELECT 1 FROM ${quoteTable(table)} LIMIT 1`);
    const indexes = rows.length === 0 ? await readDeferrableIndexes(client, table) : [];
    if (indexes.length > 0) {
      await store.record(
        client,
        subscription,
        indexes.map((x) => ({ table, index: x.index, position: x.position, definition: x.definition })),
      );
      for (const x of indexes) await client.query(x.drop);
    }
    await client.query('COMMIT');
    return true;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    // 55P03: the table's lock is held elsewhere; 42501: not the role's to alter (it keeps them)
    const code = (err as { code?: string }).code;
    if (code !== '55P03' && code !== '42501') throw err;
    return false;
  }
}

/**
 * Build every index the subscription's copy deferred, on up to `parallel` sessions (`client`,
 * then sessions `open` gives, ended after), the largest table first: a table's indexes in one
 * transaction with the removal of their rows, so a kill leaves each table built or recorded;
 * each table reported (`init.indexes_built`) once built. A failure (a unique index the rows
 * break) leaves that table's rows in `deferred_indexes` and starts no other table, the builds
 * under way end as they would, and the error names it: a rerun or `init cancel` builds what is
 * left.
 */
export async function buildDeferredIndexes(
  client: pg.Client,
  store: DeferredIndexStore,
  subscription: string,
  onEvent: EventSink,
  opts: {
    /** sessions building at once, one table each (default 1: `client` alone) */
    parallel?: number;
    /** another session on the subscriber, for the builds past the first */
    open?: () => Promise<pg.Client>;
    /** told the tables whose indexes are being built, whenever that changes */
    onBuilding?: (tables: string[]) => void;
  } = {},
): Promise<void> {
  const queue = await largestFirst(client, byTable(await store.list(client, subscription)));
  const building = new Set<string>();
  let failure: unknown = null;
  const build = async (c: pg.Client, { table, indexes }: (typeof queue)[number]) => {
    const name = qualifiedName(table);
    const names = indexes.map((x) => x.index);
    building.add(name);
    opts.onBuilding?.([...building]);
    const t0 = Date.now();
    await c.query('BEGIN');
    try {
      // an index of a big table may take hours to build
      await c.query('SET LOCAL statement_timeout = 0');
      for (const x of indexes) await c.query(x.definition);
      await store.remove(c, subscription, table);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(
        `cannot build the indexes of ${name} (${names.join(', ')}) deferred during the copy: ${message}`,
        { cause: err },
      );
    } finally {
      building.delete(name);
    }
    onEvent({
      event: 'init.indexes_built',
      level: 'info',
      node: store.node,
      subscription,
      table: name,
      message: `built ${names.length === 1 ? 'the index' : `the ${names.length} indexes`} of ${name} deferred during the copy (${names.join(', ')}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    });
  };
  const worker = async (first: boolean) => {
    let c: pg.Client | null = first ? client : null;
    try {
      for (let t = queue.shift(); t && failure === null; t = queue.shift()) {
        c ??= await opts.open!();
        await build(c, t);
      }
    } catch (err) {
      failure ??= err;
    } finally {
      if (!first) await c?.end().catch(() => {});
    }
  };
  const sessions = opts.open ? Math.max(1, Math.min(opts.parallel ?? 1, queue.length)) : 1;
  await Promise.all(Array.from({ length: sessions }, (_, i) => worker(i === 0)));
  opts.onBuilding?.([]);
  if (failure !== null) throw failure;
}

/** `tables` the largest first (their size on the subscriber), so the last build to end starts first. */
async function largestFirst<T extends { table: TableName }>(client: pg.Client, tables: T[]): Promise<T[]> {
  if (tables.length < 2) return tables;
  const { rows } = await client.query<{ bytes: string }>(
    'SELECT pg_catalog.pg_relation_size(t::regclass)::text AS bytes FROM unnest($1::text[]) WITH ORDINALITY AS x(t, i) ORDER BY i',
    [tables.map((t) => quoteTable(t.table))],
  );
  const bytes = new Map(tables.map((t, i) => [t, Number(rows[i]!.bytes)]));
  return [...tables].sort((a, b) => bytes.get(b)! - bytes.get(a)!);
}
