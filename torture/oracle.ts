/**
 * The fault harness's oracle (torture/README.md "The oracle"): after every operation, what steep
 * says against what the nodes hold, one named check at a time (checks.ts).
 */
import type { StatusReport, SubscriptionStatus } from '../src/model/statusReport.js';
import type { TestNode } from '../test/support/cluster.js';
import { digestsByName, waitCaughtUp } from '../test/support/replicationData.js';
import { eventually, HANG_MS } from '../test/support/topologyFile.js';
import { type CheckName, type Finding, Found } from './checks.js';
import { familiesWrong } from './forgiveness.js';
import { type Row, rowsWrong, rowText } from './rows.js';
import { type FileState, LINK, type World } from './world.js';
import { type Family, markOf } from './writes.js';

/**
 * The oracle, run after every operation: what steep says against what the nodes hold. It forgives
 * nothing it cannot justify (issue 61). Its checks, each named in checks.ts (a disagreement says
 * which found it) and each with a self-test in which it alone fires (oracleSelfTests.ts):
 *
 * 1. Availability: the application writes on the node steep calls primary (new acknowledged ids
 *    there within the ceiling); no write failed, nor took longer than WRITE_CEILING_MS, since the
 *    last look outside a blackout an operation declared (`world.blackout`: a switchover's fence,
 *    a crashed primary).
 * 2. Every id the application saw acknowledged is on the node steep calls primary, and every
 *    family (a t_parent row and its t_child) holds what the application's acknowledged writes
 *    left (inserted, updated, deleted: the ledger of writes.ts), and so does every row of t_ids,
 *    t_keyless and t_link the application inserted, updated and deleted (rows.ts), unless
 *    PostgreSQL itself had to lose it and steep said so before the oracle looked
 *    (`world.forgiven`, `world.forgivenFamilies`, `world.forgivenRows`).
 * 3. `steep status --json` answers and settles within the ceiling: every subscription is
 *    synchronized, stopped, diverged or failed, or `failing` with steep's reason, for `failingMs`
 *    in a row. Still moving at the ceiling is a disagreement naming what it saw.
 * 4. Every node of steep.yaml is listed and readable, and no other; every subscription steep.yaml
 *    declares is listed; a subscription steep.yaml does not declare is one an operation expects (a
 *    switchover's way back); every subscription listed is on nodes of the file, known to exist or
 *    not.
 * 5. Every subscription steep calls `synchronized` holds exactly its publisher's rows once caught
 *    up (count and order-independent checksum of every column of every table), its slot on its
 *    publisher.
 * 6. Wherever a declared subscription's rows differ from its publisher's, or steep calls it
 *    failing, `steep status --check` and `steep drift` exit 2 naming it.
 *
 * `oracle` returns each disagreement as a sentence led by its check's name (none: steep told the
 * truth); `oracleFindings` reads the world through `OracleState` and `OracleReads`, which a
 * self-test fakes without a server.
 */
export interface OracleOptions {
  /** how long status may take to settle (default HANG_MS) */
  settleMs?: number;
  /** how long `failing` must last, with a reason, to count as settled (default 45 s) */
  failingMs?: number;
  /** how long the application may take to acknowledge new writes on the primary (default HANG_MS) */
  writesMs?: number;
  /** checks removed (what a self-test is shown failing without) */
  without?: ReadonlySet<CheckName>;
}

const FAILING_MS = 45_000;

export async function oracle(world: World, opts: OracleOptions = {}): Promise<string[]> {
  return (await oracleFindings(world, worldReads(world), opts)).map((f) => `[${f.check}] ${f.text}`);
}

/** What the oracle reads of the world besides steep: the rows and slots of its nodes. */
export interface OracleReads {
  /** the ids of t_ids on `node` (by its name: the primary of the moment) */
  ids(node: string): Promise<Set<number>>;
  /** the families of `families` whose rows on `node` (by its name) are not what their writes left */
  familiesWrong(node: string, families: Family[]): Promise<Family[]>;
  /** the rows of `rows` (rows.ts) that `node` (by its name) does not hold as their writes left them */
  rowsWrong(node: string, rows: Row[]): Promise<Row[]>;
  /** whether slot `slot` is on the file's node `node` */
  slotOn(node: FileNode, slot: string): Promise<boolean>;
  /** until `slot` on `node` has confirmed the position of the moment */
  caughtUp(node: FileNode, slot: string): Promise<void>;
  /** count and checksum of each of `tables` on `node` */
  digests(node: FileNode, tables: string[]): Promise<Record<string, { count: number; sum: string }>>;
}

/** The file's node names: `pa` is whichever node is the publisher of the moment. */
export type FileNode = 'pa' | 'pb';
const FILE_NODES: readonly string[] = ['pa', 'pb'] satisfies FileNode[];

