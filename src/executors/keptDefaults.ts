import type pg from 'pg';
import { changesApplied, subscriberState } from '../catalog/renameApplied.js';
import { nodeSession, withSession } from '../db/connect.js';
import { printAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import type { Step } from '../model/plan.js';
import { quoteIdent } from '../model/sql.js';
import type { Topology } from '../model/topology.js';
import { pauser, slotsPastNow, type WaitOptions } from './slotCatchUp.js';

/**
 * Between the statements of a table's sync step that add its columns with the value the
 * publisher's old rows hold and those that set their defaults (`step.defaultsAfter`,
 * planner/schema/oldRowValues.ts), on the step's session of the subscriber (`subscriber`) and a
 * session of the publisher. The publisher's ADD COLUMN committed before this plan read it, after
 * every insert that came without the column.
 *
 * - The subscription enabled: until its slot has confirmed a position past now (those inserts
 *   applied, with that value); no wait for the transactions running now, none of which can
 *   still write a row without the column. Not caught up within the step's statement timeout
 *   (600 s without one), the step fails with the defaults not set.
 * - Disabled (by hand, or by PostgreSQL at the error the column's absence caused): nothing
 *   moves, so the slot is read instead (catalog/renameApplied.ts): no change of the table
 *   without the column on its way, the defaults are set; otherwise, or where the publisher
 *   cannot be read so (no REPLICATION), the step fails with the columns added, their defaults
 *   not set, and the way on: enable it, then apply again.
 */
export async function awaitDefaultsAfter(
  topology: Topology,
  step: Step,
  subscriber: pg.Client,
  opts: WaitOptions,
): Promise<void> {
  const { node, subscription, slots, table, columns } = step.defaultsAfter!;
  const one = columns.length === 1;
  const named = `column${one ? '' : 's'} ${columns.join(', ')} of ${table}`;
  const held = `${named} hold${one ? 's' : ''} on ${step.node} the value ${node}'s rows from before its ADD COLUMN hold`;
  const loss = `given ${step.node}'s default now, the rows ${node} inserted before its ADD COLUMN that ${step.node} has yet to apply would get that default instead`;
  await withSession(nodeSession(topology, node, 'steep apply (catch-up)'), async (publisher) => {
    if ((await subscriberState(subscriber, subscription))?.enabled !== false) {
      const left = 'so the default is not set yet (steep apply sets it once the subscription has caught up)';
      await slotsPastNow(publisher, slots, pauser(step, opts, held, loss, left), {
        running: false,
        past: 'now',
      });
      return;
    }
    const a = await changesApplied(subscriber, publisher, {
      subscription,
      table,
      publisher: node,
      pending: (sent) => columns.some((c) => !sent.includes(c)),
    });
    if (a.state === 'applied') return;
    const why =
      a.state === 'unknown'
        ? `steep cannot read whether it has changes of ${table} from before the ADD COLUMN still to apply (${a.why})`
        : `changes of ${table} from before the ADD COLUMN are still to apply (read up to ${a.upto})`;
    throw new SteepError(
      'apply.defaults_waiting',
      `${printAddress(step.address)} on ${step.node}: ${held}, but subscription ${subscription} is disabled and ${why}: ${loss}, so the default is not set yet; ` +
        `run ALTER SUBSCRIPTION ${quoteIdent(subscription)} ENABLE on ${step.node} (it applies them with that value), then run steep apply again, which sets it`,
      { node: step.node, address: step.address },
    );
  });
}
