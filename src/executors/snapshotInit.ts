import type pg from 'pg';
import type { Step } from '../model/plan.js';
import type { SubscriptionSpec } from '../model/topology.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';
import type { EventSink } from './events.js';
import { recordTransition } from './initFollow.js';

/**
 * `snapshot`: CREATE SUBSCRIPTION … copy_data = true (the create step) started the copy; the
 * init step records that it is `copying`. A `failed` init is left as it is: its follow decides
 * where the resumed init stands.
 */
export async function startSnapshotInit(
  client: pg.Client,
  step: Step,
  d: SubscriptionSpec,
  schema: string,
  onEvent: EventSink,
): Promise<void> {
  if (!(await hasInitTables(client, schema))) return;
  const store = new SubscriptionStateStore(schema, step.node);
  const recorded = (await store.get(client, d.name))?.state ?? 'uninitialized';
  if (recorded !== 'uninitialized') return;
  onEvent({
    event: 'init.started',
    level: 'info',
    node: step.node,
    subscription: d.name,
    phase: 'copying',
    message: `snapshot init of ${d.name} from ${d.from}`,
  });
  await recordTransition(store, client, d, 'copying', onEvent);
}
