import type pg from 'pg';
import { PG15 } from '../catalog/queries/catalogQuery.js';
import { clusterReadOptions, readCluster } from '../catalog/readCluster.js';
import { loadTopology } from '../config/load.js';
import { connect } from '../db/connect.js';
import { mask } from '../db/mask.js';
import type { EventSink } from '../executors/events.js';
import { stateChangeEvent } from '../executors/initFollow.js';
import type { ObservedNode } from '../model/cluster.js';
import { buildConninfo } from '../model/conninfo.js';
import type { Problem } from '../model/errors.js';
import { SteepError } from '../model/errors.js';
import { quoteIdent } from '../model/sql.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { copiedTables } from '../planner/init.js';
import { InitSlotStore } from '../state/initSlots.js';
import { hasInitTables, SubscriptionStateStore } from '../state/subscriptionState.js';
import { lockedSessions } from './lockedSession.js';

/**
 * `steep init prepare SUBSCRIPTION` (manual method, SPEC §9): create the subscription's slot on
 * the publisher over a replication connection, with an exported snapshot
 * (`CREATE_REPLICATION_SLOT … LOGICAL pgoutput (SNAPSHOT 'export')`), and record the slot and
 * its consistent point in the subscriber's `init_slots`; the init is then `preparing`. With
 * `hold`, the replication connection stays open and idle, so `pg_dump --snapshot` can take a
 * dump consistent at exactly that LSN; the snapshot dies with the connection.
 */

export const PREPARE_APPLICATION_NAME = 'steep init prepare';

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
  /** with a held snapshot: the dump at exactly `lsn` and its restore on the subscriber */
  pgDump: string | null;
  pgRestore: string | null;
  configWarnings: Problem[];
}

