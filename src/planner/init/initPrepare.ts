import { subscriptionAddress } from '../../model/address.js';
import { adviceText } from '../../model/advice.js';
import type { ClusterState, ObservedNode } from '../../model/cluster.js';
import { buildConninfo } from '../../model/conninfo.js';
import { SteepError } from '../../model/errors.js';
import { restoredByUser } from '../../model/initMethods.js';
import type { Step } from '../../model/plan.js';
import { quoteIdent } from '../../model/sql.js';
import type { SubscriptionSpec, Topology } from '../../model/topology.js';
import { qualifiedName, quoteQualified } from '../../model/topology.js';
import { PG15 } from '../../model/versions.js';
import { dropSlotSql, tx } from '../sqlBuild.js';
import { step } from './initCancel.js';
import { copiedTables } from './initCopy.js';

/**
 * `steep init prepare SUBSCRIPTION` (manual method, docs/steep-yaml.md) as a decision: whether it can run
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
  if (!restoredByUser(d.init.method)) {
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
  // a physical init's subscriber is replaced by the clone: nothing is read or recorded there
  const physical = d.init.method === 'physical';
  for (const n of physical ? [d.from] : [d.from, d.node]) {
    const o = observed.nodes[n]!;
    if (!o.reachable) throw new SteepError('connect', o.error, { node: n });
  }
  const publisher = observed.nodes[d.from] as ObservedNode;
  if (physical) return planPhysicalPrepare(d, publisher, hold);
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
            `restore a backup consistent at ${recorded.lsn}, or run ${adviceText('initCancel', d.name)} and prepare again with --hold`,
          where(d),
        );
      }
      return { kind: 'prepared', lsn: recorded.lsn, tables };
    }
    throw new SteepError(
      'init.prepare_slot_exists',
      `slot ${d.slot} already exists on ${d.from} and was not made by steep init prepare for ${d.name}; ` +
        'give the subscription another slot name (slot: in steep.yaml): steep drops no slot it cannot show it made',
      where(d),
    );
  }
  return slotCreate(d, publisher, { hold, tables, undone: `could not be recorded on ${d.node}` });
}

/** The slot's creation over a replication connection, with the step that drops it again when what follows fails. */
function slotCreate(
  d: SubscriptionSpec,
  publisher: ObservedNode,
  o: { hold: boolean; tables: string[]; undone: string },
): PreparePlan {
  return {
    kind: 'create',
    command: createSlotCommand(d.slot, publisher.serverVersion, o.hold),
    undo: step({
      address: { kind: 'slot', node: d.from, slot: d.slot },
      node: d.from,
      kind: 'slot-drop',
      reasonText: `init prepare: slot ${d.slot} ${o.undone}, so it goes again`,
      statements: [tx(dropSlotSql(d.slot))],
      hazards: ['drops-slot'],
    }),
    tables: o.tables,
  };
}

/**
 * A physical init's prepare: the slot alone, no snapshot (a physical copy needs none) and no
 * record (the unconsumed slot's position is its record; the clone's own history says where it
 * stands). Prepared already when the slot is there, unused.
 */
function planPhysicalPrepare(d: SubscriptionSpec, publisher: ObservedNode, hold: boolean): PreparePlan {
  if (hold)
    throw new SteepError(
      'init.prepare_hold',
      `subscription ${d.name} uses init method physical: a physical copy needs no exported snapshot; run steep init prepare ${d.name} without --hold`,
      where(d),
    );
  const missing = d.publications.filter((p) => !publisher.publications[p]);
  // the clone is made from this slot, so its node is not there yet: an apply of everything would
  // fail to reach it; the publications alone (and what they depend on) need the publisher only
  if (missing.length > 0)
    throw new SteepError(
      'init.prepare_not_ready',
      `publication(s) ${missing.join(', ')} of subscription ${d.name} do not exist on ${d.from} yet, and a slot made before its publication cannot stream it; ` +
        `run steep apply ${missing.map((p) => `--target publication.${p}`).join(' ')} (it makes them on ${d.from} alone; ${d.node}, the clone to come, need not exist yet), then prepare`,
      where(d),
    );
  const slot = publisher.slots[d.slot];
  if (slot?.active)
    throw new SteepError(
      'init.prepare_slot_exists',
      `slot ${d.slot} on ${d.from} is in use (pid ${slot.activePid ?? 'unknown'}): it is not a prepared slot waiting for a clone; give the subscription another slot name`,
      where(d),
    );
  if (slot?.confirmedFlushLsn) return { kind: 'prepared', lsn: slot.confirmedFlushLsn, tables: [] };
  return slotCreate(d, publisher, { hold: false, tables: [], undone: 'was made but the command failed' });
}