/** What the oracle reads of the world's own record (the World, or a self-test's fake of it). */
export type OracleState = Pick<
  World,
  | 'primary'
  | 'inbound'
  | 'expectedStrays'
  | 'forgiven'
  | 'forgivenFamilies'
  | 'forgivenRows'
  | 'writerErrors'
  | 'slowWrites'
  | 'blackouts'
  | 'ackedCount'
  | 'acknowledged'
  | 'acknowledgedFamilies'
  | 'acknowledgedRows'
  | 'stopWriters'
  | 'startWriters'
  | 'steep'
  | 'say'
  | 'tablesOf'
> & { file: Pick<FileState, 'sub' | 'link' | 'disabled'> };

export function worldReads(world: World): OracleReads {
  const node = (name: FileNode): TestNode => (name === 'pa' ? world.publisher : world.subscriber);
  return {
    ids: async (name) =>
      new Set(
        (await world.node(name).query<{ id: string }>('SELECT id::text AS id FROM public.t_ids')).map((r) =>
          Number(r.id),
        ),
      ),
    slotOn: async (name, slot) =>
      (await node(name).query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).length > 0,
    familiesWrong: (name, families) => familiesWrong(world.node(name), families),
    rowsWrong: (name, rows) => rowsWrong(world.node(name), rows),
    caughtUp: (name, slot) => waitCaughtUp(node(name), slot),
    digests: (name, tables) => digestsByName(node(name), tables),
  };
}

/** The oracle's disagreements, each with the check (checks.ts) that found it. */
export async function oracleFindings(
  world: OracleState,
  reads: OracleReads,
  opts: OracleOptions = {},
): Promise<Finding[]> {
  const found = new Found(opts.without);
  await availability(world, found, opts.writesMs ?? HANG_MS);
  await world.stopWriters();
  try {
    await acknowledgedOnPrimary(world, reads, found);
    await familiesOnPrimary(world, reads, found);
    await rowsOnPrimary(world, reads, found);
    const report = await settledStatus(world, found, opts);
    if (report) {
      listed(world, found, report);
      for (const s of report.subscriptions)
        if (!world.inbound.has(s.name)) await judge(world, reads, found, s);
    }
  } finally {
    world.startWriters();
  }
  return found.list;
}

/** the writer errors the previous looks judged already */
const judgedErrors = new WeakMap<OracleState, number>();

/** ms a write of the application may take outside a declared blackout */
export const WRITE_CEILING_MS = 10_000;

async function availability(world: OracleState, found: Found, writesMs: number): Promise<void> {
  const primary = world.primary;
  const from = world.ackedCount(primary);
  const errorsFrom = world.writerErrors.length;
  if (found.on('writes-go-on'))
    await eventually(
      async () => world.ackedCount(primary) >= from + 3,
      writesMs,
      'writes on the primary',
    ).catch(() => {
      const last = world.writerErrors.slice(errorsFrom).at(-1);
      found.add(
        'writes-go-on',
        `the application cannot write on ${primary}, which steep calls primary: no write acknowledged in ${writesMs} ms${last ? ` (last error ${last.code})` : ''}`,
      );
    });
  const start = judgedErrors.get(world) ?? 0;
  const outside = world.writerErrors
    .slice(start)
    .filter((e) => !world.blackouts.some((b) => e.at >= b.from && (b.to === null || e.at <= b.to)));
  judgedErrors.set(world, world.writerErrors.length);
  if (outside.length > 0) {
    const codes = [...new Set(outside.map((e) => `${e.code} on ${e.node}`))].join(', ');
    found.add(
      'no-write-error-outside-blackout',
      `${outside.length} write(s) of the application failed outside any blackout an operation declared (${codes}; first at ${new Date(outside[0]!.at).toISOString()})`,
    );
  }
  const timed = world.slowWrites
    .splice(0)
    .map((w) => ({ ...w, outside: w.to - w.from - blackedOut(world, w.from, w.to) }));
  if (timed.length > 0)
    world.say(
      `oracle: ${timed.length} write(s) over 1 s, the longest ${Math.max(...timed.map((w) => w.to - w.from))} ms, ${Math.max(...timed.map((w) => w.outside))} ms of it outside blackouts`,
    );
  const slow = timed.filter((w) => w.outside > WRITE_CEILING_MS);
  if (slow.length > 0)
    found.add(
      'no-slow-write-outside-blackout',
      `${slow.length} write(s) of the application took longer than ${WRITE_CEILING_MS} ms outside any blackout an operation declared (${slow
        .slice(0, 3)
        .map((w) => `${w.outside} ms on ${w.node} from ${new Date(w.from).toISOString()}`)
        .join(', ')})`,
    );
}