export interface PreparedInit {
  result: PrepareResult;
  /** `hold`: the open replication connection; resolves when it ends (closed or broken) */
  held: { closed: Promise<void>; release: () => Promise<void> } | null;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The pg_dump of the subscribed tables' data at the exported snapshot, and its restore. */
export function dumpCommands(
  topology: Topology,
  d: SubscriptionSpec,
  tables: string[],
  snapshot: string,
): { pgDump: string; pgRestore: string } {
  const from = topology.nodes[d.from]!.connection;
  const to = topology.nodes[d.node]!.connection;
  const file = `${d.name}.dump`;
  const tableArgs = tables.map((qn) => {
    const dot = qn.indexOf('.');
    return `--table=${shellQuote(`${quoteIdent(qn.slice(0, dot))}.${quoteIdent(qn.slice(dot + 1))}`)}`;
  });
  const pgDump = [
    'pg_dump',
    `--dbname=${shellQuote(buildConninfo({ ...from, password: undefined }))}`,
    `--snapshot=${shellQuote(snapshot)}`,
    '--data-only',
    '--format=custom',
    `--file=${shellQuote(file)}`,
    ...tableArgs,
  ].join(' ');
  const pgRestore = [
    'pg_restore',
    `--dbname=${shellQuote(buildConninfo({ ...to, password: undefined }))}`,
    '--data-only',
    '--disable-triggers',
    shellQuote(file),
  ].join(' ');
  return { pgDump, pgRestore };
}

function where(d: SubscriptionSpec) {
  return { address: `subscription.${d.name}`, node: d.node };
}

/** What must hold before a slot is made: the publications exist, the subscription does not, steep's state schema is there. */
function checkReady(
  topology: Topology,
  d: SubscriptionSpec,
  publisher: ObservedNode,
  subscriber: ObservedNode,
): void {
  const missing = d.publications.filter((p) => !publisher.publications[p]);
  if (missing.length > 0) {
    throw new SteepError(
      'init.prepare_not_ready',
      `publication${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of subscription ${d.name} do${missing.length > 1 ? '' : 'es'} not exist on ${d.from} yet, ` +
        `and a slot made before its publication cannot stream it; run steep apply first, then prepare`,
      where(d),
    );
  }
  if (subscriber.subscriptions[d.name]) {
    throw new SteepError(
      'init.prepare_exists',
      `subscription ${d.name} already exists on ${d.node}: there is nothing to prepare; to start over, run steep init cancel ${d.name}`,
      where(d),
    );
  }
  if (!subscriber.stateSchema.exists) {
    throw new SteepError(
      'init.prepare_not_ready',
      `steep's state schema ${topology.settings.stateSchema} does not exist on ${d.node} yet, and prepare records the slot's LSN there; run steep apply first`,
      where(d),
    );
  }
}

async function createSlot(
  topology: Topology,
  d: SubscriptionSpec,
  version: number,
  hold: boolean,
): Promise<{ repl: pg.Client; lsn: string; snapshotName: string | null }> {
  const repl = await connect(topology.nodes[d.from]!.connection, {
    node: d.from,
    applicationName: PREPARE_APPLICATION_NAME,
    replication: 'database',
    connectTimeoutMs: topology.settings.connectTimeout,
  });
  // PostgreSQL 15 took the options into parentheses; 14 only knows the keywords
  const snapshot =
    version >= PG15
      ? `(SNAPSHOT '${hold ? 'export' : 'nothing'}')`
      : hold
        ? 'EXPORT_SNAPSHOT'
        : 'NOEXPORT_SNAPSHOT';
  try {
    const { rows } = await repl.query<{ consistent_point: string; snapshot_name: string | null }>(
      `CREATE_REPLICATION_SLOT ${quoteIdent(d.slot)} LOGICAL pgoutput ${snapshot}`,
    );
    return { repl, lsn: rows[0]!.consistent_point, snapshotName: rows[0]!.snapshot_name ?? null };
  } catch (err) {
    await repl.end().catch(() => {});
    throw new SteepError(
      'init.prepare_failed',
      `cannot create slot ${d.slot} on ${d.from}: ${mask((err as Error).message)}`,
      { ...where(d), cause: err },
    );
  }
}

export async function prepareInit(
  configPath: string,
  subscription: string,
  opts: { hold: boolean; onEvent?: EventSink },
): Promise<PreparedInit> {
  const onEvent = opts.onEvent ?? (() => {});
  const { topology, warnings } = await loadTopology(configPath);
  const d = topology.subscriptions[subscription];
  if (!d)
    throw new SteepError('init.unknown_subscription', `steep.yaml declares no subscription ${subscription}`);
  if (d.init.method !== 'manual') {
    throw new SteepError(
      'init.prepare_method',
      `subscription ${d.name} uses init method ${d.init.method}; steep init prepare is for init method manual (a backup restored by you)`,
      where(d),
    );
  }
  const observed = await readCluster(
    [d.from, d.node].map((n) => ({ name: n, connection: topology.nodes[n]!.connection })),
    clusterReadOptions(topology.settings),
  );
  for (const n of [d.from, d.node]) {
    const o = observed.nodes[n]!;
    if (!o.reachable) throw new SteepError('connect', o.error, { node: n });
  }
  const publisher = observed.nodes[d.from] as ObservedNode;
  const subscriber = observed.nodes[d.node] as ObservedNode;
  checkReady(topology, d, publisher, subscriber);
  const tables = copiedTables(topology, observed, d).map(qualifiedName);

  const recorded = subscriber.initState?.slots[d.name];
  const slot = publisher.slots[d.slot];
  const base = {
    subscription: d.name,
    node: d.node,
    from: d.from,
    slot: d.slot,
    tables,
    configWarnings: warnings,
  };
  if (slot) {
    if (recorded && recorded.slot === d.slot) {
      if (opts.hold) {
        throw new SteepError(
          'init.prepare_exists',
          `slot ${d.slot} on ${d.from} was prepared already (LSN ${recorded.lsn}), and its snapshot can no longer be exported; ` +
            `restore a backup consistent at ${recorded.lsn}, or run steep init cancel ${d.name} and prepare again with --hold`,
          where(d),
        );
      }
      return {
        result: {
          ...base,
          lsn: recorded.lsn,
          snapshotName: null,
          alreadyPrepared: true,
          pgDump: null,
          pgRestore: null,
        },
        held: null,
      };
    }
    throw new SteepError(
      'init.prepare_slot_exists',
      `slot ${d.slot} already exists on ${d.from} and was not made by steep init prepare for ${d.name}; drop it there ` +
        `(SELECT pg_drop_replication_slot('${d.slot}')) or give the subscription another slot name`,
      where(d),
    );
  }

  // the same lock as apply, on both nodes in apply's order, while the slot is made and recorded
  const sessions = await lockedSessions(topology, [{ node: d.node }, { node: d.from }], {
    applicationName: PREPARE_APPLICATION_NAME,
  });
  const sub = sessions.get(d.node)!;
  const pub = d.from === d.node ? null : sessions.get(d.from)!;
  let made: Awaited<ReturnType<typeof createSlot>>;
  try {
    if (!(await hasInitTables(sub, topology.settings.stateSchema))) {
      throw new SteepError(
        'init.prepare_not_ready',
        `steep's state schema on ${d.node} has no init tables yet; run steep apply first`,
        where(d),
      );
    }
    made = await createSlot(topology, d, publisher.serverVersion, opts.hold);
    try {
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
      const changes = await new SubscriptionStateStore(topology.settings.stateSchema, d.node).transition(
        sub,
        d.name,
        'preparing',
        { method: d.init.method, source: d.from },
      );
      for (const c of changes) onEvent(stateChangeEvent(c));
    } catch (err) {
      // nothing half-made: the slot goes when it cannot be recorded
      await made.repl.end().catch(() => {});
      await pub?.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [d.slot]).catch(() => {});
      throw err;
    }
  } finally {
    await sub.end().catch(() => {});
    await pub?.end().catch(() => {});
  }

  const commands = made.snapshotName ? dumpCommands(topology, d, tables, made.snapshotName) : null;
  const result: PrepareResult = {
    ...base,
    lsn: made.lsn,
    snapshotName: made.snapshotName,
    alreadyPrepared: false,
    pgDump: commands?.pgDump ?? null,
    pgRestore: commands?.pgRestore ?? null,
  };
  if (!opts.hold) {
    await made.repl.end().catch(() => {});
    return { result, held: null };
  }
  const repl = made.repl;
  const closed = new Promise<void>((resolve) => {
    repl.once('end', () => resolve());
    repl.once('error', () => resolve());
  });
  return { result, held: { closed, release: () => repl.end().catch(() => {}) } };
}
