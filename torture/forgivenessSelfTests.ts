import { type CheckName, type Finding, Found } from './checks.js';
import {
  judgeLoss,
  judgeReadinessVerify,
  judgeRollbackChanges,
  judgeRollbackExtra,
  type LossReading,
  type ReadinessVerify,
  type RollbackReading,
} from './forgiveness.js';
import type { Row } from './rows.js';
import { type Family, markOf } from './writes.js';

/**
 * A self-test per bound of forgiveness (forgiveness.ts, its checks named in checks.ts), without a
 * server: what steep printed and what the harness read around it, agreeing (`baseline`: the
 * judge finds nothing), then changed in one way so that this check, and no other, must disagree.
 * test/unit/tortureOracle.test.ts runs each with the oracle's own (oracleSelfTests.ts), and again
 * with its check removed, where it must fail.
 */
export interface BoundSelfTest {
  check: CheckName;
  name: string;
  /** the judge's findings on the changed input, the checks in `without` removed */
  run: (without: ReadonlySet<CheckName>) => Finding[];
}

/** A bound: its judge and an input on which it agrees. */
interface Bound<I> {
  name: string;
  baseline: () => I;
  judge: (found: Found, input: I) => void;
}

function bound<I>(b: Bound<I>) {
  return {
    /** the judge's findings on the baseline: none */
    agrees: (): Finding[] => {
      const found = new Found();
      b.judge(found, b.baseline());
      return found.list;
    },
    /** a self-test of `check`: the baseline changed by `change` */
    test: (check: CheckName, name: string, change: (input: I) => void): BoundSelfTest => ({
      check,
      name,
      run: (without) => {
        const input = b.baseline();
        change(input);
        const found = new Found(without);
        b.judge(found, input);
        return found.list;
      },
    }),
  };
}

const [id, parent] = [(n: number) => markOf('t_ids', n), (n: number) => markOf('t_parent', n)];

/**
 * A lagging failover: pa forked at 0/3000000, pb applied up to 0/3000100. Id 1 committed before
 * the fork, id 2 after it but before pb's bound (both on pb); id 3 after the bound and family 7
 * (the last write of its loop: no bound) are lost and not on pb.
 */
const loss = bound<{ printed: string; reading: LossReading }>({
  name: 'lagging failover',
  baseline: () => {
    const committed = new Map([
      [id(1), '0/2FFF000'],
      [id(2), '0/3000080'],
      [id(3), '0/3000200'],
    ]);
    return {
      printed:
        'ts1  diverged  writes lost with the old primary: it had committed at least up to 0/3000100 on timeline 1 (pb applied that far from it), past the fork at 0/3000000; what it committed after 0/3000000 is not on pa_standby',
      reading: {
        forkedAt: '0/3000000',
        lost: [id(3), parent(7)],
        acked: [id(1), id(2), id(3), parent(7)],
        notOnPb: new Set([id(3), parent(7)]),
        committedBefore: (mark) => committed.get(mark) ?? null,
      },
    };
  },
  judge: (found, i) => {
    judgeLoss(found, i.printed, i.reading);
  },
});

const verifyPrinted = (tIds: string, keyless: string, only: string) =>
  [
    'Verify of subscription ts1 (pa_standby → pb): 2 tables differ (1.2 s)',
    `  public.t_ids  diverged  3,120 rows, 4 chunks (2 identical)  ${tIds}  0.4 s`,
    `  public.t_keyless  diverged  560 rows, 1 chunks (0 identical)  ${keyless}  0.1 s`,
    '  public.t_parent  equal  1,000 rows, 1 chunks (1 identical)  0.1 s',
    only,
  ].join('\n');

const keyless = (n: number): Row[] =>
  Array.from({ length: n }, (_, k) => ({
    table: 't_keyless',
    key: 1_000_000 + k,
    v: `r${k}`,
    gone: false,
    at: 'pa',
    doubt: null,
    valueKnown: true,
  }));

/**
 * Readiness lost: the file's verify counts 4 rows only on pb (pb held 5, then 4: a delete applied
 * between), 3 lost writes among them; 2 lost rows of t_keyless on pb, 2 counted different there.
 */
/** A readiness-lost verify's reading; `what`: its exit code and what it printed. */
const readinessReading = (what: Pick<ReadinessVerify, 'code' | 'printed'>): ReadinessVerify => ({
  command: 'steep verify ts1',
  ...what,
  file: true,
  lostWrites: 3,
  before: 5,
  after: 4,
  rowsOnPb: keyless(2),
});

const readiness = bound<ReadinessVerify>({
  name: 'readiness lost',
  baseline: () =>
    readinessReading({
      code: 2,
      printed: verifyPrinted(
        'missing 0, extra 4, different 0',
        'missing 0, extra 0, different 2',
        '4 extra row(s) exist only on pb and are deleted, 2 different row(s) take pa_standby values',
      ),
    }),
  judge: (found, v) => {
    judgeReadinessVerify(found, v);
  },
});

