import type pg from 'pg';
import type { Topology } from '../model/topology.js';
import { acquireApplyLock } from './advisoryLock.js';
import { connect } from './connect.js';
import { type SessionSettings, setSession } from './session.js';

export interface LockedSessionOptions {
  applicationName: string;
  /** default: settings.connectTimeout, at most 5 s */
  connectTimeoutMs?: number;
  /** set once the lock is held */
  settings?: SessionSettings;
}

/**
 * A session on a node holding steep's advisory lock (src/db/advisoryLock.ts), for every command
 * that changes a node (apply, init prepare, init cancel): it fails at once, naming the holder,
 * while another steep command runs there. `optional`: null instead of an error when the node
 * cannot be reached (a lock conflict is still an error).
 */
export async function lockedSession(
  topology: Topology,
  node: string,
  opts: LockedSessionOptions & { optional?: boolean },
): Promise<pg.Client | null> {
  let client: pg.Client;
  try {
    client = await connect(topology.nodes[node]!.connection, {
      node,
      applicationName: opts.applicationName,
      connectTimeoutMs: opts.connectTimeoutMs ?? Math.min(topology.settings.connectTimeout, 5_000),
    });
  } catch (err) {
    if (opts.optional) return null;
    throw err;
  }
  try {
    await acquireApplyLock(client, node);
    await setSession(client, opts.settings ?? {});
    return client;
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
}

/**
 * Sessions holding apply's lock on several nodes, taken in apply's order (by node name): two
 * steep commands that need some of the same nodes never end up holding one each, so one of them
 * always gets through. On an error every session taken so far is closed. A node is optional
 * (null when unreachable) only when every entry naming it is.
 */
export async function lockedSessions(
  topology: Topology,
  nodes: Array<{ node: string; optional?: boolean }>,
  opts: LockedSessionOptions,
): Promise<Map<string, pg.Client | null>> {
  const sessions = new Map<string, pg.Client | null>();
  try {
    for (const name of [...new Set(nodes.map((n) => n.node))].sort()) {
      const optional = nodes.filter((n) => n.node === name).every((n) => n.optional === true);
      sessions.set(name, await lockedSession(topology, name, { ...opts, optional }));
    }
  } catch (err) {
    await Promise.all([...sessions.values()].map((c) => c?.end().catch(() => {})));
    throw err;
  }
  return sessions;
}
