import type {
  ObservedPublication,
  ObservedSlot,
  ObservedStateSchema,
  ObservedSubscription,
} from '../model/cluster.js';
import { isUnknown } from '../model/cluster.js';
import { maskConninfo } from '../model/conninfo.js';
import { sha256Hex } from '../model/sha256.js';

/**
 * Digests: a saved plan records, per step, the SHA-256 of the catalog rows it depends on, so
 * `apply PLAN` can refuse a plan the nodes have moved away from. Only the *stable* parts of a
 * row go in (definitions, options, existence) — never LSNs, activity or lag, which change
 * every second — and never a secret (connection strings are masked first).
 */

export { sha256Hex } from '../model/sha256.js';

/**
 * JSON with object keys sorted at every level and `undefined` members left out: what
 * `JSON.stringify` gives of a copy of `value` with every object's keys sorted (an object's own
 * enumerable keys only, so a Date or a Map is `{}`). The observed state of 10 nodes × 500 tables
 * is ~100,000 values of a few dozen shapes: the sorted key list of each shape is remembered, and
 * one `JSON.stringify` of the sorted copy writes the text (a walk that writes it piece by piece
 * spends most of its time collecting the pieces' garbage).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortedCopy(value));
}

function sortedCopy(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = sortedCopy(value[i]);
    return out;
  }
  const { sorted, proto } = sortedKeys(value);
  const out: Record<string, unknown> = {};
  for (const key of sorted) {
    const v = sortedCopy((value as Record<string, unknown>)[key]);
    // a plain assignment of `__proto__` would set the copy's prototype instead of a member
    if (proto && key === '__proto__')
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out;
}

/** Array-index keys (`0`, `17`): a JavaScript object lists them first, in numeric order. */
function isIndex(key: string): boolean {
  return /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < 2 ** 32 - 1;
}

interface ShapeKeys {
  /** the keys as `Object.keys` lists them */
  keys: string[];
  /** in the order an object built by inserting them sorted lists them */
  sorted: string[];
  proto: boolean;
}

/** Sorted keys of the shapes seen last, by first key and key count (checked key by key on use). */
const shapes = new Map<string, ShapeKeys>();
const MAX_SHAPES = 1000;
const MAX_SHAPE_KEYS = 64;

function sortedKeys(value: object): ShapeKeys {
  const keys = Object.keys(value);
  const id = `${keys.length}\u0000${keys[0] ?? ''}`;
  const seen = shapes.get(id);
  if (seen?.keys.every((k, i) => k === keys[i])) return seen;
  let sorted = [...keys].sort();
  if (sorted.some(isIndex))
    sorted = [
      ...sorted.filter(isIndex).sort((a, b) => Number(a) - Number(b)),
      ...sorted.filter((k) => !isIndex(k)),
    ];
  const shape = { keys, sorted, proto: keys.includes('__proto__') };
  if (keys.length <= MAX_SHAPE_KEYS && (shapes.size < MAX_SHAPES || seen)) shapes.set(id, shape);
  return shape;
}

export function digestOf(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/**
 * The stable part of an observed subscription (no per-table sync states, no origin LSN, none of
 * what its workers change: its row version, whether one runs, a skip position), its connection
 * string as it may be recorded: password masked, unknown kept as such. Of its error
 * counters only whether any error was counted since apply last disabled it (the disable_on_error
 * rule reads that, model/disableOnError.ts `disabledOnError`): a failing
 * worker raises them every wal_retrieve_retry_interval, and the step that fixes it must not be
 * refused for it.
 */
export function stableSubscription(sub: ObservedSubscription | null): unknown {
  if (!sub) return null;
  const {
    tables: _tables,
    originLsn: _originLsn,
    rowVersion: _rowVersion,
    workerRunning: _workerRunning,
    skipLsn: _skipLsn,
    conninfo,
    errorsCounted,
    steepDisabledAt,
    ...rest
  } = sub;
  return {
    ...rest,
    ...(errorsCounted === undefined ? {} : { erred: (errorsCounted ?? 0) > (steepDisabledAt ?? 0) }),
    conninfo: isUnknown(conninfo) ? { unknown: true } : maskConninfo(conninfo),
  };
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
