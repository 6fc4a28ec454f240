import pg from 'pg';
import type { TestNode } from './cluster.js';
import { WRITE_PAUSE_MS } from './replicationData.js';
import { eventually, HANG_MS } from './topologyFile.js';

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

/**
 * The loop both writers run: one write at a time on a session opened for `key()`, WRITE_PAUSE_MS apart; a
 * new session when `key()` changes; on any error its SQLSTATE goes to `failed`, the session is
 * ended and, 20 ms later, opened again. Returns `stop`, which waits for the write under way.
 */
export function writeLoop(
  key: () => string,
  connectTo: (key: string) => Promise<pg.Client>,
  write: (client: pg.Client, key: string) => Promise<void>,
  failed: (code: string) => void,
): () => Promise<void> {
  let running = true;
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const done = (async () => {
    let client: pg.Client | null = null;
    let at = '';
    while (running) {
      try {
        if (client && at !== key()) {
          await client.end().catch(() => {});
          client = null;
        }
        if (!client) {
          at = key();
          client = await connectTo(at);
        }
        await write(client, at);
        await pause(WRITE_PAUSE_MS);
      } catch (err) {
        failed((err as { code?: string }).code ?? 'connection');
        await client?.end().catch(() => {});
        client = null;
        await pause(20);
      }
    }
    await client?.end().catch(() => {});
  })();
  done.catch(() => {});
  return async () => {
    running = false;
    await done;
  };
}

export function startAppWriter(
  node: TestNode,
  role: { user: string; password: string },
  opts: { table: string; sequence: string; setRole?: string },
): AppWriter {
  let committed = 0;
  const errors: string[] = [];
  const stop = writeLoop(
    () => node.name,
    async () => {
      const c = await roleClient(node, role);
      // a member that may SET ROLE to the application role without inheriting its privileges
      if (opts.setRole) await c.query(`SET ROLE ${opts.setRole}`);
      return c;
    },
    async (client) => {
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO ${opts.table} (v, n) VALUES (md5(random()::text), 1) RETURNING id::text`,
      );
      await client.query(`UPDATE ${opts.table} SET n = n + 1 WHERE id = $1::bigint - 3`, [rows[0]!.id]);
      await client.query(`DELETE FROM ${opts.table} WHERE id = $1::bigint - 7 AND n % 2 = 0`, [rows[0]!.id]);
      await client.query(`SELECT nextval('${opts.sequence}')`);
      await client.query('COMMIT');
      committed += 1;
    },
    (code) => errors.push(code),
  );
  return {
    committed: () => committed,
    errors: () => [...errors],
    lastError: () => errors.at(-1) ?? null,
    since: (mark) => committed - mark,
    stop: async () => {
      await stop();
      return committed;
    },
  };
}

/**
 * An application that logs every id whose COMMIT returned, and where: it inserts one row per
 * transaction (autocommit, the id from the table's default, or from `nextId()` when given: ids
 * the client chooses, as an application with its own key generator does) as its own login role
 * into the node `target()` names at that moment, reconnecting on any error. Lost rows are
 * counted by these ids, not by row counts.
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
  nextId?: () => number,
): IdWriter {
  return startIdStatementWriter(nodes, role, target, async (client) => {
    const { rows } = nextId
      ? await client.query<{ id: string }>(
          `INSERT INTO ${table} (id, v) VALUES ($1, md5(random()::text)) RETURNING id::text`,
          [nextId()],
        )
      : await client.query<{ id: string }>(
          `INSERT INTO ${table} (v) VALUES (md5(random()::text)) RETURNING id::text`,
        );
    return Number(rows[0]!.id);
  });
}

/**
 * Until `writer` has `n` more ids acknowledged by `node` than when called: writes that come after
 * a step (a condition, where a fixed pause waits as long on a quiet machine as on a loaded one).
 */
export async function idsGoOn(writer: IdWriter, node: string, n = 20): Promise<void> {
  const count = () => writer.acknowledged().get(node)?.length ?? 0;
  const from = count();
  await eventually(async () => count() >= from + n, HANG_MS, `${n} more ids acknowledged on ${node}`);
}

/**
 * The id writer's loop around any statement that writes one row and returns its id (a function
 * call, an insert through a column grant): `write` runs once per transaction (autocommit).
 */
export function startIdStatementWriter(
  nodes: Record<string, TestNode>,
  role: { user: string; password: string },
  target: () => string,
  write: (client: pg.Client) => Promise<number>,
): IdWriter {
  const acked = new Map<string, number[]>();
  let lastError: string | null = null;
  const stop = writeLoop(
    target,
    (at) => roleClient(nodes[at]!, role),
    async (client, at) => {
      const id = await write(client);
      acked.set(at, [...(acked.get(at) ?? []), id]);
    },
    (code) => {
      lastError = code;
    },
  );
  return {
    acknowledged: () => acked,
    lastError: () => lastError,
    stop,
  };
}

/**
 * An IdWriter on one node that runs `insert` with the next id from `first` as `$1` (a bigint, as
 * text): one INSERT a transaction, as the application's role.
 */
export function startIdInsertWriter(
  node: TestNode,
  role: { user: string; password: string },
  insert: string,
  first = 100_000,
): IdWriter {
  let next = first;
  return startIdStatementWriter(
    { [node.name]: node },
    role,
    () => node.name,
    async (c) => {
      const id = next++;
      await c.query(insert, [id]);
      return id;
    },
  );
}
