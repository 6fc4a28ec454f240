import { subscriptionAddress } from '../../model/address.js';
import { type AdviceSubject, advise, onlyCopyReason, printable } from '../../model/advice.js';
import { formatBytes } from '../../model/bytes.js';
import type { ClusterState, ObservedNode, ObservedSubscription } from '../../model/cluster.js';
import { copiesAtCreate, copiesJoiningTables, INIT_METHOD } from '../../model/initMethods.js';
import { compareTableNames } from '../../model/order.js';
import type { Change, Hazard, Statement } from '../../model/plan.js';
import type { SubscriptionSpec, TableName, Topology } from '../../model/topology.js';
import { DEFAULT_SPLIT_ABOVE, qualifiedName, tableOfQualified } from '../../model/topology.js';
import { listText, type PlanContext, sortedKeys } from '../context.js';
import { leafPartitions } from '../publications/publishedRelations.js';
import { addTables } from '../schema/schemaScope.js';
import { truncateTablesSql, tx } from '../sqlBuild.js';
import { receivedAfterPlan } from '../subscriptions/subscriptionTables.js';

/**
 * What an init copies (docs/steep-yaml.md): the tables a subscription copies, which copy takes them
 * (PostgreSQL's copy_data or steep's own engine, and why), which of them already hold rows on
 * the subscriber (the row-presence probe the catalog runs for the plan), and what
 * `init.existingData` makes of those rows (a plan error, `TRUNCATE` first, or keep them).
 */

/**
 * The tables `d` copies from its publisher: its publications' tables as steep.yaml declares
 * them (or, for one the file does not declare, as the publisher holds it), `schemas` and
 * `allTables` expanded with the publisher's tables. steep's state schema is left out: its rows
 * carry their node's name and never collide.
 */
export function copiedTables(desired: Topology, observed: ClusterState, d: SubscriptionSpec): TableName[] {
  const n = observed.nodes[d.from];
  const publisher = n?.reachable ? n : undefined;
  const state = desired.settings.stateSchema;
  const out = new Map<string, TableName>();
  const add = (t: TableName) => {
    if (t.schema !== state) out.set(qualifiedName(t), { schema: t.schema, name: t.name });
  };
  for (const name of d.publications) {
    const p = desired.publications[name] ?? publisher?.publications[name];
    if (!p) continue;
    for (const t of Object.values(publisher?.tables ?? {}))
      if (p.allTables || p.schemas.includes(t.schema)) add(t);
    for (const t of p.tables) add(t);
  }
  return [...out.values()].sort(compareTableNames);
}

/**
 * Which copy a snapshot init takes (`own`: steep's engine instead of copy_data), why (the
 * sentence the plan shows), and the tables above init.splitAbove, copied in key ranges (`split`).
 * `init: { method: snapshot }` copies with PostgreSQL's `copy_data = true` (one worker per
 * table) unless the subscription asks for `parallel` > 1 in its own `init`, or a table is above
 * `init.splitAbove` (the publisher's size estimate): then steep's own engine copies it, a big
 * table in key ranges on several sessions. `two-phase` always uses steep's engine.
 */
export function copyPath(desired: Topology, observed: ClusterState, d: SubscriptionSpec) {
  const splitAbove = d.init.splitAbove ?? DEFAULT_SPLIT_ABOVE;
  const publisher = observed.nodes[d.from];
  const split = copiedTables(desired, observed, d)
    .filter((t) => {
      const size = publisher?.reachable ? publisher.tables[qualifiedName(t)]?.sizeBytes : null;
      return size !== null && size !== undefined && size > splitAbove;
    })
    .map(qualifiedName);
  const parallel = d.init.parallelDeclared === true && d.init.parallel > 1;
  const limit = `init.splitAbove (${formatBytes(splitAbove)})`;
  const ownCopy = INIT_METHOD[d.init.method].ownCopy;
  if (ownCopy === 'always')
    return { own: true, why: `${d.init.method} copies with steep's own engine`, split };
  if (ownCopy === 'never') return { own: false, why: '', split: [] };
  if (!parallel && split.length === 0) {
    return {
      own: false,
      why: `PostgreSQL's own copy (copy_data = true, one worker per table): init.parallel is ${d.init.parallelDeclared ? d.init.parallel : 'not set'} and no table is above ${limit}`,
      split,
    };
  }
  const reasons = [
    ...(parallel ? [`init.parallel is ${d.init.parallel}`] : []),
    ...(split.length > 0
      ? [`${listText(split)} ${split.length === 1 ? 'is' : 'are'} above ${limit}, split into key ranges`]
      : []),
  ];
  return {
    own: true,
    why: `steep's own copy with ${d.init.parallel} session${d.init.parallel === 1 ? '' : 's'}: ${reasons.join('; ')}`,
    split,
  };
}

