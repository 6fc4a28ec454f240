import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { prepareHolding, steepWith, writeConfig } from '../support/cli.js';
import { type TestNode, useCluster } from '../support/cluster.js';
import {
  copyAtSnapshot,
  createTables,
  digests,
  fastCopy,
  fillTables,
  slowCopy,
  type TableDef,
  waitCaughtUp,
} from '../support/replicationData.js';
import { eventually, HANG_MS, nodesYaml, passwordEnv } from '../support/topologyFile.js';

/**
 * A realistic write load on the publisher (several connections inserting, updating and deleting
 * on three tables) through a snapshot init and through a manual init; once the writers stop and
 * replication catches up, both sides hold the same rows: counts and checksums equal, no row lost.
 * Prints rows written, writes/s under load and time to synchronized.
 */
const cluster = useCluster({ nodes: ['east', 'west'] });

const CONNECTIONS = 4;
const MAX_TXNS_PER_CONNECTION = 50_000;
const MAX_MS = 90_000;

interface LoadResult {
  /** committed transactions */
  txns: number;
  /** rows inserted, updated or deleted */
  rows: number;
  ms: number;
}

/**
 * CONNECTIONS clients, each a loop of short transactions (INSERT a new row, UPDATE an existing
 * one, DELETE one) over `tables`, bounded by a count and a time, until stopped. Each client
 * inserts in its own id range, so the clients never collide.
 */
function startLoad(
  node: TestNode,
  tables: string[],
  base: number,
): { committed: () => number; over: () => boolean; stop: () => Promise<LoadResult> } {
  let running = true;
  let over = false;
  const t0 = Date.now();
  let txns = 0;
  let rows = 0;
  const workers = Array.from({ length: CONNECTIONS }, async (_, w) => {
    let client: pg.Client | undefined;
    try {
      client = await node.client();
      let next = base + w * 10_000_000;
      for (let i = 0; running && i < MAX_TXNS_PER_CONNECTION && Date.now() - t0 < MAX_MS; i++) {
        const t = tables[(i + w) % tables.length]!;
        next += 1;
        await client.query('BEGIN');
        const ins = await client.query(
          `INSERT INTO public.${t} (id, v, n) VALUES ($1::bigint, md5($1::bigint::text), $2)`,
          [next, w],
        );
        const upd = await client.query(`UPDATE public.${t} SET n = n + 1, v = v || 'u' WHERE id = $1`, [
          1 + ((next * 7919) % 40_000),
        ]);
        const del = await client.query(`DELETE FROM public.${t} WHERE id = $1`, [
          40_001 + ((next * 104729) % 10_000),
        ]);
        await client.query('COMMIT');
        txns += 1;
        rows += (ins.rowCount ?? 0) + (upd.rowCount ?? 0) + (del.rowCount ?? 0);
      }
    } catch (err) {
      if (running) throw err;
    } finally {
      await client?.end().catch(() => {});
    }
  });
  const done = Promise.all(workers).finally(() => {
    over = true;
  });
  done.catch(() => {});
  return {
    committed: () => txns,
    over: () => over,
    stop: async () => {
      running = false;
      await done;
      return { txns, rows, ms: Date.now() - t0 };
    },
  };
}

/** Until the load has committed `n` more transactions than when called (or reached its bounds). */
async function loadGoesOn(load: { committed: () => number; over: () => boolean }, n: number): Promise<void> {
  const from = load.committed();
  await eventually(
    async () => load.committed() >= from + n || load.over(),
    HANG_MS,
    `${n} more transactions of the load`,
  );
}

/** Ids on the publisher that the subscriber does not hold (rows lost), per table, summed. */
async function rowsLost(pub: TestNode, sub: TestNode, tables: string[]): Promise<number> {
  let lost = 0;
  for (const t of tables) {
    const [a] = await pub.query<{ ids: string[] }>(
      `SELECT coalesce(array_agg(id::text), '{}') AS ids FROM public.${t}`,
    );
    const [b] = await sub.query<{ ids: string[] }>(
      `SELECT coalesce(array_agg(id::text), '{}') AS ids FROM public.${t}`,
    );
    const have = new Set(b!.ids);
    for (const id of a!.ids) if (!have.has(id)) lost += 1;
  }
  return lost;
}

