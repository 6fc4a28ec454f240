/**
 * What a new snapshot holds, read at its exported snapshot before any file is written: the
 * tables and their chunks, the sequences' values, the subscriber's columns (binary or text
 * format), and `schema.sql`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { type CopySourceTable, readColumns, readCopySource } from '../catalog/copySource.js';
import { inOneWrite } from '../catalog/session.js';
import { issueTableSchemaQueries } from '../catalog/tableSchemas.js';
import { sequenceValues } from '../executors/sequenceSync.js';
import { SteepError } from '../model/errors.js';
import { sha256Hex } from '../model/sha256.js';
import {
  DEFAULT_SPLIT_ABOVE,
  type SubscriptionSpec,
  type TableName,
  type Topology,
} from '../model/topology.js';
import { STEEP_VERSION } from '../version.js';
import { beginAtSnapshot, type Chunk, planChunks } from './engine.js';
import { unsplitOn } from './loadMode.js';
import { FORMAT_VERSION, type Manifest, type ManifestTable, SCHEMA_FILE } from './manifest.js';
import { schemaScript } from './schemaFile.js';
import type { Run } from './snapshotGenerate.js';
import type { HeldSnapshot } from './snapshotHolder.js';
import { binaryCompatible } from './streamInit.js';
import { major, where } from './twoPhase.js';

/**
 * A new snapshot's manifest, before any file (read at the snapshot on `pub`, the subscriber's
 * columns on `sub`), with schema.sql written.
 */
export async function newManifest(
  run: Run,
  held: HeldSnapshot,
  /** the sequences of the published tables, checked before the slot (settableSequences) */
  sequences: TableName[],
  [pubVersion, subVersion]: [number, number],
): Promise<Manifest> {
  const { topology, d, dir, parallel, pub, sub } = run;
  // the publisher's session (warm, no session to connect) goes to the snapshot and reads it in
  // the same write; its transaction ends with the caller's COMMIT
  const [, tables] = await Promise.all([
    beginAtSnapshot(pub, held.snapshot),
    readCopySource(pub, d.publications, pubVersion, topology.settings.stateSchema),
  ]);
  if (tables.length === 0) {
    throw new SteepError(
      'snapshot.nothing',
      `publications ${d.publications.join(', ')} of ${d.name} publish no table on ${d.from} (do they exist? run steep apply first)`,
      where(d),
    );
  }
  // pipelined on the publisher's session, the subscriber's meanwhile (one query after another);
  // a table the subscriber loads only in one COPY statement is not split (loadMode.ts)
  const whole = unsplitOn(sub, tables);
  const [chunks, values, target, schema] = await Promise.all([
    whole.then((w) =>
      planChunks(pub, tables, { splitAbove: d.init.splitAbove ?? DEFAULT_SPLIT_ABOVE, parallel, whole: w }),
    ),
    sequenceValues(pub, sequences),
    whole.then(() => readColumns(sub, tables)),
    schemaSql(pub, topology, d, tables),
  ]);
  const binary = binaryCompatible(tables, target, major(pubVersion) === major(subVersion));
  writeFileSync(join(dir, SCHEMA_FILE), schema);
  return {
    formatVersion: FORMAT_VERSION,
    steepVersion: STEEP_VERSION,
    createdAt: new Date().toISOString(),
    completedAt: null,
    topology: topology.topology,
    subscription: d.name,
    publisher: d.from,
    subscriber: d.node,
    publications: [...d.publications],
    slot: d.slot,
    lsn: held.lsn,
    snapshot: held.snapshot,
    serverVersion: pubVersion,
    subscriberServerVersion: subVersion,
    format: binary ? 'binary' : 'text',
    compress: run.sink.compress,
    schemaFile: { file: SCHEMA_FILE, sha256: sha256Hex(schema) },
    sequences: values.map((s) => ({ schema: s.schema, name: s.name, value: s.last })),
    tables: tables.map((t) => manifestTable(t, chunks)),
  };
}

/** A table as the manifest lists it: its files, one per chunk, none written yet. */
function manifestTable(t: CopySourceTable, chunks: Chunk[]): ManifestTable {
  return {
    schema: t.schema,
    name: t.name,
    columns: t.columns,
    rowFilter: t.rowFilter,
    key: t.key,
    files: chunks
      .filter((c) => c.table === t)
      .sort((a, b) => a.index - b.index)
      .map((c) => ({
        chunk: c.index,
        lower: c.lower,
        upper: c.upper,
        estimatedBytes: Math.round(c.estimatedBytes),
        file: null,
        rows: null,
        bytes: null,
        sha256: null,
      })),
  };
}

/** schema.sql, read on `pub` in the transaction it is in (the snapshot's). */
async function schemaSql(
  pub: pg.Client,
  topology: Topology,
  d: SubscriptionSpec,
  tables: CopySourceTable[],
): Promise<string> {
  const scope = {
    all: false,
    schemas: [],
    tables: tables.map((t) => ({ schema: t.schema, name: t.name })),
    objects: true,
  };
  const read = await inOneWrite(pub, () =>
    issueTableSchemaQueries(pub, scope, topology.settings.stateSchema),
  );
  return schemaScript(d.name, read, tables);
}
