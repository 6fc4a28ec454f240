import type pg from 'pg';
import { quoteIdent } from '../model/sql.js';
import { PG18 } from '../model/versions.js';

/**
 * Can a subscription's slot decode past its publications' creation? (docs/status.md, "A
 * publication its slot cannot get past", and "A publication renamed away and back … on 18").
 *
 * pgoutput looks a subscription's publications up by name as of each change it decodes (the
 * catalog as it was when the change was committed; pgoutput.c LoadPublications). On 14–17 a name
 * it does not find there is an error, "publication … does not exist": a change committed after
 * the slot's confirmed position, while a publication of the list did not exist (dropped and
 * created again, or renamed, by hand, with writes in between), stops the walsender there, and
 * the next starts from the same position: nothing streams again from that slot. 18 skips such a
 * publication with a warning instead, "skipped loading publication", and sends nothing of it
 * until the name is there again: a publication renamed away and back keeps its oid, so only this
 * warning tells the changes in between were dropped (model/continuity.ts makes it a gap).
 *
 * Read in two steps, on the publisher. A cheap one: a publication whose pg_publication row is not
 * older than the slot's catalog_xmin (its creation, or its rename, may come after where the slot
 * starts to decode; a row frozen since is older). Only then the exact one: the slot copied as a
 * temporary slot (pg_copy_logical_replication_slot keeps its position, works while the slot
 * streams or fails), peeked with the subscription's publications up to the WAL position now, as
 * its walsender decodes, within `timeoutMs`; the copy dropped at once. Anything else (no
 * REPLICATION attribute, a lag longer to decode than `timeoutMs`) says nothing. Only what the
 * slot has not confirmed is seen: once it streamed past, the rolling verify is what finds it.
 */

interface SlotDecoding {
  slot: string;
  publications: readonly string[];
  version: number;
  timeoutMs?: number;
}

/** 14–17: the publication the slot's walsender stops at ("does not exist"), or null. */
export async function readPublicationHole(client: pg.Client, q: SlotDecoding): Promise<string | null> {
  if (q.version >= PG18) return null;
  const listed = await listedNow(client, q);
  if (!listed.some((r) => r.newer)) return null;
  const { missing } = await peekCopy(client, q.slot, q.publications, q.timeoutMs ?? 10_000);
  // one missing now as well is another matter: the walsender would stop at it on any slot
  return missing !== null && listed.some((r) => r.name === missing) ? missing : null;
}

/** 18: the publications the slot's next changes skip (named missing where they were committed); empty: none seen. */
export async function readSkippedPublications(client: pg.Client, q: SlotDecoding): Promise<string[]> {
  if (q.version < PG18) return [];
  const listed = await listedNow(client, q);
  if (!listed.some((r) => r.newer)) return [];
  const { skipped } = await peekCopy(client, q.slot, q.publications, q.timeoutMs ?? 10_000);
  // one missing now is not skipped for a while but for good: the rule of a dropped publication says it
  return skipped.filter((p) => listed.some((r) => r.name === p));
}

/** The cheap step: the listed publications there now, each newer or not than the slot's catalog_xmin. */
async function listedNow(
  client: pg.Client,
  q: SlotDecoding,
): Promise<Array<{ name: string; newer: boolean }>> {
  if (q.publications.length === 0) return [];
  const { rows } = await client.query<{ name: string; newer: boolean }>(
    `SELECT p.pubname::text AS name, pg_catalog.age(p.xmin) <= pg_catalog.age(s.catalog_xmin) AS newer
       FROM pg_catalog.pg_replication_slots s, pg_catalog.pg_publication p
      WHERE s.slot_name = $1 AND s.catalog_xmin IS NOT NULL AND p.pubname = ANY($2::text[])`,
    [q.slot, q.publications],
  );
  return rows;
}

/** PostgreSQL 18's warning at a change decoded where a listed publication did not exist (pgoutput.c). */
const SKIPPED = /^skipped loading publication:? "?(.+?)"?$/;

/**
 * A peek on a copy of `slot` as its walsender decodes: the publication it stops at as missing
 * (14–17), the ones it skips as missing (18, warnings), or nothing.
 */
async function peekCopy(
  client: pg.Client,
  slot: string,
  publications: readonly string[],
  timeoutMs: number,
): Promise<{ missing: string | null; skipped: string[] }> {
  const skipped = new Set<string>();
  const onNotice = (n: { code?: string; message?: string }) => {
    const m = n.code === '55000' ? SKIPPED.exec(n.message ?? '') : null;
    if (m) skipped.add(m[1]!);
  };
  let temp: string | null = null;
  client.on('notice', onNotice);
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
    return { missing: null, skipped: [...skipped] };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    const e = err as { code?: string; message?: string };
    const missing = e.code === '42704' ? /publication "(.+)" does not exist/.exec(e.message ?? '') : null;
    // a peek cut short (a timeout) saw only part of what is skipped: it says nothing
    return { missing: missing ? missing[1]! : null, skipped: [] };
  } finally {
    client.off('notice', onNotice);
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