/**
 * What the DBA runs to make a physical init's clone: a base backup of the publisher (any time
 * after the slot was made) started with `recovery.signal` recovers to the end of its WAL and
 * promotes, forking after the slot's LSN (archive recovery refuses to start without a
 * `restore_command`: one that finds nothing, `false`, makes it read the WAL the backup streamed
 * into pg_wal); a standby of the publisher is promoted once it has
 * replayed past it. steep reads where the clone forked; a `recovery_target_lsn` makes it fork
 * exactly at the slot's LSN (a standby that has not replayed it yet).
 */
/**
 * The clone starts with no logical replication worker: its copies of the publisher's own
 * subscriptions are enabled, and from its promotion they would compete for the publisher's
 * upstream slots (one taken during a gap in the publisher's worker streams its changes to the
 * clone, never to the publisher). `steep apply` detaches them, then asks for a restart without it.
 */
const WORKERS_OFF = 'echo "max_logical_replication_workers = 0" >> DATADIR/postgresql.auto.conf';

export function cloneCommands(topology: Topology, d: SubscriptionSpec, lsn: string): string[] {
  const fromDb = shellQuote(buildConninfo({ ...topology.nodes[d.from]!.connection, password: undefined }));
  return [
    `pg_basebackup --dbname=${fromDb} --pgdata=DATADIR --wal-method=stream --checkpoint=fast && touch DATADIR/recovery.signal && echo "restore_command = 'false'" >> DATADIR/postgresql.auto.conf && ${WORKERS_OFF}`,
    `or, on a standby of ${d.from} that has not replayed ${lsn} yet: recovery_target_lsn = '${lsn}', recovery_target_inclusive = off, recovery_target_action = promote, max_logical_replication_workers = 0 (a restart)`,
  ];
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A table the publications send, as read on the publisher: its columns in the publisher's order;
 * `generated`: a stored generated one among them; `partitioned`: a partitioned table (its rows are
 * its partitions').
 */
export interface SentColumns {
  columns: string[];
  generated: boolean;
  partitioned: boolean;
}

/**
 * What the subscription carries of each table its publications filter: a row filter (the
 * filters of its publications ORed, none when one publishes the table without), a column list
 * (their union, all columns when one has none). Tables not in the map are carried whole.
 */
export function carriedSlices(
  topology: Topology,
  d: SubscriptionSpec,
  tables: string[],
): Map<string, { columns: string[] | null; where: string | null }> {
  const whole = new Set<string>();
  const slices = new Map<string, { columns: Set<string> | null; wheres: Set<string> | null }>();
  for (const name of d.publications) {
    const p = topology.publications[name];
    if (!p) continue;
    for (const qn of tables) {
      const [schema] = qn.split('.');
      if (p.allTables || p.schemas.includes(schema!)) whole.add(qn);
    }
    for (const t of p.tables) {
      const qn = qualifiedName(t);
      const had = slices.get(qn) ?? { columns: new Set<string>(), wheres: new Set<string>() };
      had.columns =
        t.columns === null || had.columns === null ? null : new Set([...had.columns, ...t.columns]);
      had.wheres = t.where === null || had.wheres === null ? null : new Set([...had.wheres, t.where]);
      slices.set(qn, had);
    }
  }
  const out = new Map<string, { columns: string[] | null; where: string | null }>();
  for (const qn of tables) {
    const s = slices.get(qn);
    if (!s || whole.has(qn) || (s.columns === null && s.wheres === null)) continue;
    out.set(qn, {
      columns: s.columns ? [...s.columns] : null,
      where: s.wheres ? [...s.wheres].map((w) => `(${w})`).join(' OR ') : null,
    });
  }
  return out;
}

/**
 * What `dumpCommands` copies: the tables the subscription's publications send (`sent`, read on
 * the publisher: PostgreSQL's own list, so a partition published through its root is its root's
 * rows, not a table of its own), pg_dump's `whole` ones, and those it cannot restore as the
 * subscription carries them (below), with the columns their copies name: the publications'
 * column list, else the names they send.
 */
export interface DumpScope {
  whole: string[];
  slices: ReadonlyMap<string, { columns: string[]; where: string | null }>;
}

export function dumpScope(
  topology: Topology,
  d: SubscriptionSpec,
  sent: ReadonlyMap<string, SentColumns>,
): DumpScope {
  const tables = [...sent.keys()];
  const declared = carriedSlices(topology, d, tables);
  const whole: string[] = [];
  const slices = new Map<string, { columns: string[]; where: string | null }>();
  for (const qn of tables) {
    const s = sent.get(qn)!;
    const slice = declared.get(qn);
    if (slice || s.generated || s.partitioned)
      slices.set(qn, { columns: slice?.columns ?? s.columns, where: slice?.where ?? null });
    else whole.push(qn);
  }
  return { whole, slices };
}

/**
 * The pg_dump of the subscribed tables' data at the exported snapshot, and its restore. pg_dump
 * dumps whole tables, no generated column, and nothing of a partitioned table's partitions, so a
 * table whose publications filter rows or list columns, send a stored generated column (18: into
 * the subscriber's plain one), or publish a partitioned table through its root is left out of it
 * and copied by a psql pipeline of its own instead (`copies`): COPY of exactly the carried rows
 * and columns at the same snapshot, into the columns of those names on the subscriber, whatever
 * their order there (a partitioned table's rows routed to its partitions there).
 *
 * The restore runs in one transaction (a failure leaves no table half-loaded). A superuser's
 * restore disables triggers, as replication's own copy does (its copies set
 * session_replication_role = replica); `--disable-triggers` is a
 * superuser's alone, so another role's restore loads the tables in the order pg_dump gives
 * their data (referenced tables first) and the foreign keys are checked as it goes.
 */
export function dumpCommands(
  topology: Topology,
  d: SubscriptionSpec,
  { whole, slices }: DumpScope,
  snapshot: string,
  subscriberIsSuperuser: boolean,
): { pgDump: string | null; pgRestore: string | null; copies: string[] } {
  const fromDb = shellQuote(buildConninfo({ ...topology.nodes[d.from]!.connection, password: undefined }));
  const toDb = shellQuote(buildConninfo({ ...topology.nodes[d.node]!.connection, password: undefined }));
  const file = `${d.name}.dump`;
  const command = (...args: string[]) => (whole.length === 0 ? null : args.join(' '));
  const pgDump = command(
    'pg_dump',
    `--dbname=${fromDb}`,
    `--snapshot=${shellQuote(snapshot)}`,
    '--data-only',
    '--format=custom',
    `--file=${shellQuote(file)}`,
    ...whole.map((qn) => `--table=${shellQuote(quoteQualified(qn))}`),
  );
  const pgRestore = command(
    'pg_restore',
    `--dbname=${toDb}`,
    '--data-only',
    '--single-transaction',
    ...(subscriberIsSuperuser ? ['--disable-triggers'] : []),
    shellQuote(file),
  );
  const psql = (db: string) => `psql -X -q -v ON_ERROR_STOP=1 --dbname=${db}`;
  // a superuser's copy fires no trigger and checks no foreign key, as its restore and replication's own copy
  const replica = subscriberIsSuperuser ? ` -c ${shellQuote('SET session_replication_role = replica')}` : '';
  const copies = [...slices.entries()].map(([qn, s]) => {
    // named on both sides: COPY matches columns by position, logical replication by name
    const columns = s.columns.map(quoteIdent).join(', ');
    const select = `SELECT ${columns} FROM ${quoteQualified(qn)}${s.where ? ` WHERE ${s.where}` : ''}`;
    return (
      `${psql(fromDb)} -c 'BEGIN ISOLATION LEVEL REPEATABLE READ' -c ${shellQuote(`SET TRANSACTION SNAPSHOT '${snapshot}'`)} ` +
      `-c ${shellQuote(`COPY (${select}) TO STDOUT`)} | ${psql(toDb)}${replica} -c ${shellQuote(`COPY ${quoteQualified(qn)} (${columns}) FROM STDIN`)}`
    );
  });
  return { pgDump, pgRestore, copies };
}
