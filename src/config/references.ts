import type { SubscriptionSpec, Topology } from '../model/topology.js';
import type { NormaliseContext as Context } from './normalise.js';
import { type Path, withOwner } from './paths.js';
import { didYouMean } from './suggest.js';

/**
 * What a schema cannot express: publications live on declared nodes; a subscription's nodes
 * exist and differ, its publications exist and live on its `from` node; no two subscriptions
 * use one slot name on the same publisher.
 */
export function checkReferences(ctx: Context, topology: Topology): void {
  const { reader, positions, problems } = ctx;
  const nodes = Object.keys(topology.nodes);
  const nodeExists = (path: Path, role: string): boolean => {
    const name = reader.string(path);
    if (name === undefined) return false;
    // own keys only: `node: constructor` must not find Object.prototype.constructor
    if (Object.hasOwn(topology.nodes, name)) return true;
    problems.error(
      'unknown-node',
      withOwner(path, `${role} \`${name}\` is not declared in \`nodes\`${didYouMean(name, nodes)}`),
      positions.value(path),
    );
    return false;
  };

  for (const name of Object.keys(topology.publications)) {
    nodeExists(['publications', name, 'node'], 'node');
  }

  const slotUsers = new Map<string, string>();
  for (const [name, subscription] of Object.entries(topology.subscriptions)) {
    const base = ['subscriptions', name];
    const subscriberOk = nodeExists([...base, 'node'], 'node');
    const publisherOk = nodeExists([...base, 'from'], 'node');

    if (subscriberOk && publisherOk && subscription.node === subscription.from) {
      problems.error(
        'subscribes-to-itself',
        `subscription \`${name}\`: \`node\` and \`from\` are both \`${subscription.node}\`; a node cannot subscribe to itself`,
        positions.value([...base, 'from']),
        '`node` is the subscriber, `from` the publisher',
      );
    }
    checkSubscribedPublications(ctx, topology, name, subscription, publisherOk);
    if (publisherOk && !reader.broken.has([...base, 'slot']))
      checkSlotUnique(ctx, topology, name, subscription, slotUsers);
  }
}

/** Each publication the subscription lists is declared, and lives on its `from` node. */
function checkSubscribedPublications(
  { reader, positions, problems }: Context,
  topology: Topology,
  name: string,
  subscription: SubscriptionSpec,
  publisherOk: boolean,
): void {
  const base = ['subscriptions', name];
  for (const { value: publication, path } of reader.strings([...base, 'publications'])) {
    const declared = Object.hasOwn(topology.publications, publication)
      ? topology.publications[publication]
      : undefined;
    if (!declared) {
      problems.error(
        'unknown-publication',
        `subscription \`${name}\`: publication \`${publication}\` is not declared in \`publications\`${didYouMean(
          publication,
          Object.keys(topology.publications),
        )}`,
        positions.value(path),
      );
    } else if (
      publisherOk &&
      Object.hasOwn(topology.nodes, declared.node) &&
      declared.node !== subscription.from
    ) {
      problems.error(
        'publication-on-other-node',
        `subscription \`${name}\`: publication \`${publication}\` lives on node \`${declared.node}\`, not on \`${subscription.from}\` (the \`from\` node)`,
        positions.value(path),
        `subscribe from \`${declared.node}\`, or list a publication of \`${subscription.from}\``,
      );
    }
  }
}

/** No subscription before it uses its slot name on the same publisher (slotUsers: publisher and slot → subscription). */
function checkSlotUnique(
  { reader, positions, problems }: Context,
  topology: Topology,
  name: string,
  subscription: SubscriptionSpec,
  slotUsers: Map<string, string>,
): void {
  const base = ['subscriptions', name];
  const key = `${subscription.from}\u0000${subscription.slot}`;
  const other = slotUsers.get(key);
  if (other === undefined) {
    slotUsers.set(key, name);
  } else {
    const explicit = reader.has([...base, 'slot']);
    const twoPhase = [other, name].some((n) => topology.subscriptions[n]?.init.method === 'two-phase');
    problems.error(
      'slot-conflict',
      `subscriptions \`${other}\` and \`${name}\` both use slot \`${subscription.slot}\` on node \`${subscription.from}\`` +
        (twoPhase ? ' (a two-phase snapshot seeds exactly one subscription, on its slot)' : ''),
      explicit ? positions.value([...base, 'slot']) : positions.key(base),
      'give one of them its own `slot`; without `slot`, the slot is named after the subscription',
    );
  }
}
