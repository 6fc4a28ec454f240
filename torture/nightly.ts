import { advance, allows, drawable, drawn, type TortureModel } from './commands.js';
import { CATALOG, type Operation } from './operations.js';

/**
 * The nightly seed set (issue 78): sequences that together perform every ordered pair of
 * operations the model allows, on each version. A pair (a, b) is allowed when b may follow a in
 * some state the model reaches (`allowedPairs`: the states reached from a fresh world through
 * the commands' own preconditions, `allows` and `advance`); the set is built greedily, walk by
 * walk through the model, each step an uncovered pair (`nightlySet`). Each sequence runs as
 * `--ops` names it, its seed drawing the init method and the operations' own choices, so the
 * line it prints replays it. Shards split the set round-robin (`shard`).
 */

/** One sequence of the nightly set: what `npm run torture -- --ops OPS --seed SEED --no-shrink` runs. */
export interface NightlySequence {
  version: number;
  /** its place in the version's set, from 0 */
  index: number;
  /** fast-check's seed: the init method and the operations' choices */
  seed: number;
  ops: string[];
}

/** the longest sequence the set builds: a failure hides what follows it, and a run grows long */
export const NIGHTLY_MAX_OPS = 8;

const key = (a: string, b: string) => `${a} → ${b}`;
/** every field of the model (built by spreading `fresh`: the same key order) */
const stateKey = (m: TortureModel) => JSON.stringify(m);
const after = (m: TortureModel, op: Operation): TortureModel => {
  const next = { ...m };
  advance(next, op);
  return next;
};

/**
 * A sequence's world gets the standby of its first failover (`initialModel`): while none has
 * run, any failover may come next, the world then having its standby.
 */
function allowsNext(m: TortureModel, op: Operation): boolean {
  const chosen = op.standby && m.standby === null && !m.failedOver ? { ...m, standby: op.standby } : m;
  return allows(chosen, op);
}

function stepTo(m: TortureModel, op: Operation): TortureModel {
  return after(op.standby && m.standby === null ? { ...m, standby: op.standby } : m, op);
}

const fresh = (version: number): TortureModel => ({
  version,
  standby: null,
  failedOver: false,
  switchedOver: false,
  oldPrimaryBack: false,
});

/** Every ordered pair (a, b) of drawable operations where b may follow a in a reachable state. */
export function allowedPairs(version: number, catalog = CATALOG): Set<string> {
  const ops = drawable(version, false, catalog);
  const seen = new Map<string, TortureModel>([[stateKey(fresh(version)), fresh(version)]]);
  const queue = [...seen.values()];
  const pairs = new Set<string>();
  for (let m = queue.shift(); m; m = queue.shift())
    for (const a of ops.filter((op) => allowsNext(m, op))) {
      const next = stepTo(m, a);
      for (const b of ops) if (allowsNext(next, b)) pairs.add(key(a.name, b.name));
      if (!seen.has(stateKey(next))) {
        seen.set(stateKey(next), next);
        queue.push(next);
      }
    }
  return pairs;
}

/** The consecutive pairs a sequence performs, when the model allows each operation in turn (else throws). */
export function pairsOf(version: number, names: string[], catalog = CATALOG): string[] {
  let m = fresh(version);
  const out: string[] = [];
  names.forEach((name, i) => {
    const op = catalog.find((o) => o.name === name);
    if (!op || !allowsNext(m, op))
      throw new Error(`PostgreSQL ${version}: ${names.join(',')}: the model does not allow ${name} there`);
    m = stepTo(m, op);
    if (i > 0) out.push(key(names[i - 1]!, name));
  });
  return out;
}

/**
 * The walks: each starts with an operation few uncovered pairs lead into (never a once-only one:
 * a switchover, a failover), or, where none leads anywhere uncovered, with the shortest prefix
 * that reaches a state where one does. Then it steps along uncovered pairs, preferring an
 * operation the model lets a sequence do once where it leads on (each walk's one chance), then
 * the one with the most uncovered pairs onwards; stuck, it takes one step along a covered pair to
 * an operation that leads on; it ends where nothing does, or at NIGHTLY_MAX_OPS.
 */
