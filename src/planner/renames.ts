import { publicationAddress, subscriptionAddress } from '../model/address.js';
import type { ClusterState, ObservedNode, ObservedSubscription } from '../model/cluster.js';
import { compareText } from '../model/order.js';
import type { PlanMessage } from '../model/plan.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { listText, sameJson, sortedKeys } from './context.js';

/**
 * Renames in place (`ALTER … RENAME TO`) instead of a drop and a create. A subscription's drop
 * and create loses its slot, its origin and every change between the two (with `init: none`
 * nothing copies them again); its rename keeps all three. A subscription is renamed when the
 * file says `renamedFrom:`, or when exactly one subscription this plan would drop and exactly
 * one it would create on the same node match each other: same publisher, same publications,
 * and the old one's slot exists there. A publication only with `renamedFrom:`, and only while
 * nothing reads it: pgoutput finds a publication by name in the catalog as of each change it
 * decodes, so a consumer still naming the old one errors in a loop (14–17) or, on 18, skips
 * it with a WARNING and loses the changes.
 *
 * The planner then plans against the observed state as the renames leave it (the object under
 * its new name: its state, its slot and its origin with it); `subscriptions.ts` and
 * `publications.ts` put the RENAME first in the object's step. A renamed subscription keeps its
 * slot (PostgreSQL cannot rename one): without `slot:` in the file, that slot is its default,
 * and steep's marker records it (`slot=…`) so a later plan, without `renamedFrom`, agrees.
 */

export interface Rename {
  /** the node the object lives on */
  node: string;
  from: string;
  to: string;
  /** found by matching, not declared with renamedFrom */
  implicit: boolean;
}

/**
 * `desired`: the file, each subscription's slot as the renames and steep's markers leave it;
 * `observed`: the nodes as the renames leave them; the renamed objects by new name.
 */
export function findRenames(file: Topology, observed: ClusterState) {
  const r = new RenameSearch(file, observed);
  r.publications();
  r.explicitSubscriptions();
  r.implicitSubscriptions();
  return {
    desired: { ...file, subscriptions: r.slotsAsKept() },
    observed: { nodes: r.nodes },
    subscriptions: r.subs,
    publications: r.pubs,
    errors: r.errors,
    warnings: r.warnings,
  };
}

class RenameSearch {
  readonly nodes: Record<string, ClusterState['nodes'][string]>;
  readonly subs = new Map<string, Rename>();
  readonly pubs = new Map<string, Rename>();
  readonly errors: PlanMessage[] = [];
  readonly warnings: PlanMessage[] = [];
  private readonly copied = new Set<string>();

  constructor(
    private readonly file: Topology,
    private readonly observed: ClusterState,
  ) {
    this.nodes = { ...observed.nodes };
  }

  private reached(name: string): ObservedNode | undefined {
    const n = this.nodes[name];
    return n?.reachable ? n : undefined;
  }

  /** The node, copied once before the search changes it. */
  private writable(name: string): ObservedNode {
    const n = this.reached(name)!;
    if (this.copied.has(name)) return n;
    this.copied.add(name);
    const copy: ObservedNode = {
      ...n,
      publications: { ...n.publications },
      subscriptions: { ...n.subscriptions },
    };
    if (n.initState)
      copy.initState = { subscriptions: { ...n.initState.subscriptions }, slots: { ...n.initState.slots } };
    this.nodes[name] = copy;
    return copy;
  }

  private error(code: string, message: string, address: string, node: string): void {
    this.errors.push({ code, message, address, node });
  }

