import type pg from 'pg';
import type { TestNode } from '../test/support/cluster.js';
import { LSN, markOf, type WalMarks, type Write } from './writes.js';

/**
 * The application's rows of the tables without a family (issue 78): `t_ids` (rows of its own, ids
 * apart from the insert-only id loop's), `t_keyless` (no key, REPLICA IDENTITY FULL: PostgreSQL
 * publishes its UPDATE and DELETE with the whole old row, so the application updates and deletes
 * it by its `n`, a value only it writes) and `t_link` (once the link l1 carries it). Each row is
 * inserted, updated and deleted in autocommit, and keeps what its acknowledged writes left: the
 * ledger the oracle holds the primary to (`acked-rows-on-primary`).
 */
export type RowTable = 't_ids' | 't_keyless' | 't_link';

/** the column that names a row of each table: its key, or t_keyless's `n` (no key: a value only the application's rows carry) */
export const ROW_KEY: Record<RowTable, string> = { t_ids: 'id', t_keyless: 'n', t_link: 'id' };

/** each table's first key of the application's rows: clear of the seeded rows, the id loop's and the link operation's */
const FIRST_KEY: Record<RowTable, number> = {
  t_ids: 1_500_000_000,
  t_keyless: 1_000_000,
  t_link: 3_000_000_000,
};

/** What a row holds: its `v`, or none (`gone`: deleted). */
export interface RowState {
  v: string;
  gone: boolean;
}

/**
 * A row the application inserted, with what its acknowledged writes left. `at`: the node that
 * acknowledged the last; `doubt`: a write sent whose answer never came (either outcome holds, until
 * the next); `valueKnown`: false where an operation moved the table's values between columns after
 * the last write (column-swap), so only its presence is judged until the next update.
 */
export interface Row extends RowState {
  table: RowTable;
  key: number;
  at: string;
  doubt: RowState | null;
  valueKnown: boolean;
}

/** a row as a node holds it: its `v` and how many rows carry its key (t_keyless has none to forbid two); null: none */
export type HeldRow = { v: string; copies: number } | null;

/** whether `held` is what the row's acknowledged writes left (or its write in doubt would) */
export function rowHolds(r: Row, held: HeldRow): boolean {
  const is = (s: RowState) =>
    s.gone ? held === null : held !== null && held.copies === 1 && (!r.valueKnown || held.v === s.v);
  return is(r) || (r.doubt !== null && is(r.doubt));
}

/** how a row reads in a disagreement */
export const rowText = (r: Row): string =>
  `${r.table} ${ROW_KEY[r.table]} ${r.key} ${r.gone ? 'deleted' : `v ${r.v}`}${r.doubt ? ' (a write in doubt)' : ''}`;

/** The ledger of the application's rows (by table), and its writer. */
export class RowLedger {
  readonly rows: Row[] = [];
  private readonly next = { ...FIRST_KEY };
  /** when each table's values last moved between columns (column-swap) */
  private readonly moved = new Map<RowTable, number>();

  /** the values of `table` moved between columns now: what was written before is judged by presence */
  valuesMoved(table: RowTable): void {
    this.moved.set(table, Date.now());
    for (const r of this.rows) if (r.table === table) r.valueKnown = false;
  }

  /** every row, by the node that acknowledged its last write */
  byNode(): Map<string, Row[]> {
    const out = new Map<string, Row[]>();
    for (const r of this.rows) out.set(r.at, [...(out.get(r.at) ?? []), r]);
    return out;
  }

  /**
   * One write of the application into one of `tables` (in turn): a new row while the table holds
   * few, else 2 times in 5; otherwise a row it holds (not `forgiven`) updated (3 times in 4) or
   * deleted. What was acknowledged goes to the row; a row the node does not hold (lost with a
   * crashed primary, or a delete in doubt that happened) is left alone.
   */
  writer(tables: RowTable[], marks: WalMarks, forgiven: ReadonlySet<string>): Write {
    let n = 0;
    return async (client, at) => {
      const table = tables[n++ % tables.length];
      if (!table) return;
      const live = this.rows.filter(
        (r) => r.table === table && !r.gone && !forgiven.has(markOf(table, r.key)),
      );
      if (live.length < 20 || Math.random() < 0.4) return this.insert(client, at, table, marks);
      const r = live[Math.floor(Math.random() * live.length)]!;
      const next: RowState =
        Math.random() < 0.25
          ? { v: r.v, gone: true }
          : { v: `u${n}.${Math.random().toString(36).slice(2)}`, gone: false };
      const key = ROW_KEY[table];
      const sent = Date.now();
      const before = r.doubt;
      r.doubt = next;
      const { rows } = next.gone
        ? await client.query<{ lsn: string }>(
            `DELETE FROM public.${table} WHERE ${key} = $1 RETURNING ${LSN}`,
            [r.key],
          )
        : await client.query<{ lsn: string }>(
            `UPDATE public.${table} SET v = $2 WHERE ${key} = $1 RETURNING ${LSN}`,
            [r.key, next.v],
          );
      // answered: no row there, so nothing happened (a write in doubt is one never answered); a
      // delete in doubt from before did (seeds 180033 and 180036: a delete in flight when pa
      // crashed reached its standby, the next update found no row, and the row read as lost)
      if (rows.length !== 1) {
        if (before?.gone) Object.assign(r, { gone: true, at, doubt: null });
        else r.doubt = null;
        return;
      }
      Object.assign(r, next, { at, doubt: null, valueKnown: sent > (this.moved.get(table) ?? 0) });
      marks.mark('rows', at, markOf(table, r.key), rows[0]!.lsn);
    };
  }

  private async insert(client: pg.Client, at: string, table: RowTable, marks: WalMarks): Promise<void> {
    const key = this.next[table]++;
    const sent = Date.now();
    const { rows } = await client.query<{ v: string; lsn: string }>(
      table === 't_keyless'
        ? `INSERT INTO public.t_keyless (v, n) VALUES (md5(random()::text), $1) RETURNING v, ${LSN}`
        : `INSERT INTO public.${table} (id, v) VALUES ($1, md5(random()::text)) RETURNING v, ${LSN}`,
      [key],
    );
    const v = rows[0]!.v;
    const valueKnown = sent > (this.moved.get(table) ?? 0);
    this.rows.push({ table, key, v, gone: false, at, doubt: null, valueKnown });
    marks.mark('rows', at, markOf(table, key), rows[0]!.lsn);
  }
}

/** the rows of `rows` that `node` does not hold as their acknowledged writes left them */
export async function rowsWrong(node: TestNode, rows: Row[]): Promise<Row[]> {
  const wrong: Row[] = [];
  for (const table of Object.keys(ROW_KEY) as RowTable[]) {
    const mine = rows.filter((r) => r.table === table);
    if (mine.length === 0) continue;
    const key = ROW_KEY[table];
    const held = new Map<number, { v: string; copies: number }>();
    for (const h of await node.query<{ k: string; v: string }>(
      `SELECT ${key}::text AS k, v FROM public.${table} WHERE ${key} = ANY($1::bigint[])`,
      [mine.map((r) => r.key)],
    )) {
      const was = held.get(Number(h.k));
      held.set(Number(h.k), { v: h.v, copies: (was?.copies ?? 0) + 1 });
    }
    wrong.push(...mine.filter((r) => !rowHolds(r, held.get(r.key) ?? null)));
  }
  return wrong;
}
