/**
 * `steep reinit` (docs/repair.md): which tables to copy again and the statements that
 * do it while every other table of the subscription keeps streaming —
 *
 *   publisher:  CREATE PUBLICATION <temp> per publication of the subscription, with the same
 *               options, row filters and column lists, minus the tables to reinit; and one
 *               that publishes no operation for partitions that would otherwise stream on
 *               their own while their ancestor is away (quietTables, before PostgreSQL 16)
 *   subscriber: --full: TRUNCATE them (a conflict with their rows no longer holds the slot
 *               back), and ENABLE where PostgreSQL disabled it at an error
 *               ALTER SUBSCRIPTION s SET PUBLICATION <temps>        (they leave pg_subscription_rel)
 *               TRUNCATE them
 *               ALTER SUBSCRIPTION s SET PUBLICATION <originals> WITH (copy_data = true)
 *                                                                  (they come back in state i and are copied)
 *   publisher:  DROP PUBLICATION <temps> once the copy is done
 *
 * and, after an interruption, where the recipe stands (the temporary publications and the
 * subscription's current publications say) so the next run resumes it. Pure: the caller reads.
 */
import { adviceText } from '../../model/advice.js';
import type { ReinitPublication } from '../../model/cluster.js';
import { cannotFinishText } from '../../model/initFailure.js';
import type { InitState } from '../../model/initState.js';
import { quoteIdent, quoteLiteral } from '../../model/sql.js';
import { tableOfQualified } from '../../model/topology.js';
import { publishedAncestor } from '../../model/verify.js';
import { alterSubscriptionSql, dropPublicationSql } from '../sqlBuild.js';
import { refuse } from './reinitRefusals.js';

export type ReinitRequest = { tables: string[] } | { schema: string } | { full: true };

export interface ReinitInput {
  subscription: string;
  subscriber: string;
  publisher: string;
  /** the subscription's publications as steep.yaml declares them */
  publications: string[];
  /** its publications on the subscriber now */
  current: string[];
  enabled: boolean;
  /** every publication of `publications` and of the temporary ones that exists on the publisher */
  defs: Map<string, ReinitPublication>;
  /** pg_subscription_rel: `schema.table` → state */
  subscribed: Map<string, string>;
  /** the recorded init state; null without steep's state schema */
  recorded: InitState | null;
  request: ReinitRequest;
  /** `schema.table` → other subscriptions on the subscriber that apply into it too */
  alsoFedBy: Map<string, string[]>;
  /** origin none: `schema.table` → subscriptions applying into it on the publisher (not a link's way back) */
  fedUpstream: Map<string, string[]>;
  /** foreign keys on the subscriber that reference tables of the subscription */
  foreignKeys: Array<{ from: string; to: string; constraint: string }>;
  /**
   * tables copied (`f`) whose table-sync slot is gone from the publisher: their sync can never
   * finish (model/initFailure.ts), so an init that failed on them is repaired by copying them again
   */
  lostSyncSlots: string[];
  /** tables on the subscriber with inheritance children (not partitioned): truncated `ONLY` */
  inheritanceParents?: string[];
  /** steep's state schema: an `allTables` or `schemas` publication carries it, a reinit never touches it (docs/state-schema.md) */
  stateSchema: string;
  /**
   * Disabled by PostgreSQL at an error (disable_on_error), or after a failover that left it
   * diverged (apply enables neither), while every table is copied again (`--full`): enabled once
   * the tables are emptied, for the error, a conflict with rows the copy replaces, goes with
   * them; a refresh needs it enabled.
   */
  enableAfterTruncate?: boolean;
}

export interface ReinitStatement {
  node: 'publisher' | 'subscriber';
  sql: string;
  /** moves the subscription onto the temporary publications: run once its slot confirms past their creation */
  switches?: boolean;
  /** `LOCK TABLE` of what `sql` empties, taken first and deadlock-free (executors/tableLocks.ts) */
  lock?: string;
}

/** Where an interrupted reinit stands. */
export type ReinitStage =
  /** nothing under way: the whole recipe */
  | 'fresh'
  /** the subscription is on the temporary publications: truncate and switch back */
  | 'switched'
  /** switched back: the copy runs; follow it, then drop the temporary publications */
  | 'copying'
  /** the copy is over (recorded synchronized, every table ready): drop the temporary publications */
  | 'copied';

