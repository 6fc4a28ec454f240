import type pg from 'pg';
import type { RenameApplied } from '../model/cluster.js';
import { tableOfQualified } from '../model/topology.js';

/**
 * Has a subscriber applied every change of a table that its publisher decoded before one of the
 * table's columns was renamed (planner/schema/columnRename.ts)? PostgreSQL 14–18.
 *
 * pgoutput sends a RELATION message before a table's first change in a stream, and again after
 * the table's definition changed; it names the columns as of the change it precedes (decoding
 * reads the catalog as it was then), and the subscriber maps columns by those names. So, on the
 * publisher: copy the subscription's slot as a temporary slot (pg_copy_logical_replication_slot
 * keeps its confirmed position, works while the slot streams, and waits for no transaction),
 * move the copy on to the subscriber's replication origin when that is further (what the
 * subscriber committed: its walsender resumes from the greater of the two, and a worker stopped
 * on a table may not have confirmed what it applied), and peek what it would send up to the
 * current WAL position. A RELATION message of the table still carrying the old name is a change
 * from before the rename that the subscriber has yet to apply. The copy is dropped at once (a
 * temporary slot would go with the session anyway). Reading is decoding: its cost grows with
 * the subscriber's lag. Needs the REPLICATION attribute on the publisher; without
 * pg_replication_origin_status on the subscriber, the slot's own position is used (an answer
 * `applied` stays exact, `pending` may be a change applied but not yet confirmed).
 */
export function renameApplied(
  subscriber: pg.Client,
  publisher: pg.Client,
  q: { subscription: string; table: string; column: string; publisher: string },
): Promise<RenameApplied> {
  return changesApplied(subscriber, publisher, { ...q, pending: (columns) => columns.includes(q.column) });
}

/**
 * The same read for any change of the table whose RELATION message's columns are `pending`
 * (the old name still there; a column added since not there yet: planner/schema/oldRowValues.ts).
 */
export async function changesApplied(
  subscriber: pg.Client,
  publisher: pg.Client,
  q: { subscription: string; table: string; publisher: string; pending: (columns: string[]) => boolean },
): Promise<RenameApplied> {
  const sub = await readSubscription(subscriber, q.subscription);
  if (sub === null || sub.slot === null)
    return {
      state: 'unknown',
      why: `subscription ${q.subscription} has no slot to read its pending changes from`,
    };
  let temp: string | null = null;
  try {
    temp = (
      await publisher.query<{ name: string }>(
        `select (pg_catalog.pg_copy_logical_replication_slot($1, 'steep_rename_' || pg_catalog.pg_backend_pid(), true)).slot_name::text as name`,
        [sub.slot],
      )
    ).rows[0]!.name;
    if (sub.remote_lsn !== null)
      await publisher.query(
        `select pg_catalog.pg_replication_slot_advance(slot_name, $2::pg_lsn) from pg_catalog.pg_replication_slots
          where slot_name = $1 and confirmed_flush_lsn < $2::pg_lsn`,
        [temp, sub.remote_lsn],
      );
    const { rows } = await publisher.query<{ data: Buffer; lsn: string; upto: string }>(
      `with upto as (select pg_catalog.pg_current_wal_lsn() as lsn)
       select c.data, c.lsn::text as lsn, upto.lsn::text as upto
         from upto left join pg_catalog.pg_logical_slot_peek_binary_changes($1, (select lsn from upto), null,
              'proto_version', '1', 'publication_names', $2) c on pg_catalog.get_byte(c.data, 0) = 82`,
      [temp, sub.publications],
    );
    const { schema, name } = tableOfQualified(q.table);
    const old = rows.filter((r) => {
      if (r.data === null) return false;
      const m = relationMessage(r.data);
      return m.schema === schema && m.name === name && q.pending(m.columns);
    });
    const upto = rows[0]!.upto;
    return old.length > 0 ? { state: 'pending', upto, lastOld: old.at(-1)!.lsn } : { state: 'applied', upto };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const why =
      e.code === '42501'
        ? `the role steep connects as on ${q.publisher} may not read replication slots: give it the REPLICATION attribute (ALTER ROLE … REPLICATION)`
        : `reading ${q.publisher}'s pending changes failed: ${e.message ?? String(err)}`;
    return { state: 'unknown', why };
  } finally {
    if (temp !== null)
      await publisher.query('select pg_catalog.pg_drop_replication_slot($1)', [temp]).catch(() => {});
  }
}

/**
 * In one read: whether `subscription` is enabled (a disabled one applies nothing) and what its
 * replication origin on the subscriber committed (null when unreadable); null: it is not there.
 */
export async function subscriberState(
  client: pg.Client,
  subscription: string,
): Promise<{ enabled: boolean; committed: string | null } | null> {
  const s = await readSubscription(client, subscription);
  return s ? { enabled: s.enabled, committed: s.remote_lsn } : null;
}

/** The subscription's slot, publications (as pgoutput reads them) and what its origin committed (null: unreadable). */
async function readSubscription(client: pg.Client, name: string) {
  const sql = (origin: string) =>
    `select s.subslotname::text as slot, s.subenabled as enabled, ${origin} as remote_lsn,
            (select pg_catalog.string_agg(pg_catalog.quote_ident(p), ',') from pg_catalog.unnest(s.subpublications) p) as publications
       from pg_catalog.pg_subscription s
      where s.subname = $1 and s.subdbid = (select oid from pg_catalog.pg_database where datname = pg_catalog.current_database())`;
  type Row = { slot: string | null; enabled: boolean; publications: string; remote_lsn: string | null };
  const status = `(select st.remote_lsn::text from pg_catalog.pg_replication_origin_status st where st.external_id = 'pg_' || s.oid)`;
  const read = await client
    .query<Row>(sql(status), [name])
    .catch((err: { code?: string }) =>
      err.code === '42501' ? client.query<Row>(sql('null::text'), [name]) : Promise.reject(err),
    );
  return read.rows[0] ?? null;
}

/** pgoutput's RELATION message: 'R', int32 relid, nspname, relname, int8 replident, int16 natts, per column int8 flags, name, int32 type, int32 typmod. */
function relationMessage(d: Buffer): { schema: string; name: string; columns: string[] } {
  let at = 5;
  const text = (): string => {
    const end = d.indexOf(0, at);
    const s = d.subarray(at, end).toString('utf8');
    at = end + 1;
    return s;
  };
  const schema = text();
  const name = text();
  at += 1;
  const n = d.readInt16BE(at);
  at += 2;
  const columns: string[] = [];
  for (let i = 0; i < n; i++) {
    at += 1;
    columns.push(text());
    at += 8;
  }
  return { schema, name, columns };
}
