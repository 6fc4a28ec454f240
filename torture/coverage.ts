import { CHECK_NAMES, type CheckName } from './checks.js';
import { drawable, drawn, planned } from './commands.js';
import { type PairCoverage, pairCoverage } from './nightly.js';
import { CATALOG, OPEN_OPERATIONS } from './operations.js';
import { CHECK_SELF_TESTS } from './oracleSelfTests.js';
import { SELF_TESTS } from './selfTests.js';

/**
 * The CI seed set, by version: fast-check seeds whose first sequence (what `npm run torture --
 * --seed S --runs 1` runs) performs, together with the others of the version, every operation of
 * the catalog that runs there, less the open ones, and every init method (6 seeds each: a sequence
 * switches over once, and there are six switchover operations; none drawing two failovers). test/unit/tortureCoverage checks it from the draw alone (no server), so a
 * catalog change that leaves an operation undrawn fails there, before any run. The suite runs one
 * seed of the set per run (`ciRun`), so CI's share stays one sequence and the self-tests.
 */
export const CI_SEEDS: Record<16 | 17 | 18, number[]> = {
  16: [104, 3682, 82, 1654, 738, 3804],
  17: [5882, 4564, 1679, 2405, 3174, 1474],
  18: [4683, 2860, 5926, 509, 178, 994],
};

/**
 * The seeds test/cli/torture.test.ts runs on `version`: one of the set, rotating with the UTC
 * day (the set is covered every 6 days; the test's name says which, its failure the replay), or
 * the whole set with TORTURE_CI=all. The versions are the fault-injection files' (18 unless
 * STEEP_TEST_PG names others: `npm run test:matrix` runs 16 and 17's).
 */
export function ciRun(version: number, env = process.env, now = Date.now()): number[] {
  const set = CI_SEEDS[version as 16 | 17 | 18] ?? [];
  if (env.TORTURE_CI === 'all' || set.length === 0) return set;
  return [set[Math.floor(now / 86_400_000) % set.length]!];
}

export const COVERED_VERSIONS = [16, 17, 18] as const;
const METHODS = ['snapshot', 'own-copy', 'two-phase'] as const;

export interface Coverage {
  /** every operation of the catalog */
  operations: string[];
  /** the open operations (never drawn by CI's seeds) and the issue each waits for */
  open: Record<string, string>;
  /** per version: how many times CI's seeds draw each drawable operation */
  ci: Record<string, Record<string, number>>;
  /** per version: how many of CI's seeds draw each init method */
  ciInit: Record<string, Record<string, number>>;
  /** the oracle's self-tests on real servers (each must make it disagree) */
  selfTests: string[];
  /**
   * every check of the oracle (checks.ts), its self-test without a server (oracleSelfTests.ts;
   * null: none, a gap) and those on real servers (selfTests.ts) that it must name
   */
  checks: { name: CheckName; selfTest: string | null; realWorld: string[] }[];
  /** per version: the ordered pairs of operations the model allows, and those the nightly set performs */
  pairs: Record<string, PairCoverage>;
}

export function coverage(seeds: Record<number, number[]> = CI_SEEDS): Coverage {
  const ci: Coverage['ci'] = {};
  const ciInit: Coverage['ciInit'] = {};
  for (const v of COVERED_VERSIONS) {
    const ops: Record<string, number> = Object.fromEntries(drawable(v).map((op) => [op.name, 0]));
    const methods: Record<string, number> = Object.fromEntries(METHODS.map((m) => [m, 0]));
    for (const seed of seeds[v] ?? []) {
      const seq = drawn(seed, v);
      methods[seq.method] = (methods[seq.method] ?? 0) + 1;
      for (const op of planned(v, seq)) ops[op.name] = (ops[op.name] ?? 0) + 1;
    }
    ci[v] = ops;
    ciInit[v] = methods;
  }
  return {
    operations: CATALOG.map((op) => op.name),
    open: OPEN_OPERATIONS,
    ci,
    ciInit,
    selfTests: SELF_TESTS.map((t) => t.name),
    checks: CHECK_NAMES.map((name) => ({
      name,
      selfTest: CHECK_SELF_TESTS.find((t) => t.check === name)?.name ?? null,
      realWorld: SELF_TESTS.filter((t) => t.check === name).map((t) => t.name),
    })),
    pairs: Object.fromEntries(COVERED_VERSIONS.map((v) => [v, pairCoverage(v)])),
  };
}

/** What CI's seeds leave undrawn, one sentence each (none: every version covered). */
export function gaps(c: Coverage): string[] {
  const out: string[] = [];
  for (const [v, ops] of Object.entries(c.ci))
    for (const [op, n] of Object.entries(ops))
      if (n === 0) out.push(`PostgreSQL ${v}: no CI seed draws ${op}`);
  for (const [v, methods] of Object.entries(c.ciInit))
    for (const [m, n] of Object.entries(methods))
      if (n === 0) out.push(`PostgreSQL ${v}: no CI seed inits with ${m}`);
  for (const check of c.checks)
    if (!check.selfTest) out.push(`the oracle's check ${check.name} has no self-test`);
  for (const [v, p] of Object.entries(c.pairs))
    for (const pair of p.uncovered) out.push(`PostgreSQL ${v}: the nightly set never performs ${pair}`);
  return out;
}
