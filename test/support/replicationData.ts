/**
 * Data for init tests: tables filled on a publisher, a writer that keeps inserting, updating and
 * deleting while an init runs, a switch that slows a subscriber's initial copy down (so a test
 * can act mid-copy), and the comparison of both sides (row count and an order-independent
 * checksum per table).
 */

import { pipeline } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { flushedWalMark } from '../../src/executors/walMark.js';
import type { TestNode } from './cluster.js';
import { eventually, HANG_MS } from './topologyFile.js';

export interface TableDef {
  name: string;
  rows: number;
}

/** `CREATE TABLE public.<name> (id bigint PRIMARY KEY, v text, n int)` on every node given. */
export async function createTables(nodes: TestNode[], tables: TableDef[]): Promise<void> {
  for (const node of nodes) {
    for (const t of tables)
      await node.query(
        `CREATE TABLE public.${t.name} (id bigint PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0)`,
      );
  }
}

/** Fill the tables on `node` with ids 1..rows, then ANALYZE (the init's size estimates). */
export async function fillTables(node: TestNode, tables: TableDef[]): Promise<void> {
  for (const t of tables) {
    await node.query(
      `INSERT INTO public.${t.name} (id, v, n) SELECT g, md5(g::text), g % 1000 FROM generate_series(1, ${t.rows}) g`,
    );
  }
  await node.query('ANALYZE');
}

/**
 * On `publisher` and `subscriber`: the application's role `app`, `part.orders` partitioned by
 * hash into two leaves (`orders_0`, `orders_1`), what `app` needs to insert into it by the root;
 * then 300 rows on the publisher.
 */
export async function partitionedOrders(
  publisher: TestNode,
  subscriber: TestNode,
  app: { user: string; password: string },
): Promise<void> {
  for (const n of [publisher, subscriber]) {
    await n.query(`CREATE ROLE ${app.user} LOGIN PASSWORD '${app.password}'`);
    await n.query('CREATE SCHEMA part');
    await n.query(
      'CREATE TABLE part.orders (id bigserial PRIMARY KEY, v text NOT NULL) PARTITION BY HASH (id)',
    );
    for (const r of [0, 1])
      await n.query(
        `CREATE TABLE part.orders_${r} PARTITION OF part.orders FOR VALUES WITH (MODULUS 2, REMAINDER ${r})`,
      );
    await n.query(`GRANT USAGE ON SCHEMA part TO ${app.user}`);
    await n.query(`GRANT SELECT, INSERT ON part.orders TO ${app.user}`);
    await n.query(`GRANT USAGE ON SEQUENCE part.orders_id_seq TO ${app.user}`);
  }
  await publisher.query('INSERT INTO part.orders (v) SELECT md5(g::text) FROM generate_series(1, 300) g');
}

/** Row count and an order-independent checksum of every column. */
export async function tableDigest(node: TestNode, table: string): Promise<{ count: number; sum: string }> {
  const [r] = await node.query<{ count: string; sum: string | null }>(
    `SELECT count(*)::text AS count, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS sum FROM public.${table} t`,
  );
  return { count: Number(r!.count), sum: r!.sum ?? '0' };
}

export async function digests(
  node: TestNode,
  tables: string[],
): Promise<Record<string, { count: number; sum: string }>> {
  const out: Record<string, { count: number; sum: string }> = {};
  for (const t of tables) out[t] = await tableDigest(node, t);
  return out;
}

/** Row count and an order-independent checksum of the rows `sql` returns on `node`. */
export async function queryDigest(node: TestNode, sql: string): Promise<{ count: string; sum: string }> {
  const [r] = await node.query<{ count: string; sum: string }>(
    `SELECT count(*)::text AS count, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS sum FROM (${sql}) t`,
  );
  return r!;
}

/** How many of `ids` (acknowledged by a writer) `table` on `node` lacks. */
export async function idsMissing(node: TestNode, table: string, ids: number[]): Promise<number> {
  const have = new Set(
    (await node.query<{ id: string }>(`SELECT id FROM ${table}`)).map((r) => Number(r.id)),
  );
  return ids.filter((id) => !have.has(id)).length;
}

/**
 * Row counts and an order-independent checksum of every column, by column name (a row as jsonb,
 * whose keys sort by name): equal on two nodes whose tables have the same columns in another order.
 */
export async function digestsByName(
  node: TestNode,
  tables: string[],
): Promise<Record<string, { count: number; sum: string }>> {
  const out: Record<string, { count: number; sum: string }> = {};
  for (const t of tables) {
    const [r] = await node.query<{ count: string; sum: string | null }>(
      `SELECT count(*)::text AS count, coalesce(sum(hashtextextended(to_jsonb(t)::text, 0)::numeric), 0)::text AS sum FROM public.${t} t`,
    );
    out[t] = { count: Number(r!.count), sum: r!.sum ?? '0' };
  }
  return out;
}

