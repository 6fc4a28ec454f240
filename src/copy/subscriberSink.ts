import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { copyInSql } from '../catalog/copySource.js';
import { connect } from '../db/connect.js';
import type { ConnectionSpec } from '../model/topology.js';
import { CopyChunkStore } from '../state/copyChunks.js';
import type { Chunk, ChunkResult, ChunkSink, ChunkWriter } from './engine.js';

/**
 * The streaming sink: each chunk goes straight into the subscriber's table by `COPY … FROM
 * STDIN`, in one transaction with its `copy_chunks` mark. The sessions run as replication does
 * (`session_replication_role = replica`, where the role may set it): foreign keys between
 * tables copied in parallel, and ordinary triggers, do not fire, as during PostgreSQL's own
 * table sync.
 */
export class SubscriberSink implements ChunkSink {
  constructor(
    private readonly target: {
      node: string;
      connection: ConnectionSpec;
      connectTimeoutMs?: number;
      stateSchema: string;
      subscription: string;
      lsn: string;
    },
  ) {}

  async open(): Promise<ChunkWriter> {
    const t = this.target;
    const client = await connect(t.connection, {
      node: t.node,
      applicationName: 'steep copy',
      connectTimeoutMs: t.connectTimeoutMs,
    });
    await client.query('SET synchronous_commit = off');
    await client.query('SET session_replication_role = replica').catch(() => {});
    const store = new CopyChunkStore(t.stateSchema, t.node);
    return {
      write: async (chunk: Chunk, data: Readable, binary: boolean): Promise<ChunkResult> => {
        await client.query('BEGIN');
        try {
          const into = client.query(copyFrom(copyInSql(chunk.table, chunk.table.columns, binary)));
          let bytes = 0;
          data.on('data', (b: Buffer) => {
            bytes += b.length;
          });
          await pipeline(data, into);
          const result = { rows: into.rowCount, bytes };
          await store.done(client, {
            subscription: t.subscription,
            lsn: t.lsn,
            table: chunk.table,
            chunk: chunk.index,
            ...result,
          });
          await client.query('COMMIT');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      },
      close: () => client.end(),
    };
  }
}