export interface ReinitPlan {
  stage: ReinitStage;
  /** the tables copied again, `schema.table`, sorted */
  tables: string[];
  temporary: string[];
  /** run in order before the copy; the state is `reinitializing` from the first subscriber statement */
  statements: ReinitStatement[];
  /** run once every table is ready again */
  cleanup: ReinitStatement[];
}

/** The temporary publication standing in for the subscription's `index`-th publication. */
export function temporaryPublication(subscription: string, index: number): string {
  return `steep_reinit_${index}_${subscription}`.slice(0, 63);
}

/**
 * A reinit's temporary publications: one per publication of the subscription (`count`), and one
 * more, last, made only when some table must stay subscribed while none of its changes are sent
 * (quietTables).
 */
export function temporaryPublications(subscription: string, count: number): string[] {
  return Array.from({ length: count + 1 }, (_x, i) => temporaryPublication(subscription, i));
}

const INITIALISED: readonly InitState[] = ['synchronized', 'diverged'];

function same(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0');
}

/**
 * One table of a temporary publication, with `ONLY`: pg_publication_tables already lists an
 * inheritance parent's children with the filter and column list they are published with, so
 * naming the parent without `ONLY` would add each child a second time (PostgreSQL: "conflicting
 * or redundant WHERE clauses") or put back a child the reinit takes out.
 */
function tableEntry(t: ReinitPublication['tables'][number]): string {
  const cols = t.columns ? ` (${t.columns.map(quoteIdent).join(', ')})` : '';
  const where = t.filter ? ` WHERE (${t.filter})` : '';
  return `ONLY ${quoteIdent(t.schema)}.${quoteIdent(t.name)}${cols}${where}`;
}

/**
 * `TRUNCATE` of the tables copied again, and its lock: an inheritance parent alone (`ONLY`), for
 * its copy brings back its own rows only (its children are tables of their own, copied when named).
 */
function truncateReinit(input: ReinitInput, tables: string[]): ReinitStatement {
  const parents = new Set(input.inheritanceParents ?? []);
  const names = tables
    .map((t) => {
      const { schema, name } = tableOfQualified(t);
      return `${parents.has(t) ? 'ONLY ' : ''}${quoteIdent(schema)}.${quoteIdent(name)}`;
    })
    .join(', ');
  return { node: 'subscriber', sql: `TRUNCATE TABLE ${names}`, lock: `LOCK TABLE ${names}` };
}

function createTemporary(name: string, p: ReinitPublication, without: Set<string>): string {
  const tables = p.tables.filter((t) => !without.has(t.table));
  // `FOR TABLE a, b`: PostgreSQL 14 does not take a TABLE keyword per table
  const forTables = tables.length > 0 ? ` FOR TABLE ${tables.map(tableEntry).join(', ')}` : '';
  return (
    `CREATE PUBLICATION ${quoteIdent(name)}${forTables} WITH (publish = ${quoteLiteral(p.publish.join(', '))}, ` +
    `publish_via_partition_root = ${p.viaRoot})`
  );
}

function setPublication(subscription: string, names: string[], copy: boolean): string {
  return `ALTER SUBSCRIPTION ${quoteIdent(subscription)} SET PUBLICATION ${names.map(quoteIdent).join(', ')}${copy ? ' WITH (copy_data = true)' : ''}`;
}

/**
 * Partitions the subscription's publications publish on their own while one of them publishes an
 * ancestor via root (publishedAncestor), and which the subscription does not list (PostgreSQL
 * 16+ leaves them out: their rows come as the ancestor's, copied with it): no table of a reinit,
 * and kept out of the temporary publications, where one whose ancestor is left out would join the
 * subscription, be copied on its own and fail where the subscriber has no such table.
 */
function throughAncestor(input: ReinitInput): Set<string> {
  const tables = input.publications.flatMap((n) => input.defs.get(n)?.tables ?? []);
  const published = new Set(tables.map((t) => t.table));
  return new Set(
    tables
      .filter((t) => !input.subscribed.has(t.table) && publishedAncestor(t.ancestors, published) !== null)
      .map((t) => t.table),
  );
}

/**
 * Partitions the subscription lists (before PostgreSQL 16) whose changes its publications send
 * as an ancestor's, via root, where every such ancestor is left out of the temporary
 * publications (copied again): there no publication sends them as an ancestor's, so PostgreSQL
 * would send them as their own, into the subscriber's table of that name, which the subscription
 * never streams into otherwise. They stay subscribed through the last temporary publication,
 * which publishes no operation.
 */
