import type { TestNode } from '../test/support/cluster.js';
import { type Row, rowsWrong } from './rows.js';
import { KEYLESS, type World } from './world.js';
import { type Family, familyHolds, lsnValue, markOf } from './writes.js';

/**
 * What the operations forgive, bounded by what steep printed (issue 78): the harness forgives a
 * lost id only once steep said so, and only as far as steep's own figures agree with the data.
 */

/** the rows of `table` on `node`: its keys, or each whole row (as jsonb text) where it has none */
async function rowKeys(node: TestNode, table: string): Promise<string[]> {
  const sql =
    table === KEYLESS
      ? `SELECT to_jsonb(t)::text AS k FROM public.${table} t`
      : `SELECT id::text AS k FROM public.${table}`;
  return (await node.query<{ k: string }>(sql)).map((r) => r.k);
}

/**
 * How many rows of `tables` (the subscription's) pb holds that its publisher lacks (by key; a
 * table without a key by whole row, each copy counted): what `steep verify` calls "extra row(s)
 * exist only on pb".
 */
export async function rowsOnlyOnSubscriber(
  world: World,
  tables = world.tablesOf(world.file.sub),
): Promise<number> {
  let extra = 0;
  for (const t of tables) {
    const left = new Map<string, number>();
    for (const k of await rowKeys(world.publisher, t)) left.set(k, (left.get(k) ?? 0) + 1);
    for (const k of await rowKeys(world.subscriber, t)) {
      const n = left.get(k) ?? 0;
      if (n > 0) left.set(k, n - 1);
      else extra += 1;
    }
  }
  return extra;
}

/** `1,064` as steep prints counts → 1064 */
export function printedCount(text: string): number {
  return Number(text.replace(/,/g, ''));
}

/** the families of `families` whose rows on `node` are not what their acknowledged writes left */
export async function familiesWrong(node: TestNode, families: Family[]): Promise<Family[]> {
  if (families.length === 0) return [];
  const parents = new Map(
    (
      await node.query<{ id: string; v: string }>(
        'SELECT id::text AS id, v FROM public.t_parent WHERE id = ANY($1::bigint[])',
        [families.map((f) => f.parent)],
      )
    ).map((r) => [Number(r.id), r.v]),
  );
  const children = new Map(
    (
      await node.query<{ id: string; v: string }>(
        'SELECT id::text AS id, v FROM public.t_child WHERE id = ANY($1::bigint[])',
        [families.map((f) => f.child)],
      )
    ).map((r) => [Number(r.id), r.v]),
  );
  return families.filter((f) => {
    const v = parents.get(f.parent);
    return !familyHolds(f, v === undefined ? null : { v, childV: children.get(f.child) ?? null });
  });
}

/** What a failover lost of the application's writes: ids of t_ids, families and rows (a write of theirs). */
export interface Lost {
  ids: number[];
  families: Family[];
  rows: Row[];
}

/**
 * How many rows of `table` steep verify counted as differing (its line: `missing M, extra E,
 * different D`, and `N rows changing during the run (not counted)`); 0 where it printed no such
 * line; null where it said the table is `not verifiable` (it cannot count: an inbound
 * subscription writes pb's rows too). A lost INSERT is a row extra on one side, a lost DELETE a
 * row missing, a lost UPDATE a row different (or, without a key, one missing and one extra).
 */
export function countedDiffering(printed: string, table: string): number | null {
  const line = new RegExp(`public\\.${table}\\s.*`).exec(printed)?.[0] ?? '';
  if (/^public\.\S+\s+not verifiable:/.test(line)) return null;
  const t = /\bmissing ([\d,]+), extra ([\d,]+), different ([\d,]+)/.exec(line);
  const changing = /([\d,]+) rows changing during the run/.exec(line);
  return [t?.[1], t?.[2], t?.[3], changing?.[1]].reduce((n, c) => n + (c ? printedCount(c) : 0), 0);
}

/**
 * Whether steep verify's counts (`printed`) cover `rows`, the application's rows not as it left
 * them (`what` says where): each table where it counted fewer differing rows than that (none:
 * every one counted, and they may be forgiven). A table verify said it cannot count is no
 * shortfall: `uncounted` names it (the caller says so).
 */
