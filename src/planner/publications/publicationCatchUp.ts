import { compareText } from '../../model/order.js';
import type { Statement } from '../../model/plan.js';
import { quoteLiteral } from '../../model/sql.js';
import type { PublicationSpec } from '../../model/topology.js';
import type { PlanContext } from '../context.js';
import { nonTx } from '../sqlBuild.js';

/**
 * A publication created for subscriptions that already stream from its node (a publication
 * renamed without `renamedFrom`, or one added beside another). pgoutput looks a publication up
 * in the catalog as of each change it decodes: a subscriber whose slot still stands before the
 * creation, once its publication list names the new one, has the changes before it skipped
 * with a WARNING (PostgreSQL 18: lost) or its walsender fails on them again and again (14–17).
 * So the create step waits, after the CREATE, until every such slot has confirmed a position
 * past it: first until every transaction that was running has ended (one begun before the
 * creation is decoded as of before it), then until each slot confirms the WAL inserted by then.
 * A subscriber that does not catch up within the wait fails the step before its publication
 * list changes; a later apply waits again.
 */

/** How long the create step waits for the subscribers to catch up before it fails. */
const WAIT_SECONDS = 600;

/** The slots of streaming subscriptions that will read `spec` once this plan has run, by subscription name. */
export function slotsToCatchUp(ctx: PlanContext, spec: PublicationSpec) {
  return Object.values(ctx.desired.subscriptions)
    .flatMap((d) => {
      const reads = d.from === spec.node && d.publications.includes(spec.name);
      const o = reads ? ctx.node(d.node)?.subscriptions[d.name] : undefined;
      return !o || o.slotNone || o.publications.includes(spec.name)
        ? []
        : [{ subscription: d.name, slot: o.slot }];
    })
    .sort((a, b) => compareText(a.subscription, b.subscription));
}

/** The statement that waits for the readers' slots (run on the publication's node, after its CREATE); none without readers. */
export function catchUpSql(publication: string, readers: ReadonlyArray<{ slot: string }>): Statement[] {
  if (readers.length === 0) return [];
  const list = `ARRAY[${readers.map((r) => quoteLiteral(r.slot)).join(', ')}]::text[]`;
  const failed = quoteLiteral(
    `publication ${publication} was created, but slot %s has not confirmed a position past its creation within ${WAIT_SECONDS} s: ` +
      'its subscription would lose the changes decoded before it, so its publication list is left as it is; apply again once it has caught up (steep status shows its lag)',
  );
  return [
    nonTx(
      `DO $steep$
DECLARE
  horizon xid8 := pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot());
  mark pg_lsn;
  behind text;
  deadline timestamptz := pg_catalog.clock_timestamp() + interval '${WAIT_SECONDS} seconds';
BEGIN
  -- every transaction running at the creation has ended
  LOOP
    EXIT WHEN (SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) >= horizon);
    IF pg_catalog.clock_timestamp() > deadline THEN
      RAISE EXCEPTION 'publication % was created, but a transaction begun before it is still running after ${WAIT_SECONDS} s: end it and apply again', ${quoteLiteral(publication)};
    END IF;
    PERFORM pg_catalog.pg_sleep(0.05);
  END LOOP;
  mark := pg_catalog.pg_current_wal_insert_lsn();
  -- each slot has confirmed the WAL inserted by then
  LOOP
    SELECT min(s.name) INTO behind FROM pg_catalog.unnest(${list}) AS s(name)
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots r
                        WHERE r.slot_name = s.name AND r.confirmed_flush_lsn >= mark);
    EXIT WHEN behind IS NULL;
    IF pg_catalog.clock_timestamp() > deadline THEN
      RAISE EXCEPTION ${failed}, behind;
    END IF;
    PERFORM pg_catalog.pg_sleep(0.1);
  END LOOP;
END
$steep$`,
    ),
  ];
}
