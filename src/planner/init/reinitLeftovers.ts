import { adviceText } from '../../model/advice.js';
import type { ClusterState } from '../../model/cluster.js';
import { compareText } from '../../model/order.js';
import type { SubscriptionRef, SubscriptionSpec, Topology } from '../../model/topology.js';
import { temporaryPublications } from './reinit.js';

/**
 * A reinit not finished (docs/repair.md): the temporary publications `steep reinit` makes on the
 * publisher stay until the run that made them (or the next one) has followed the copy to the end
 * and dropped them. Found on the publisher, they say that a reinit was stopped (a kill, a crash,
 * a signal) or still runs: either way the subscription is not proven synchronized, and the next
 * `steep reinit` of the same tables resumes it and drops them. Pure: from the reading of the nodes.
 */
export interface UnfinishedReinit extends SubscriptionRef {
  /** the tables the reinit copies again (`schema.table`, sorted): empty when no reading names them */
  tables: string[];
  /** its temporary publications found on the publisher, sorted (none: a reinit of tables replicated both ways) */
  publications: string[];
  /** one sentence: what was found, and the way out */
  reason: string;
}

export function unfinishedReinits(topology: Topology, observed: ClusterState): UnfinishedReinit[] {
  const out: UnfinishedReinit[] = [];
  const stateSchema = topology.settings.stateSchema;
  for (const d of Object.values(topology.subscriptions)) {
    const publisher = observed.nodes[d.from];
    if (!publisher?.reachable) continue;
    const temps = temporaryPublications(d.name, d.publications.length).filter(
      (t) => publisher.publications[t],
    );
    if (temps.length === 0) {
      const inPlace = stoppedInPlace(topology, observed, d);
      if (inPlace) out.push(inPlace);
      continue;
    }
    const kept = new Set(
      temps.flatMap((t) => publisher.publications[t]!.tables.map((x) => `${x.schema}.${x.name}`)),
    );
    // what the subscription receives: its own publications' tables and what pg_subscription_rel
    // lists (a schema or allTables publication names no table), less what the temporary ones keep
    const subscriber = observed.nodes[d.node];
    const received = [
      ...d.publications.flatMap(
        (p) => publisher.publications[p]?.tables.map((x) => `${x.schema}.${x.name}`) ?? [],
      ),
      ...((subscriber?.reachable && subscriber.subscriptions[d.name]?.tables) || []).map(
        (t) => `${t.schema}.${t.name}`,
      ),
    ];
    const tables = [...new Set(received)]
      .filter((t) => !kept.has(t) && !t.startsWith(`${stateSchema}.`))
      .sort(compareText);
    const found = `its temporary publication${temps.length === 1 ? '' : 's'} ${temps.join(', ')} ${temps.length === 1 ? 'is' : 'are'} still on ${d.from}`;
    const wayOut =
      tables.length > 0
        ? `\`${adviceText('reinitTables', d.name, tables)}\` finishes it (it resumes where it stopped) and drops ${temps.length === 1 ? 'it' : 'them'}`
        : `steep reinit ${d.name} --tables, naming the tables it was copying, finishes it and drops ${temps.length === 1 ? 'it' : 'them'}`;
    out.push({
      subscription: d.name,
      node: d.node,
      from: d.from,
      tables,
      publications: temps,
      reason: `a reinit${tables.length > 0 ? ` of ${tables.join(', ')}` : ''} has not finished: ${found} (that reinit was stopped, or still runs); ${wayOut}`,
    });
  }
  return out.sort((a, b) => compareText(a.subscription, b.subscription));
}

/**
 * A reinit of tables replicated both ways reconciles them in place (planner/init/reinitLoop.ts) and
 * makes no temporary publication: the `reinitializing` its run recorded, and nothing else, says it
 * was stopped (its fence's triggers wait for nothing once its sessions are gone) or still runs.
 * The way out names the tables the subscriber publishes back, which such a reinit reconciles.
 */
function stoppedInPlace(
  topology: Topology,
  observed: ClusterState,
  d: SubscriptionSpec,
): UnfinishedReinit | null {
  const subscriber = observed.nodes[d.node];
  if (!subscriber?.reachable || subscriber.initState?.subscriptions[d.name]?.state !== 'reinitializing')
    return null;
  const back = new Set(
    Object.values(topology.subscriptions)
      .filter((b) => b.node === d.from && b.from === d.node)
      .flatMap((b) => b.publications)
      .flatMap((p) => subscriber.publications[p]?.tables.map((t) => `${t.schema}.${t.name}`) ?? []),
  );
  const tables = (subscriber.subscriptions[d.name]?.tables ?? [])
    .map((t) => `${t.schema}.${t.name}`)
    .filter((t) => back.has(t))
    .sort(compareText);
  const wayOut =
    tables.length > 0
      ? `\`${adviceText('reinitTables', d.name, tables)}\` finishes it (it reconciles them in place again)`
      : `steep reinit ${d.name} --tables, naming the tables it was given, finishes it`;
  return {
    subscription: d.name,
    node: d.node,
    from: d.from,
    tables,
    publications: [],
    reason: `a reinit of ${d.name} has not finished: it is recorded reinitializing on ${d.node}, and no temporary publication is on ${d.from} (a reinit of tables replicated both ways reconciles them in place; that reinit was stopped, or still runs); ${wayOut}`,
  };
}