/** ms of [from, to] some declared blackout covers */
function blackedOut(world: OracleState, from: number, to: number): number {
  let covered = 0;
  let at = from;
  const spans = world.blackouts
    .map((b) => ({ from: b.from, to: b.to ?? Number.POSITIVE_INFINITY }))
    .sort((a, b) => a.from - b.from);
  for (const b of spans) {
    const lo = Math.max(at, b.from);
    const hi = Math.min(to, b.to);
    if (hi > lo) {
      covered += hi - lo;
      at = hi;
    }
  }
  return covered;
}

async function statusText(world: OracleState): Promise<string> {
  const r = await world.steep(['status']);
  return `${r.stdout}${r.stderr}`;
}

async function acknowledgedOnPrimary(world: OracleState, reads: OracleReads, found: Found): Promise<void> {
  if (!found.on('acked-ids-on-primary')) return;
  const held = await reads.ids(world.primary);
  for (const [node, ids] of world.acknowledged()) {
    const missing = ids.filter((id) => !held.has(id) && !world.forgiven.has(id));
    if (missing.length > 0)
      found.add(
        'acked-ids-on-primary',
        `${missing.length} id(s) acknowledged on ${node} are not on ${world.primary}, which steep calls primary (${missing.slice(0, 5).join(', ')}…)`,
      );
  }
}

async function familiesOnPrimary(world: OracleState, reads: OracleReads, found: Found): Promise<void> {
  if (!found.on('acked-families-on-primary')) return;
  for (const [node, families] of world.acknowledgedFamilies()) {
    const wrong = (await reads.familiesWrong(world.primary, families)).filter(
      (f) => !world.forgivenFamilies.has(f.parent),
    );
    if (wrong.length > 0)
      found.add(
        'acked-families-on-primary',
        `${wrong.length} famil(ies) (a t_parent row and its t_child) whose last write ${node} acknowledged do not hold it on ${world.primary}, which steep calls primary (${wrong
          .slice(0, 5)
          .map((f) => `parent ${f.parent} ${f.gone ? 'deleted' : `v ${f.v}`}`)
          .join(', ')}…)`,
      );
  }
}

async function rowsOnPrimary(world: OracleState, reads: OracleReads, found: Found): Promise<void> {
  if (!found.on('acked-rows-on-primary')) return;
  for (const [node, rows] of world.acknowledgedRows()) {
    const wrong = (await reads.rowsWrong(world.primary, rows)).filter(
      (r) => !world.forgivenRows.has(markOf(r.table, r.key)),
    );
    if (wrong.length > 0)
      found.add(
        'acked-rows-on-primary',
        `${wrong.length} row(s) whose last write ${node} acknowledged do not hold it on ${world.primary}, which steep calls primary (${wrong.slice(0, 5).map(rowText).join(', ')}…)`,
      );
  }
}

/** the file's nodes and subscriptions against what status lists */
function listed(world: OracleState, found: Found, report: StatusReport): void {
  for (const name of FILE_NODES) {
    const n = report.nodes.find((x) => x.name === name);
    if (!n) found.add('file-nodes-listed', `steep status does not list node ${name} of steep.yaml`);
    else if (!n.reachable)
      found.add('file-nodes-readable', `steep status cannot read node ${name}, which is up: ${n.error}`);
  }
  for (const n of report.nodes)
    if (!FILE_NODES.includes(n.name))
      found.add('no-foreign-node', `steep status lists node ${n.name}, which steep.yaml does not name`);
  for (const name of [world.file.sub, ...(world.file.link ? [`${LINK}_pa`, `${LINK}_pb`] : [])])
    if (!report.subscriptions.some((s) => s.name === name && s.declared))
      found.add(
        'declared-subscriptions-listed',
        `steep status does not list ${name}, which steep.yaml declares`,
      );
  for (const s of report.subscriptions) {
    if (s.declared || s.exists === false || world.inbound.has(s.name)) continue;
    if (!world.expectedStrays.has(s.name))
      found.add(
        'no-stray-subscription',
        `${s.name} exists on ${s.node}, which steep.yaml does not declare and no operation made:\n${JSON.stringify(s)}`,
      );
  }
}

