import { quoteLiteral } from '../model/sql.js';

/**
 * A flushed mark in a node's WAL, for every "has the other side applied everything up to now?"
 * decision (a switchover's fence and its rollback's drain, a reinit fence, verify's re-check of a
 * difference): a logical decoding message written in a transaction committed with
 * `synchronous_commit = local`. An asynchronous commit is visible once its commit record is
 * inserted, before the WAL writer writes or flushes it, so `pg_current_wal_lsn()` (the write
 * position) can lie before a transaction a reader saw commit, and a walsender sends only flushed
 * WAL. The message lies after every commit record inserted before it, and its synchronous commit
 * flushes the WAL up to it, so a subscriber can reach it and reaching it proves everything before
 * it was applied. The SELECT returns the mark as `lsn`.
 */
export function flushedMarkSql(label: string): string[] {
  return [
    'BEGIN READ WRITE',
    'SET LOCAL synchronous_commit = local',
    `SELECT pg_catalog.pg_logical_emit_message(true, 'steep', ${quoteLiteral(label)})::text AS lsn`,
    'COMMIT',
  ];
}