  /**
   * The file's objects with renamedFrom on a reached node, in name order: the old name alone on
   * the node is renamed (yielded); the new one alone means done.
   */
  private *explicit(
    kind: 'publication' | 'subscription',
  ): Generator<{ name: string; node: ObservedNode; from: string }> {
    const declared: Readonly<Record<string, { node: string; renamedFrom?: string }>> = this.file[`${kind}s`];
    for (const name of sortedKeys(declared)) {
      const d = declared[name]!;
      const from = d.renamedFrom;
      const node = from === undefined ? undefined : this.reached(d.node);
      if (!node || from === undefined) continue;
      const address = kind === 'publication' ? publicationAddress(name) : subscriptionAddress(name);
      const old = node[`${kind}s`][from];
      const current = node[`${kind}s`][name];
      if (!old) {
        if (!current)
          this.error(
            'rename.absent',
            `${kind} ${name}: renamedFrom ${from}, but neither ${from} nor ${name} exists on ${node.name}; remove renamedFrom to create ${name}`,
            address,
            node.name,
          );
      } else if (current) {
        this.error(
          'rename.both-exist',
          `${kind} ${name}: renamedFrom ${from}, but both ${from} and ${name} exist on ${node.name}; remove renamedFrom (${from} is then planned like any ${kind} steep.yaml does not declare)`,
          address,
          node.name,
        );
      } else if (old.managedBy && old.managedBy.topology !== this.file.topology) {
        this.error(
          'foreign-owner',
          `${kind} ${name}: renamedFrom ${from}, which steep topology ${old.managedBy.topology} manages on ${node.name}; steep does not take over another topology's objects, so remove renamedFrom`,
          address,
          node.name,
        );
      } else yield { name, node, from };
    }
  }

  publications(): void {
    for (const { name, node, from } of this.explicit('publication')) {
      const readers = this.readersOf(node, from);
      if (readers.length > 0) {
        this.error(
          'rename.publication-read',
          `publication ${from} on ${node.name} is read by ${listText(readers)}, which would lose changes if it were renamed ` +
            `(PostgreSQL finds a publication by name as of each change it decodes): declare ${name} next to ${from} instead ` +
            `(without renamedFrom), add ${name} to the publications of its subscribers and apply, then remove ${from} from them ` +
            'and from steep.yaml and apply again',
          publicationAddress(name),
          node.name,
        );
        continue;
      }
      const w = this.writable(node.name);
      w.publications[name] = { ...w.publications[from]!, name };
      delete w.publications[from];
      this.pubs.set(name, { node: node.name, from, to: name, implicit: false });
    }
  }

  /**
   * Who reads publication `name` of `publisher`: every subscription a reached node holds that
   * names it, every subscription steep.yaml declares from that node on a node not reached (it
   * may), and every pgoutput slot streaming there that no subscription steep read uses.
   */
  private readersOf(publisher: ObservedNode, name: string): string[] {
    const readers: string[] = [];
    const known = new Set<string>();
    for (const node of Object.values(this.observed.nodes)) {
      if (!node.reachable) continue;
      for (const s of Object.values(node.subscriptions)) {
        if (s.from !== publisher.name && s.from !== '') continue;
        if (!s.slotNone) known.add(s.slot);
        if (s.publications.includes(name)) readers.push(`subscription ${s.name} on ${node.name}`);
      }
    }
    for (const d of Object.values(this.file.subscriptions)) {
      if (d.from === publisher.name && this.nodes[d.node]?.reachable !== true)
        readers.push(`subscription ${d.name} on ${d.node} (not reached: steep cannot tell what it reads)`);
    }
    for (const slot of Object.values(publisher.slots)) {
      // a table synchronisation slot (pg_<subscription oid>_sync_…) belongs to a subscription
      if (
        !slot.active ||
        slot.plugin !== 'pgoutput' ||
        known.has(slot.name) ||
        /^pg_\d+_sync_/.test(slot.name)
      )
        continue;
      readers.push(`the consumer streaming from slot ${slot.name} (not a subscription steep reads)`);
    }
    return readers.sort(compareText);
  }

  explicitSubscriptions(): void {
    for (const { name, node, from } of this.explicit('subscription')) {
      const d = this.file.subscriptions[name]!;
      const o = node.subscriptions[from]!;
      const address = subscriptionAddress(name);
      if (o.from !== '' && o.from !== d.from) {
        this.error(
          'rename.publisher',
          `subscription ${name}: renamedFrom ${from}, which subscribes from ${o.from}, not ${d.from}; a rename keeps its publisher, so rename it with from: ${o.from} first, apply, then change from`,
          address,
          node.name,
        );
        continue;
      }
      if (d.slotDeclared && (o.slotNone || o.slot !== d.slot)) {
        this.error(
          'rename.slot',
          `subscription ${name}: renamedFrom ${from}, whose slot is ${o.slotNone ? 'NONE' : o.slot}, but steep.yaml says slot: ${d.slot}; ` +
            `PostgreSQL cannot rename a slot, so leave slot out${o.slotNone ? '' : ` or set slot: ${o.slot}`}`,
          address,
          node.name,
        );
        continue;
      }
      this.move(node.name, from, name, false);
    }
  }

