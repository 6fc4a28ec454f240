import type pg from 'pg';

/**
 * What the world records of the application's writes for the oracle (oracle.ts: availability):
 * the writes that failed, the writes that took long, and the blackouts operations declared.
 */

/** A write of the application that failed: where, its SQLSTATE (or `connection`), when (ms). */
export interface WriterError {
  node: string;
  code: string;
  at: number;
}

/** A write of the application that took long: on which node, from when to when (ms). */
export interface SlowWrite {
  node: string;
  from: number;
  to: number;
}

/** a write taking longer than this is kept for the oracle to judge (it bounds them by WRITE_CEILING_MS) */
const SLOW_WRITE_MS = 1_000;

/** A span an operation declares in which the application may fail to write (a fence, a crash). */
export interface Blackout {
  why: string;
  from: number;
  to: number | null;
}

/** One write of the application on a session of the node `at`. */
export type Write = (client: pg.Client, at: string) => Promise<void>;

/** `write`, timed: one that took over SLOW_WRITE_MS (failed or not) goes to `slow`. */
export function timedWrite(write: Write, slow: (w: SlowWrite) => void): Write {
  return async (client, at) => {
    const from = Date.now();
    try {
      await write(client, at);
    } finally {
      if (Date.now() - from > SLOW_WRITE_MS) slow({ node: at, from, to: Date.now() });
    }
  };
}

/** an LSN (`16/B374D848`) as a number, to compare */
export function lsnValue(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/**
 * Where the application's acknowledged rows stood in their node's WAL: each write reads
 * `pg_current_wal_insert_lsn()`, so the next write of the same loop on the same node read a
 * position past the commit of the one before it (`after`: null for a loop's last write). A failover
 * bounds by it what steep said was lost past the fork (forgiveness.ts). Rows by `markOf`.
 */
export class WalMarks {
  private readonly marks = new Map<string, { node: string; after: string | null }>();
  private readonly last = new Map<string, { key: string; node: string }>();

  /** the row `key`, acknowledged on `node` by the loop `loop`, whose statement read the WAL at `lsn` */
  mark(loop: string, node: string, key: string, lsn: string): void {
    const prev = this.last.get(loop);
    const m = prev && prev.node === node ? this.marks.get(prev.key) : undefined;
    if (m) m.after = lsn;
    this.marks.set(key, { node, after: null });
    this.last.set(loop, { key, node });
  }

  /** a position of its node's WAL past the commit of the row `key` (null: none known) */
  committedBefore(key: string): string | null {
    return this.marks.get(key)?.after ?? null;
  }
}

/** the key of WalMarks for the row `id` of `table` */
export const markOf = (table: string, id: number): string => `${table}:${id}`;

/** what each row write returns beside its key: where its node's WAL stood (`WalMarks`) */
export const LSN = 'pg_current_wal_insert_lsn()::text AS lsn';

/** What a family's rows hold: the parent's `v` and the child's, or none (`gone`: deleted). */
export interface FamilyState {
  v: string;
  childV: string;
  gone: boolean;
}

/**
 * A family the application wrote (a parent, by its identity, and its child), with what its
 * acknowledged writes left in it (insert, updates, delete): the ledger the oracle holds the
 * primary to. `at`: the node that acknowledged the last of them; `doubt`: a write whose COMMIT
 * was sent and did not return, which may or may not have happened (until the next one).
 */
export interface Family extends FamilyState {
  parent: number;
  child: number;
  at: string;
  doubt: FamilyState | null;
}

/** a family's rows as a node holds them: null where its parent is not there */
export type HeldFamily = { v: string; childV: string | null } | null;

/** whether `held` is what the family's acknowledged writes left (or its write in doubt would) */
export function familyHolds(f: Family, held: HeldFamily): boolean {
  const is = (s: FamilyState) =>
    s.gone ? held === null : held !== null && held.v === s.v && held.childV === s.childV;
  return is(f) || (f.doubt !== null && is(f.doubt));
}

/**
 * The application's INSERT of a family: a parent (its identity from the table) and its child.
 * `forgiven`: the parents whose loss steep named (world.forgivenFamilies).
 */
export function familyInsert(ledger: Family[], marks: WalMarks, forgiven: Set<number>): Write {
  return async (client, at) => {
    const { rows } = await client.query<{ parent: string; v: string; child: string; lsn: string }>(
      `WITH p AS (INSERT INTO public.t_parent (v) VALUES (md5(random()::text)) RETURNING id, v), c AS (INSERT INTO public.t_child (parent_id, v) SELECT id, 'child' FROM p RETURNING id) SELECT p.id::text AS parent, p.v, c.id::text AS child, ${LSN} FROM p, c`,
    );
    const r = rows[0]!;
    // a parent identity handed out again (a lagging failover loses the sequence's last values
    // with the rows): the insert proves the node had no such row, so this write is the family's
    // last, and a loss forgiven under that identity was the other family's
    const again = ledger.findIndex((f) => f.parent === Number(r.parent));
    if (again >= 0) ledger.splice(again, 1);
    forgiven.delete(Number(r.parent));
    ledger.push({
      parent: Number(r.parent),
      v: r.v,
      child: Number(r.child),
      childV: 'child',
      gone: false,
      at,
      doubt: null,
    });
    marks.mark('family', at, markOf('t_parent', Number(r.parent)), r.lsn);
  };
}

/**
 * The application's UPDATE and DELETE: a family `pick` chose among those it wrote, its parent and
 * child updated (3 times in 4) or deleted, in one transaction; what was acknowledged goes to the
 * family (a family the node does not hold, lost with a crashed primary, is left alone).
 */
export function familyChurn(pick: () => Family | undefined, marks: WalMarks): Write {
  let n = 0;
  return async (client, at) => {
    const f = pick();
    if (!f) return;
    n += 1;
    const next: FamilyState =
      n % 4 === 0
        ? { v: f.v, childV: f.childV, gone: true }
        : { v: `u${n}.${Math.random().toString(36).slice(2)}`, childV: `c${n}`, gone: false };
    await client.query('BEGIN');
    const child = next.gone
      ? await client.query('DELETE FROM public.t_child WHERE id = $1', [f.child])
      : await client.query('UPDATE public.t_child SET v = $2 WHERE id = $1', [f.child, next.childV]);
    const { rows } = next.gone
      ? await client.query<{ lsn: string }>(`DELETE FROM public.t_parent WHERE id = $1 RETURNING ${LSN}`, [
          f.parent,
        ])
      : await client.query<{ lsn: string }>(
          `UPDATE public.t_parent SET v = $2 WHERE id = $1 RETURNING ${LSN}`,
          [f.parent, next.v],
        );
    if (rows.length === 0 || child.rowCount !== 1) {
      await client.query('ROLLBACK');
      return;
    }
    f.doubt = next;
    await client.query('COMMIT');
    Object.assign(f, next, { at, doubt: null });
    marks.mark('churn', at, markOf('t_parent', f.parent), rows[0]!.lsn);
  };
}
