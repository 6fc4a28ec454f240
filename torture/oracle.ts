import type { StatusReport, SubscriptionStatus } from '../src/model/statusReport.js';
import type { TestNode } from '../test/support/cluster.js';
import { digests, waitCaughtUp } from '../test/support/replicationData.js';
import { eventually, HANG_MS } from '../test/support/topologyFile.js';
import { TABLES, type World } from './world.js';

/**
 * The oracle, run after every operation with the application paused: what steep says against
 * what the nodes hold.
 *
 * 1. Every id the application saw acknowledged is on the node steep calls primary, unless
 *    PostgreSQL itself had to lose it and steep said so (`world.forgiven`).
 * 2. Every subscription `steep status` calls `synchronized` holds exactly its publisher's rows
 *    once caught up (count and order-independent checksum of every table).
 * 3. Wherever a subscriber's rows differ from its publisher's, `steep status --check` and
 *    `steep drift` exit 2 naming the subscription.
 *
 * Returns each disagreement as a sentence (none: steep told the truth).
 */
export async function oracle(world: World): Promise<string[]> {
  await world.stopWriters();
  const found: string[] = [];
  try {
    found.push(...(await acknowledgedOnPrimary(world)));
    const status = await settledStatus(world);
    for (const s of status.subscriptions) {
      if (!s.exists) continue;
      const publisher = nodeOf(world, s.from);
      const subscriber = nodeOf(world, s.node);
      if (!publisher || !subscriber) continue;
      const synchronized = s.state === 'synchronized';
      if (synchronized && s.slot) {
        const slot = await publisher.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [
          s.slot,
        ]);
        if (slot.length === 0) {
          found.push(
            `steep status calls ${s.name} synchronized, but its slot ${s.slot} is not on its publisher:\n${await statusText(world)}`,
          );
          continue;
        }
        await waitCaughtUp(publisher, s.slot);
      }
      const [pub, sub] = [await digests(publisher, TABLES), await digests(subscriber, TABLES)];
      const differ = TABLES.filter((t) => pub[t]!.count !== sub[t]!.count || pub[t]!.sum !== sub[t]!.sum);
      if (differ.length === 0) continue;
      const rows = differ
        .map((t) => `${t} ${pub[t]!.count} on ${s.from}, ${sub[t]!.count} on ${s.node}`)
        .join('; ');
      world.say(`oracle: ${s.name} rows differ (${rows})`);
      if (synchronized)
        found.push(`steep status calls ${s.name} synchronized, but its rows differ once caught up: ${rows}`);
      // retired by a switchover (README: enabled: false): the subscriber is the primary now
      if (!s.declared || (s.name === world.file.sub && world.file.disabled)) continue;
      const check = await world.steep(['status', '--check']);
      if (check.code !== 2 || !`${check.stdout}${check.stderr}`.includes(s.name))
        found.push(
          `${s.name}'s rows differ (${rows}), but steep status --check exited ${check.code}:\n${check.stdout}${check.stderr}`,
        );
      const drift = await world.steep(['drift']);
      if (drift.code !== 2 || !`${drift.stdout}${drift.stderr}`.includes(s.name))
        found.push(
          `${s.name}'s rows differ (${rows}), but steep drift exited ${drift.code}:\n${drift.stdout}${drift.stderr}`,
        );
    }
  } finally {
    world.startWriters();
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
  return world.nodes[name] ?? null;
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

const FAILING_MS = 45_000;

/** States that settle by themselves: the oracle reads status again until they have. */
const MOVING = new Set([
  'copying',
  'catching_up',
  'unknown',
  'failing',
  'reinitializing',
  'preparing',
  'uninitialized',
]);

/**
 * `steep status --json` once every declared subscription is synchronized or in a state that does
 * not move by itself (stopped, diverged, failed); a hang only after HANG_MS.
 */
async function settledStatus(world: World): Promise<StatusReport> {
  let report: StatusReport | null = null;
  // a subscription failing for FAILING_MS is taken as it is (an error counts 30 s: docs/status.md)
  const failingSince = new Map<string, number>();
  const moving = (s: SubscriptionStatus) => {
    if (!s.declared) return false;
    if (s.state !== 'failing') failingSince.delete(s.name);
    else if (!failingSince.has(s.name)) failingSince.set(s.name, Date.now());
    else if (Date.now() - failingSince.get(s.name)! > FAILING_MS) return false;
    return !s.exists || MOVING.has(s.state);
  };
  try {
    await eventually(
      async () => {
        const r = await world.steep(['status', '--json']);
        if (r.code !== 0 && r.code !== 2) return false;
        report = JSON.parse(r.stdout) as StatusReport;
        return !report.subscriptions.some(moving);
      },
      HANG_MS,
      'every subscription to settle',
    );
  } catch (err) {
    if (!report) throw err;
    const stuck = (report as StatusReport).subscriptions.filter(moving).map((s) => `${s.name} ${s.state}`);
    world.say(`oracle: still moving after ${HANG_MS} ms: ${stuck.join(', ')}`);
  }
  return report as unknown as StatusReport;
}