function walks(version: number, catalog: Operation[]): string[][] {
  const ops = drawable(version, false, catalog);
  const todo = allowedPairs(version, catalog);
  const onwards = (m: TortureModel, a: Operation) =>
    ops.filter((b) => todo.has(key(a.name, b.name)) && allowsNext(m, b));
  const into = (b: Operation) => ops.filter((a) => todo.has(key(a.name, b.name))).length;
  const once = (m: TortureModel, b: Operation) => !allowsNext(stepTo(m, b), b);
  const out: string[][] = [];
  while (todo.size > 0) {
    const m0 = fresh(version);
    const starts = ops.filter((a) => allowsNext(m0, a) && onwards(stepTo(m0, a), a).length > 0);
    const walk =
      starts.length > 0
        ? [best(starts, (a) => (once(m0, a) ? -1e6 : 0) - into(a) * 100 + onwards(stepTo(m0, a), a).length)]
        : prefix(m0, ops, (m, a) => onwards(m, a).length > 0);
    if (walk.length === 0) break;
    let m = m0;
    walk.forEach((op, i) => {
      m = stepTo(m, op);
      if (i > 0) todo.delete(key(walk[i - 1]!.name, op.name));
    });
    while (walk.length < NIGHTLY_MAX_OPS) {
      const here = m;
      const from = walk.at(-1)!;
      const ahead = (c: Operation) => onwards(stepTo(here, c), c).length;
      const next = onwards(here, from);
      const bridge = ops.filter((c) => allowsNext(here, c) && !once(here, c) && ahead(c) > 0);
      if (next.length === 0 && (bridge.length === 0 || walk.length > NIGHTLY_MAX_OPS - 2)) break;
      const b =
        next.length > 0
          ? best(next, (c) => (once(here, c) && ahead(c) > 0 ? 1000 : 0) + ahead(c))
          : best(bridge, ahead);
      todo.delete(key(from.name, b.name));
      m = stepTo(m, b);
      walk.push(b);
    }
    out.push(walk.map((op) => op.name));
  }
  return out;
}

/** The shortest sequence from `m` whose last operation is `done` (breadth first over the model; none: []). */
function prefix(
  m: TortureModel,
  ops: Operation[],
  done: (m: TortureModel, last: Operation) => boolean,
): Operation[] {
  const queue: { m: TortureModel; path: Operation[] }[] = [{ m, path: [] }];
  const seen = new Set<string>();
  for (let q = queue.shift(); q && q.path.length < NIGHTLY_MAX_OPS; q = queue.shift())
    for (const op of ops.filter((o) => allowsNext(q.m, o))) {
      const next = { m: stepTo(q.m, op), path: [...q.path, op] };
      if (done(next.m, op)) return next.path;
      if (seen.has(`${stateKey(next.m)} ${op.name}`)) continue;
      seen.add(`${stateKey(next.m)} ${op.name}`);
      queue.push(next);
    }
  return [];
}

/** The first of the items with the highest score (the catalog's order breaks ties: deterministic). */
function best<T>(items: T[], score: (t: T) => number): T {
  const scores = items.map(score);
  return items[scores.indexOf(Math.max(...scores))]!;
}

const sets = new Map<number, NightlySequence[]>();

/** The nightly set of `version`: its seeds are version × 10,000 + the sequence's place. */
export function nightlySet(version: number, catalog = CATALOG): NightlySequence[] {
  const cached = catalog === CATALOG ? sets.get(version) : undefined;
  if (cached) return cached;
  const set = walks(version, catalog).map((ops, index) => ({
    version,
    index,
    seed: version * 10_000 + index,
    ops,
  }));
  if (catalog === CATALOG) sets.set(version, set);
  return set;
}

/** Shard `i` of `n` (from 1): every n-th sequence from the i-th, so shards take alike. */
export function shard(set: NightlySequence[], i: number, n: number): NightlySequence[] {
  return set.filter((s) => s.index % n === i - 1);
}

/** `--shard I/N`, read; bad input named in one sentence. */
export function parseShard(text: string): { i: number; n: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const i = Number(m?.[1]);
  const n = Number(m?.[2]);
  if (!m || n < 1 || i < 1 || i > n)
    throw new Error(`--shard ${text}: give I/N with 1 ≤ I ≤ N, e.g. --shard 2/8`);
  return { i, n };
}

export interface PairCoverage {
  allowed: number;
  covered: number;
  /** the nightly set's sequences, and the operations they perform (first applies aside) */
  sequences: number;
  operations: number;
  /** how many sequences start with each init method (their seeds draw it) */
  init: Record<string, number>;
  /** allowed pairs no sequence performs */
  uncovered: string[];
}

export function pairCoverage(version: number, catalog = CATALOG): PairCoverage {
  const allowed = allowedPairs(version, catalog);
  const set = nightlySet(version, catalog);
  const covered = new Set(set.flatMap((s) => pairsOf(version, s.ops, catalog)));
  return {
    allowed: allowed.size,
    covered: [...allowed].filter((p) => covered.has(p)).length,
    sequences: set.length,
    operations: set.reduce((n, s) => n + s.ops.length, 0),
    init: set.reduce<Record<string, number>>((n, s) => {
      const { method } = drawn(s.seed, version, { names: s.ops });
      n[method] = (n[method] ?? 0) + 1;
      return n;
    }, {}),
    uncovered: [...allowed].filter((p) => !covered.has(p)),
  };
}