const failing =
  "error: verify cannot compare subscription ts1: its workers on pb are failing (errors rose from 5 to 6 while verify waited for it to replay past the publisher's WAL position 0/23B6798), so it does not replay; steep status says why: run verify again once it is synchronized";

/**
 * The same, the file's verify refused (its workers failing after the failover), naming the way
 * out that keeps pb's rows first: nothing counted, nothing forgiven, the copy follows.
 */
const readinessRefused = bound<ReadinessVerify>({
  name: 'readiness lost, verify refused',
  baseline: () =>
    readinessReading({
      code: 1,
      printed: `${failing}; after the failover of pa, steep cannot show that pb holds nothing past its fork, and where its workers do not stream again, the rows pb applied past the fork are writes of the old primary that pa lacks, and pb (with the old primary's data directory) may hold their only copy: copy what pb must keep to pa first, then steep reinit ts1 --full --discard-past-fork deletes them and copies its tables again`,
    }),
  judge: (found, v) => {
    judgeReadinessVerify(found, v);
  },
});

const rollbackPrinted = [
  'Verify of subscription ts1 (pa → pb): 3 tables differ (1.1 s)',
  '  public.t_ids  diverged  3,120 rows, 4 chunks (2 identical)  missing 0, extra 1,012, different 0  0.4 s',
  '  public.t_parent  diverged  1,000 rows, 1 chunks (0 identical)  missing 1, extra 2, different 1  0.1 s',
  '  public.t_keyless  diverged  560 rows, 1 chunks (0 identical)  missing 1, extra 0, different 1  0.1 s',
].join('\n');

/** A rollback without --reverse: verify counts 1,012 extra in t_ids, what pb held and its ids stayed there. */
const rollbackExtra = bound<RollbackReading>({
  name: 'rollback extra',
  baseline: () => ({ verified: rollbackPrinted, stayed: 1_012, onlyOnPb: [1_012, 1_012], copyAsked: false }),
  judge: (found, r) => {
    judgeRollbackExtra(found, r);
  },
});

const family = (parentId: number): Family => ({
  parent: parentId,
  child: parentId,
  v: 'u',
  childV: 'c',
  gone: false,
  at: 'pb',
  doubt: null,
});

/** After it: 2 families pb updated or deleted (1 missing, 1 different counted in t_parent), 2 rows of t_keyless (2 counted). */
const rollbackChanges = bound<{ families: Family[]; rows: Row[] }>({
  name: 'rollback changes',
  baseline: () => ({ families: [family(1), family(2)], rows: keyless(2) }),
  judge: (found, i) => {
    judgeRollbackChanges(found, rollbackPrinted, i.families, i.rows);
  },
});

/** the bounds, each agreeing on its baseline (test/unit/tortureOracle.test.ts) */
export const BOUNDS = [loss, readiness, readinessRefused, rollbackExtra, rollbackChanges];

export const BOUND_SELF_TESTS: BoundSelfTest[] = [
  loss.test('loss-fork-is-timeline-fork', 'steep prints a fork the timeline history does not hold', (i) => {
    i.reading.forkedAt = '0/2F00000';
  }),
  loss.test('no-loss-before-fork', 'a write committed before the fork steep printed is lost', (i) => {
    i.reading.lost.push(id(1));
  }),
  loss.test(
    'applied-before-bound-on-pb',
    'a write pa committed before the position steep printed is not on pb',
    (i) => {
      i.reading.notOnPb = new Set([...i.reading.notOnPb, id(2)]);
    },
  ),
  readiness.test(
    'readiness-lost-extra-counted',
    'verify counts 4 rows only on pb, pb held 2 its publisher lacked',
    (v) => {
      v.before = 2;
      v.after = 2;
    },
  ),
  readiness.test(
    'readiness-lost-rows-counted',
    '3 lost rows of t_keyless on pb, verify counted 2 differing there',
    (v) => {
      v.rowsOnPb = keyless(3);
    },
  ),
  rollbackExtra.test(
    'rollback-extra-counted',
    '1,015 of the ids pb acknowledged stay there, verify counted 1,012 extra',
    (r) => {
      r.stayed = 1_015;
    },
  ),
  rollbackChanges.test(
    'rollback-families-counted',
    '3 families pb last wrote not on pa, verify counted 2 missing or different in t_parent',
    (i) => {
      i.families.push(family(3));
    },
  ),
  rollbackChanges.test(
    'rollback-rows-counted',
    '3 rows of t_keyless pb last wrote not on pa, verify counted 2 differing there',
    (i) => {
      i.rows = keyless(3);
    },
  ),
];
