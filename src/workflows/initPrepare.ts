import type pg from 'pg';
import { readCopySource } from '../catalog/copySource.js';
import { clusterReadOptions, readCluster } from '../catalog/readCluster.js';
import { loadTopology } from '../config/load.js';
import { nodeSession, withSession } from '../db/connect.js';
import { lockedSessions } from '../db/lockedSession.js';
import type { EventSink, Stop } from '../executors/events.js';
import { recordTransition } from '../executors/initFollow.js';
import { createPreparedSlot, type MadeSlot, PREPARE_APPLICATION_NAME } from '../executors/preparedSlot.js';
import { runStep } from '../executors/runStep.js';
import { subscriptionAddress } from '../model/address.js';
import type { ClusterState, ObservedNode } from '../model/cluster.js';
import type { Problem } from '../model/errors.js';
import { SteepError } from '../model/errors.js';
import {
  declaredSubscription,
  qualifiedName,
  type SubscriptionSpec,
  type Topology,
} from '../model/topology.js';
import {
  checkPrepareMethod,
  cloneCommands,
  dumpCommands,
  dumpScope,
  type PreparePlan,
  planInitPrepare,
  type SentColumns,
} from '../planner/init/initPrepare.js';
import { CloneMarkStore } from '../state/cloneMarks.js';
import { InitSlotStore } from '../state/initSlots.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';

/**
 * `steep init prepare SUBSCRIPTION` (manual method, docs/steep-yaml.md): create the subscription's slot on
 * the publisher over a replication connection, with an exported snapshot
 * (`CREATE_REPLICATION_SLOT … LOGICAL pgoutput (SNAPSHOT 'export')`), and record the slot and
 * its consistent point in the subscriber's `init_slots`; the init is then `preparing`. With
 * `hold`, the replication connection stays open and idle, so `pg_dump --snapshot` can take a
 * dump consistent at exactly that LSN; the snapshot dies with the connection. What to do comes
 * from the planner (planner/init/initPrepare.ts), the slot is made by executors/preparedSlot.ts.
 * A signal (`stop`) while the slot waits for the publisher's open transactions cancels that wait
 * (nothing is made); once the slot exists it is recorded before the command stops.
 */

export interface PrepareResult {
  subscription: string;
  node: string;
  from: string;
  slot: string;
  /** the slot's consistent point: the restored data must be consistent here */
  lsn: string;
  /** the exported snapshot, valid while held */
  snapshotName: string | null;
  /** the slot was prepared before (no new snapshot) */
  alreadyPrepared: boolean;
  tables: string[];
  /** with a held snapshot: the dump at exactly `lsn` and its restore on the subscriber (null when every table is filtered) */
  pgDump: string | null;
  pgRestore: string | null;
  /**
   * with a held snapshot: per table whose publications filter rows or list columns, a psql COPY
   * pipeline of exactly what the subscription carries (pg_dump would restore whole tables)
   */
  copies: string[];
  /** physical: how to make the clone (a base backup, or a standby promoted past `lsn`); null otherwise */
  clone: string[] | null;
  configWarnings: Problem[];
}

export async function prepareInit(
  configPath: string,
  subscription: string,
  opts: { hold: boolean; onEvent?: EventSink; stop?: Stop },
) {
  const onEvent = opts.onEvent ?? (() => {});
  const { topology, warnings } = await loadTopology(configPath);
  const d = declaredSubscription(topology, subscription, 'init.unknown_subscription');
  checkPrepareMethod(d);
  const physical = d.init.method === 'physical';
  const observed = await readCluster(
    (physical ? [d.from] : [d.from, d.node]).map((n) => ({
      name: n,
      connection: topology.nodes[n]!.connection,
    })),
    clusterReadOptions(topology.settings),
  );
  const plan = planInitPrepare(topology, observed, d, opts.hold);
  // read before the slot is made: what the printed commands copy
  const scope =
    plan.kind === 'create' && opts.hold && !physical
      ? dumpScope(topology, d, await readSent(topology, d, observed))
      : null;
  const made =
    plan.kind === 'create'
      ? await makePreparedSlot(topology, d, plan, { physical, stop: opts.stop, onEvent })
      : null;
  const subscriber = observed.nodes[d.node];
  const superuser = subscriber !== undefined && 'role' in subscriber && subscriber.role.superuser;
  const commands =
    made?.snapshotName && scope ? dumpCommands(topology, d, scope, made.snapshotName, superuser) : null;
  const result: PrepareResult = {
    subscription: d.name,
    node: d.node,
    from: d.from,
    slot: d.slot,
    tables: plan.tables,
    configWarnings: warnings,
    lsn: plan.kind === 'prepared' ? plan.lsn : made!.lsn,
    snapshotName: made?.snapshotName ?? null,
    alreadyPrepared: made === null,
    pgDump: commands?.pgDump ?? null,
    pgRestore: commands?.pgRestore ?? null,
    copies: commands?.copies ?? [],
    clone: physical ? cloneCommands(topology, d, plan.kind === 'prepared' ? plan.lsn : made!.lsn) : null,
  };
  if (!made || !opts.hold) {
    await made?.repl.end().catch(() => {});
    return { result, held: null };
  }
  // `hold`: the open replication connection; `closed` resolves when it ends (closed or broken)
  const repl = made.repl;
  const closed = new Promise<void>((resolve) => {
    repl.once('end', () => resolve());
    repl.once('error', () => resolve());
  });
  return { result, held: { closed, release: () => repl.end().catch(() => {}) } };
}

