/**
 * The copy engine's sessions opened at the snapshot before its run (openSnapshotSessions), on
 * real PostgreSQL: the run copies on them, ends those it has no chunk for, and retries a chunk
 * whose session failed to open on a new one. What each run copied is checked against the table
 * as the snapshot sees it (rows added after the snapshot must not appear).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { CopySourceTable } from '../../src/catalog/copySource.js';
import {
  type Chunk,
  type ChunkSink,
  closeSessions,
  openSnapshotSessions,
  runCopy,
} from '../../src/copy/engine.js';
import { defaultVersion, useCluster } from '../support/cluster.js';

const version = defaultVersion();
const APP = 'steep copy';

/** A sink that keeps each chunk's text COPY data in memory. */
function memorySink(): ChunkSink & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    async open() {
      return {
        async write(chunk: Chunk, stream: Readable) {
          let text = '';
          for await (const piece of stream) text += (piece as Buffer).toString();
          data.set(`${chunk.table.name}.${chunk.index}`, text);
          return { bytes: Buffer.byteLength(text) };
        },
        async close() {},
      };
    },
  };
}

const table = (name: string): CopySourceTable => ({
  schema: 'public',
  name,
  columns: [
    { name: 'id', type: 'integer', builtin: true },
    { name: 'v', type: 'text', builtin: true },
  ],
  rowFilter: null,
  estimatedBytes: 0,
  estimatedRows: 0,
  key: null,
  partitioned: false,
  generated: false,
});

const chunk = (name: string): Chunk => ({
  table: table(name),
  index: 0,
  lower: null,
  upper: null,
  estimatedBytes: 0,
});

const digest = (text: string) =>
  createHash('sha256')
    .update([...text.split('\n')].sort().join('\n'))
    .digest('hex');

describe(`copy sessions opened at the snapshot (PostgreSQL ${version})`, () => {
  const cluster = useCluster({ nodes: ['pub'], version });

  /** t1 and t2 with 1,000 rows each, a snapshot exported, then 10 rows more in each. */
  async function exported(): Promise<{ snapshot: string; expected: string; exporter: pg.Client }> {
    const pub = cluster().node('pub');
    await pub.query('DROP TABLE IF EXISTS t1, t2');
    for (const t of ['t1', 't2'])
      await pub.query(
        `CREATE TABLE ${t} AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g`,
      );
    const exporter = await pub.client();
    onTestFinished(() => exporter.end());
    await exporter.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const [{ snapshot }] = (
      await exporter.query<{ snapshot: string }>('SELECT pg_export_snapshot() AS snapshot')
    ).rows as [{ snapshot: string }];
    const expected = (
      await exporter.query<{ t: string }>("SELECT string_agg(id || E'\\t' || v, E'\\n') AS t FROM t1")
    ).rows[0]!.t;
    for (const t of ['t1', 't2'])
      await pub.query(`INSERT INTO ${t} SELECT g, 'after' FROM generate_series(1001, 1010) g`);
    return { snapshot, expected, exporter };
  }

  async function copySessions(): Promise<number> {
    const rows = await cluster()
      .node('pub')
      .query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [
        APP,
      ]);
    return rows[0]!.n;
  }

  it('copies on them, and ends those it has no chunk for', async () => {
    const pub = cluster().node('pub');
    const { snapshot, expected } = await exported();
    const run = { node: 'pub', connection: pub.connection, snapshot };
    const opened = openSnapshotSessions(run, 4);
    await Promise.all(opened);
    expect(await copySessions()).toBe(4);
    const sink = memorySink();
    await runCopy({ ...run, parallel: 4, binary: false, chunks: [chunk('t1'), chunk('t2')], sink, opened });
    expect(opened).toEqual([]);
    for (const t of ['t1', 't2']) {
      const copied = sink.data.get(`${t}.0`)!.trimEnd();
      expect(copied.split('\n')).toHaveLength(1000);
      expect(digest(copied)).toBe(digest(expected));
    }
    for (let i = 0; i < 50 && (await copySessions()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await copySessions()).toBe(0);
  });

  it('retries a chunk whose session failed to open on a new one', async () => {
    const pub = cluster().node('pub');
    const { snapshot, expected } = await exported();
    const failed = Promise.reject(new Error('connection refused'));
    failed.catch(() => {});
    const sink = memorySink();
    await runCopy({
      node: 'pub',
      connection: pub.connection,
      snapshot,
      parallel: 1,
      binary: false,
      chunks: [chunk('t1')],
      sink,
      opened: [failed],
    });
    const copied = sink.data.get('t1.0')!.trimEnd();
    expect(copied.split('\n')).toHaveLength(1000);
    expect(digest(copied)).toBe(digest(expected));
  });

  it('closeSessions ends sessions opened and never used', async () => {
    const pub = cluster().node('pub');
    const { snapshot } = await exported();
    const opened = openSnapshotSessions({ node: 'pub', connection: pub.connection, snapshot }, 2);
    await Promise.all(opened);
    expect(await copySessions()).toBe(2);
    await closeSessions(opened);
    expect(opened).toEqual([]);
    for (let i = 0; i < 50 && (await copySessions()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await copySessions()).toBe(0);
  });
});
