import pg from 'pg';
import type { TestNode } from './cluster.js';

/**
 * An application writing as its own login role (not the superuser steep connects as), the way a
 * switchover sees one: it inserts (ids from the tables' defaults), updates and deletes in short
 * transactions; a session ended under it (SQLSTATE 57P01) reconnects and writes on; any other
 * error is recorded by SQLSTATE and retried after a pause. `committed` counts transactions that
 * committed, `lastError` is the code of the latest failure (25006: read-only transaction, 28000: the role may not log in).
 */
export interface AppWriter {
  committed: () => number;
  errors: () => string[];
  lastError: () => string | null;
  /** committed transactions since `mark` was taken */
  since: (mark: number) => number;
  stop: () => Promise<number>;
}

/**
 * A session of the application's login role on `node`'s database app; `options` is the
 * connection's `-c` settings (PGOPTIONS).
 */
export async function roleClient(
  node: TestNode,
  role: { user: string; password: string },
  options?: string,
): Promise<pg.Client> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: node.port,
    database: 'app',
    user: role.user,
    password: role.password,
    options,
  });
  c.on('error', () => {});
  try {
    await c.connect();
  } catch (err) {
    await c.end().catch(() => {});
    throw err;
  }
  return c;
}

export function startAppWriter(
  node: TestNode,
  role: { user: string; password: string },
  opts: { table: string; sequence: string; setRole?: string },
): AppWriter {
  let running = true;
  let committed = 0;
  const errors: string[] = [];
  const connect = async () => {
    const c = await roleClient(node, role);
    // a member that may SET ROLE to the application role without inheriting its privileges
    if (opts.setRole) await c.query(`SET ROLE ${opts.setRole}`);
    return c;
  };
  const done = (async () => {
    let client: pg.Client | null = null;
    while (running) {
      try {
        client ??= await connect();
        await client.query('BEGIN');
        const { rows } = await client.query<{ id: string }>(
          `INSERT INTO ${opts.table} (v, n) VALUES (md5(random()::text), 1) RETURNING id::text`,
        );
        await client.query(`UPDATE ${opts.table} SET n = n + 1 WHERE id = $1::bigint - 3`, [rows[0]!.id]);
        await client.query(`DELETE FROM ${opts.table} WHERE id = $1::bigint - 7 AND n % 2 = 0`, [
          rows[0]!.id,
        ]);
        await client.query(`SELECT nextval('${opts.sequence}')`);
        await client.query('COMMIT');
        committed += 1;
        await new Promise((r) => setTimeout(r, 5));
      } catch (err) {
        errors.push((err as { code?: string }).code ?? 'connection');
        await client?.end().catch(() => {});
        client = null;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await client?.end().catch(() => {});
  })();
  done.catch(() => {});
  return {
    committed: () => committed,
    errors: () => [...errors],
    lastError: () => errors.at(-1) ?? null,
    since: (mark) => committed - mark,
    stop: async () => {
      running = false;
      await done;
      return committed;
    },
  };
}

/**
 * An application that logs every id whose COMMIT returned, and where: it inserts one row per
 * transaction (autocommit, the id from the table's default) as its own login role into the node
 * `target()` names at that moment, reconnecting on any error. Lost rows are counted by these
 * ids, not by row counts.
 */
export interface IdWriter {
  /** acknowledged ids by the node that acknowledged them */
  acknowledged: () => Map<string, number[]>;
  lastError: () => string | null;
  stop: () => Promise<void>;
}

export function startIdWriter(
  nodes: Record<string, TestNode>,
  role: { user: string; password: string },
  table: string,
  target: () => string,
): IdWriter {
  let running = true;
  const acked = new Map<string, number[]>();
  let lastError: string | null = null;
  const done = (async () => {
    let client: pg.Client | null = null;
    let at = '';
    while (running) {
      try {
        if (client && at !== target()) {
          await client.end().catch(() => {});
          client = null;
        }
        if (!client) {
          at = target();
          client = await roleClient(nodes[at]!, role);
        }
        const { rows } = await client.query<{ id: string }>(
          `INSERT INTO ${table} (v) VALUES (md5(random()::text)) RETURNING id::text`,
        );
        acked.set(at, [...(acked.get(at) ?? []), Number(rows[0]!.id)]);
        await new Promise((r) => setTimeout(r, 5));
      } catch (err) {
        lastError = (err as { code?: string }).code ?? 'connection';
        await client?.end().catch(() => {});
        client = null;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await client?.end().catch(() => {});
  })();
  done.catch(() => {});
  return {
    acknowledged: () => acked,
    lastError: () => lastError,
    stop: async () => {
      running = false;
      await done;
    },
  };
}
