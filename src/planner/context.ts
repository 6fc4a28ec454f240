import { type Address, addressText } from '../model/address.js';
import type { ClusterState, ObservedNode } from '../model/cluster.js';
import { compareText } from '../model/order.js';
import type {
  DriftItem,
  IgnoredCounts,
  OrphanSlot,
  PlanMessage,
  Step,
  UnmanagedObject,
} from '../model/plan.js';
import type { Topology } from '../model/topology.js';

/**
 * The planner's working state: the inputs (the file, the nodes, the command line's, all given
 * to the constructor and never changed), and the plan's output as the modules add to it
 * (errors, warnings, draft steps, drift, …). What one module learns that another needs (which
 * publications change their tables, which subscriptions double-apply, which tables a
 * subscription waits for) is its return value, passed on in `index.ts`, never a field here.
 * Steps are drafts keyed by a stable internal key; `order.ts` turns them into the ordered,
 * numbered steps of the plan.
 */

/** docs/architecture.md, Inside the planner ordering: state schema → tables → publications → slots → subscriptions → init; deletions in reverse. */
export const PHASE = {
  stateSchema: 0,
  tables: 1,
  publication: 2,
  slot: 3,
  subscription: 4,
  init: 5,
  subscriptionDrop: 6,
  slotDrop: 7,
  publicationDrop: 8,
} as const;

/** A step before ordering: dependencies by internal key, no id yet (`order.ts` assigns both). */
export interface DraftStep extends Omit<Step, 'id' | 'dependsOn' | 'timeouts'> {
  /** stable internal key (see `stepKey`); dependencies name keys, `order.ts` maps them to ids */
  key: string;
  phase: number;
  /** keys of steps that must run first; keys with no step are ignored */
  deps: string[];
}

export type StepKeyKind =
  | 'state'
  | 'publication'
  | 'publication-drop'
  | 'subscription'
  | 'subscription-drop'
  | 'slot-create'
  | 'slot-drop'
  | 'table'
  | 'init';

export function stepKey(kind: StepKeyKind, node: string, name = ''): string {
  return JSON.stringify([kind, node, name]);
}

export function sortedKeys<T>(record: Record<string, T>): string[] {
  return Object.keys(record).sort(compareText);
}

export interface SlotChange {
  node: string;
  slot: string;
  change: 'create' | 'drop';
  /** a created slot whose subscription is enabled: a walsender streams from it */
  streams: boolean;
}

/**
 * What becomes of an object observed on a node: declared in the file (`desired`), managed by
 * this topology but no longer declared (`delete`), not marked (`unmanaged`), or marked by
 * another topology (`foreign`).
 */
export type ObservedFate = 'desired' | 'delete' | 'unmanaged' | 'foreign';

/** The kinds of object steep creates, alters and drops from the file (`managedObjects.ts`). */
export type ManagedKind = 'publication' | 'subscription';

export class PlanContext {
  readonly errors: PlanMessage[] = [];
  readonly warnings: PlanMessage[] = [];
  readonly steps: DraftStep[] = [];
  readonly drift: DriftItem[] = [];
  readonly unmanaged: UnmanagedObject[] = [];
  readonly orphanSlots: OrphanSlot[] = [];
  /** objects `ignore:` patterns matched */
  readonly ignored: IgnoredCounts = { slots: 0, publications: 0, subscriptions: 0 };
  /** slots this plan creates or drops on publishers (for the capacity preflight) */
  readonly slotChanges: SlotChange[] = [];
  /** names of `initLsn` some subscription used */
  readonly initLsnUsed = new Set<string>();

  constructor(
    readonly desired: Topology,
    readonly observed: ClusterState,
    /** `apply --lsn NAME=LSN`: where a manual init's restored data starts, by subscription */
    readonly initLsn: Readonly<Record<string, string>> = {},
    /**
     * those a failover of their publisher left diverged (failover/failoverPromotion.ts), by
     * subscription: that verdict names the way out; true where its subscriber may hold rows past
     * the fork (its reinit --full takes --discard-past-fork)
     */
    readonly failoverDiverged: ReadonlyMap<string, boolean> = new Map(),
  ) {}

  /** The node's observed state, when it was reached. */
  node(name: string): ObservedNode | undefined {
    const n = this.observed.nodes[name];
    return n?.reachable ? n : undefined;
  }

  /** Reached nodes, sorted by name (includes nodes not in the file: their objects are still reported). */
  reachableNodes(): ObservedNode[] {
    return sortedKeys(this.observed.nodes)
      .map((name) => this.observed.nodes[name]!)
      .filter((n): n is ObservedNode => n.reachable);
  }

  /** The node's server version: observed, else declared in the file, else unknown. */
  serverVersion(name: string): number | undefined {
    return this.node(name)?.serverVersion ?? this.desired.nodes[name]?.serverVersion;
  }

  /** Known to be down (a node in the cluster state that could not be reached). */
  unreachable(name: string): boolean {
    const n = this.observed.nodes[name];
    return n !== undefined && !n.reachable;
  }

  fateOf(kind: ManagedKind, node: string, name: string): ObservedFate {
    const o = this.node(node)?.[`${kind}s`][name];
    const d = this.desired[`${kind}s`][name];
    const managedBy = o?.managedBy ?? null;
    if (managedBy && managedBy.topology !== this.desired.topology) return 'foreign';
    if (d?.node === node) return 'desired';
    return managedBy ? 'delete' : 'unmanaged';
  }

  error(code: string, message: string, where: Where = {}): void {
    this.errors.push(message_(code, message, where));
  }

  warn(code: string, message: string, where: Where = {}): void {
    this.warnings.push(message_(code, message, where));
  }

  hasStep(key: string): boolean {
    return this.steps.some((s) => s.key === key);
  }
}

type Where = { address?: Address | string; node?: string };
function message_(code: string, message: string, where: Where): PlanMessage {
  const m: PlanMessage = { code, message };
  if (where.address !== undefined) m.address = addressText(where.address);
  if (where.node !== undefined) m.node = where.node;
  return m;
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Where a declared object came from, for the plan's reason text: a link's objects say which link. */
export function declaredText(spec: { link?: string }): string {
  return spec.link === undefined ? 'declared in steep.yaml' : `declared by link ${spec.link} in steep.yaml`;
}

/** `a, b and c` */
export function listText(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
