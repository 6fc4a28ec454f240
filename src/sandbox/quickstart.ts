/**
 * The quickstart demo: the sandbox of examples/quickstart/steep.yaml, started and seeded.
 * Idempotent: running it again finds the nodes running and the rows present.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTopology } from '../config/load.js';
import { connect, withSession } from '../db/connect.js';
import { PACKAGE_ROOT } from '../location.js';
import { SteepError } from '../model/errors.js';
import type { ConnectionSpec, Topology } from '../model/topology.js';
import { findFreePort } from './ports.js';
import { portsTakenByOthers, startSandbox } from './sandbox.js';

/** Seeds nodes that host publications; subscriber-only nodes get the table definitions without rows. */
export const PUBLISHER_SEED = 'seed.sql';
export const SUBSCRIBER_SEED = 'seed-subscriber.sql';

/** The directory of steep's own package.json (location.ts). */
export function packageRoot(): string {
  return path.resolve(fileURLToPath(PACKAGE_ROOT));
}

export function quickstartConfigPath(): string {
  return path.join(packageRoot(), 'examples', 'quickstart', 'steep.yaml');
}

/**
 * The quickstart file to run, and the ports of the original another program holds:
 * examples/quickstart/steep.yaml (or, given `into`, its copy there, made with its seeds on the
 * first run and kept), unless one of its ports is taken; then a copy of it (and its seeds) on
 * free ports under `.steep/demo/` next to it, kept for the next run (its own nodes running on its
 * ports do not count as taken). `name`: its topology's name.
 */
export async function quickstartFile(into?: string) {
  const original = into === undefined ? quickstartConfigPath() : await copyQuickstart(path.resolve(into));
  const { topology } = await loadTopology(original);
  const taken = await portsTakenByOthers(original, topology);
  const name = topology.topology;
  if (taken.length === 0) return { configPath: original, taken, name };
  const dir = path.join(path.dirname(original), '.steep', 'demo');
  const copy = path.join(dir, 'steep.yaml');
  if (existsSync(copy)) {
    const kept = await loadTopology(copy);
    if ((await portsTakenByOthers(copy, kept.topology)).length === 0)
      return { configPath: copy, taken, name };
  }
  let text = await fs.readFile(original, 'utf8');
  for (const node of Object.values(topology.nodes).filter((n) => n.sandbox)) {
    const from = `@${node.connection.host}:${node.connection.port}/`;
    if (!text.includes(from)) {
      throw new SteepError('demo.ports', `${original}: node ${node.name}'s URL has no ${from} to move`);
    }
    text = text.replace(from, `@${node.connection.host}:${await findFreePort()}/`);
  }
  const moved = taken.map((t) => `${t.port} (${t.node})`).join(', ');
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(copy, `# steep demo: ${original} on free ports (${moved} taken)\n${text}`);
  for (const seed of [PUBLISHER_SEED, SUBSCRIBER_SEED]) {
    const from = path.join(path.dirname(original), seed);
    if (existsSync(from)) await fs.copyFile(from, path.join(dir, seed));
  }
  return { configPath: copy, taken, name };
}

/** `dir`/steep.yaml: the quickstart and its seeds copied there unless the file is there already. */
async function copyQuickstart(dir: string): Promise<string> {
  const file = path.join(dir, 'steep.yaml');
  if (existsSync(file)) return file;
  await fs.mkdir(dir, { recursive: true });
  const from = path.dirname(quickstartConfigPath());
  for (const name of ['steep.yaml', PUBLISHER_SEED, SUBSCRIBER_SEED])
    await fs.copyFile(path.join(from, name), path.join(dir, name));
  return file;
}

async function seed(topology: Topology, node: string, file: string) {
  const spec = topology.nodes[node];
  if (!spec) throw new SteepError('demo.seed', `node ${node} is not in the quickstart file`);
  const sql = await fs.readFile(file, 'utf8');
  return withSession(connect(spec.connection, { node }), async (client) => {
    // several statements, no parameters: one simple-protocol round trip, one implicit transaction
    await client.query(sql);
    const { rows } = await client.query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'
        ORDER BY 1, 2`,
    );
    const tables: Record<string, number> = {};
    for (const t of rows) {
      const q = `${client.escapeIdentifier(t.schema)}.${client.escapeIdentifier(t.name)}`;
      const { rows: counted } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${q}`);
      tables[`${t.schema}.${t.name}`] = counted[0]?.n ?? 0;
    }
    return { node, file: path.basename(file), tables };
  });
}

/** Start the quickstart sandbox and seed it: publishers with seed.sql, subscriber-only nodes with seed-subscriber.sql. */
export async function runQuickstart(configPath = quickstartConfigPath()) {
  const { topology, warnings } = await loadTopology(configPath);
  const nodes = await startSandbox(configPath, topology);
  const failed = nodes.find((n) => n.error);
  if (failed?.error) throw failed.error;
  const dir = path.dirname(configPath);
  const publishers = new Set(Object.values(topology.publications).map((p) => p.node));
  const seeded: Awaited<ReturnType<typeof seed>>[] = [];
  for (const n of nodes) {
    const file = path.join(dir, publishers.has(n.node) ? PUBLISHER_SEED : SUBSCRIBER_SEED);
    if (existsSync(file)) seeded.push(await seed(topology, n.node, file));
  }
  return { configPath, topology, warnings, nodes, seeded };
}

async function waitForRow(
  q: () => Promise<Record<string, unknown> | undefined>,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await q();
    if (row) return row;
    if (Date.now() > deadline) {
      throw new SteepError(
        'demo.replication',
        `the row inserted on the publisher did not arrive within ${timeoutMs / 1000} s`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The demo's proof of replication: a row inserted into the quickstart's `public.customers` on
 * the publisher, read back on the subscriber (waiting up to 30 s for it).
 */
export async function insertAndReadBack(
  publisher: { name: string; connection: ConnectionSpec },
  subscriber: { name: string; connection: ConnectionSpec },
  note: string,
): Promise<Record<string, unknown>> {
  const inserted = await withSession(connect(publisher.connection, { node: publisher.name }), async (c) => {
    const { rows } = await c.query<{ id: number }>(
      "INSERT INTO public.customers (id, name, region) SELECT coalesce(max(id), 0) + 1, $1, 'eu' FROM public.customers RETURNING id",
      [note],
    );
    return rows[0]!.id;
  });
  return withSession(connect(subscriber.connection, { node: subscriber.name }), (c) =>
    waitForRow(
      async () =>
        (await c.query('SELECT id, name, region FROM public.customers WHERE id = $1', [inserted])).rows[0],
      30_000,
    ),
  );
}