function quietTables(input: ReinitInput, leftOut: ReadonlySet<string>): ReinitPublication['tables'] {
  const defs = input.publications.map((n) => input.defs.get(n)!);
  const viaRoot = new Set(defs.filter((p) => p.viaRoot).flatMap((p) => p.tables.map((t) => t.table)));
  const viaRootKept = new Set([...viaRoot].filter((t) => !leftOut.has(t)));
  const out = new Map<string, ReinitPublication['tables'][number]>();
  for (const t of defs.flatMap((p) => p.tables))
    if (
      !leftOut.has(t.table) &&
      publishedAncestor(t.ancestors, viaRoot) !== null &&
      publishedAncestor(t.ancestors, viaRootKept) === null
    )
      out.set(t.table, { ...t, columns: null, filter: null });
  return [...out.values()];
}

/** Every table the subscription's own publications publish, bar those replicated as an ancestor's it does not list. */
function carried(input: ReinitInput): string[] {
  const out = new Set<string>();
  const inAncestor = throughAncestor(input);
  for (const name of input.publications) {
    const def = input.defs.get(name);
    if (!def)
      refuse(
        `publication ${name} of subscription ${input.subscription} does not exist on ${input.publisher}: run steep apply first`,
      );
    for (const t of def.tables)
      if (t.schema !== input.stateSchema && !inAncestor.has(t.table)) out.add(t.table);
  }
  return [...out].sort();
}

function requested(input: ReinitInput, all: string[]): string[] {
  const r = input.request;
  if ('full' in r) return all;
  if ('schema' in r) {
    const inSchema = all.filter((t) => t.startsWith(`${r.schema}.`));
    if (inSchema.length === 0)
      refuse(
        `subscription ${input.subscription} carries no table of schema ${r.schema} (it carries ${all.join(', ') || 'no table'})`,
      );
    return inSchema;
  }
  const unknown = r.tables.filter((t) => !all.includes(t) || !input.subscribed.has(t));
  if (unknown.length > 0)
    refuse(
      `subscription ${input.subscription} does not carry ${unknown.join(', ')} on ${input.subscriber} (it carries ${all.join(', ') || 'no table'})`,
    );
  return [...new Set(r.tables)].sort();
}

/** The tables a request names (`schema.table`, sorted), checked against what the subscription carries. */
export function reinitTables(input: ReinitInput): string[] {
  return requested(input, carried(input));
}

/** Every table asked for lost its table-sync slot. */
function allLostSync(input: ReinitInput, wanted: string[]): boolean {
  const lost = new Set(input.lostSyncSlots);
  return wanted.every((t) => lost.has(t));
}

/** Every table asked for lost its table-sync slot, and the init is recorded failed (or not at all). */
function repairsLostSync(input: ReinitInput, wanted: string[]): boolean {
  return (input.recorded === 'failed' || input.recorded === null) && allLostSync(input, wanted);
}

