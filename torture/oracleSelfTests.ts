import type { StatusReport, SubscriptionStatus } from '../src/model/statusReport.js';
import type { CliResult } from '../test/support/cli.js';
import { subscriptionStatus } from '../test/support/statusReport.js';
import type { CheckName, Finding } from './checks.js';
import { BOUND_SELF_TESTS, type BoundSelfTest } from './forgivenessSelfTests.js';
import {
  type FileNode,
  type OracleOptions,
  type OracleReads,
  type OracleState,
  oracleFindings,
} from './oracle.js';
import { type HeldRow, type Row, rowHolds } from './rows.js';
import {
  type Blackout,
  type Family,
  familyHolds,
  type HeldFamily,
  markOf,
  type SlowWrite,
  type WriterError,
} from './writes.js';

/**
 * A self-test per check of the oracle (checks.ts), without a server: a world that agrees with
 * steep in every way (`FakeWorld`: its record, its rows and slots, and what steep prints, as the
 * oracle reads them), then changed in one way (`change`) so that this check, and no other, must
 * disagree. test/unit/tortureOracle.test.ts runs each, and runs it again with its check removed
 * (`OracleOptions.without`): it must fail then. The self-tests of selfTests.ts break a real world
 * behind steep's back instead (test/cli/torture.test.ts).
 */
export interface OracleSelfTest {
  check: CheckName;
  name: string;
  /** the oracle's ceilings here (short where the case waits for what never comes) */
  opts?: OracleOptions;
  change: (w: FakeWorld) => void;
}

/** A self-test of a check: of the oracle's, on a fake world; of a bound of forgiveness, on its judge's input. */
export type CheckSelfTest = OracleSelfTest | BoundSelfTest;

const Q = { settleMs: 300, writesMs: 300 } satisfies OracleOptions;

/** a subscription as steep status lists it: ts1 on pb from pa, synchronized and agreeing */
export function listedSubscription(over: Partial<SubscriptionStatus> = {}): SubscriptionStatus {
  return subscriptionStatus({
    name: 'ts1',
    node: 'pb',
    from: 'pa',
    state: 'synchronized',
    tablesTotal: 1,
    tablesReady: 1,
    slot: 'ts1',
    ...over,
  });
}

const result = (code: number, stdout = ''): CliResult => ({ code, stdout, stderr: '', ms: 1 });
const node = (name: string) => ({ name, reachable: true, serverVersion: 180000, version: '18', error: null });

/** A world that agrees with steep: what the oracle reads, held in fields a self-test changes. */
export class FakeWorld implements OracleState, OracleReads {
  primary = 'pa';
  file: OracleState['file'] = { sub: 'ts1' };
  inbound = new Set<string>();
  expectedStrays = new Set<string>();
  forgiven = new Set<number>();
  forgivenFamilies = new Set<number>();
  forgivenRows = new Set<string>();
  writerErrors: WriterError[] = [];
  slowWrites: SlowWrite[] = [];
  blackouts: Blackout[] = [];
  /** whether the application's writes go on (each look at the count finds 10 more) */
  writing = true;
  private acked = 0;
  ackedIds = new Map<string, number[]>([['pa', [1_000_001, 1_000_002, 1_000_003]]]);
  idsOn: Record<string, number[]> = { pa: [1, 2, 1_000_001, 1_000_002, 1_000_003] };
  /** the ledger: a family as inserted, one updated, one deleted, one whose update is in doubt */
  ledger: Family[] = [
    { parent: 1001, child: 1001, v: 'a1', childV: 'child', gone: false, at: 'pa', doubt: null },
    { parent: 1002, child: 1002, v: 'u2', childV: 'c2', gone: false, at: 'pa', doubt: null },
    { parent: 1003, child: 1003, v: 'a3', childV: 'child', gone: true, at: 'pa', doubt: null },
    {
      parent: 1004,
      child: 1004,
      v: 'a4',
      childV: 'child',
      gone: false,
      at: 'pa',
      doubt: { v: 'u4', childV: 'c4', gone: false },
    },
  ];
  /** the families' rows on each node, by parent */
  familiesOn: Record<string, Map<number, HeldFamily>> = {
    pa: new Map([
      [1001, { v: 'a1', childV: 'child' }],
      [1002, { v: 'u2', childV: 'c2' }],
      [1004, { v: 'u4', childV: 'c4' }],
    ]),
  };
  /**
   * the rows of rows.ts: one inserted, one updated, one deleted, one whose delete is in doubt (still
   * there), one whose value moved between columns since its write (judged by its presence)
   */
  rowLedger: Row[] = [
    { table: 't_ids', key: 1_500_000_000, v: 'r1', gone: false, at: 'pa', doubt: null, valueKnown: true },
    { table: 't_keyless', key: 1_000_000, v: 'u2', gone: false, at: 'pa', doubt: null, valueKnown: true },
    { table: 't_link', key: 3_000_000_000, v: 'r3', gone: true, at: 'pa', doubt: null, valueKnown: true },
    {
      table: 't_keyless',
      key: 1_000_001,
      v: 'r4',
      gone: false,
      at: 'pa',
      doubt: { v: 'r4', gone: true },
      valueKnown: true,
    },
    { table: 't_ids', key: 1_500_000_001, v: 'r5', gone: false, at: 'pa', doubt: null, valueKnown: false },
  ];
  /** the rows' `v` on each node, by `markOf` */
  rowsOn: Record<string, Map<string, HeldRow>> = {
    pa: new Map([
      [markOf('t_ids', 1_500_000_000), { v: 'r1', copies: 1 }],
      [markOf('t_keyless', 1_000_000), { v: 'u2', copies: 1 }],
      [markOf('t_keyless', 1_000_001), { v: 'r4', copies: 1 }],
      [markOf('t_ids', 1_500_000_001), { v: '', copies: 1 }],
    ]),
  };
  slots: Record<FileNode, string[]> = { pa: ['ts1'], pb: [] };
  rows: Record<FileNode, { count: number; sum: string }> = {
    pa: { count: 5, sum: '42' },
    pb: { count: 5, sum: '42' },
  };
  report: StatusReport = {
    topology: 'torture',
    sampledAt: new Date(0).toISOString(),
    nodes: [node('pa'), node('pb')],
    subscriptions: [listedSubscription()],
    slots: [],
  };
  /** what steep prints, by its arguments (`status --json` prints `report`) */
  printed: Record<string, CliResult> = {
    'status --check': result(0, 'ts1 synchronized'),
    drift: result(0, 'no drift'),
    status: result(0, 'ts1 synchronized'),
  };
  readonly log: string[] = [];

