import { subscriptionAddress } from '../../model/address.js';
import type { ObservedNode } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import type { PublicationDef, SubscriptionSpec } from '../../model/topology.js';
import { qualifiedName } from '../../model/topology.js';
import { listText, type PlanContext, sortedKeys, stepKey } from '../context.js';
import { copiedTables } from '../init/initCopy.js';

/**
 * Double apply (docs/steep-yaml.md): two subscriptions on one node receiving the same table from the same
 * publisher apply every change twice (duplicate keys, or doubled effects where there are none).
 * A declared subscription whose tables another subscription on its node already receives from the
 * same origin — unmanaged, renamed in the file, another topology's, or declared twice — is a plan
 * error naming both, with the fix.
 */

function tablesOf(
  pub: PublicationDef | undefined,
  publisher: ObservedNode | undefined,
  state: string,
): string[] {
  if (!pub) return [];
  const out = new Set(pub.tables.map(qualifiedName));
  if (pub.allTables || pub.schemas.length > 0) {
    for (const t of Object.values(publisher?.tables ?? {})) {
      if (t.schema !== state && (pub.allTables || pub.schemas.includes(t.schema))) out.add(qualifiedName(t));
    }
  }
  return [...out];
}

/** What an existing subscription receives: the tables of its publications as the publisher holds them, and its own table list. */
function observedReceives(ctx: PlanContext, node: ObservedNode, name: string): Set<string> {
  const o = node.subscriptions[name]!;
  const publisher = ctx.node(o.from);
  const state = ctx.desired.settings.stateSchema;
  const published = o.publications.flatMap((p) => tablesOf(publisher?.publications[p], publisher, state));
  return new Set([...o.tables.map(qualifiedName), ...published]);
}

function shared(a: readonly string[], b: Set<string>): string[] {
  return a.filter((t) => b.has(t)).sort(compareText);
}

/** What the check found that planning the subscriptions needs. */
export interface DoubleApply {
  /** addresses of declared subscriptions with a double-apply error: no step is planned for them */
  blocked: ReadonlySet<string>;
  /** desired subscription → step keys its create waits for (the drop of one it replaces under another name) */
  waitFor: ReadonlyMap<string, string[]>;
}

export function checkDoubleApply(ctx: PlanContext): DoubleApply {
  const blocked = new Set<string>();
  const waitFor = new Map<string, string[]>();
  const refuse = (d: SubscriptionSpec, what: string, fix: string) => {
    const address = subscriptionAddress(d.name);
    ctx.error(
      'double-apply',
      `subscription ${d.name}: ${what}; two subscriptions would apply every change to those tables twice; ${fix}`,
      { address, node: d.node },
    );
    blocked.add(address);
  };
  const desired = sortedKeys(ctx.desired.subscriptions).map((n) => ctx.desired.subscriptions[n]!);
  const tables = new Map(
    desired.map((d) => [d.name, copiedTables(ctx.desired, ctx.observed, d).map(qualifiedName)]),
  );
  for (const d of desired) {
    const node = ctx.node(d.node);
    if (!node) continue;
    const mine = tables.get(d.name)!;
    for (const other of sortedKeys(node.subscriptions)) {
      if (other === d.name) continue;
      const o = node.subscriptions[other]!;
      if (ctx.desired.subscriptions[other]?.node === d.node) continue; // two declared ones: below
      if (o.from !== d.from) continue;
      const both = shared(mine, observedReceives(ctx, node, other));
      if (both.length === 0) continue;
      if (ctx.fateOf('subscription', node.name, other) === 'delete') {
        // this topology's own, no longer declared: it is dropped in this plan, before d is created
        waitFor.set(d.name, [...(waitFor.get(d.name) ?? []), stepKey('subscription-drop', node.name, other)]);
        continue;
      }
      const owner = o.managedBy
        ? `managed by steep topology ${o.managedBy.topology}`
        : 'not managed by steep';
      refuse(
        d,
        `subscription ${other} on ${d.node} (${owner}) already receives ${listText(both)} from ${d.from}`,
        // not this topology's: steep advises no drop of it (it cannot show it made it)
        `if ${d.name} is ${other} renamed, ${o.managedBy ? `declare it as ${other}` : `add renamedFrom: ${other} to ${d.name} (or declare it as ${other})`} in steep.yaml; ` +
          `otherwise take ${listText(both)} out of ${d.name} in steep.yaml, or out of ${other}, which steep neither alters nor drops (${o.managedBy ? `that topology's file manages it` : `its owner ${o.owner} decides what becomes of it`})`,
      );
    }
  }
  for (const [i, d] of desired.entries()) {
    for (const e of desired.slice(i + 1)) {
      if (d.node !== e.node || d.from !== e.from) continue;
      const both = shared(tables.get(d.name)!, new Set(tables.get(e.name)!));
      if (both.length === 0) continue;
      refuse(
        e,
        `steep.yaml declares subscriptions ${d.name} and ${e.name} on ${d.node}, both receiving ${listText(both)} from ${d.from}`,
        'keep each table in one subscription of a node per publisher',
      );
    }
  }
  return { blocked, waitFor };
}
