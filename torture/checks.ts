/**
 * Every check the oracle (oracle.ts) makes, by a stable name: what it holds steep and the world
 * to; and every bound of what an operation forgives (forgiveness.ts: the counts and positions
 * steep printed against the data). A disagreement carries the name of the check that found it;
 * `OracleOptions.without` (a bound's `without`) removes checks (what a self-test is shown failing
 * without). Each check has a self-test (oracleSelfTests.ts, forgivenessSelfTests.ts) in which it
 * alone must fire; test/unit/tortureOracle.test.ts fails for a check without one, and shows each
 * self-test failing with its check removed.
 */
export const CHECKS = {
  'writes-go-on':
    'the application gets new writes acknowledged on the node steep calls primary within the ceiling',
  'no-write-error-outside-blackout':
    'no write of the application failed since the last look outside a blackout an operation declared',
  'no-slow-write-outside-blackout':
    'no write of the application took longer than the write ceiling outside a declared blackout',
  'acked-ids-on-primary':
    'every id the application saw acknowledged is on the node steep calls primary, the forgiven ones aside',
  'acked-families-on-primary':
    "every family (a t_parent row and its t_child) holds on the node steep calls primary what the application's acknowledged INSERT, UPDATE and DELETE left, the forgiven ones aside",
  'acked-rows-on-primary':
    'every row of t_ids, t_keyless and t_link the application wrote holds on the node steep calls primary what its acknowledged INSERT, UPDATE and DELETE left, the forgiven ones aside',
  'status-answers': 'steep status --json answers with a report within the ceiling',
  'status-settles':
    'every subscription steep status lists settles (synchronized, stopped, diverged, failed, or failing with reasons) within the ceiling',
  'file-nodes-listed': 'steep status lists every node of steep.yaml',
  'file-nodes-readable': 'steep status reads every node of steep.yaml (they are up)',
  'no-foreign-node': 'steep status lists no node steep.yaml does not name',
  'declared-subscriptions-listed': 'steep status lists every subscription steep.yaml declares, as declared',
  'no-stray-subscription':
    'a subscription steep.yaml does not declare exists only where an operation made and expects it',
  'subscription-on-file-nodes': 'every subscription steep status lists is on nodes of steep.yaml',
  'existence-known': 'steep status tells whether each subscription exists',
  'synchronized-slot-on-publisher': 'a subscription steep calls synchronized has its slot on its publisher',
  'synchronized-rows-equal':
    "a subscription steep calls synchronized holds exactly its publisher's rows once caught up (count and checksum of every column)",
  'check-names-problem':
    'steep status --check exits 2 naming a declared subscription whose rows differ, that does not exist, or that steep calls failing',
  'drift-names-problem':
    'steep drift exits 2 naming a declared subscription whose rows differ, that does not exist, or that steep calls failing',
  // the bounds of forgiveness (forgiveness.ts), checked where the operation forgives
  'loss-fork-is-timeline-fork':
    "a lagging failover: steep's `writes lost with the old primary` prints its positions, and the fork it prints is where the promoted node's timeline history says it forked",
  'no-loss-before-fork':
    'a lagging failover forgives no lost write that committed on the old primary before the fork steep printed',
  'applied-before-bound-on-pb':
    'a lagging failover forgives only where every write the old primary committed before the position steep printed (`committed at least up to PAST`) is on pb as the application left it',
  'readiness-lost-extra-counted':
    "readiness lost: each verify status names counts, as rows only on pb, between those pb held before and after it; where lost writes are on pb it counts some (the file's exiting 2)",
  'readiness-lost-rows-counted':
    "readiness lost: a verify's lost rows found on pb are forgiven, per table, no more than its line counted missing, extra, different or changing",
  'rollback-extra-counted':
    "a rollback without --reverse: its verify counts, in t_ids, between the rows pb held and pa lacked around it, and no fewer than the application's ids left on pb (unless its check asked for their copy by hand)",
  'rollback-families-counted':
    'a rollback without --reverse forgives the families pb last wrote that pa does not hold as pb left them no more than its verify counted missing and different in t_parent',
  'rollback-rows-counted':
    'a rollback without --reverse forgives the rows pb last wrote that pa does not hold as pb left them, per table, no more than its verify counted differing there',
} as const;

export type CheckName = keyof typeof CHECKS;

export const CHECK_NAMES = Object.keys(CHECKS) as CheckName[];

/** A disagreement of the oracle: the check that found it, and what it found. */
export interface Finding {
  check: CheckName;
  text: string;
}

/** The findings of one look; a check in `without` is removed: it neither fires nor stops a look. */
export class Found {
  readonly list: Finding[] = [];
  constructor(private readonly without: ReadonlySet<CheckName> = new Set()) {}
  /** whether `check` is made */
  on(check: CheckName): boolean {
    return !this.without.has(check);
  }
  add(check: CheckName, text: string): void {
    if (this.on(check)) this.list.push({ check, text });
  }
  /** each finding as a sentence led by its check's name */
  get sentences(): string[] {
    return this.list.map((f) => `[${f.check}] ${f.text}`);
  }
}