  ackedCount(): number {
    if (this.writing) this.acked += 10;
    return this.acked;
  }
  acknowledged(): Map<string, number[]> {
    return this.ackedIds;
  }
  acknowledgedFamilies(): Map<string, Family[]> {
    return new Map([['pa', this.ledger]]);
  }
  acknowledgedRows(): Map<string, Row[]> {
    return new Map([['pa', this.rowLedger]]);
  }
  async rowsWrong(name: string, rows: Row[]): Promise<Row[]> {
    return rows.filter((r) => !rowHolds(r, this.rowsOn[name]?.get(markOf(r.table, r.key)) ?? null));
  }
  async familiesWrong(name: string, families: Family[]): Promise<Family[]> {
    return families.filter((f) => !familyHolds(f, this.familiesOn[name]?.get(f.parent) ?? null));
  }
  async stopWriters(): Promise<void> {}
  startWriters(): void {}
  async steep(args: string[]): Promise<CliResult> {
    const key = args.join(' ');
    if (key === 'status --json') return this.printed[key] ?? result(0, JSON.stringify(this.report));
    const r = this.printed[key];
    if (!r) throw new Error(`the fake world prints nothing for steep ${key}`);
    return r;
  }
  say(line: string): void {
    this.log.push(line);
  }
  tablesOf(): string[] {
    return ['t_ids'];
  }
  async ids(name: string): Promise<Set<number>> {
    return new Set(this.idsOn[name] ?? []);
  }
  async slotOn(name: FileNode, slot: string): Promise<boolean> {
    return this.slots[name].includes(slot);
  }
  async caughtUp(): Promise<void> {}
  async digests(name: FileNode, tables: string[]): Promise<Record<string, { count: number; sum: string }>> {
    return Object.fromEntries(tables.map((t) => [t, this.rows[name]]));
  }

  get ts1(): SubscriptionStatus {
    return this.report.subscriptions[0]!;
  }
}

const rowsDiffer = (w: FakeWorld) => {
  w.rows.pb = { count: 4, sum: '40' };
};

/** stopped, a row missing on pb: of status --check and drift, only `naming` says so */
const stoppedDiffering = (naming: 'status --check' | 'drift') => (w: FakeWorld) => {
  rowsDiffer(w);
  w.ts1.state = 'stopped';
  w.printed[naming] = result(2, 'ts1: rows differ');
};

