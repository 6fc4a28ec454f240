import type { StatusReport, SubscriptionStatus } from '../src/model/statusReport.js';
import type { TestNode } from '../test/support/cluster.js';
import { digestsByName, waitCaughtUp } from '../test/support/replicationData.js';
import { eventually, HANG_MS } from '../test/support/topologyFile.js';
import { LINK, type World } from './world.js';

/**
 * The oracle, run after every operation: what steep says against what the nodes hold. It forgives
 * nothing it cannot justify (issue 61):
 *
 * 1. Availability: the application writes on the node steep calls primary (new acknowledged ids
 *    there within the ceiling), and no write failed since the last look outside a blackout an
 *    operation declared (`world.blackout`: a switchover's fence, a crashed primary).
 * 2. Every id the application saw acknowledged is on the node steep calls primary, unless
 *    PostgreSQL itself had to lose it and steep said so before the oracle looked (`world.forgiven`).
 * 3. `steep status --json` settles within the ceiling: every subscription is synchronized, stopped,
 *    diverged or failed, or `failing` with steep's reason, for `failingMs` in a row. Still moving
 *    at the ceiling is a disagreement naming what it saw.
 * 4. Every node of steep.yaml is listed and readable; every subscription steep.yaml declares is
 *    listed; a subscription steep.yaml does not declare is one an operation expects (a
 *    switchover's way back); every subscription listed is on nodes of the file.
 * 5. Every subscription steep calls `synchronized` holds exactly its publisher's rows once caught
 *    up (count and order-independent checksum of every column of every table), its slot on its
 *    publisher.
 * 6. Wherever a declared subscription's rows differ from its publisher's, or steep calls it
 *    failing, `steep status --check` and `steep drift` exit 2 naming it.
 *
 * Returns each disagreement as a sentence (none: steep told the truth).
 */
export interface OracleOptions {
  /** how long status may take to settle (default HANG_MS) */
  settleMs?: number;
  /** how long `failing` must last, with a reason, to count as settled (default 45 s) */
  failingMs?: number;
  /** how long the application may take to acknowledge new writes on the primary (default HANG_MS) */
  writesMs?: number;
}

const FAILING_MS = 45_000;

export async function oracle(world: World, opts: OracleOptions = {}): Promise<string[]> {
  const found: string[] = [];
  found.push(...(await availability(world, opts.writesMs ?? HANG_MS)));
  await world.stopWriters();
  try {
    found.push(...(await acknowledgedOnPrimary(world)));
    const { report, stuck } = await settledStatus(world, opts);
    if (stuck) found.push(stuck);
    found.push(...listed(world, report));
    for (const s of report.subscriptions)
      if (!world.inbound.has(s.name)) found.push(...(await judge(world, s)));
  } finally {
    world.startWriters();
  }
  return found;
}

/** the writer errors the previous looks judged already */
const judgedErrors = new WeakMap<World, number>();

async function availability(world: World, writesMs: number): Promise<string[]> {
  const found: string[] = [];
  const primary = world.primary;
  const from = world.ackedCount(primary);
  const errorsFrom = world.writerErrors.length;
  await eventually(
    async () => world.ackedCount(primary) >= from + 3,
    writesMs,
    'writes on the primary',
  ).catch(() => {
    const last = world.writerErrors.slice(errorsFrom).at(-1);
    found.push(
      `the application cannot write on ${primary}, which steep calls primary: no write acknowledged in ${writesMs} ms${last ? ` (last error ${last.code})` : ''}`,
    );
  });
  const start = judgedErrors.get(world) ?? 0;
  const outside = world.undeclaredErrors(start);
  judgedErrors.set(world, world.writerErrors.length);
  if (outside.length > 0) {
    const codes = [...new Set(outside.map((e) => `${e.code} on ${e.node}`))].join(', ');
    found.push(
      `${outside.length} write(s) of the application failed outside any blackout an operation declared (${codes}; first at ${new Date(outside[0]!.at).toISOString()})`,
    );
  }
  return found;
}

async function statusText(world: World): Promise<string> {
  const r = await world.steep(['status']);
  return `${r.stdout}${r.stderr}`;
}

/** the file's node names: `pa` is whichever node is the publisher of the moment */
function nodeOf(world: World, name: string): TestNode | null {
  if (name === 'pa') return world.publisher;
  if (name === 'pb') return world.subscriber;
  return null;
}

async function acknowledgedOnPrimary(world: World): Promise<string[]> {
  const primary = world.node(world.primary);
  const held = new Set(
    (await primary.query<{ id: string }>('SELECT id::text AS id FROM public.t_ids')).map((r) => Number(r.id)),
  );
  const out: string[] = [];
  for (const [node, ids] of world.acknowledged()) {
    const missing = ids.filter((id) => !held.has(id) && !world.forgiven.has(id));
    if (missing.length > 0)
      out.push(
        `${missing.length} id(s) acknowledged on ${node} are not on ${world.primary}, which steep calls primary (${missing.slice(0, 5).join(', ')}…)`,
      );
  }
  return out;
}

