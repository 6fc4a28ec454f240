import type pg from 'pg';

export interface SlotCreationBlocker {
  pid: number;
  applicationName: string | null;
  role: string | null;
  state: string | null;
  openSeconds: number | null;
}

/**
 * The sessions whose open transactions keep subscription `subscription`'s slot from being made
 * (by its walsender, or by the session `waiter` when one makes it on its own).
 *
 * CREATE SUBSCRIPTION makes its slot on the publisher through a walsender named after the
 * subscription (its application_name), and a logical slot is only consistent once every
 * transaction that held an xid when it started has ended: the walsender waits on each one's
 * transactionid lock. pg_blocking_pids names them. Without pg_read_all_stats, other roles'
 * xact_start and state read as null. A slot made by a session itself
 * (pg_create_logical_replication_slot, `$2` its pid) waits the same way.
 */
export async function readSlotCreationBlockers(
  client: pg.Client,
  subscription: string | null,
  waiter: number | null = null,
): Promise<SlotCreationBlocker[]> {
  const { rows } = await client.query<SlotCreationBlocker>(
    `select a.pid,
       nullif(a.application_name, '') as "applicationName",
       a.usename::text as role,
       a.state,
       extract(epoch from (now() - a.xact_start))::float8 as "openSeconds"
  from pg_catalog.pg_stat_activity w
  cross join lateral unnest(pg_catalog.pg_blocking_pids(w.pid)) as b(pid)
  join pg_catalog.pg_stat_activity a on a.pid = b.pid
 where (w.backend_type = 'walsender' and w.application_name = $1) or w.pid = $2
 order by a.xact_start nulls last, a.pid`,
    [subscription, waiter],
  );
  return rows;
}
