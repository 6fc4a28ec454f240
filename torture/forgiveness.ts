import type { TestNode } from '../test/support/cluster.js';
import type { CheckName, Found } from './checks.js';
import { type Row, rowsWrong } from './rows.js';
import { KEYLESS, type World } from './world.js';
import { type Family, familyHolds, lsnValue, markOf } from './writes.js';

/**
 * What the operations forgive, bounded by what steep printed (issue 78): the harness forgives a
 * lost id only once steep said so, and only as far as steep's own figures agree with the data.
 * Each bound is a named check (checks.ts) judged without a server from what was read
 * (`judgeLoss`, `judgeReadinessVerify`, `judgeRollbackExtra`, `judgeRollbackChanges`), each with a
 * self-test (forgivenessSelfTests.ts); the operation fails on any finding.
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
 * them (`what` says where): a finding of `check` for each table where it counted fewer differing
 * rows than that (none: every one counted, and they may be forgiven). A table verify said it
 * cannot count is no shortfall: the ones returned (the caller says so).
 */
export function rowsCounted(
  found: Found,
  check: CheckName,
  rows: Row[],
  printed: string,
  what: string,
): string[] {
  const uncounted: string[] = [];
  for (const table of new Set(rows.map((r) => r.table))) {
    const n = rows.filter((r) => r.table === table).length;
    const counted = countedDiffering(printed, table);
    if (counted === null) uncounted.push(`${n} row(s) of ${table}`);
    else if (n > counted)
      found.add(
        check,
        `${n} row(s) of ${table} ${what}, but steep verify counted ${counted} differing there:\n${printed}`,
      );
  }
  return uncounted;
}

/** What a lagging failover's forgiveness is judged against (`lossReading` reads it). */
export interface LossReading {
  /** where the promoted node's timeline history says it forked (null: it says nothing) */
  forkedAt: string | null;
  /** the lost writes, by `markOf` */
  lost: string[];
  /** the writes pa acknowledged last of the tables pb's subscription carries, by `markOf` */
  acked: string[];
  /** those of `acked` pb does not hold as the application left them */
  notOnPb: ReadonlySet<string>;
  /** the WAL position the next write of a write's loop read (null: none yet): it committed before */
  committedBefore: (mark: string) => string | null;
}

/**
 * What `writes lost with the old primary: it had committed at least up to PAST on timeline T (…),
 * past the fork at FORK; …` (`printed`) claims, against the data: FORK is where the promoted
 * node's timeline history says it forked (`loss-fork-is-timeline-fork`); no lost write committed
 * before FORK (a write of its loop after it read the WAL before FORK: `no-loss-before-fork`);
 * every write acknowledged on pa that committed before PAST is on pb, which applied that far
 * (`applied-before-bound-on-pb`). Returns what it read, in a sentence.
 */
export function judgeLoss(found: Found, printed: string, r: LossReading): string {
  const said =
    /committed at least up to (\S+) on timeline \d+ .*?, past the fork at ([0-9A-F]+\/[0-9A-F]+)/.exec(
      printed,
    );
  if (!said) {
    found.add(
      'loss-fork-is-timeline-fork',
      `steep says writes were lost but prints no position:\n${printed}`,
    );
    return 'steep printed no position';
  }
  const [past, fork] = [said[1]!, said[2]!];
  if (!r.forkedAt || lsnValue(r.forkedAt) !== lsnValue(fork))
    found.add(
      'loss-fork-is-timeline-fork',
      `steep says the promoted node forked at ${fork}; its timeline history says ${r.forkedAt ?? 'nothing'}:\n${printed}`,
    );
  /** whether the write `mark` committed before `lsn`, as far as its loop's next write shows */
  const committed = (mark: string, lsn: string) => {
    const after = r.committedBefore(mark);
    return after !== null && lsnValue(after) <= lsnValue(lsn);
  };
  const before = r.lost.filter((k) => committed(k, fork));
  if (before.length > 0)
    found.add(
      'no-loss-before-fork',
      `${before.length} lost write(s) committed on pa before the fork at ${fork} steep printed (${before.slice(0, 5).join(', ')}…):\n${printed}`,
    );
  const applied = r.acked.filter((k) => committed(k, past));
  const notApplied = applied.filter((k) => r.notOnPb.has(k));
  if (notApplied.length > 0)
    found.add(
      'applied-before-bound-on-pb',
      `steep says pb applied pa's writes up to ${past}, but ${notApplied.length} write(s) pa committed before it are not on pb (${notApplied.slice(0, 5).join(', ')}…):\n${printed}`,
    );
  return `writes lost past the fork at ${fork} (pb applied up to ${past}): ${r.lost.length} lost; ${applied.length} write(s) committed before ${past}, ${notApplied.length} of them not on pb`;
}