  /** One subscription to drop and one to create that match each other, and no other: a rename. */
  implicitSubscriptions(): void {
    for (const node of Object.values(this.nodes)) {
      if (!node.reachable) continue;
      const creates = sortedKeys(this.file.subscriptions)
        .map((n) => this.file.subscriptions[n]!)
        .filter(
          (d) =>
            d.node === node.name && !node.subscriptions[d.name] && d.renamedFrom === undefined && !d.link,
        );
      const drops = sortedKeys(node.subscriptions)
        .map((n) => node.subscriptions[n]!)
        .filter((o) => o.managedBy?.topology === this.file.topology && !this.file.subscriptions[o.name]);
      if (creates.length === 0 || drops.length === 0) continue;
      const pairs = new Map(creates.map((d) => [d.name, drops.filter((o) => this.sameObject(d, o))]));
      for (const d of creates) {
        const olds = pairs.get(d.name)!;
        const rivals = creates.filter((c) => pairs.get(c.name)!.some((o) => olds.includes(o)));
        if (olds.length === 1 && rivals.length === 1) {
          this.move(node.name, olds[0]!.name, d.name, true);
          continue;
        }
        // no single match: a drop and a create, as before, with a note when it may be a rename
        const near = olds.length > 0 ? olds : drops.filter((o) => o.from === d.from);
        if (near.length === 0) continue;
        const names = near.map((o) => o.name);
        const why =
          olds.length > 0
            ? `reads what ${listText(names)} ${names.length > 1 ? 'read' : 'reads'} (same publisher, publications and a live slot), but steep cannot tell which subscription it renames`
            : `is created while ${listText(names)}, from the same publisher, ${names.length > 1 ? 'are' : 'is'} dropped`;
        this.warnings.push({
          code: 'rename.not-inferred',
          message:
            `subscription ${d.name} on ${node.name} ${why}, so steep plans a drop and a create; if it is a rename, add ` +
            `renamedFrom: <old name> to ${d.name} to rename it in place and keep its slot and the changes not yet applied`,
          address: subscriptionAddress(d.name),
          node: node.name,
        });
      }
    }
  }

  /** What says a subscription to drop is the one to create under another name. */
  private sameObject(d: SubscriptionSpec, o: ObservedSubscription): boolean {
    const publisher = this.reached(d.from);
    return (
      o.from === d.from &&
      !o.slotNone &&
      publisher?.slots[o.slot] !== undefined &&
      (!d.slotDeclared || d.slot === o.slot) &&
      sameJson([...o.publications].sort(compareText), [...d.publications].sort(compareText))
    );
  }

  private move(node: string, from: string, to: string, implicit: boolean): void {
    const w = this.writable(node);
    w.subscriptions[to] = { ...w.subscriptions[from]!, name: to };
    delete w.subscriptions[from];
    const state = w.initState;
    if (state?.subscriptions[from]) {
      state.subscriptions[to] = { ...state.subscriptions[from]!, subscription: to };
      delete state.subscriptions[from];
    }
    if (state?.slots[from]) {
      state.slots[to] = { ...state.slots[from]!, subscription: to };
      delete state.slots[from];
    }
    this.subs.set(to, { node, from, to, implicit });
  }

  /**
   * Each subscription without `slot:` takes the slot it kept through a rename: the renamed one's
   * now, and later the one steep's marker records, while it is still the one it uses. A link's
   * subscription made before link slots carried their database's tag keeps its slot, named
   * after the subscription (PostgreSQL cannot rename a slot).
   */
  slotsAsKept(): Record<string, SubscriptionSpec> {
    const out: Record<string, SubscriptionSpec> = {};
    for (const [name, d] of Object.entries(this.file.subscriptions)) {
      const o = d.slotDeclared ? undefined : this.reached(d.node)?.subscriptions[name];
      if (!o || o.slotNone || o.slot === d.slot) out[name] = d;
      else if (o.slot !== d.name && (this.subs.has(name) || this.markedSlot(o)))
        out[name] = { ...d, slot: o.slot, slotKept: true };
      else if (o.slot === d.name && d.link !== undefined && o.managedBy?.topology === this.file.topology)
        out[name] = { ...d, slot: o.slot };
      else out[name] = d;
    }
    return out;
  }

  private markedSlot(o: ObservedSubscription): boolean {
    return o.managedBy?.topology === this.file.topology && o.managedBy.slot === o.slot;
  }
}