export function planReinit(input: ReinitInput): ReinitPlan {
  const temporary = temporaryPublications(input.subscription, input.publications.length);
  const all = carried(input);
  const wanted = requested(input, all);
  const existingTemps = temporary.filter((t) => input.defs.has(t));
  const quietName = temporary[input.publications.length]!;
  // left out of the temporary publications: the tables copied again, and the partitions that must not join
  const leftOut = new Set([...wanted, ...throughAncestor(input)]);
  const quiet = quietTables(input, leftOut);
  const made = quiet.length > 0 || input.defs.has(quietName) ? temporary : temporary.slice(0, -1);
  const cleanup = made.map((t): ReinitStatement => ({ node: 'publisher', sql: dropPublicationSql(t, true) }));
  const switchBack: ReinitStatement = {
    node: 'subscriber',
    sql: setPublication(input.subscription, input.publications, true),
  };

  // stopped between the end of the copy and the drop of its temporary publications
  const copied =
    existingTemps.length > 0 && input.recorded === 'synchronized'
      ? pendingTables(input, existingTemps, all)
      : null;
  if (copied && finished(input, copied, wanted))
    return { stage: 'copied', tables: copied, temporary: made, statements: [], cleanup };
  // under way: the temporary publications say which tables, whatever this run asked for
  if (existingTemps.length > 0 && input.recorded !== 'synchronized' && input.recorded !== 'diverged') {
    const resumed = resumeReinit(input, existingTemps, all, wanted, { temporary: made, cleanup, switchBack });
    if (resumed) return resumed;
    // interrupted before the switch: start over (the statements below drop the leftovers)
  } else refuseUninitialised(input, wanted);
  refuseFedUpstream(input);
  refuseUnready(input, wanted);
  const hidden = new Set([...leftOut, ...quiet.map((t) => t.table)]);
  const temps = quiet.length > 0 ? temporary : temporary.slice(0, -1);
  const statements: ReinitStatement[] = [
    ...cleanup,
    ...input.publications.map(
      (p, i): ReinitStatement => ({
        node: 'publisher',
        sql: createTemporary(temporary[i]!, input.defs.get(p)!, hidden),
      }),
    ),
    ...(quiet.length > 0
      ? [
          {
            node: 'publisher' as const,
            sql: createTemporary(
              quietName,
              { name: quietName, publish: [], viaRoot: false, tables: quiet },
              new Set(),
            ),
          },
        ]
      : []),
    // every table copied again: emptied before the switch too, so that a conflict with rows the
    // copy replaces (after a failover, the old primary's; the apply worker failing on it, or
    // PostgreSQL disabling the subscription at it) stops holding back the slot the switch waits
    // for; emptied again once they have left the subscription. (A subset is emptied only then: its
    // TRUNCATE would wait for the apply worker's locks while the other tables stream.)
    ...('full' in input.request ? [truncateReinit(input, wanted)] : []),
    ...(input.enableAfterTruncate
      ? [{ node: 'subscriber' as const, sql: alterSubscriptionSql(input.subscription, 'ENABLE') }]
      : []),
    { node: 'subscriber', sql: setPublication(input.subscription, temps, false), switches: true },
    truncateReinit(input, wanted),
    switchBack,
  ];
  return { stage: 'fresh', tables: wanted, temporary: made, statements, cleanup };
}

/** The tables a reinit under way copies: those its temporary publications leave out. */
function pendingTables(input: ReinitInput, existingTemps: string[], all: string[]): string[] {
  const kept = new Set(existingTemps.flatMap((t) => input.defs.get(t)!.tables.map((x) => x.table)));
  return all.filter((t) => !kept.has(t));
}

/**
 * The reinit of `pending` copied them and was stopped before it dropped its temporary
 * publications: the subscription is back on its own, each of them ready, and this run asks for
 * the same tables (another request, `--full` included, starts over: the leftovers are dropped first).
 */
function finished(input: ReinitInput, pending: string[], wanted: string[]): boolean {
  return (
    same(input.current, input.publications) &&
    pending.every((t) => input.subscribed.get(t) === 'r') &&
    same(pending, wanted)
  );
}

/** A reinit under way, where it stands (null: interrupted before the switch, to start over). */
function resumeReinit(
  input: ReinitInput,
  existingTemps: string[],
  all: string[],
  wanted: string[],
  made: Pick<ReinitPlan, 'temporary' | 'cleanup'> & { switchBack: ReinitStatement },
): ReinitPlan | null {
  const { temporary, cleanup, switchBack } = made;
  const pending = pendingTables(input, existingTemps, all);
  const onTemps = same(input.current, existingTemps);
  // back on the originals: copying once the state says so, or once a pending table is being
  // copied (stopped between the switch back and recording `copying`)
  const copying =
    input.recorded !== 'reinitializing' || pending.some((t) => (input.subscribed.get(t) ?? 'r') !== 'r');
  const stage: ReinitStage | null = onTemps
    ? 'switched'
    : same(input.current, input.publications) && copying
      ? 'copying'
      : null;
  if (stage === null) return null;
  if (!('full' in input.request) && !same(pending, wanted))
    refuse(
      `a reinit of ${pending.join(', ')} in subscription ${input.subscription} is under way: run ${adviceText('reinitTables', input.subscription, pending)} to finish it (the other tables keep streaming)`,
    );
  const statements: ReinitStatement[] =
    stage === 'switched' ? [truncateReinit(input, pending), switchBack] : [];
  return { stage, tables: pending, temporary, statements, cleanup };
}

