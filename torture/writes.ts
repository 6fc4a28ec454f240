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
