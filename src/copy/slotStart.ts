import type pg from 'pg';
import { readDeniedFunctions } from '../catalog/reinit.js';
import { setSequencesFrom } from '../executors/sequenceSync.js';
import type { SubscriptionSpec } from '../model/topology.js';
import { originAdvanceSql } from '../planner/init/manualInit.js';
import { alterSubscriptionSql } from '../planner/sqlBuild.js';

/**
 * Once steep's copy has loaded every table at the slot's snapshot (streamed or from files):
 * set the subscriber's sequences to the publisher's values (logical replication does not carry
 * them; never backwards), advance the subscription's origin to the slot's consistent point so
 * it streams only what came after the snapshot, and enable it when steep.yaml says enabled.
 * Returns how many sequences were set.
 */
export async function startOnSlot(
  sub: pg.Client,
  d: SubscriptionSpec,
  lsn: string,
  sequences: ReadonlyArray<{ schema: string; name: string; last: string | null }>,
): Promise<number> {
  const moved = await setSequencesFrom(sub, sequences, {
    headroom: 0n,
    allowBackwards: false,
    publisher: d.from,
    subscriber: d.node,
  });
  // A new subscription's origin is at 0/0, so its slot streams from its own confirmed_flush_lsn:
  // the consistent point the tables were copied at, as nothing else has read the slot. The
  // advance says so explicitly; a role that may not execute it (a managed one) starts the same.
  if (!(await readDeniedFunctions(sub)).denied.pg_replication_origin_advance)
    await sub.query(originAdvanceSql(d.name, lsn));
  if (d.enabled) await sub.query(alterSubscriptionSql(d.name, 'ENABLE'));
  return moved.filter((s) => s.action === 'set').length;
}