/**
 * What `judgeLoss` reads: the promoted node's timeline history, and of every write pa
 * acknowledged last (ids, families, rows of the tables pb's subscription carries: t_link goes by
 * the link) whether pb holds it as the application left it. Read with the application paused.
 */
export async function lossReading(world: World, lost: Lost): Promise<LossReading> {
  const [history] = await world.publisher.query<{ text: string }>(
    "SELECT pg_read_file('pg_wal/' || name) AS text FROM pg_ls_waldir() WHERE name LIKE '%.history' ORDER BY name DESC LIMIT 1",
  );
  const ids = world.acknowledged().get('pa') ?? [];
  const families = world.acknowledgedFamilies().get('pa') ?? [];
  const carried = new Set(world.tablesOf(world.file.sub));
  const rows = (world.acknowledgedRows().get('pa') ?? []).filter((r) => carried.has(r.table));
  const onPb = new Set(
    (
      await world.subscriber.query<{ id: string }>(
        'SELECT id::text AS id FROM public.t_ids WHERE id = ANY($1::bigint[])',
        [ids],
      )
    ).map((r) => Number(r.id)),
  );
  return {
    forkedAt: history?.text.trim().split('\n').at(-1)?.split('\t')[1] ?? null,
    lost: [
      ...lost.ids.map((id) => markOf('t_ids', id)),
      ...lost.families.map((f) => markOf('t_parent', f.parent)),
      ...lost.rows.map((r) => markOf(r.table, r.key)),
    ],
    acked: [
      ...ids.map((id) => markOf('t_ids', id)),
      ...families.map((f) => markOf('t_parent', f.parent)),
      ...rows.map((r) => markOf(r.table, r.key)),
    ],
    notOnPb: new Set([
      ...ids.filter((id) => !onPb.has(id)).map((id) => markOf('t_ids', id)),
      ...(await familiesWrong(world.subscriber, families)).map((f) => markOf('t_parent', f.parent)),
      ...(await rowsWrong(world.subscriber, rows)).map((r) => markOf(r.table, r.key)),
    ]),
    committedBefore: (mark) => world.walMarks.committedBefore(mark),
  };
}

/** One verify status named after readiness was lost, and what was read around it (paused). */
export interface ReadinessVerify {
  command: string;
  code: number;
  /** what it printed (stdout and stderr) */
  printed: string;
  /** whether it is the file's subscription's (the link's l1_pb is the other) */
  file: boolean;
  /** the lost ids and families (the file's: its tables hold them), which are rows only on pb */
  lostWrites: number;
  /** the rows of its tables pb held that its publisher lacked, before and after it */
  before: number;
  after: number;
  /** the lost rows of rows.ts of its tables pb holds as the application left them */
  rowsOnPb: Row[];
}

/**
 * A verify refused because the subscription's workers fail, naming the way out that keeps pb's
 * rows first (workflows/verify.ts: a row past the fork meeting a key the new primary wrote stops
 * the worker): it counts nothing, so nothing is forgiven on its word, and the copy by hand it
 * names follows. Without that way out, the refusal is judged as any verify that counts nothing.
 */
export function refusedKeepingFirst(v: Pick<ReadinessVerify, 'code' | 'printed'>): boolean {
  return v.code === 1 && /workers on pb are failing[\s\S]*copy what pb must keep to pa first/.test(v.printed);
}

/**
 * A verify after readiness lost, judged: its `N extra row(s) exist only on pb` between the rows
 * read before and after it, and printed (the file's exiting 2) where lost writes are there
 * (`readiness-lost-extra-counted`); the lost rows on pb no more, per table, than it counted
 * differing there (`readiness-lost-rows-counted`). Returns the count it printed (null: none) and
 * the tables it cannot count.
 */
