import { isoTime } from './sql.js';

/**
 * The select lists of steep's init tables (`subscription_state`, `init_slots`, docs/steep-yaml.md,
 * On every node) that return the model's shapes (`ObservedSubscriptionState`, `ObservedInitSlot`):
 * read in the cluster snapshot (`catalog/readNode.ts`) and by the state store (`state/`), so
 * both see one shape. `state` needs no check: the table's CHECK holds it to the init states.
 */
export const SUBSCRIPTION_STATE_COLUMNS = `subscription, init_method AS "initMethod", state, source_node AS "sourceNode",
  ${isoTime('started_at')} AS "startedAt", ${isoTime('completed_at')} AS "completedAt",
  ${isoTime('updated_at')} AS "updatedAt", error`;

export const INIT_SLOT_COLUMNS = `slot_name AS slot, subscription, lsn::text AS lsn, snapshot_name AS "snapshotName",
  ${isoTime('created_at')} AS "createdAt", ${isoTime('expires_at')} AS "expiresAt"`;
