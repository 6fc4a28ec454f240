/** A reconcile's rows as merge_log and `manual`'s conflicts file write them (workflows/mergeReconcile.ts). */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import type pg from 'pg';
import { keyId, readRowsByKey } from '../catalog/rowsByKey.js';
import type { MergeComparison, MergePair } from '../model/merge.js';
import { qualifiedName } from '../model/topology.js';
import type { RowDifference, RowKey } from '../model/verify.js';

/** Conflicts decided, logged and written per round; read per round for the file. */
export const CONFLICT_BATCH = 5000;

export function keyRecord(cmp: MergeComparison, key: RowKey): Record<string, string> {
  return Object.fromEntries(cmp.publisher.keys.map((k, i) => [k.name, key[i]!]));
}

export function rowRecord(cmp: MergeComparison, row: Array<string | null>): Record<string, string | null> {
  return Object.fromEntries(cmp.publisher.columns.map((c, i) => [c, row[i] ?? null]));
}

export /** The rows of these keys on A and on B (those present), at once. */
function bothRows(a: pg.Client, b: pg.Client, cmp: MergeComparison, keys: RowKey[]) {
  return Promise.all([readRowsByKey(a, cmp.publisher, keys), readRowsByKey(b, cmp.subscriber, keys)]);
}

export /**
 * `manual`: every conflict — table, key, both rows — as JSON, one conflict per line inside a
 * `conflicts` array, so a file of 100,000 conflicts streams out and reads back with any JSON
 * reader. Returns its absolute path.
 */
async function writeConflicts(
  a: pg.Client,
  b: pg.Client,
  pair: MergePair,
  cmps: MergeComparison[],
  diffs: Map<string, RowDifference[]>,
  file: string,
): Promise<string> {
  const path = resolve(file);
  const out = createWriteStream(path, { encoding: 'utf8' });
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  try {
    await write(
      `{"merge":${JSON.stringify(pair.name)},"a":${JSON.stringify(pair.a)},"b":${JSON.stringify(pair.b)},"conflicts":[`,
    );
    let first = true;
    for (const cmp of cmps) {
      const name = qualifiedName(cmp.table);
      const conflicts = (diffs.get(name) ?? []).filter((d) => d.kind === 'different');
      for (let i = 0; i < conflicts.length; i += CONFLICT_BATCH) {
        const keys = conflicts.slice(i, i + CONFLICT_BATCH).map((d) => d.key);
        const [rowsA, rowsB] = await bothRows(a, b, cmp, keys);
        for (const key of keys) {
          const ra = rowsA.get(keyId(key));
          const rb = rowsB.get(keyId(key));
          const line = JSON.stringify({
            table: name,
            key: keyRecord(cmp, key),
            rows: { [pair.a]: ra ? rowRecord(cmp, ra) : null, [pair.b]: rb ? rowRecord(cmp, rb) : null },
          });
          await write(`${first ? '' : ','}\n${line}`);
          first = false;
        }
      }
    }
    await write('\n]}\n');
  } finally {
    out.end();
    await once(out, 'close').catch(() => {});
  }
  return path;
}
