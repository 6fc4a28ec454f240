import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { copyInSql } from '../catalog/copySource.js';
import { connect } from '../db/connect.js';
import type { ConnectionSpec } from '../model/topology.js';
import { CopyChunkStore } from '../state/copyChunks.js';
import { CopyIn } from './copyIn.js';
import { CopyOut } from './copyOut.js';
import type { Chunk, ChunkResult, ChunkSink, ChunkWriter } from './engine.js';

/**
 * The streaming sink: each chunk goes straight into the subscriber's table by `COPY … FROM
 * STDIN`, in one transaction with its `copy_chunks` mark. The sessions run as replication does
 * (`session_replication_role = replica`, where the role may set it): foreign keys between
 * tables copied in parallel, and ordinary triggers, do not fire, as during PostgreSQL's own
 * table sync.
 */
export class SubscriberSink implements ChunkSink {
  /** steep's own copy's data: the publisher's CopyData messages, sent on as they are (copyIn.ts) */
  readonly framed = true;

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
          const sql = copyInSql(chunk.table, chunk.table.columns, binary);
          // steep's own copy: the publisher's CopyData messages go on as they are; a file's data
          // (snapshot apply) is put into messages by pg-copy-streams
          const framed = data instanceof CopyOut && data.framed;
          const into = client.query(framed ? new CopyIn(sql) : copyFrom(sql));
          let bytes = 0;
          if (!framed)
            data.on('data', (b: Buffer) => {
              bytes += b.length;
            });
          await pipeline(data, into);
          const result = { rows: into.rowCount, bytes: framed ? data.bytes : bytes };
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
