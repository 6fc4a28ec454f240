import type pg from 'pg';
import { restoredByUser } from '../model/initMethods.js';
import type { Step } from '../model/plan.js';
import type { SubscriptionSpec } from '../model/topology.js';
import { InitSlotStore } from '../state/initSlots.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';
import type { EventSink } from './events.js';
import { recordTransition } from './initFollow.js';
import { runStep, type StepContext } from './runStep.js';

/**
 * The init step's own part, by method.
 *
 * `manual`, completed by apply: the plan's statements advance the subscription's origin to the
 * LSN the restored data is consistent at and enable it; then the init is `catching_up`, and
 * the prepared slot is in use, so its `init_slots` row goes.
 *
 * `snapshot`: CREATE SUBSCRIPTION … copy_data = true (the create step) started the copy; the
 * init step records that it is `copying`. A `failed` init is left as it is: its follow decides
 * where the resumed init stands.
 */
export async function startInit(
  client: pg.Client,
  step: Step,
  ctx: StepContext,
  d: SubscriptionSpec,
  schema: string,
  onEvent: EventSink,
): Promise<void> {
  const manual = restoredByUser(d.init.method);
  if (manual) await runStep(client, step, ctx);
  if (!(await hasInitTables(client, schema))) return;
  const store = new SubscriptionStateStore(schema, step.node);
  const recorded = (await store.get(client, d.name))?.state ?? 'uninitialized';
  const phase = manual ? 'catching_up' : 'copying';
  if (recorded === 'uninitialized') {
    onEvent({
      event: 'init.started',
      level: 'info',
      node: step.node,
      subscription: d.name,
      phase,
      message: `${manual ? 'manual' : 'snapshot'} init of ${d.name} from ${d.from}`,
    });
  }
  if (manual ? d.enabled && recorded !== 'catching_up' : recorded === 'uninitialized')
    await recordTransition(store, client, d, phase, onEvent);
  if (manual) await new InitSlotStore(schema, step.node).clear(client, d.name);
}