/**
 * What PostgreSQL's table syncs copy for a new subscription: each relation it receives (the
 * leaf partitions of a partitioned table, or the root with viaPartitionRoot), steep's state
 * schema left out; the declared tables when the publisher cannot be read.
 */
export function copiedRelations(ctx: PlanContext, d: SubscriptionSpec): TableName[] {
  const received = receivedAfterPlan(ctx, d);
  const publisher = ctx.node(d.from);
  if (!received || !publisher) return copiedTables(ctx.desired, ctx.observed, d);
  const state = ctx.desired.settings.stateSchema;
  return received
    .map((qn) => publisher.tables[qn]!)
    .filter((t) => t.schema !== state)
    .map((t) => ({ schema: t.schema, name: t.name }));
}

/** The subscription's slot or publisher differs from the file: only a replace can change it. */
export function replacesSlot(o: ObservedSubscription, d: SubscriptionSpec): boolean {
  return o.slotNone || o.slot !== d.slot || (o.from !== '' && o.from !== d.from);
}

/**
 * For each subscriber node, the tables whose row presence the plan needs: those a subscription
 * about to be created with copy_data would copy into, that exist there.
 */
export function rowPresenceRequests(desired: Topology, observed: ClusterState): Map<string, TableName[]> {
  const out = new Map<string, Map<string, TableName>>();
  for (const name of sortedKeys(desired.subscriptions)) {
    const d = desired.subscriptions[name]!;
    const node = observed.nodes[d.node];
    if (node?.reachable !== true) continue;
    const o = node.subscriptions[d.name];
    // an existing one that copies nothing (`none`, `manual`) told to copy the tables that join it
    // (`init.newTables: copy`), or a `snapshot` or `two-phase` one: the refresh copies into the
    // tables that join it, which may hold the rows they kept when they left it (`existingData`
    // decides, dataGaps.ts)
    const joining =
      o !== undefined &&
      ((INIT_METHOD[d.init.method].joiningTables === 'newTables' && d.init.newTables === 'copy') ||
        copiesJoiningTables(d.init.method));
    // a new `snapshot` one (it will copy), or a replace whatever its method (docs/steep-yaml.md
    // makes it an error while its tables hold rows)
    const copies = o ? replacesSlot(o, d) : copiesAtCreate(d.init.method);
    // a `none` one steep recorded that is gone and will be created again without a copy: whether
    // its tables hold rows decides a data gap (dataGaps.ts recreateGap)
    const recreates =
      !o &&
      INIT_METHOD[d.init.method].rows === 'vouched' &&
      node.initState?.subscriptions[d.name] !== undefined;
    if (!joining && !copies && !recreates) continue;
    const received = new Set(joining && !copies ? o.tables.map(qualifiedName) : []);
    const wanted = (t: TableName) => !received.has(qualifiedName(t)) && node.tables[qualifiedName(t)];
    const copied = copiedTables(desired, observed, d);
    // the leaves of a tree a refresh receives by its leaves (viaPartitionRoot off): they join it
    // one by one, and may hold the rows the tree streamed through its root
    const from = observed.nodes[d.from];
    const publisher = from?.reachable === true ? from : null;
    const leaves =
      joining && publisher
        ? copied.flatMap((t) =>
            leafPartitions(qualifiedName(t), publisher.tables)
              .filter((qn) => qn !== qualifiedName(t))
              .map((qn) => tableOfQualified(qn)),
          )
        : [];
    addTables(out, d.node, [...copied, ...leaves].filter(wanted));
  }
  return new Map(
    [...out.entries()]
      .filter(([, t]) => t.size > 0)
      .map(([n, t]) => [n, [...t.values()].sort(compareTableNames)]),
  );
}

export interface ExistingData {
  ok: boolean;
  statements: Statement[];
  hazards: Hazard[];
  changes: Change[];
  /** `existingData: keep`: the tables hold rows and stay as they are: nothing is copied */
  keep: boolean;
}

/** The tables `d` receives that hold rows on its subscriber (as far as steep probed them). */
export function heldTables(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode): TableName[] {
  return copiedTables(ctx.desired, ctx.observed, d).filter(
    (t) => node.tables[qualifiedName(t)]?.hasRows === true,
  );
}

