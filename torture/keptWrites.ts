import type { Lost } from './forgiveness.js';
import { ROW_KEY, type Row } from './rows.js';
import type { World } from './world.js';
import { type Family, markOf } from './writes.js';

/**
 * The rest of `copy what pb must keep to pa first` after readiness was lost (docs/failover.md):
 * the operations' copy by hand (`copyByHand`) inserts the rows pb holds whose key the publisher
 * lacks, which carries a lost INSERT but no lost UPDATE or DELETE (the publisher holds that key,
 * in the version before). Where the verify status named refused, its workers failing, nothing
 * was forgiven on its word (forgiveness.ts, `refusedKeepingFirst`), so those writes stayed lost
 * unless the copy carries them (CI seed 994 on 18: 15 families and 9 rows). The application
 * knows which writes it saw acknowledged on the old primary; the publisher is made to hold pb's
 * rows of their keys (pb's, never the ledger's values: the oracle then judges what pb held).
 */

/** the keys of a table whose rows the copy makes the publisher hold as pb holds them */
export interface KeptKeys {
  table: string;
  /** its key column (t_keyless's `n`: a value only the application's rows carry) */
  key: string;
  keys: number[];
}

/** the tables in the order a copy deletes (children first); it inserts in the reverse */
const DELETE_ORDER = ['t_child', 't_ids', 't_keyless', 't_link', 't_parent'];

/**
 * The keys the copy carries: those of each write the failover lost that is still the
 * application's last on pa (`onPa`: the ledgers read now, the application paused; a write since
 * on the promoted node is that node's to hold) and not forgiven; in `DELETE_ORDER`.
 */
export function keptKeys(
  lost: Lost,
  onPa: { families: Family[]; rows: Row[] },
  forgiven: { families: ReadonlySet<number>; rows: ReadonlySet<string> },
): KeptKeys[] {
  const stillPa = new Set<object>([...onPa.families, ...onPa.rows]);
  const families = lost.families.filter((f) => stillPa.has(f) && !forgiven.families.has(f.parent));
  const rows = lost.rows.filter((r) => stillPa.has(r) && !forgiven.rows.has(markOf(r.table, r.key)));
  const keys = new Map<string, KeptKeys>();
  const add = (table: string, key: string, k: number) => {
    const t = keys.get(table) ?? { table, key, keys: [] };
    if (!t.keys.includes(k)) t.keys.push(k);
    keys.set(table, t);
  };
  for (const f of families) {
    add('t_parent', 'id', f.parent);
    add('t_child', 'id', f.child);
  }
  for (const r of rows) add(r.table, ROW_KEY[r.table], r.key);
  return DELETE_ORDER.flatMap((t) => keys.get(t) ?? []);
}

/**
 * The keys whose rows differ between pb and the publisher (each row as jsonb text; a table
 * without a key may hold several rows under one): the publisher's are deleted and pb's inserted.
 */
export function keysToCopy(
  keys: number[],
  onPb: Map<number, string[]>,
  onPublisher: Map<number, string[]>,
): number[] {
  const text = (rows: string[] = []) => JSON.stringify([...rows].sort());
  return keys.filter((k) => text(onPb.get(k)) !== text(onPublisher.get(k)));
}

type Query = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

/** the rows of `t` under `keys`, each as jsonb text, by key */
async function rowsOf(query: Query, t: KeptKeys): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const r of await query<{ k: string; row: string }>(
    `SELECT ${t.key}::text AS k, to_jsonb(x)::text AS row FROM public.${t.table} x WHERE ${t.key} = ANY($1::bigint[])`,
    [t.keys],
  ))
    out.set(Number(r.k), [...(out.get(Number(r.k)) ?? []), r.row]);
  return out;
}

/**
 * The copy, in a pause of the application, in one transaction on the publisher (its changes
 * replicate to pb as any write there): for each table of `keptKeys`, the keys whose rows differ
 * deleted (children first) and pb's rows of them inserted (parents first), by the columns both
 * hold. Returns what it did, in a sentence.
 */
export async function copyKeptWrites(world: World, lost: Lost): Promise<string> {
  await world.stopWriters();
  const client = await world.publisher.client();
  const pub: Query = async <T>(sql: string, params?: unknown[]) =>
    (await client.query(sql, params)).rows as T[];
  const pb: Query = (sql, params) => world.subscriber.query(sql, params);
  try {
    const tables = keptKeys(
      lost,
      {
        families: world.acknowledgedFamilies().get('pa') ?? [],
        rows: world.acknowledgedRows().get('pa') ?? [],
      },
      { families: world.forgivenFamilies, rows: world.forgivenRows },
    );
    await pub('BEGIN');
    const copies: { t: KeptKeys; keys: number[]; rows: string[] }[] = [];
    for (const t of tables) {
      const onPb = await rowsOf(pb, t);
      const keys = keysToCopy(t.keys, onPb, await rowsOf(pub, t));
      copies.push({ t, keys, rows: keys.flatMap((k) => onPb.get(k) ?? []) });
    }
    let deleted = 0;
    let inserted = 0;
    for (const { t, keys } of copies)
      if (keys.length > 0)
        deleted += (
          await pub(`DELETE FROM public.${t.table} WHERE ${t.key} = ANY($1::bigint[]) RETURNING 1`, [keys])
        ).length;
    for (const { t, rows } of [...copies].reverse()) {
      if (rows.length === 0) continue;
      const held = new Set(rows.flatMap((r) => Object.keys(JSON.parse(r) as object)));
      const columns = (
        await pub<{ name: string }>(
          "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
          [t.table],
        )
      )
        .filter((c) => held.has(c.name))
        .map((c) => `"${c.name}"`)
        .join(', ');
      inserted += (
        await pub(
          `INSERT INTO public.${t.table} (${columns}) OVERRIDING SYSTEM VALUE
             SELECT ${columns} FROM json_populate_recordset(NULL::public.${t.table}, $1::json) RETURNING 1`,
          [`[${rows.join(',')}]`],
        )
      ).length;
    }
    await pub('COMMIT');
    const keys = copies.reduce((n, c) => n + c.keys.length, 0);
    return `the lost writes' rows of ${keys} key(s) that pa lacked as pb holds them copied to pa by hand (${deleted} row(s) deleted, ${inserted} inserted)`;
  } catch (err) {
    await pub('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
    world.startWriters();
  }
}
