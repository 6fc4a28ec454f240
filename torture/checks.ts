/**
 * Every check the oracle (oracle.ts) makes, by a stable name: what it holds steep and the world
 * to. A disagreement carries the name of the check that found it; `OracleOptions.without` removes
 * checks (what a self-test is shown failing without). Each check has a self-test
 * (oracleSelfTests.ts) in which it alone must fire; test/unit/tortureOracle.test.ts fails for a
 * check without one, and shows each self-test failing with its check removed.
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
} as const;

export type CheckName = keyof typeof CHECKS;

export const CHECK_NAMES = Object.keys(CHECKS) as CheckName[];

/** A disagreement of the oracle: the check that found it, and what it found. */
export interface Finding {
  check: CheckName;
  text: string;
}