export function rowsCounted(
  rows: Row[],
  printed: string,
  what: string,
): { short: string[]; uncounted: string[] } {
  const short: string[] = [];
  const uncounted: string[] = [];
  for (const table of new Set(rows.map((r) => r.table))) {
    const n = rows.filter((r) => r.table === table).length;
    const counted = countedDiffering(printed, table);
    if (counted === null) uncounted.push(`${n} row(s) of ${table}`);
    else if (n > counted)
      short.push(`${n} row(s) of ${table} ${what}, but steep verify counted ${counted} differing there`);
  }
  return { short, uncounted };
}

/**
 * What `writes lost with the old primary: it had committed at least up to PAST on timeline T (…),
 * past the fork at FORK; …` claims, against the data: FORK is where the promoted node's timeline
 * history says it forked; no lost write committed before FORK (a write of its loop after it read
 * the WAL before FORK); every write acknowledged on pa that committed before PAST is on pb, which
 * applied that far. Returns each way the claim is false (none: the loss is what steep said).
 */
export async function lossBeyondFork(world: World, lost: Lost, printed: string): Promise<string[]> {
  const said =
    /committed at least up to (\S+) on timeline \d+ .*?, past the fork at ([0-9A-F]+\/[0-9A-F]+)/.exec(
      printed,
    );
  if (!said) return [`steep says writes were lost but prints no position:\n${printed}`];
  const [past, fork] = [said[1]!, said[2]!];
  const promoted = world.publisher;
  const [history] = await promoted.query<{ text: string }>(
    "SELECT pg_read_file('pg_wal/' || name) AS text FROM pg_ls_waldir() WHERE name LIKE '%.history' ORDER BY name DESC LIMIT 1",
  );
  const forkedAt = history?.text.trim().split('\n').at(-1)?.split('\t')[1];
  const out: string[] = [];
  if (!forkedAt || lsnValue(forkedAt) !== lsnValue(fork))
    out.push(
      `steep says ${promoted.name} forked at ${fork}; its timeline history says ${forkedAt ?? 'nothing'}`,
    );
  /** whether the row `key` committed before `lsn`, as far as its loop's next write shows */
  const committed = (key: string, lsn: string) => {
    const after = world.walMarks.committedBefore(key);
    return after !== null && lsnValue(after) <= lsnValue(lsn);
  };
  const keys = [
    ...lost.ids.map((id) => markOf('t_ids', id)),
    ...lost.families.map((f) => markOf('t_parent', f.parent)),
    ...lost.rows.map((r) => markOf(r.table, r.key)),
  ];
  const before = keys.filter((k) => committed(k, fork));
  if (before.length > 0)
    out.push(
      `${before.length} lost write(s) committed on pa before the fork at ${fork} steep printed (${before.slice(0, 5).join(', ')}…)`,
    );
  const ids = (world.acknowledged().get('pa') ?? []).filter((id) => committed(markOf('t_ids', id), past));
  const families = (world.acknowledgedFamilies().get('pa') ?? []).filter((f) =>
    committed(markOf('t_parent', f.parent), past),
  );
  // PAST is where pb's subscription applied: the tables it carries (t_link goes by the link)
  const carried = new Set(world.tablesOf(world.file.sub));
  const rows = (world.acknowledgedRows().get('pa') ?? []).filter(
    (r) => carried.has(r.table) && committed(markOf(r.table, r.key), past),
  );
  const onPb = new Set(
    (
      await world.subscriber.query<{ id: string }>(
        'SELECT id::text AS id FROM public.t_ids WHERE id = ANY($1::bigint[])',
        [ids],
      )
    ).map((r) => Number(r.id)),
  );
  const notApplied = [
    ...ids.filter((id) => !onPb.has(id)).map((id) => markOf('t_ids', id)),
    ...(await familiesWrong(world.subscriber, families)).map((f) => markOf('t_parent', f.parent)),
    ...(await rowsWrong(world.subscriber, rows)).map((r) => markOf(r.table, r.key)),
  ];
  if (notApplied.length > 0)
    out.push(
      `steep says pb applied pa's writes up to ${past}, but ${notApplied.length} write(s) pa committed before it are not on pb (${notApplied.slice(0, 5).join(', ')}…)`,
    );
  world.say(
    `writes lost past the fork at ${fork} (pb applied up to ${past}): ${lost.ids.length} id(s), ${lost.families.length} famil(ies) and ${lost.rows.length} row(s) lost; ${ids.length + families.length + rows.length} write(s) committed before ${past}, ${notApplied.length} of them not on pb`,
  );
  return out;
}
