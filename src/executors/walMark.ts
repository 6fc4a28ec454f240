import type pg from 'pg';
import { SteepError } from '../model/errors.js';
import { flushedMarkSql } from '../planner/walMark.js';

/** Run a flushed WAL mark's statements (planner/walMark.ts) on `client`: the mark's LSN. */
export async function runWalMark(client: pg.Client, statements: readonly string[]): Promise<string> {
  let lsn: string | null = null;
  try {
    for (const sql of statements) {
      const { rows } = await client.query<{ lsn?: string }>(sql);
      if (rows[0]?.lsn) lsn = rows[0].lsn;
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  if (lsn === null) throw new SteepError('wal_mark.no_lsn', 'the WAL mark statements returned no LSN');
  return lsn;
}

/** A flushed mark in `client`'s WAL now, labelled for whoever decodes it. */
export function flushedWalMark(client: pg.Client, label: string): Promise<string> {
  return runWalMark(client, flushedMarkSql(label));
}
