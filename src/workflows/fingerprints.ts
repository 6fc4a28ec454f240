import type pg from 'pg';
import { queryFingerprints } from '../catalog/tableSchemas.js';
import { nodeSession, withSession } from '../db/connect.js';
import { connectionLimit } from '../db/connectionLimit.js';
import type { EventSink } from '../executors/events.js';
import { compareText } from '../model/order.js';
import { isEmptyScope, type TableScope } from '../model/tableSchema.js';
import type { Topology } from '../model/topology.js';
import { subscribedScopes } from '../planner/schema/schemaScope.js';
import { hasFingerprintTable, saveFingerprints } from '../state/fingerprints.js';

/**
 * Run `fn` on a session on each of `nodes`: apply's own session where it holds one (`sessions`,
 * by node name), else a new one, at most settings.maxConnections of them open at once. A node
 * whose session cannot be opened, or whose `fn` fails, goes to `failed`; the others go on.
 */
export async function onEachNode(
  topology: Topology,
  nodes: readonly string[],
  sessions: ReadonlyMap<string, pg.Client>,
  fn: (node: string, client: pg.Client) => Promise<void>,
  failed: (node: string, err: unknown) => void,
): Promise<void> {
  const limited = connectionLimit(topology.settings.maxConnections);
  await Promise.all(
    nodes.map((name) => {
      const own = sessions.get(name);
      const done = own
        ? fn(name, own)
        : limited(() =>
            withSession(nodeSession(topology, name, 'steep apply'), (client) => fn(name, client)),
          );
      return done.catch((err: unknown) => failed(name, err));
    }),
  );
}

/**
 * After a successful apply: save the fingerprints of every subscribed table, on its publisher
 * and its subscriber, so `steep drift` can tell which tables changed since; on every node of the
 * file, delete the ones apply saved of tables that left every subscription there (a node with
 * none left included), so a table steep no longer replicates can be dropped without drift. One
 * session per node reads and saves them (apply's own where it has one), in one transaction.
 * Best effort: a node that cannot be read or written keeps its rows, is reported as an event,
 * and never fails the apply.
 */
export async function saveSubscribedFingerprints(
  topology: Topology,
  onEvent: EventSink,
  sessions: ReadonlyMap<string, pg.Client> = new Map(),
): Promise<void> {
  const schema = topology.settings.stateSchema;
  const scopes = subscribedScopes(topology);
  const nodes = Object.keys(topology.nodes).sort(compareText);
  await onEachNode(
    topology,
    nodes,
    sessions,
    async (name, client) => {
      if (!(await hasFingerprintTable(client, schema))) return;
      const scope = scopes[name] ?? NO_TABLES;
      const fingerprints = isEmptyScope(scope) ? [] : await queryFingerprints(client, scope, schema);
      const removed = await saveFingerprints(client, schema, name, fingerprints, { by: 'apply', scope });
      if (fingerprints.length === 0 && removed === 0) return;
      onEvent({
        event: 'schema.fingerprints_saved',
        level: 'info',
        node: name,
        message:
          `${fingerprints.length} fingerprints of subscribed tables saved` +
          (removed > 0 ? `, ${removed} of tables no longer subscribed removed` : ''),
      });
    },
    (name, err) =>
      onEvent({
        event: 'schema.fingerprints_saved',
        level: 'warn',
        node: name,
        message: `fingerprints of subscribed tables not saved on ${name}: ${(err as Error).message}`,
      }),
  );
}

const NO_TABLES: TableScope = { all: false, schemas: [], tables: [] };
