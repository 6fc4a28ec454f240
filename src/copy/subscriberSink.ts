import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { copyInSql } from '../catalog/copySource.js';
import { nodeSession } from '../db/connect.js';
import { CopyIn } from '../db/copyIn.js';
import { setSession } from '../db/session.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { CopyChunkStore } from '../state/copyChunks.js';
import type { Chunk, ChunkResult, ChunkSink, ChunkWriter } from './engine.js';

/**
 * The streaming sink: each chunk goes straight into the subscriber's table by `COPY … FROM
 * STDIN`, in one transaction with its `copy_chunks` mark. Where the role may (`replica`: a
 * superuser, or SET ON PARAMETER), the sessions run as replication does,
 * `session_replication_role = replica`: foreign keys between tables copied in parallel, and
 * ordinary triggers, do not fire, as during PostgreSQL's own table sync. Otherwise the copy loads
 * in foreign-key order (loadQueue.ts), and a group of tables whose DEFERRABLE foreign keys
 * reference each other loads in one transaction with SET CONSTRAINTS ALL DEFERRED (`deferred`).
 */
export class SubscriberSink implements ChunkSink {
  constructor(
    private readonly topology: Topology,
    private readonly d: SubscriptionSpec,
    /** the slot position the chunks are recorded at */
    private readonly lsn: string,
    /** SET session_replication_role = replica (the load's mode says the role may) */
    private readonly replica: boolean,
  ) {}

  async open(): Promise<ChunkWriter> {
    const { topology, d } = this;
    const client = await nodeSession(topology, d.node, 'steep copy');
    await setSession(client, {
      other: { synchronous_commit: 'off', ...(this.replica ? { session_replication_role: 'replica' } : {}) },
    });
    const store = new CopyChunkStore(topology.settings.stateSchema, d.node);
    // inside `deferred`: the group's transaction is open, each write is one statement of it
    let grouped = false;
    return {
      deferred: async <R>(body: () => Promise<R>): Promise<R> => {
        await client.query('BEGIN');
        grouped = true;
        try {
          await client.query('SET CONSTRAINTS ALL DEFERRED');
          const result = await body();
          await client.query('COMMIT');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        } finally {
          grouped = false;
        }
      },
      write: async (chunk: Chunk, data: Readable, binary: boolean): Promise<ChunkResult> => {
        if (!grouped) await client.query('BEGIN');
        try {
          const sql = copyInSql(chunk.table, chunk.table.columns, binary);
          const into = client.query(new CopyIn(sql));
          await pipeline(data, into);
          const result = { rows: into.rowCount, bytes: into.bytes };
          await store.done(client, {
            subscription: d.name,
            lsn: this.lsn,
            table: chunk.table,
            chunk: chunk.index,
            ...result,
          });
          if (!grouped) await client.query('COMMIT');
          return result;
        } catch (err) {
          if (!grouped) await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      },
      close: () => client.end(),
    };
  }
}
