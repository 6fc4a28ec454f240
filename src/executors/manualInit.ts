import type pg from 'pg';
import type { Step } from '../model/plan.js';
import type { SubscriptionSpec } from '../model/topology.js';
import { InitSlotStore } from '../state/initSlots.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';
import type { EventSink } from './events.js';
import { recordTransition } from './initFollow.js';
import { runStep, type StepContext } from './runStep.js';

/**
 * `manual`, completed by apply: the plan's statements advance the subscription's origin to the
 * LSN the restored data is consistent at and enable it; then the init is `catching_up`, and
 * the prepared slot is in use, so its `init_slots` row goes.
 */
export async function completeManualInit(
  client: pg.Client,
  step: Step,
  ctx: StepContext,
  d: SubscriptionSpec,
  schema: string,
  onEvent: EventSink,
): Promise<void> {
  await runStep(client, step, ctx);
  if (!(await hasInitTables(client, schema))) return;
  const store = new SubscriptionStateStore(schema, step.node);
  const recorded = (await store.get(client, d.name))?.state ?? 'uninitialized';
  if (recorded === 'uninitialized') {
    onEvent({
      event: 'init.started',
      level: 'info',
      node: step.node,
      subscription: d.name,
      phase: 'catching_up',
      message: `manual init of ${d.name} from ${d.from}`,
    });
  }
  if (d.enabled && recorded !== 'catching_up')
    await recordTransition(store, client, d, 'catching_up', onEvent);
  await new InitSlotStore(schema, step.node).clear(client, d.name);
}
