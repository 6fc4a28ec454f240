import { slotAddress, subscriptionAddress } from '../model/address.js';
import type { ClusterState, ObservedNode } from '../model/cluster.js';
import { buildConninfo } from '../model/conninfo.js';
import { SteepError } from '../model/errors.js';
import type { Step } from '../model/plan.js';
import { quoteIdent } from '../model/sql.js';
import type { SubscriptionSpec, Topology } from '../model/topology.js';
import { qualifiedName } from '../model/topology.js';
import { PG15 } from './defaults.js';
import { copiedTables } from './initCopy.js';
import { dropSlotSql, tx } from './sqlBuild.js';

/**
 * `steep init prepare SUBSCRIPTION` (manual method, SPEC §9) as a decision: whether it can run
 * (the publications exist, the subscription does not, steep's state schema is there), whether
 * the slot was prepared already, and the replication command that makes the slot with an
 * exported snapshot, with its undo. Pure: the workflow reads, locks and runs it through the
 * executors (executors/preparedSlot.ts).
 */

export type PreparePlan =
  | {
      kind: 'prepared';
      /** the LSN recorded when it was prepared */
      lsn: string;
      tables: string[];
    }
  | {
      kind: 'create';
      /** over a replication connection to the publisher */
      command: string;
      /** drops the slot again when it cannot be recorded */
      undo: Step;
      tables: string[];
    };

function where(d: SubscriptionSpec) {
  return { address: subscriptionAddress(d.name), node: d.node };
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
      `subscription ${d.name} already exists on ${d.node}: there is nothing to prepare (steep init status ${d.name} shows where its init stands)`,
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

/** CREATE_REPLICATION_SLOT with an exported snapshot (`hold`) or none. */
export function createSlotCommand(slot: string, version: number, hold: boolean): string {
  // PostgreSQL 15 took the options into parentheses; 14 only knows the keywords
  const snapshot =
    version >= PG15
      ? `(SNAPSHOT '${hold ? 'export' : 'nothing'}')`
      : hold
        ? 'EXPORT_SNAPSHOT'
        : 'NOEXPORT_SNAPSHOT';
  return `CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput ${snapshot}`;
}

/** Only a manual init is prepared: checked before anything is read. */
export function checkPrepareMethod(d: SubscriptionSpec): void {
  if (d.init.method !== 'manual') {
    throw new SteepError(
      'init.prepare_method',
      `subscription ${d.name} uses init method ${d.init.method}; steep init prepare is for init method manual (a backup restored by you)`,
      where(d),
    );
  }
}

export function planInitPrepare(
  topology: Topology,
  observed: ClusterState,
  d: SubscriptionSpec,
  hold: boolean,
): PreparePlan {
  checkPrepareMethod(d);
  for (const n of [d.from, d.node]) {
    const o = observed.nodes[n]!;
    if (!o.reachable) throw new SteepError('connect', o.error, { node: n });
  }
  const publisher = observed.nodes[d.from] as ObservedNode;
  const subscriber = observed.nodes[d.node] as ObservedNode;
  checkReady(topology, d, publisher, subscriber);
  const tables = copiedTables(topology, observed, d).map(qualifiedName);

  const recorded = subscriber.initState?.slots[d.name];
  if (publisher.slots[d.slot]) {
    if (recorded && recorded.slot === d.slot) {
      if (hold) {
        throw new SteepError(
          'init.prepare_exists',
          `slot ${d.slot} on ${d.from} was prepared already (LSN ${recorded.lsn}), and its snapshot can no longer be exported; ` +
            `restore a backup consistent at ${recorded.lsn}, or run steep init cancel ${d.name} and prepare again with --hold`,
          where(d),
        );
      }
      return { kind: 'prepared', lsn: recorded.lsn, tables };
    }
    throw new SteepError(
      'init.prepare_slot_exists',
      `slot ${d.slot} already exists on ${d.from} and was not made by steep init prepare for ${d.name}; drop it there ` +
        `(SELECT pg_drop_replication_slot('${d.slot}')) or give the subscription another slot name`,
      where(d),
    );
  }
  return {
    kind: 'create',
    command: createSlotCommand(d.slot, publisher.serverVersion, hold),
    undo: {
      id: 'slot-drop',
      address: slotAddress(d.from, d.slot),
      node: d.from,
      kind: 'slot-drop',
      action: 'delete',
      reason: 'init-undone',
      reasonText: `init prepare: slot ${d.slot} could not be recorded on ${d.node}, so it goes again`,
      changes: [],
      statements: [tx(dropSlotSql(d.slot))],
      dependsOn: [],
      hazards: ['drops-slot'],
      catalogDigest: '',
    },
    tables,
  };
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
