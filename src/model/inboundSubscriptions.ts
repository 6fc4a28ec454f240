import { THIS_DATABASE_OID } from './sql.js';

/**
 * Subscriptions on a switchover's old primary that no fence stops (their apply workers fire no
 * ordinary trigger): those applying into the tables it moves, and those whose apply fires a
 * trigger that may write into them.
 */

/** An enabled subscription the fence cannot stop: the moved tables it writes, the triggers its apply fires. */
export interface Inbound {
  name: string;
  tables: string[];
  /** `schema.table: trigger`, ENABLE ALWAYS or REPLICA, on a table it writes */
  triggers: string[];
}

/** What an inbound subscription writes that the switchover moves: its tables, or the triggers its apply fires. */
export function inboundWrites(s: Inbound, neu: string): string {
  const tables =
    s.tables.length > 0 ? `writes into ${s.tables.join(', ')}, which the switchover moves to ${neu}` : '';
  const fired =
    s.triggers.length > 0
      ? `fires ${s.triggers.join(', ')} as it applies (ENABLE ALWAYS or REPLICA), which may write into the tables the switchover moves to ${neu}`
      : '';
  return [tables, fired].filter(Boolean).join(', and ');
}

/** steep's own triggers for apply workers (state/migrations.ts): they write nothing else. */
export const STEEP_REPLICA_TRIGGERS = ['steep_replicated_row'];

/**
 * The enabled subscriptions of this database, but `except`, that apply into one of `tables`
 * (both SQL expressions: a text[] of quoted names and a name), with the tables each writes, or
 * whose apply fires a trigger (`ENABLE ALWAYS` or `ENABLE REPLICA`, `schema.table: trigger`) on
 * any table it writes, which may write into those tables: their apply workers fire no ordinary
 * trigger, so no fence stops them. Read by the switchover and printed in its rollback.
 */
export function inboundSubscriptionsSql(tables: string, except: string): string {
  const rel = (what: string, where: string) =>
    `ARRAY(SELECT ${what} FROM pg_catalog.pg_subscription_rel r JOIN pg_catalog.pg_class c ON c.oid = r.srrelid ` +
    `JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ${where} ORDER BY 1)`;
  const steep = STEEP_REPLICA_TRIGGERS.map((t) => `'${t}'`).join(', ');
  return [
    'SELECT name, tables, triggers FROM (SELECT s.subname AS name,',
    `${rel("pg_catalog.format('%I.%I', n.nspname, c.relname)", `WHERE r.srsubid = s.oid AND r.srrelid IN (SELECT pg_catalog.to_regclass(t) FROM unnest(${tables}) AS t)`)} AS tables,`,
    `${rel("pg_catalog.format('%I.%I: %I', n.nspname, c.relname, g.tgname)", `JOIN pg_catalog.pg_trigger g ON g.tgrelid = c.oid AND NOT g.tgisinternal AND g.tgenabled IN ('A', 'R') AND g.tgname NOT IN (${steep}) WHERE r.srsubid = s.oid`)} AS triggers`,
    `FROM pg_catalog.pg_subscription s WHERE s.subdbid = ${THIS_DATABASE_OID} AND s.subenabled AND s.subname IS DISTINCT FROM ${except}) x`,
    'WHERE pg_catalog.cardinality(tables) > 0 OR pg_catalog.cardinality(triggers) > 0 ORDER BY 1',
  ].join(' ');
}