/** The columns the subscription's publications send of each table, by `schema.table`, read on its publisher. */
async function readSent(
  topology: Topology,
  d: SubscriptionSpec,
  observed: ClusterState,
): Promise<Map<string, SentColumns>> {
  const version = (observed.nodes[d.from] as ObservedNode).serverVersion;
  const tables = await withSession(nodeSession(topology, d.from, PREPARE_APPLICATION_NAME), (client) =>
    readCopySource(client, d.publications, version, topology.settings.stateSchema),
  );
  return new Map(
    tables.map((t) => [
      qualifiedName(t),
      { columns: t.columns.map((c) => c.name), generated: t.generated, partitioned: t.partitioned },
    ]),
  );
}

/**
 * The slot made on the publisher and recorded on the subscriber (`init_slots`, the init
 * `preparing`), under the same lock as apply, on both nodes in apply's order. Nothing
 * half-made: the slot goes when it cannot be recorded. A physical init's slot is not recorded:
 * its subscriber is about to be replaced by the clone; the publisher commits a mark first, which
 * proves a clone forked at or after the slot a copy of this publisher (state/cloneMarks.ts).
 */
async function makePreparedSlot(
  topology: Topology,
  d: SubscriptionSpec,
  plan: Extract<PreparePlan, { kind: 'create' }>,
  opts: { physical: boolean; stop: Stop | undefined; onEvent: EventSink },
): Promise<MadeSlot> {
  const { stop, onEvent } = opts;
  const address = subscriptionAddress(d.name);
  const sessions = await lockedSessions(
    topology,
    opts.physical ? [{ node: d.from }] : [{ node: d.node }, { node: d.from }],
    { applicationName: PREPARE_APPLICATION_NAME },
  );
  const sub = opts.physical ? null : sessions.get(d.node)!;
  const pub = d.from === d.node && sub ? null : sessions.get(d.from)!;
  stop?.arm();
  try {
    if (sub && !(await hasInitTables(sub, topology.settings.stateSchema))) {
      throw new SteepError(
        'init.prepare_not_ready',
        `steep's state schema on ${d.node} has no init tables yet; run steep apply first`,
        { address, node: d.node },
      );
    }
    // a physical init's mark, committed before the slot: only a copy of this publisher taken
    // after it holds it (planner/init/physicalInit.ts)
    const marks = new CloneMarkStore(topology.settings.stateSchema, d.from);
    if (opts.physical && pub && (await marks.exists(pub))) await marks.write(pub, d.slot);
    const made = await createPreparedSlot(
      {
        node: d.from,
        connection: topology.nodes[d.from]!.connection,
        connectTimeoutMs: topology.settings.connectTimeout,
        slot: d.slot,
        address,
      },
      plan.command,
      d.node,
      stop ? { signal: stop.signal, canceller: sessions.get(d.from)! } : undefined,
    );
    try {
      if (sub) await recordPrepared(topology, d, sub, made, onEvent);
    } catch (err) {
      await made.repl.end().catch(() => {});
      if (pub) {
        await runStep(pub, plan.undo, {
          node: d.from,
          lockTimeoutMs: topology.settings.lockTimeout,
          statementTimeoutMs: topology.settings.statementTimeout,
          fillSecrets: (sql) => sql,
        }).catch(() => {});
      }
      throw err;
    }
    return made;
  } finally {
    await sub?.end().catch(() => {});
    await pub?.end().catch(() => {});
  }
}

/** The slot and its consistent point in `init_slots`; the init moves to `preparing`. */
async function recordPrepared(
  topology: Topology,
  d: SubscriptionSpec,
  sub: pg.Client,
  made: MadeSlot,
  onEvent: EventSink,
): Promise<void> {
  await new InitSlotStore(topology.settings.stateSchema, d.node).record(sub, {
    slot: d.slot,
    subscription: d.name,
    lsn: made.lsn,
    snapshotName: made.snapshotName,
  });
  onEvent({
    event: 'init.started',
    level: 'info',
    node: d.node,
    subscription: d.name,
    phase: 'preparing',
    message: `manual init of ${d.name}: slot ${d.slot} on ${d.from} at ${made.lsn}`,
  });
  const store = new SubscriptionStateStore(topology.settings.stateSchema, d.node);
  await recordTransition(store, sub, d, 'preparing', onEvent);
}
