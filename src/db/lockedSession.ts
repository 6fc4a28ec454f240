import type pg from 'pg';
import type { Topology } from '../model/topology.js';
import { acquireApplyLock } from './advisoryLock.js';
import { nodeSession } from './connect.js';
import { type SessionSettings, setSession } from './session.js';

/**
 * Sessions on several nodes holding steep's advisory lock (src/db/advisoryLock.ts), for every
 * command that changes a node (apply, init prepare, init cancel): it fails at once, naming the
 * holder, while another steep command runs there. Taken in apply's order (by node name): two
 * steep commands that need some of the same nodes never end up holding one each, so one of them
 * always gets through. On an error every session taken so far is closed. A node is optional
 * (null when it cannot be reached; a lock conflict is still an error) only when every entry
 * naming it is.
 */
export async function lockedSessions(
  topology: Topology,
  nodes: Array<{ node: string; optional?: boolean }>,
  opts: {
    applicationName: string;
    /** default: settings.connectTimeout, at most 5 s */
    connectTimeoutMs?: number;
    /** set once the lock is held */
    settings?: SessionSettings;
  },
): Promise<Map<string, pg.Client | null>> {
  const sessions = new Map<string, pg.Client | null>();
  try {
    for (const node of [...new Set(nodes.map((n) => n.node))].sort()) {
      const client = await nodeSession(topology, node, opts.applicationName, {
        connectTimeoutMs: opts.connectTimeoutMs ?? Math.min(topology.settings.connectTimeout, 5_000),
      }).catch((err) => {
        if (nodes.some((n) => n.node === node && n.optional !== true)) throw err;
        return null;
      });
      sessions.set(node, client);
      if (!client) continue;
      await acquireApplyLock(client, node);
      await setSession(client, opts.settings ?? {});
    }
  } catch (err) {
    await Promise.all([...sessions.values()].map((c) => c?.end().catch(() => {})));
    throw err;
  }
  return sessions;
}