/** the file's nodes and subscriptions against what status lists */
function listed(world: World, report: StatusReport): string[] {
  const out: string[] = [];
  for (const name of ['pa', 'pb']) {
    const n = report.nodes.find((x) => x.name === name);
    if (!n) out.push(`steep status does not list node ${name} of steep.yaml`);
    else if (!n.reachable) out.push(`steep status cannot read node ${name}, which is up: ${n.error}`);
  }
  for (const n of report.nodes)
    if (!['pa', 'pb'].includes(n.name))
      out.push(`steep status lists node ${n.name}, which steep.yaml does not name`);
  for (const name of [world.file.sub, ...(world.file.link ? [`${LINK}_pa`, `${LINK}_pb`] : [])])
    if (!report.subscriptions.some((s) => s.name === name && s.declared))
      out.push(`steep status does not list ${name}, which steep.yaml declares`);
  for (const s of report.subscriptions) {
    if (s.declared || s.exists === false || world.inbound.has(s.name)) continue;
    if (!world.expectedStrays.has(s.name))
      out.push(
        `${s.name} exists on ${s.node}, which steep.yaml does not declare and no operation made:\n${JSON.stringify(s)}`,
      );
  }
  return out;
}

/** One subscription of the status: its word against its rows. */
async function judge(world: World, s: SubscriptionStatus): Promise<string[]> {
  const found: string[] = [];
  const publisher = nodeOf(world, s.from);
  const subscriber = nodeOf(world, s.node);
  if (!publisher || !subscriber)
    return [`steep status lists ${s.name} on ${s.node} from ${s.from}: not nodes of steep.yaml`];
  if (s.exists === null) return [`steep status cannot tell whether ${s.name} exists (${s.unknown})`];
  if (!s.declared && !s.exists) return [];
  const synchronized = s.state === 'synchronized';
  if (synchronized && s.slot) {
    const slot = await publisher.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [s.slot]);
    if (slot.length === 0)
      return [
        `steep status calls ${s.name} synchronized, but its slot ${s.slot} is not on its publisher:\n${await statusText(world)}`,
      ];
    await waitCaughtUp(publisher, s.slot);
  }
  const tables = world.tablesOf(s.name);
  const [pub, sub] = [await digestsByName(publisher, tables), await digestsByName(subscriber, tables)];
  const differ = tables.filter((t) => pub[t]!.count !== sub[t]!.count || pub[t]!.sum !== sub[t]!.sum);
  const rows = differ
    .map((t) => `${t} ${pub[t]!.count} on ${s.from}, ${sub[t]!.count} on ${s.node}`)
    .join('; ');
  if (differ.length > 0) world.say(`oracle: ${s.name} rows differ (${rows})`);
  if (synchronized && differ.length > 0)
    found.push(`steep status calls ${s.name} synchronized, but its rows differ once caught up: ${rows}`);
  // undeclared: steep manages it not (a switchover's way back); it is judged by its word alone
  if (!s.declared) return found;
  // retired by a switchover (README: enabled: false): the subscriber is the primary now
  if (s.name === world.file.sub && world.file.disabled) return found;
  const problem =
    differ.length > 0
      ? `${s.name}'s rows differ (${rows})`
      : !s.exists
        ? `${s.name} is declared but does not exist`
        : s.state === 'failing'
          ? `steep status calls ${s.name} failing (${s.verdict?.reasons.join('; ')})`
          : null;
  if (!problem) return found;
  for (const args of [['status', '--check'], ['drift']]) {
    const r = await world.steep(args);
    if (r.code !== 2 || !`${r.stdout}${r.stderr}`.includes(s.name))
      found.push(`${problem}, but steep ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  }
  return found;
}

/** States that settle by themselves: the oracle reads status again until they have. */
const MOVING = new Set(['copying', 'catching_up', 'unknown', 'reinitializing', 'preparing', 'uninitialized']);

/**
 * `steep status --json` once every subscription is synchronized, in a state that does not move
 * by itself (stopped, diverged, failed), or failing with steep's reason for `failingMs` in a
 * row; `stuck`: the disagreement when it had not settled at the ceiling.
 */
async function settledStatus(
  world: World,
  opts: OracleOptions,
): Promise<{ report: StatusReport; stuck: string | null }> {
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
        return !report.subscriptions.some(moving);
      },
      settleMs,
      'every subscription to settle',
    );
  } catch {
    const seen = report as StatusReport | null;
    if (!seen) throw new Error(`steep status --json never answered within ${settleMs} ms: ${last}`);
    const stuckOnes = seen.subscriptions
      .filter(moving)
      .map(
        (s) =>
          `${s.name} ${s.state}${s.verdict ? ` (${s.verdict.verdict}: ${s.verdict.reasons.join('; ')})` : ''}`,
      );
    return {
      report: seen,
      stuck: `steep status had not settled after ${settleMs} ms: ${stuckOnes.join(', ')}`,
    };
  }
  return { report: report as unknown as StatusReport, stuck: null };
}
