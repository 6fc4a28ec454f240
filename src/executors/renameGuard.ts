import type pg from 'pg';
import { renameApplied, subscriberState } from '../catalog/renameApplied.js';
import { nodeSession, withSession } from '../db/connect.js';
import { printAddress } from '../model/address.js';
import { SteepError } from '../model/errors.js';
import { compareLsn } from '../model/lsn.js';
import type { Step } from '../model/plan.js';
import { quoteIdent } from '../model/sql.js';
import type { Topology } from '../model/topology.js';
import { type EventSink, stepFields } from './events.js';
import { sleep } from './sleep.js';

/** How long a rename waits for its subscriber when the step has no statement timeout. */
const WAIT_MS = 600_000;
const POLL_MS = 2_000;

/**
 * Right before a column's RENAME on a subscriber (`step.renamedAfter`, planner/schema/columnRename.ts):
 * wait until the subscription has applied every change of the table from before the rename on
 * its publisher (catalog/renameApplied.ts), saying so every 2 s. Renamed any earlier, those
 * changes would name a column the subscriber no longer has, and its worker would stop on them
 * for good. Decoding costs the publisher as much as the lag, so between two reads it waits for
 * the subscriber to commit past the last change that still named the old column. Past the step's statement timeout (600 s without one), or when it cannot be proved,
 * the step fails and nothing is renamed.
 */
export async function awaitRenameApplied(
  topology: Topology,
  step: Step,
  subscriber: pg.Client,
  opts: { statementTimeoutMs: number; onEvent: EventSink; signal?: AbortSignal },
): Promise<void> {
  const { subscription, table, column } = step.renamedAfter!;
  const from = topology.subscriptions[subscription]?.from;
  const what = `${step.node} has applied every change of ${table} from before column ${column} was renamed on ${from}`;
  const ceiling = opts.statementTimeoutMs > 0 ? opts.statementTimeoutMs : WAIT_MS;
  const started = Date.now();
  const timedOut = () => Date.now() - started >= ceiling;
  const unproved = (why: string) =>
    new SteepError(
      'apply.rename_unproved',
      `${printAddress(step.address)} on ${step.node}: steep cannot prove that ${what} (${why}); nothing was renamed — fix that and apply again`,
      { node: step.node, address: step.address },
    );
  if (from === undefined) throw unproved(`steep.yaml declares no subscription ${subscription}`);
  await withSession(nodeSession(topology, from, 'steep apply'), async (publisher) => {
    for (;;) {
      const a = await renameApplied(subscriber, publisher, { subscription, table, column, publisher: from });
      if (a.state === 'applied') return;
      if (a.state === 'unknown') throw unproved(a.why);
      const waited = () => Math.round((Date.now() - started) / 1000);
      // a disabled subscription applies nothing: waiting for it would last the whole ceiling
      if ((await subscriberState(subscriber, subscription))?.enabled === false)
        throw new SteepError(
          'apply.rename_waiting',
          `${printAddress(step.address)} on ${step.node}: not renamed: subscription ${subscription} on ${step.node} is disabled, so it applies nothing, ` +
            `and the changes of ${table} from before column ${column} was renamed on ${from}, which still name ${column} (read up to ${a.upto}), would never be applied ` +
            `(PostgreSQL disables a subscription with disable_on_error at an error, such as the first change after a rename on the publisher; steep status says why); ` +
            `run ALTER SUBSCRIPTION ${quoteIdent(subscription)} ENABLE on ${step.node} (it applies them; with disable_on_error it stops again at the first change after the rename), then run steep apply again`,
          { node: step.node, address: step.address },
        );
      if (timedOut() || opts.signal?.aborted)
        throw new SteepError(
          'apply.rename_waiting',
          `${printAddress(step.address)} on ${step.node}: not renamed, as not yet ${what} (waited ${waited()} s; changes still to apply name ${column}, read up to ${a.upto}); ` +
            `apply again once ${subscription} has caught up (steep status shows its lag)`,
          { node: step.node, address: step.address },
        );
      // decode again only once the subscriber committed past the last change naming the old column,
      // or was disabled (said above, after a last decode)
      do {
        opts.onEvent({
          event: 'apply.step_waiting',
          level: 'warn',
          ...stepFields(step),
          message: `waiting until ${what}: changes still to apply name ${column} (read up to ${a.upto}; ${waited()} s of at most ${Math.round(ceiling / 1000)} s)`,
        });
        await sleep(POLL_MS, opts.signal);
      } while (
        !timedOut() &&
        !opts.signal?.aborted &&
        !(await waitOver(subscriber, subscription, a.lastOld))
      );
    }
  });
}

/**
 * Is the subscription disabled, or has the subscriber committed at or past `lsn` (one read)?
 * Unknown (no origin to read, no lsn): yes, decode again.
 */
async function waitOver(
  subscriber: pg.Client,
  subscription: string,
  lsn: string | undefined,
): Promise<boolean> {
  const s = await subscriberState(subscriber, subscription);
  if (s?.enabled === false) return true;
  const committed = lsn === undefined ? null : (s?.committed ?? null);
  return committed === null || compareLsn(committed, lsn!) >= 0;
}
