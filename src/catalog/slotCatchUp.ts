import type pg from 'pg';

/**
 * What the catch-up wait after a publication's creation reads on its node
 * (executors/slotCatchUp.ts): each a short query of its own, so the wait is the client's.
 */

/** The first transaction id not yet started: every transaction running now is below it. */
export async function readXidHorizon(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ x: string }>(
    'select pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text as x',
  );
  return rows[0]!.x;
}

/** Has every transaction below `horizon` ended? */
export async function xidsEnded(client: pg.Client, horizon: string): Promise<boolean> {
  const { rows } = await client.query<{ ended: boolean }>(
    'select pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) >= $1::xid8 as ended',
    [horizon],
  );
  return rows[0]!.ended;
}

/** The WAL insert position now. */
export async function readInsertLsn(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>(
    'select pg_catalog.pg_current_wal_insert_lsn()::text as lsn',
  );
  return rows[0]!.lsn;
}

/**
 * Those of `slots` that have not confirmed `mark`, by name, and whether a walsender streams each
 * (null: no such slot).
 */
export async function slotsBehind(
  client: pg.Client,
  slots: readonly string[],
  mark: string,
): Promise<Array<{ name: string; streamed: boolean | null }>> {
  const { rows } = await client.query<{ name: string; streamed: boolean | null }>(
    `select s.name, r.active as streamed from pg_catalog.unnest($1::text[]) as s(name)
       left join pg_catalog.pg_replication_slots r on r.slot_name = s.name
      where r.confirmed_flush_lsn is null or r.confirmed_flush_lsn < $2::pg_lsn
      order by s.name`,
    [slots, mark],
  );
  return rows;
}
