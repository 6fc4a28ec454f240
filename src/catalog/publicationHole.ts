import type pg from 'pg';
import { quoteIdent } from '../model/sql.js';
import { PG18 } from '../model/versions.js';

/**
 * Can a subscription's slot decode past its publications' creation? PostgreSQL 14–17 (docs/status.md,
 * "A publication its slot cannot get past").
 *
 * pgoutput looks a subscription's publications up by name as of each change it decodes (the
 * catalog as it was when the change was committed; pgoutput.c LoadPublications). On 14–17 a name
 * it does not find there is an error, "publication … does not exist": a change committed after
 * the slot's confirmed position, while a publication of the list did not exist (dropped and
 * created again, or renamed, by hand, with writes in between), stops the walsender there, and
 * the next starts from the same position: nothing streams again from that slot. 18 skips such a
 * publication with a warning instead (and sends nothing of it meanwhile: model/continuity.ts says
 * that gap), so nothing is read there.
 *
 * Read in two steps, on the publisher. A cheap one: a publication whose pg_publication row is not
 * older than the slot's catalog_xmin (its creation, or its rename, may come after where the slot
 * starts to decode; a row frozen since is older). Only then the exact one: the slot copied as a
 * temporary slot (pg_copy_logical_replication_slot keeps its position, works while the slot
 * streams or fails), peeked with the subscription's publications up to the WAL position now, as
 * its walsender decodes, within `timeoutMs`; the copy dropped at once. A peek that fails with
 * "publication … does not exist" is the hole. Anything else (no REPLICATION attribute, a lag
 * longer to decode than `timeoutMs`) says nothing: null.
 */
export async function readPublicationHole(
  client: pg.Client,
  q: { slot: string; publications: readonly string[]; version: number; timeoutMs?: number },
): Promise<string | null> {
  if (q.version >= PG18 || q.publications.length === 0) return null;
  const { rows } = await client.query<{ name: string; newer: boolean }>(
    `SELECT p.pubname::text AS name, pg_catalog.age(p.xmin) <= pg_catalog.age(s.catalog_xmin) AS newer
       FROM pg_catalog.pg_replication_slots s, pg_catalog.pg_publication p
      WHERE s.slot_name = $1 AND s.catalog_xmin IS NOT NULL AND p.pubname = ANY($2::text[])`,
    [q.slot, q.publications],
  );
  if (!rows.some((r) => r.newer)) return null;
  const missing = await peekForMissing(client, q.slot, q.publications, q.timeoutMs ?? 10_000);
  // one missing now as well is another matter: the walsender would stop at it on any slot
  return missing !== null && rows.some((r) => r.name === missing) ? missing : null;
}

/** The publication a peek on a copy of `slot` finds missing, or null. */
async function peekForMissing(
  client: pg.Client,
  slot: string,
  publications: readonly string[],
  timeoutMs: number,
): Promise<string | null> {
  let temp: string | null = null;
  try {
    temp = (
      await client.query<{ name: string }>(
        `SELECT (pg_catalog.pg_copy_logical_replication_slot($1, 'steep_hole_' || pg_catalog.pg_backend_pid(), true)).slot_name::text AS name`,
        [slot],
      )
    ).rows[0]!.name;
    await client.query('BEGIN');
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
    await client.query(
      `SELECT count(*) FROM pg_catalog.pg_logical_slot_peek_binary_changes($1, pg_catalog.pg_current_wal_lsn(), NULL,
              'proto_version', '1', 'publication_names', $2)`,
      [temp, publications.map(quoteIdent).join(',')],
    );
    await client.query('COMMIT');
    return null;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    const e = err as { code?: string; message?: string };
    const missing = e.code === '42704' ? /publication "(.+)" does not exist/.exec(e.message ?? '') : null;
    return missing ? missing[1]! : null;
  } finally {
    if (temp !== null)
      await client.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [temp]).catch(() => {});
  }
}

/** The publications subscription `name` of this database lists (as its walsender reads them); empty when absent. */
export async function readListedPublications(client: pg.Client, name: string): Promise<string[]> {
  const { rows } = await client.query<{ publications: string[] }>(
    `SELECT subpublications::text[] AS publications FROM pg_catalog.pg_subscription
      WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())`,
    [name],
  );
  return rows[0]?.publications ?? [];
}
