import type { ObservedInitSlot, ObservedInitState, ObservedSubscriptionState } from './initState.js';
import { isInitState } from './initState.js';
import type { TableName } from './topology.js';

/**
 * The rows of steep's init tables (`subscription_state`, `init_slots`, docs/steep-yaml.md, On every node) as PostgreSQL
 * returns them, and what they mean: read in the cluster snapshot (`catalog/readNode.ts`) and
 * by the state store (`state/`), so both see one shape.
 */

export interface SubscriptionStateRow {
  subscription: string;
  init_method: string;
  state: string;
  source_node: string;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
  error: string | null;
}

export interface InitSlotRow {
  slot_name: string;
  subscription: string;
  lsn: string;
  snapshot_name: string | null;
  created_at: Date;
  expires_at: Date | null;
}

function iso(d: Date | null): string | null {
  return d ? new Date(d).toISOString() : null;
}

export function toObservedState(r: SubscriptionStateRow): ObservedSubscriptionState {
  return {
    subscription: r.subscription,
    initMethod: r.init_method,
    state: isInitState(r.state) ? r.state : 'uninitialized',
    sourceNode: r.source_node,
    startedAt: iso(r.started_at),
    completedAt: iso(r.completed_at),
    updatedAt: iso(r.updated_at)!,
    error: r.error,
  };
}

export function toObservedInitSlot(r: InitSlotRow): ObservedInitSlot {
  return {
    slot: r.slot_name,
    subscription: r.subscription,
    lsn: r.lsn,
    snapshotName: r.snapshot_name,
    createdAt: iso(r.created_at)!,
    expiresAt: iso(r.expires_at),
  };
}

/** A table steep's own copy of `subscription` has loaded chunks of (`copy_chunks`). */
export interface CopiedTableRow {
  subscription: string;
  table_schema: string;
  table_name: string;
}

export function toInitState(
  states: SubscriptionStateRow[],
  slots: InitSlotRow[],
  copied: CopiedTableRow[] = [],
): ObservedInitState {
  const out: ObservedInitState = { subscriptions: {}, slots: {} };
  for (const r of states) out.subscriptions[r.subscription] = toObservedState(r);
  // the newest row per subscription wins
  for (const r of slots) out.slots[r.subscription] = toObservedInitSlot(r);
  if (copied.length > 0) {
    const by: Record<string, TableName[]> = {};
    for (const r of copied)
      by[r.subscription] = [...(by[r.subscription] ?? []), { schema: r.table_schema, name: r.table_name }];
    out.copied = by;
  }
  return out;
}
