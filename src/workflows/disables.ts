import type pg from 'pg';
import { readErrorCounters } from '../catalog/errorCounters.js';
import { serverVersionOf } from '../catalog/session.js';
import { DisableStore } from '../state/disables.js';

/**
 * After a step that leaves subscription `name` disabled (`step.disables`): the errors counted
 * then, recorded (15+, once the state schema has the table), so that a later reading tells this
 * DISABLE from PostgreSQL's at an error.
 */
export async function recordDisable(
  client: pg.Client,
  schema: string,
  node: string,
  name: string,
): Promise<void> {
  const store = new DisableStore(schema, node);
  const counters = await readErrorCounters(client, await serverVersionOf(client), name);
  if (counters && (await store.exists(client))) await store.record(client, name, counters);
}