export function judgeReadinessVerify(
  found: Found,
  v: ReadinessVerify,
): { only: string | null; uncounted: string[] } {
  if (refusedKeepingFirst(v)) return { only: null, uncounted: [] };
  const only = /(\d[\d,]*) extra row\(s\) exist only on pb/.exec(v.printed);
  if ((v.file && v.code !== 2) || (v.lostWrites > 0 && !only))
    found.add(
      'readiness-lost-extra-counted',
      `${v.lostWrites} acknowledged id(s) and famil(ies) lost with pa are on pb only, but ${v.command} (exit ${v.code}) does not say rows exist only on pb:\n${v.printed}`,
    );
  const said = only ? printedCount(only[1]!) : 0;
  if (said > v.before || said < v.after)
    found.add(
      'readiness-lost-extra-counted',
      `${v.command} says ${said} extra row(s) exist only on pb, but pb holds ${v.before === v.after ? v.before : `${v.after} to ${v.before}`} row(s) its publisher lacks:\n${v.printed}`,
    );
  const uncounted = rowsCounted(
    found,
    'readiness-lost-rows-counted',
    v.rowsOnPb,
    v.printed,
    'lost with pa are on pb as the application left them',
  );
  return { only: only?.[0] ?? null, uncounted };
}

/** A rollback without --reverse: its verify and the rows of t_ids around it. */
export interface RollbackReading {
  /** what the rollback's `steep verify` printed */
  verified: string;
  /** the application's ids acknowledged on pb (since the switchover) that pa lacks */
  stayed: number;
  /** the rows of t_ids pb held that pa lacked, read before and after the verify (least, most) */
  onlyOnPb: [number, number];
  /** whether the rollback's check asked for the copy by hand of t_ids's rows pb holds and pa lacks */
  copyAsked: boolean;
}

/**
 * The rollback's verify counts, in t_ids, between the rows pb held and pa lacked around it, and
 * no fewer than the ids the application left on pb (an inbound subscription writing pb's t_ids
 * too, the check asked for their copy by hand, which the oracle then finds on pa id by id: only
 * a count it prints is bounded): `rollback-extra-counted`. Returns what it read, in a sentence.
 */
export function judgeRollbackExtra(found: Found, r: RollbackReading): string {
  // steep groups thousands (1,064); "extra 12", or "12 extra rows … rightly kept"
  const line = /public\.t_ids\s.*/.exec(r.verified)?.[0] ?? '';
  const extra = /\bextra ([\d,]+)|([\d,]+) extra rows/.exec(line);
  const said = extra ? printedCount(extra[1] ?? extra[2]!) : 0;
  const [lo, hi] = r.onlyOnPb;
  const held = lo === hi ? `${lo}` : `${lo} to ${hi}`;
  const outOfBounds = extra !== null && (said < lo || said > hi);
  if (outOfBounds || (!r.copyAsked && (r.stayed > said || said < lo || said > hi)))
    found.add(
      'rollback-extra-counted',
      `the rollback's steep verify counts ${said} extra row(s) in t_ids, but ${r.stayed} row(s) acknowledged on pb stay there, and pb held ${held} row(s) pa lacked:\n${r.verified}`,
    );
  return `${r.stayed} id(s) acknowledged on pb are not on pa; verify counted ${extra ? said : 'no'} extra in t_ids${r.copyAsked ? ' (its copy by hand asked)' : ''}, pb held ${held} row(s) pa lacked`;
}

/**
 * After a rollback without --reverse, what pb last wrote that pa does not hold as pb left it
 * (an UPDATE or DELETE no copy of missing rows carries back), against its verify (`verified`):
 * the families no more than it counted missing and different in t_parent
 * (`rollback-families-counted`), the rows of rows.ts no more, per table, than it counted differing
 * there (`rollback-rows-counted`). Returns the tables it cannot count.
 */
export function judgeRollbackChanges(
  found: Found,
  verified: string,
  families: Family[],
  rows: Row[],
): string[] {
  const t = /public\.t_parent\s.*\bmissing ([\d,]+), extra [\d,]+, different ([\d,]+)/.exec(verified);
  const counted = t ? printedCount(t[1]!) + printedCount(t[2]!) : 0;
  if (families.length > counted)
    found.add(
      'rollback-families-counted',
      `${families.length} famil(ies) whose last write pb acknowledged (an UPDATE or DELETE) are not as pb left them on pa after the rollback, but its verify counted ${counted} missing or different row(s) in t_parent:\n${verified}`,
    );
  return rowsCounted(
    found,
    'rollback-rows-counted',
    rows,
    verified,
    'whose last write pb acknowledged are not as pb left them on pa after the rollback',
  );
}