function config(topology: string, pub: string, sub: string, tables: string[], method: string): string {
  const [east, west] = cluster().nodes;
  return writeConfig(
    [
      'version: 1',
      `topology: ${topology}`,
      nodesYaml([east!, west!]),
      'publications:',
      `  ${pub}:`,
      '    node: east',
      `    tables: [${tables.map((t) => `public.${t}`).join(', ')}]`,
      'subscriptions:',
      `  ${sub}:`,
      '    node: west',
      '    from: east',
      `    publications: [${pub}]`,
      '    init:',
      `      method: ${method}`,
      '',
    ].join('\n'),
  );
}

const steep = steepWith({ env: () => passwordEnv(cluster().nodes), timeoutMs: 240_000 });

function report(kind: string, load: LoadResult, syncMs: number, lost: number): void {
  console.log(
    `${kind} init under load: ${load.rows} rows written in ${load.txns} transactions by ${CONNECTIONS} connections, ` +
      `${(load.rows / (load.ms / 1000)).toFixed(0)} row writes/s (${(load.txns / (load.ms / 1000)).toFixed(0)} txn/s), ` +
      `${(syncMs / 1000).toFixed(1)} s to synchronized, ${lost} rows lost`,
  );
}

describe('init under a multi-connection write load', () => {
  it('snapshot init: both sides equal afterwards, no row lost', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables: TableDef[] = [
      { name: 'ld_a', rows: 50_000 },
      { name: 'ld_b', rows: 50_000 },
      { name: 'ld_c', rows: 50_000 },
    ];
    const names = tables.map((t) => t.name);
    await createTables([east, west], tables);
    await fillTables(east, tables);
    // stretch the copy out a little so the load really overlaps it
    await slowCopy(west, 'ld_a', 2000, 100);
    const path = config('load-snap', 'ld_pub', 'west_ld', names, 'snapshot');

    const load = startLoad(east, names, 100_000_000);
    // the load under way before the apply starts
    await loadGoesOn(load, 40);
    const t0 = Date.now();
    const applied = await steep(['apply', '--auto-approve'], path);
    const syncMs = Date.now() - t0;
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    // keep writing after synchronized, then stop
    await loadGoesOn(load, 40);
    const result = await load.stop();
    expect(result.txns).toBeGreaterThan(100);

    await fastCopy(west, 'ld_a');
    await waitCaughtUp(east, 'west_ld', 120_000);
    expect(await digests(west, names)).toEqual(await digests(east, names));
    const lost = await rowsLost(east, west, names);
    expect(lost).toBe(0);
    expect((await steep(['plan', '--detailed-exitcode'], path)).code).toBe(0);
    report('snapshot', result, syncMs, lost);
  });

  it('manual init: both sides equal afterwards, no row lost', async () => {
    const east = cluster().node('east');
    const west = cluster().node('west');
    const tables: TableDef[] = [
      { name: 'lm_a', rows: 50_000 },
      { name: 'lm_b', rows: 50_000 },
      { name: 'lm_c', rows: 50_000 },
    ];
    const names = tables.map((t) => t.name);
    await createTables([east, west], tables);
    await fillTables(east, tables);
    const path = config('load-manual', 'lm_pub', 'west_lm', names, 'manual');
    const first = await steep(['apply', '--auto-approve'], path);
    expect(first.code, first.stderr).toBe(0);

    const load = startLoad(east, names, 200_000_000);
    // the load under way before the slot is made
    await loadGoesOn(load, 40);
    const t0 = Date.now();
    const { child, doc } = await prepareHolding(
      ['init', 'prepare', 'west_lm', '--hold', '--json', '-c', path],
      passwordEnv(cluster().nodes),
    );
    await copyAtSnapshot(east, west, names, doc.snapshotName);
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const applied = await steep(['apply', '--auto-approve'], path);
    const syncMs = Date.now() - t0;
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    // keep writing after synchronized, then stop
    await loadGoesOn(load, 40);
    const result = await load.stop();
    expect(result.txns).toBeGreaterThan(100);

    await waitCaughtUp(east, 'west_lm', 120_000);
    expect(await digests(west, names)).toEqual(await digests(east, names));
    const lost = await rowsLost(east, west, names);
    expect(lost).toBe(0);
    expect((await steep(['plan', '--detailed-exitcode'], path)).code).toBe(0);
    report('manual', result, syncMs, lost);
  });
});