/**
 * The pause a test's writer makes after each transaction: 5 ms, close to back to back. Every
 * commit is decoded, sent and applied on each subscriber, so a slower writer costs less CPU
 * (renames + verify: 185 → 158 core-s at 20 ms), but the tests that wait for a count of commits
 * (failover's acknowledged ids, writesGoOn) then wait longer: failover + pgSemantics took 102 s
 * and 188 core-s at 5 ms, 124 s and 197 core-s at 20 ms, and a whole run was no shorter.
 */
export const WRITE_PAUSE_MS = 5;

/**
 * Inserts, updates and deletes on `tables` of `node` in a loop (each a short transaction) until
 * stopped. Inserted ids start above `base`, so they never collide with the initial rows.
 */
export function startWriter(
  node: TestNode,
  tables: string[],
  base = 10_000_000,
): { stop: () => Promise<number>; ops: () => number } {
  let running = true;
  let ops = 0;
  const done = (async () => {
    const client = await node.client();
    let next = base;
    try {
      while (running) {
        const t = tables[ops % tables.length]!;
        next += 1;
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO public.${t} (id, v, n) VALUES ($1::bigint, md5($1::bigint::text), 7)`,
          [next],
        );
        await client.query(`UPDATE public.${t} SET n = n + 1, v = v || 'u' WHERE id = $1`, [
          1 + ((next * 7919) % 1000),
        ]);
        await client.query(`DELETE FROM public.${t} WHERE id = $1`, [2000 + ((next * 104729) % 5000)]);
        await client.query('COMMIT');
        ops += 1;
        await new Promise((r) => setTimeout(r, WRITE_PAUSE_MS));
      }
    } catch (err) {
      if (running) throw err;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  // a test that fails before stopping it must not leave an unhandled rejection behind
  done.catch(() => {});
  return {
    stop: async () => {
      running = false;
      await done;
      return ops;
    },
    ops: () => ops,
  };
}

/**
 * Until `writer` has committed `n` more transactions than when called: writes that come after a
 * step (a condition, where a fixed pause would wait as long on a quiet machine as on a loaded one).
 */
export async function writesGoOn(writer: { ops: () => number }, n = 20): Promise<void> {
  const from = writer.ops();
  await eventually(async () => writer.ops() >= from + n, HANG_MS, `${n} more writes`);
}

/** `fn` while startWriter writes `tables` on `node`, and 20 more writes after it returns; the writer stopped whatever happens. */
export async function whileWriting<T>(node: TestNode, tables: string[], fn: () => Promise<T>): Promise<T> {
  const writer = startWriter(node, tables);
  try {
    const result = await fn();
    await writesGoOn(writer);
    return result;
  } finally {
    await writer.stop();
  }
}

/**
 * Slow the initial copy into `table` on the subscriber down: a row trigger that fires during
 * replication (ENABLE ALWAYS) and sleeps `ms` every `every` rows. The copy still progresses,
 * just slowly enough for a test to watch it, cancel it or stop the publisher mid-copy.
 */
export async function slowCopy(node: TestNode, table: string, every = 1000, ms = 50): Promise<void> {
  await node.query(`CREATE OR REPLACE FUNCTION public.steep_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.id % ${every} = 0 THEN PERFORM pg_sleep(${ms / 1000}); END IF;
      RETURN NEW;
    END $$`);
  await node.query(
    `CREATE TRIGGER steep_test_slow BEFORE INSERT ON public.${table} FOR EACH ROW EXECUTE FUNCTION public.steep_test_slow()`,
  );
  await node.query(`ALTER TABLE public.${table} ENABLE ALWAYS TRIGGER steep_test_slow`);
}

/**
 * Hold the initial copy into `table` on the subscriber until the returned `release` is called: a
 * row trigger that fires during replication waits for an advisory lock the test holds, so the
 * copy is still under way whatever the machine's load (a slowed copy may end before a loaded
 * apply does). After the release it runs at full speed.
 */
export async function holdCopy(node: TestNode, table: string): Promise<() => Promise<void>> {
  const key = 7_740_411;
  const holder = await node.client();
  await holder.query('SELECT pg_advisory_lock($1)', [key]);
  await node.query(`CREATE OR REPLACE FUNCTION public.steep_test_hold() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_advisory_lock_shared(${key});
      PERFORM pg_advisory_unlock_shared(${key});
      RETURN NEW;
    END $$`);
  await node.query(
    `CREATE TRIGGER steep_test_hold BEFORE INSERT ON public.${table} FOR EACH ROW EXECUTE FUNCTION public.steep_test_hold()`,
  );
  await node.query(`ALTER TABLE public.${table} ENABLE ALWAYS TRIGGER steep_test_hold`);
  return async () => {
    await holder.query('SELECT pg_advisory_unlock($1)', [key]);
    await holder.end();
  };
}

export async function fastCopy(node: TestNode, table: string): Promise<void> {
  await node.query(`DROP TRIGGER IF EXISTS steep_test_slow ON public.${table}`);
}

/**
 * Wait until one table of `subscription` is being copied (`d`) and every other one's sync is
 * over (`r`): the moment to cut or restart a node mid-copy. Not sooner: PostgreSQL's table sync
 * drops its slot before the commit that records the table synchronised is on disk, so a restart
 * or a cut as a table's sync ends can lose that slot for good (restartFaults.test.ts makes it on
 * purpose). Those commits are asynchronous: before crashing the subscriber, also flush its WAL
 * (CHECKPOINT), or it comes back with the table in `f` all the same.
 */
export async function oneTableCopying(
  node: TestNode,
  subscription: string,
  timeoutMs = HANG_MS,
): Promise<void> {
  await eventually(
    async () => {
      const [r] = await node.query<{ copying: string; other: string }>(
        `SELECT count(*) FILTER (WHERE r.srsubstate = 'd') AS copying,
                count(*) FILTER (WHERE r.srsubstate NOT IN ('d', 'r')) AS other
           FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
          WHERE s.subname = $1`,
        [subscription],
      );
      return Number(r?.copying ?? 0) === 1 && Number(r?.other ?? 1) === 0;
    },
    timeoutMs,
    `one table of ${subscription} copying, the others ready`,
  );
}

/** A flushed mark in the publisher's WAL now: past every commit a reader can see. */
export async function currentLsn(node: TestNode): Promise<string> {
  // past every commit a reader can see, asynchronous ones included, and flushed so a walsender
  // sends it: the mark steep's own "applied up to now?" decisions wait for
  const c = await node.client();
  try {
    return await flushedWalMark(c, 'test: caught up?');
  } finally {
    await c.end();
  }
}

/** Wait until the slot has confirmed everything the publisher wrote up to now (lag zero). */
export async function waitCaughtUp(publisher: TestNode, slot: string, timeoutMs = HANG_MS): Promise<void> {
  const target = await currentLsn(publisher);
  await eventually(
    async () => {
      const [r] = await publisher.query<{ ok: boolean }>(
        'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1',
        [slot, target],
      );
      return r?.ok === true;
    },
    timeoutMs,
    `slot ${slot} to confirm ${target}`,
  );
}

/** Copy `tables` from the publisher at an exported snapshot into the subscriber, as pg_dump --snapshot would. */
export async function copyAtSnapshot(
  publisher: TestNode,
  subscriber: TestNode,
  tables: string[],
  snapshot: string,
): Promise<void> {
  const src = await publisher.client();
  const dst = await subscriber.client();
  try {
    await src.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await src.query(`SET TRANSACTION SNAPSHOT '${snapshot}'`);
    for (const t of tables) {
      const out = src.query(copyTo(`COPY public.${t} TO STDOUT`));
      const into = dst.query(copyFrom(`COPY public.${t} FROM STDIN`));
      await pipeline(out, into);
    }
    await src.query('COMMIT');
  } finally {
    await src.end().catch(() => {});
    await dst.end().catch(() => {});
  }
}

/** A table's indexes and constraints on `node`, as PostgreSQL prints them, sorted. */
export async function indexesOf(node: TestNode, table: string): Promise<string[]> {
  const rows = await node.query<{ d: string }>(
    `SELECT indexdef AS d FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1 UNION ALL
     SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $2::regclass`,
    [table, `public.${table}`],
  );
  return rows.map((r) => r.d).sort();
}

/** The standby's WAL receiver stopped (primary_conninfo emptied): it replays nothing more. */
export async function stopReceiving(standby: TestNode): Promise<void> {
  await standby.query("ALTER SYSTEM SET primary_conninfo = ''");
  await standby.query('SELECT pg_reload_conf()');
  await eventually(
    async () => (await standby.query('SELECT 1 FROM pg_stat_wal_receiver')).length === 0,
    HANG_MS,
    'the standby to stop receiving',
  );
}

/**
 * A standby left behind: its WAL receiver stopped (primary_conninfo emptied), then a wait until
 * the subscriber has applied past what the standby received and `more()` holds (say, the writer
 * committed enough meanwhile).
 */
export async function standbyLeftBehind(
  standby: TestNode,
  subscriber: TestNode,
  more: () => boolean = () => true,
): Promise<void> {
  await stopReceiving(standby);
  const [{ received } = { received: '' }] = await standby.query<{ received: string }>(
    'SELECT pg_last_wal_receive_lsn()::text AS received',
  );
  await eventually(
    async () => {
      const [r] = await subscriber.query<{ past: boolean }>(
        'SELECT bool_or(remote_lsn > $1::pg_lsn) AS past FROM pg_replication_origin_status',
        [received],
      );
      return r?.past === true && more();
    },
    HANG_MS,
    'the subscriber to apply past what the standby received',
  );
}
