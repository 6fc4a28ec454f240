import { KEYED_LOAD_ORDER, KEYLESS, type World } from './world.js';

/**
 * The copy by hand steep names where it has no repair (docs/failover.md): a subscription a
 * failover left diverged and disabled whose tables come back to its publisher through a link
 * (`origin = none`). steep prints `… so steep has no repair for it: [copy what SUB must keep to
 * PUB by hand, and ]copy what PUB wrote past the fork to SUB by hand`; `handCopyAsked` reads it,
 * `copyPastFork` does the second half as a DBA would (the first is the operations' `copyByHand`).
 */
export interface HandCopy {
  /** `copy what pb must keep to pa by hand` was printed too */
  keepFirst: boolean;
  /** the sentence as printed */
  text: string;
}

export function handCopyAsked(printed: string): HandCopy | null {
  const m =
    /so steep has no repair for it: (copy what \S+ must keep to \S+ by hand, and )?copy what \S+ wrote past the fork to \S+ by hand/.exec(
      printed,
    );
  return m ? { keepFirst: m[1] !== undefined, text: m[0] } : null;
}

type Query = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

/** each row of `table` as jsonb text, by key */
async function rowsByKey(query: Query, table: string): Promise<Map<string, string>> {
  const rows = await query<{ id: string; row: string }>(
    `SELECT id::text AS id, to_jsonb(x)::text AS row FROM public.${table} x`,
  );
  return new Map(rows.map((r) => [r.id, r.row]));
}

/**
 * What the publisher wrote past the fork, copied to the subscriber by hand: each of `tables` on
 * pb made to hold pa's rows (the application paused, the subscription disabled: nothing else
 * writes them), in one transaction with `session_replication_role = replica`, as a DBA passes
 * the fence a switchover's rollback may have left on pb's tables (planner/switchover/dataFence.ts)
 * and copies into a subscriber. A keyed table's rows pa lacks deleted (children first), those that differ
 * updated, those pb lacks inserted (parents first); a table without a key emptied and filled with
 * pa's. Returns how many rows it wrote on pb.
 */
export async function copyPastFork(world: World, tables: string[]): Promise<number> {
  const pa = world.publisher;
  const fromPa: Query = (sql, params) => pa.query(sql, params);
  await world.stopWriters();
  const client = await world.subscriber.client();
  const pb: Query = async <T>(sql: string, params?: unknown[]) =>
    (await client.query(sql, params)).rows as T[];
  try {
    await pb('BEGIN');
    await pb('SET LOCAL session_replication_role = replica');
    const keyed = KEYED_LOAD_ORDER.filter((t) => tables.includes(t));
    const diff = new Map<string, { gone: string[]; changed: string[]; added: string[] }>();
    for (const t of keyed) {
      const [onPa, onPb] = [await rowsByKey(fromPa, t), await rowsByKey(pb, t)];
      diff.set(t, {
        gone: [...onPb.keys()].filter((k) => !onPa.has(k)),
        changed: [...onPb.keys()].filter((k) => onPa.has(k) && onPa.get(k) !== onPb.get(k)),
        added: [...onPa.keys()].filter((k) => !onPb.has(k)),
      });
    }
    let wrote = 0;
    for (const t of [...keyed].reverse()) {
      const gone = diff.get(t)!.gone;
      if (gone.length > 0)
        wrote += (await pb(`DELETE FROM public.${t} WHERE id = ANY($1::bigint[]) RETURNING 1`, [gone]))
          .length;
    }
    for (const t of keyed) {
      const { changed, added } = diff.get(t)!;
      const columns = (
        await pb<{ name: string }>(
          "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 AND column_name <> 'id'",
          [t],
        )
      ).map((c) => `"${c.name}"`);
      const rowsOf = async (keys: string[]) =>
        (
          await fromPa<{ rows: string }>(
            `SELECT coalesce(json_agg(x), '[]')::text AS rows FROM public.${t} x WHERE id = ANY($1::bigint[])`,
            [keys],
          )
        )[0]!.rows;
      if (changed.length > 0 && columns.length > 0)
        wrote += (
          await pb(
            `UPDATE public.${t} AS x SET (${columns.join(', ')}) = ROW(${columns.map((c) => `r.${c}`).join(', ')})
               FROM json_populate_recordset(NULL::public.${t}, $1::json) r WHERE x.id = r.id RETURNING 1`,
            [await rowsOf(changed)],
          )
        ).length;
      if (added.length > 0)
        wrote += (
          await pb(
            `INSERT INTO public.${t} OVERRIDING SYSTEM VALUE
               SELECT * FROM json_populate_recordset(NULL::public.${t}, $1::json) RETURNING 1`,
            [await rowsOf(added)],
          )
        ).length;
    }
    if (tables.includes(KEYLESS)) {
      const [{ rows }] = (await fromPa<{ rows: string }>(
        `SELECT coalesce(json_agg(x), '[]')::text AS rows FROM public.${KEYLESS} x`,
      )) as [{ rows: string }];
      await pb(`DELETE FROM public.${KEYLESS}`);
      wrote += (
        await pb(
          `INSERT INTO public.${KEYLESS} SELECT * FROM json_populate_recordset(NULL::public.${KEYLESS}, $1::json) RETURNING 1`,
          [rows],
        )
      ).length;
    }
    await pb('COMMIT');
    return wrote;
  } catch (err) {
    await pb('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
    world.startWriters();
  }
}
