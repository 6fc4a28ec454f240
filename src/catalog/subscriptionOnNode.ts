import type pg from 'pg';
import { THIS_DATABASE_OID } from '../model/sql.js';
import type { TableName } from '../model/topology.js';
import type { CatalogQuery } from './queries/catalogQuery.js';

/**
 * One subscription of the node the session is on, read inside a command's own (locked)
 * session rather than from a cluster snapshot: `init cancel` decides on what holds while it
 * holds apply's lock. PostgreSQL 14+.
 */

export const SUBSCRIPTION_SLOT: CatalogQuery = {
  name: 'subscription-slot',
  text: `SELECT subslotname::text AS slot, subenabled AS enabled FROM pg_catalog.pg_subscription
      WHERE subname = $1 AND subdbid = ${THIS_DATABASE_OID}`,
};

export const SUBSCRIBED_TABLES: CatalogQuery = {
  name: 'subscribed-tables',
  text: `SELECT n.nspname::text AS schema, c.relname::text AS name
       FROM pg_catalog.pg_subscription s
       JOIN pg_catalog.pg_subscription_rel sr ON sr.srsubid = s.oid
       JOIN pg_catalog.pg_class c ON c.oid = sr.srrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE s.subname = $1 AND s.subdbid = ${THIS_DATABASE_OID}
      ORDER BY 1, 2`,
};

/**
 * The subscription on this node: its slot (null: slot_name = NONE) and whether it is enabled;
 * null when it does not exist.
 */
export async function readSubscriptionSlot(
  client: pg.Client,
  name: string,
): Promise<{ slot: string | null; enabled: boolean } | null> {
  const { rows } = await client.query<{ slot: string | null; enabled: boolean }>({
    text: SUBSCRIPTION_SLOT.text,
    values: [name],
  });
  return rows[0] ?? null;
}

/** The tables in the subscription's pg_subscription_rel, by name. */
export async function readSubscribedTables(client: pg.Client, name: string): Promise<TableName[]> {
  const { rows } = await client.query<TableName>({ text: SUBSCRIBED_TABLES.text, values: [name] });
  return rows;
}