/** One subscription of the status: its word against its rows. */
async function judge(
  world: OracleState,
  reads: OracleReads,
  found: Found,
  s: SubscriptionStatus,
): Promise<void> {
  if (!FILE_NODES.includes(s.from) || !FILE_NODES.includes(s.node)) {
    found.add(
      'subscription-on-file-nodes',
      `steep status lists ${s.name} on ${s.node} from ${s.from}: not nodes of steep.yaml`,
    );
    return;
  }
  const [publisher, subscriber] = [s.from as FileNode, s.node as FileNode];
  if (s.exists === null) {
    found.add('existence-known', `steep status cannot tell whether ${s.name} exists (${s.unknown})`);
    return;
  }
  if (!s.declared && !s.exists) return;
  const synchronized = s.state === 'synchronized';
  if (synchronized && s.slot) {
    if (found.on('synchronized-slot-on-publisher') && !(await reads.slotOn(publisher, s.slot))) {
      found.add(
        'synchronized-slot-on-publisher',
        `steep status calls ${s.name} synchronized, but its slot ${s.slot} is not on its publisher:\n${await statusText(world)}`,
      );
      return;
    }
    await reads.caughtUp(publisher, s.slot);
  }
  const tables = world.tablesOf(s.name);
  const [pub, sub] = [await reads.digests(publisher, tables), await reads.digests(subscriber, tables)];
  const differ = tables.filter((t) => pub[t]!.count !== sub[t]!.count || pub[t]!.sum !== sub[t]!.sum);
  const rows = differ
    .map((t) => `${t} ${pub[t]!.count} on ${s.from}, ${sub[t]!.count} on ${s.node}`)
    .join('; ');
  if (differ.length > 0) world.say(`oracle: ${s.name} rows differ (${rows})`);
  if (synchronized && differ.length > 0)
    found.add(
      'synchronized-rows-equal',
      `steep status calls ${s.name} synchronized, but its rows differ once caught up: ${rows}`,
    );
  // undeclared: steep manages it not (a switchover's way back); it is judged by its word alone
  if (!s.declared) return;
  // retired by a switchover (README: enabled: false): the subscriber is the primary now
  if (s.name === world.file.sub && world.file.disabled) return;
  const problem =
    differ.length > 0
      ? `${s.name}'s rows differ (${rows})`
      : !s.exists
        ? `${s.name} is declared but does not exist`
        : s.state === 'failing'
          ? `steep status calls ${s.name} failing (${s.verdict?.reasons.join('; ')})`
          : null;
  if (!problem) return;
  for (const [check, args] of [
    ['check-names-problem', ['status', '--check']],
    ['drift-names-problem', ['drift']],
  ] as const) {
    if (!found.on(check)) continue;
    const r = await world.steep([...args]);
    if (r.code !== 2 || !`${r.stdout}${r.stderr}`.includes(s.name))
      found.add(check, `${problem}, but steep ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  }
}

/** States that settle by themselves: the oracle reads status again until they have. */
const MOVING = new Set(['copying', 'catching_up', 'unknown', 'reinitializing', 'preparing', 'uninitialized']);

/**
 * `steep status --json` once every subscription is synchronized, in a state that does not move
 * by itself (stopped, diverged, failed), or failing with steep's reason for `failingMs` in a
 * row; still moving at the ceiling, the last report, with the disagreement naming what moved;
 * null when status never answered with a report.
 */
async function settledStatus(
  world: OracleState,
  found: Found,
  opts: OracleOptions,
): Promise<StatusReport | null> {
  const settleMs = opts.settleMs ?? HANG_MS;
  const failingMs = opts.failingMs ?? FAILING_MS;
  let report: StatusReport | null = null;
  let last = '';
  const failingSince = new Map<string, number>();
  const moving = (s: SubscriptionStatus) => {
    if ((!s.declared && !s.exists) || world.inbound.has(s.name)) return false;
    if (s.state !== 'failing' || (s.verdict?.reasons.length ?? 0) === 0) failingSince.delete(s.name);
    if (s.state === 'failing') {
      // failing counts as settled only when steep says why, reading after reading
      if ((s.verdict?.reasons.length ?? 0) === 0) return true;
      if (!failingSince.has(s.name)) failingSince.set(s.name, Date.now());
      return Date.now() - failingSince.get(s.name)! < failingMs;
    }
    return s.exists === null || MOVING.has(s.state);
  };
  try {
    await eventually(
      async () => {
        const r = await world.steep(['status', '--json']);
        last = `exit ${r.code}: ${r.stdout}${r.stderr}`.slice(0, 4000);
        if (r.code !== 0 && r.code !== 2) return false;
        report = JSON.parse(r.stdout) as StatusReport;
        return !found.on('status-settles') || !report.subscriptions.some(moving);
      },
      settleMs,
      'every subscription to settle',
    );
  } catch {
    const seen = report as StatusReport | null;
    if (!seen) {
      found.add('status-answers', `steep status --json never answered within ${settleMs} ms: ${last}`);
      return null;
    }
    const stuckOnes = seen.subscriptions
      .filter(moving)
      .map(
        (s) =>
          `${s.name} ${s.state}${s.verdict ? ` (${s.verdict.verdict}: ${s.verdict.reasons.join('; ')})` : ''}`,
      );
    found.add('status-settles', `steep status had not settled after ${settleMs} ms: ${stuckOnes.join(', ')}`);
    return seen;
  }
  return report;
}