/**
 * Target tables that already hold rows when a subscription is created (or replaced) with a copy:
 * a plan error (`existingData: fail`, the default), a `TRUNCATE` of exactly those tables before
 * it is created (`truncate`), or no copy at all (`keep`: the DBA vouches the rows are there).
 * `replacing`: the words of the replace that recreates it, for the error.
 */
export function existingData(
  ctx: PlanContext,
  d: SubscriptionSpec,
  node: ObservedNode,
  replacing?: { because: string; cheaperFix?: string },
): ExistingData {
  const none: ExistingData = { ok: true, statements: [], hazards: [], changes: [], keep: false };
  if (!copiesAtCreate(d.init.method) && !replacing) return none;
  const held = heldTables(ctx, d, node);
  if (held.length === 0) return none;
  const names = held.map(qualifiedName);
  const address = subscriptionAddress(d.name);
  const subject = adviceSubject(ctx, d, node);
  const truncate = advise('existingDataTruncate', subject, names);
  const copyFix = printable('existingDataTruncate', subject)
    ? `${truncate}, or init.method: merge to reconcile both sides`
    : truncate;
  // a replace drops the slot and starts a new one at the create: what is committed in between never arrives
  if (d.init.existingData === 'keep' && replacing) {
    ctx.error(
      'data-gap',
      `subscription ${d.name} on ${node.name} would be replaced (${replacing.because} cannot be altered in place) keeping the rows of ` +
        `${listText(names)} (init.existingData: keep): the new slot starts at the create, so every change ${d.from} commits between ` +
        `the drop and the create would never arrive (hazard data-gap); ${replacing.cheaperFix ? `${replacing.cheaperFix}; otherwise ` : ''}${copyFix}`,
      { address, node: node.name },
    );
    return { ...none, ok: false };
  }
  if (d.init.existingData === 'fail') {
    const fix = replacing
      ? copyFix
      : printable('existingDataTruncate', subject)
        ? `${truncate} or keep (they stay as they are, nothing is copied)`
        : truncate;
    ctx.error(
      'existing-data',
      replacing
        ? `subscription ${d.name} on ${node.name} would be replaced (${replacing.because} cannot be altered in place), ` +
            `${copiesAtCreate(d.init.method) ? 'copying its tables again into' : 'recreated over'} tables that already hold rows there: ${listText(names)}; ` +
            `${replacing.cheaperFix ? `${replacing.cheaperFix}; otherwise ` : ''}${fix}`
        : `subscription ${d.name} would copy into tables that already hold rows on ${node.name}: ${listText(names)}; ` +
            `copying on top of them would fail or duplicate rows: empty them, or ${fix}`,
      { address, node: node.name },
    );
    return { ...none, ok: false };
  }
  if (d.init.existingData === 'keep') {
    return { ...none, keep: true, changes: [{ path: 'init.keep', before: null, after: names }] };
  }
  if (!copiesAtCreate(d.init.method)) return none;
  return {
    ...none,
    statements: [tx(truncateTablesSql(held))],
    hazards: ['truncates-data'],
    changes: [{ path: 'init.truncate', before: null, after: names }],
  };
}

/**
 * The subject of a repair that copies into `d`'s tables on `node` (model/advice.ts): its rows
 * there may be the only copy when the subscription exists there disabled (a switchover's release
 * disables it: the subscriber is the primary, the publisher the fenced old one), or when another
 * subscription on the node carries some of the same tables from another publisher.
 */
export function adviceSubject(ctx: PlanContext, d: SubscriptionSpec, node: ObservedNode): AdviceSubject {
  const o = node.subscriptions[d.name];
  const mine = new Set(copiedTables(ctx.desired, ctx.observed, d).map(qualifiedName));
  const others = Object.values(ctx.desired.subscriptions)
    .filter((s) => s.node === d.node && s.name !== d.name && s.from !== d.from)
    .filter((s) => copiedTables(ctx.desired, ctx.observed, s).some((t) => mine.has(qualifiedName(t))))
    .map((s) => s.from);
  const onlyCopy = onlyCopyReason({
    subscription: d.name,
    node: node.name,
    enabled: true,
    observedEnabled: o ? o.enabled : null,
    otherPublishers: [...new Set(others)].sort(),
  });
  return {
    subscription: d.name,
    node: node.name,
    from: d.from,
    onlyCopy,
    ...(d.link ? { link: d.link } : {}),
  };
}
