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

/** A family the application wrote: a parent (its identity and its random `v`) and its child. */
export interface Family {
  parent: number;
  v: string;
  child: number;
}
