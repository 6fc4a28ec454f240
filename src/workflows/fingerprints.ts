import { readFingerprints } from '../catalog/tableSchemas.js';
import { connect } from '../db/connect.js';
import type { EventSink } from '../executors/events.js';
import { isEmptyScope } from '../model/tableSchema.js';
import type { Topology } from '../model/topology.js';
import { subscribedScopes } from '../planner/schemaScope.js';
import { hasFingerprintTable, saveFingerprints } from '../state/fingerprints.js';

/**
 * After a successful apply: save the fingerprints of every subscribed table, on its publisher
 * and its subscriber, so `steep drift` can tell which tables changed since. Best effort: a node
 * that cannot be read or written is reported as an event, never fails the apply.
 */
export async function saveSubscribedFingerprints(topology: Topology, onEvent: EventSink): Promise<void> {
  const schema = topology.settings.stateSchema;
  const scopes = subscribedScopes(topology);
  await Promise.all(
    Object.entries(scopes).map(async ([name, scope]) => {
      const node = topology.nodes[name];
      if (!node || isEmptyScope(scope)) return;
      try {
        const fingerprints = await readFingerprints(node.connection, {
          node: name,
          scope,
          stateSchema: schema,
          connectTimeoutMs: topology.settings.connectTimeout,
        });
        const client = await connect(node.connection, {
          node: name,
          applicationName: 'steep apply',
          connectTimeoutMs: topology.settings.connectTimeout,
        });
        try {
          if (!(await hasFingerprintTable(client, schema))) return;
          await saveFingerprints(client, schema, name, fingerprints, { replace: false });
          onEvent({
            event: 'schema.fingerprints_saved',
            level: 'info',
            node: name,
            message: `${fingerprints.length} fingerprints of subscribed tables saved`,
          });
        } finally {
          await client.end().catch(() => {});
        }
      } catch (err) {
        onEvent({
          event: 'schema.fingerprints_saved',
          level: 'warn',
          node: name,
          message: `fingerprints of subscribed tables not saved on ${name}: ${(err as Error).message}`,
        });
      }
    }),
  );
}