/** No reinit under way: the subscription's init must be done, or failed on tables that lost their table-sync slot. */
function refuseUninitialised(input: ReinitInput, wanted: string[]): void {
  // the init failed on them: the other tables may still be copying, which the switches leave alone
  if (repairsLostSync(input, wanted) || input.recorded === null || INITIALISED.includes(input.recorded))
    return;
  // every table lost its table-sync slot while still recorded under way: apply's follow decides that the loss
  // lasts (a table's slot is dropped milliseconds before its sync is recorded done), and records the failure reinit repairs
  refuse(
    allLostSync(input, wanted)
      ? `subscription ${input.subscription} on ${input.subscriber} is ${input.recorded}, and ${cannotFinishText(wanted, input.publisher)}; ` +
          `steep apply records the init failed once the slot stays gone, then ${adviceText('reinitTables', input.subscription, wanted)} copies ${wanted.length === 1 ? 'it' : 'them'} again`
      : `subscription ${input.subscription} on ${input.subscriber} is ${input.recorded}, not initialised: reinit repairs a synchronized or diverged subscription; finish its init with steep apply (steep init status ${input.subscription} shows where it stands)`,
  );
}

/**
 * With origin = none, a table the publisher also receives from a node other than the subscriber
 * holds rows there the subscription rightly never receives: neither a copy nor the in-place
 * reconcile of a table replicated both ways may bring them over. Checked before either path.
 */
export function refuseFedUpstream(input: ReinitInput): void {
  const upstream = requested(input, carried(input)).find((t) => input.fedUpstream.has(t));
  if (upstream === undefined) return;
  const others = input.fedUpstream.get(upstream)!;
  refuse(
    `${upstream} on ${input.publisher} also receives rows from subscription${others.length === 1 ? '' : 's'} ${others.join(', ')} there, which ` +
      `${input.subscription} (origin = none) rightly never receives: a copy from ${input.publisher} would put them on ${input.subscriber}; ` +
      "steep copies no such table (reinit the subscription's other tables with --tables)",
  );
}

/** Every table ready, the subscription enabled, and no table left out that references one reinitialised. */
function refuseUnready(input: ReinitInput, wanted: string[]): void {
  // several publishers feed it: the TRUNCATE before the copy would delete the others' rows
  const shared = wanted.filter((t) => input.alsoFedBy.has(t));
  if (shared.length > 0) {
    const t = shared[0]!;
    const others = input.alsoFedBy.get(t)!;
    refuse(
      `${t} on ${input.subscriber} also receives rows from subscription${others.length === 1 ? '' : 's'} ${others.join(', ')}: a copy from ${input.publisher} alone would delete them; ` +
        `steep copies no table that several subscriptions feed (reinit the subscription's other tables with --tables)`,
    );
  }
  if (input.recorded === null && !repairsLostSync(input, wanted)) {
    const notReady = [...input.subscribed].filter(([, s]) => s !== 'r').map(([t]) => t);
    if (notReady.length > 0)
      refuse(
        `subscription ${input.subscription} on ${input.subscriber} is still copying ${notReady.join(', ')}: reinit repairs an initialised subscription`,
      );
  }
  if (!input.enabled && !input.enableAfterTruncate)
    refuse(
      `subscription ${input.subscription} on ${input.subscriber} is disabled: PostgreSQL refreshes only enabled subscriptions; enable it (steep apply) and run reinit again`,
    );
  // the whole chain at once: a table referencing one that a referencing table adds, and so on
  const needed = new Set(wanted);
  const chain: typeof input.foreignKeys = [];
  for (let grew = true; grew; ) {
    grew = false;
    for (const fk of input.foreignKeys)
      if (needed.has(fk.to) && !needed.has(fk.from)) {
        needed.add(fk.from);
        chain.push(fk);
        grew = true;
      }
  }
  if (chain.length > 0) {
    const [first, ...through] = chain;
    refuse(
      `${first!.to} is referenced by ${first!.from} (foreign key ${first!.constraint}) on ${input.subscriber}` +
        through.map((fk) => `, ${fk.to} by ${fk.from} (${fk.constraint})`).join('') +
        `, which ${chain.length === 1 ? 'is' : 'are'} not being reinitialised: truncating ${first!.to} would fail or cascade; ` +
        `reinit them together (--tables ${[...wanted, ...chain.map((fk) => fk.from)].join(',')})`,
    );
  }
}