const ORACLE_SELF_TESTS: OracleSelfTest[] = [
  {
    check: 'writes-go-on',
    name: 'no write acknowledged on the primary',
    opts: Q,
    change: (w) => {
      w.writing = false;
    },
  },
  {
    check: 'no-write-error-outside-blackout',
    name: 'a write failed between two declared blackouts',
    change: (w) => {
      const now = Date.now();
      w.blackouts.push({ why: 'a fence', from: now - 60_000, to: now - 30_000 });
      w.blackouts.push({ why: 'a crash', from: now - 10_000, to: null });
      w.writerErrors.push({ node: 'pa', code: '57P01', at: now - 20_000 });
    },
  },
  {
    check: 'no-slow-write-outside-blackout',
    name: 'a write blocked two minutes, a blackout of 5 s within them',
    change: (w) => {
      const now = Date.now();
      w.blackouts.push({ why: 'a fence', from: now - 60_000, to: now - 55_000 });
      w.slowWrites.push({ node: 'pa', from: now - 120_000, to: now });
    },
  },
  {
    check: 'acked-ids-on-primary',
    name: 'an acknowledged id not on the primary, another forgiven',
    change: (w) => {
      w.idsOn.pa = [1, 2, 1_000_001];
      w.forgiven.add(1_000_003);
    },
  },
  {
    check: 'acked-families-on-primary',
    name: 'an update and a delete the primary does not hold, the delete forgiven',
    change: (w) => {
      w.familiesOn.pa!.set(1002, { v: 'a2', childV: 'child' });
      w.familiesOn.pa!.set(1003, { v: 'a3', childV: 'child' });
      w.forgivenFamilies.add(1003);
    },
  },
  {
    check: 'acked-rows-on-primary',
    name: 'an update of t_keyless lost, a deleted t_link row back, a t_keyless row twice, a lost t_ids row forgiven',
    change: (w) => {
      const on = w.rowsOn.pa!;
      on.set(markOf('t_keyless', 1_000_000), { v: 'r2', copies: 1 });
      on.set(markOf('t_link', 3_000_000_000), { v: 'r3', copies: 1 });
      on.set(markOf('t_keyless', 1_000_001), { v: 'r4', copies: 2 });
      on.delete(markOf('t_ids', 1_500_000_000));
      w.forgivenRows.add(markOf('t_ids', 1_500_000_000));
    },
  },
  {
    check: 'status-answers',
    name: 'steep status --json exits 1 at every reading',
    opts: Q,
    change: (w) => {
      w.printed['status --json'] = result(1, 'cannot connect');
    },
  },
  {
    check: 'status-settles',
    name: 'a subscription copying past the ceiling',
    opts: Q,
    change: (w) => {
      w.ts1.state = 'copying';
    },
  },
  {
    check: 'file-nodes-listed',
    name: 'steep status leaves out node pb',
    change: (w) => {
      w.report.nodes = [node('pa')];
    },
  },
  {
    check: 'file-nodes-readable',
    name: 'steep status cannot read pb, which is up',
    change: (w) => {
      w.report.nodes[1] = { ...node('pb'), reachable: false, error: 'connection refused' };
    },
  },
  {
    check: 'no-foreign-node',
    name: 'steep status lists a node pz the file does not name',
    change: (w) => {
      w.report.nodes.push(node('pz'));
    },
  },
  {
    check: 'declared-subscriptions-listed',
    name: 'the file declares ts2, steep status lists only ts1',
    change: (w) => {
      w.file = { sub: 'ts2' };
    },
  },
  {
    check: 'no-stray-subscription',
    name: 'an undeclared subscription on pa that no operation made',
    change: (w) => {
      w.report.subscriptions.push(
        listedSubscription({ name: 'ts1_back', node: 'pa', from: 'pb', declared: false, slot: 'ts1_back' }),
      );
      w.slots.pb.push('ts1_back');
    },
  },
  {
    check: 'subscription-on-file-nodes',
    name: 'a declared subscription from a node pz the file does not name',
    change: (w) => {
      w.report.subscriptions.push(listedSubscription({ name: 'ts9', from: 'pz', slot: 'ts9' }));
    },
  },
  {
    check: 'existence-known',
    name: "the switchover's way back, its existence unknown",
    change: (w) => {
      w.expectedStrays.add('ts1_back');
      w.report.subscriptions.push(
        listedSubscription({
          name: 'ts1_back',
          node: 'pa',
          from: 'pb',
          declared: false,
          exists: null,
          unknown: 'permission denied for pg_subscription',
        }),
      );
    },
  },
  {
    check: 'synchronized-slot-on-publisher',
    name: 'synchronized, its slot gone from pa',
    change: (w) => {
      w.slots.pa = [];
    },
  },
  {
    check: 'synchronized-rows-equal',
    name: 'synchronized, a row missing on pb (status --check and drift name it)',
    change: (w) => {
      rowsDiffer(w);
      w.printed['status --check'] = result(2, 'ts1: rows differ');
      w.printed.drift = result(2, 'ts1: rows differ');
    },
  },
  {
    check: 'check-names-problem',
    name: 'stopped, a row missing on pb, status --check exits 0 (drift names it)',
    change: stoppedDiffering('drift'),
  },
  {
    check: 'drift-names-problem',
    name: 'stopped, a row missing on pb, drift exits 0 (status --check names it)',
    change: stoppedDiffering('status --check'),
  },
];

/** every check's self-test: the oracle's, then the bounds of forgiveness (forgivenessSelfTests.ts) */
export const CHECK_SELF_TESTS: CheckSelfTest[] = [...ORACLE_SELF_TESTS, ...BOUND_SELF_TESTS];

/**
 * The findings of the oracle on a fake world changed by `t` (of a bound's judge on its changed
 * input), the checks in `without` removed.
 */
export async function runCheckSelfTest(t: CheckSelfTest, without: CheckName[] = []): Promise<Finding[]> {
  if ('run' in t) return t.run(new Set(without));
  const w = new FakeWorld();
  t.change(w);
  return oracleFindings(w, w, { ...t.opts, without: new Set(without) });
}

/** Whether `t` passes: its check, and no other, disagrees. */
export function passes(t: CheckSelfTest, found: Finding[]): boolean {
  return found.length > 0 && found.every((f) => f.check === t.check);
}
