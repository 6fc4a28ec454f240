import { createHash } from 'node:crypto';
import type {
  ObservedPublication,
  ObservedSlot,
  ObservedStateSchema,
  ObservedSubscription,
} from '../model/cluster.js';
import { isUnknown } from '../model/cluster.js';
import { maskConninfo } from '../model/conninfo.js';

/**
 * Digests: a saved plan records, per step, the SHA-256 of the catalog rows it depends on, so
 * `apply PLAN` can refuse a plan the nodes have moved away from. Only the *stable* parts of a
 * row go in (definitions, options, existence) — never LSNs, activity or lag, which change
 * every second — and never a secret (connection strings are masked first).
 */

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted at every level and `undefined` members left out. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalise(value));
}

function canonicalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : canonicalise(v)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonicalise(v);
    }
    return out;
  }
  return value;
}

export function digestOf(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/** The connection string as it may be recorded: password masked, unknown kept as such. */
export function maskedConninfo(sub: ObservedSubscription): string | { unknown: true } {
  return isUnknown(sub.conninfo) ? { unknown: true } : maskConninfo(sub.conninfo);
}

/** The stable part of an observed subscription (no per-table sync states, no origin LSN). */
export function stableSubscription(sub: ObservedSubscription | null): unknown {
  if (!sub) return null;
  const { tables: _tables, originLsn: _originLsn, conninfo: _conninfo, ...rest } = sub;
  return { ...rest, conninfo: maskedConninfo(sub) };
}

/** The stable part of a slot: its existence and definition, not its position or activity. */
export function stableSlot(slot: ObservedSlot | null | undefined): unknown {
  if (!slot) return null;
  return {
    name: slot.name,
    plugin: slot.plugin,
    slotType: slot.slotType,
    database: slot.database,
    temporary: slot.temporary,
    failover: slot.failover,
  };
}

export function publicationDigest(pub: ObservedPublication | null | undefined): string {
  return digestOf({ publication: pub ?? null });
}

export function subscriptionDigest(
  sub: ObservedSubscription | null | undefined,
  publisherSlot: ObservedSlot | null | undefined,
): string {
  return digestOf({ subscription: stableSubscription(sub ?? null), slot: stableSlot(publisherSlot) });
}

export function slotDigest(slot: ObservedSlot | null | undefined): string {
  return digestOf({ slot: stableSlot(slot) });
}

export function stateSchemaDigest(state: ObservedStateSchema | null | undefined): string {
  return digestOf({ stateSchema: state ?? null });
}
