/**
 * The one catalog of the repairs steep prints for a user to run (docs/repair.md, "Advice"): the
 * steep commands and steep.yaml edits that move rows. Each entry knows what following it does to
 * data — the node it writes, whether it deletes or overwrites rows there, which way it copies —
 * and the gate that holds it when run. An entry that deletes or overwrites a subscriber's rows is
 * never printed where those rows may be the only copy (`onlyCopy`): the subscription disabled
 * (after a switchover its subscriber is the primary, and the publisher is the fenced old one), or
 * its tables on the subscriber also filled by another publisher (origin = none). What is printed
 * there instead says what is true and what is safe: compare (read-only), copy by hand.
 */

import type { SubscriptionSpec } from './topology.js';

export type AdviceEntry =
  | 'verify'
  | 'verifyRepair'
  | 'reinitTables'
  | 'reinitFull'
  | 'reinitFullPastFork'
  | 'existingDataTruncate'
  | 'initCancel';

export interface AdviceEffect {
  /** the node whose rows following it writes (null: it only reads) */
  writes: 'subscriber' | null;
  /** it deletes or overwrites rows on the node it writes */
  destroys: boolean;
  /** rows copied, and which way */
  copies: 'publisher to subscriber' | null;
  /** what holds it back when run without a terminal: the flag that lets it go ahead */
  gate: string | null;
}

/**
 * The flag by which `steep reinit SUB --full` deletes rows its subscriber may hold the only copy
 * of after a failover (applied from the old primary past the fork): the user's word that what the
 * subscriber must keep is on the publisher; no environment variable stands in for it.
 */
export const DISCARD_PAST_FORK = '--discard-past-fork';

export const ADVICE: Readonly<Record<AdviceEntry, AdviceEffect>> = {
  // read-only sessions on both nodes; records its verdict in steep's state schema only
  verify: { writes: null, destroys: false, copies: null, gate: null },
  // a reinit of the tables that differ: their rows on the subscriber are replaced by the publisher's
  verifyRepair: {
    writes: 'subscriber',
    destroys: true,
    copies: 'publisher to subscriber',
    gate: '--allow-destroy',
  },
  reinitTables: {
    writes: 'subscriber',
    destroys: true,
    copies: 'publisher to subscriber',
    gate: '--auto-approve',
  },
  reinitFull: {
    writes: 'subscriber',
    destroys: true,
    copies: 'publisher to subscriber',
    gate: '--auto-approve',
  },
  // the full copy after a failover that may have left the subscriber the only copy of rows past
  // the fork: --auto-approve (STEEP_AUTO_APPROVE) alone does not delete them, the flag says they were kept
  reinitFullPastFork: {
    writes: 'subscriber',
    destroys: true,
    copies: 'publisher to subscriber',
    gate: DISCARD_PAST_FORK,
  },
  // apply empties the subscriber's tables, then copies the publisher's rows into them
  existingDataTruncate: {
    writes: 'subscriber',
    destroys: true,
    copies: 'publisher to subscriber',
    gate: '--allow-hazard truncates-data',
  },
  // drops the subscription and empties what its copy filled
  initCancel: { writes: 'subscriber', destroys: true, copies: null, gate: '--allow-destroy' },
};

/**
 * Where the subscription's tables come back to its publisher (`back`: the subscription the
 * other way, origin = none): `steep reinit` reconciles those in place (a row only one node
 * holds goes to the other, a key on both takes the publisher's row), never empties them, and
 * only while the subscription streams (`enabled`), so a disabled one has no steep repair.
 */
export interface WayBack {
  back: string;
  enabled: boolean;
}

/**
 * A subscription a failover verdict speaks of, with its way back where its tables have one, and
 * (`connectsTo`) the address its connection names where that is not its publisher's (the old
 * primary, until steep apply re-points it): its reinit comes after that apply.
 */
export type FailoverSubject = SubscriptionSpec & { wayBack?: WayBack; connectsTo?: string };

/** Where the connection still names another node: the apply that re-points it, which the reinit follows. */
export function afterRepoint(d: FailoverSubject): string {
  return d.connectsTo
    ? `, once steep apply has re-pointed its connection to ${d.from} (it names ${d.connectsTo} now)`
    : '';
}

/**
 * The way out of phantom rows (a subscriber that applied the old primary's changes past the fork
 * of a failover): a full copy replaces them, and they are the old primary's commits past the
 * fork, which the application may have seen acknowledged and the promoted node lacks: what the
 * subscriber must keep goes to the publisher first. The one text of the failover's verdict
 * (planner/failover/failoverPromotion.ts), `verify` and `reinit` refusing a slot beyond the
 * publisher's WAL.
 */
export function keepPhantomsFirst(d: FailoverSubject): string {
  const rows = `the rows ${d.node} applied past the fork are writes of the old primary that ${d.from} lacks, and ${d.node} (with the old primary's data directory) may hold their only copy`;
  if (d.wayBack && !d.wayBack.enabled) return `${rows}: ${noRepairWhileDisabled(d, d.wayBack.back, true)}`;
  return `${rows}: copy what ${d.node} must keep to ${d.from} first, then ${adviceText('reinitFullPastFork', d.name)} ${fullCopyDoes(d, 'deletes them and copies its tables again')}${afterRepoint(d)}`;
}

/**
 * What `steep reinit SUB --full` does to the subscription's tables (`plain`: where none comes
 * back to the publisher), or, disabled with tables that do, that steep has no repair for it.
 */
export function fullCopyDoes(d: FailoverSubject, plain: string): string {
  if (!d.wayBack) return plain;
  return `reconciles the tables it shares with ${d.wayBack.back} in place (a row only one node holds goes to the other, a key on both takes ${d.from}'s row; so a row deleted on ${d.from} since the failover, a delete ${d.node} never received, comes back; each row it copies back is kept in merge_log, strategy copied-back) and copies the others again`;
}

/**
 * A disabled subscription a failover left diverged whose tables come back to the publisher
 * through `back`: reinit reconciles them only while it streams, and enabling it resumes past the
 * fork, so steep names no command (one would refuse): the rows go by hand (docs/failover.md).
 */
export function noRepairWhileDisabled(d: SubscriptionSpec, back: string, phantoms: boolean): string {
  return (
    `${d.name} is disabled and its tables come back to ${d.from} through ${back} (origin = none), which steep reinit reconciles only while ${d.name} streams, and enabling it resumes past the fork, so steep has no repair for it: ` +
    `${phantoms ? `copy what ${d.node} must keep to ${d.from} by hand, and ` : ''}copy what ${d.from} wrote past the fork to ${d.node} by hand (docs/failover.md)`
  );
}

/**
 * What the confirmation of such a full copy adds (`steep reinit`, asked or refused without a
 * terminal): which rows it deletes, why they may be the only copy, and what goes first.
 */
export function pastForkDeleted(d: Pick<SubscriptionSpec, 'node' | 'from'>): string {
  return (
    `among them the rows ${d.node} applied past the fork of ${d.from}'s failover, writes of the old primary that ${d.from} lacks and ${d.node} may hold the only copy of ` +
    `(copy what ${d.node} must keep to ${d.from} first)`
  );
}

/**
 * keepPhantomsFirst where steep cannot show whether the subscriber applied anything past the fork
 * (`why`): it says so and names the same way out, as a full copy before it would empty rows that
 * may be the only copy.
 */
export function keepPhantomsIfAny(d: FailoverSubject, why: string): string {
  return `steep cannot show that ${d.node} applied nothing past the fork (${why}); if it did, ${keepPhantomsFirst(d)}`;
}

/** The subscription an entry is about, and why its subscriber's rows may be the only copy (null: they are not). */
export interface AdviceSubject {
  subscription: string;
  node: string;
  from: string;
  onlyCopy: string | null;
  /** the `links:` entry the subscription comes from: its init takes no existingData (validate refuses it) */
  link?: string;
}

/**
 * Why `node`'s rows of `subscription` may be the only copy, or null. `enabled`: the file's
 * `enabled`; `observedEnabled`: the subscription's on the node (null: not there or unread);
 * `otherPublishers`: the other publishers whose subscriptions on the same node carry its tables.
 */
export function onlyCopyReason(facts: {
  subscription: string;
  node: string;
  enabled: boolean;
  observedEnabled: boolean | null;
  otherPublishers?: readonly string[];
}): string | null {
  if (!facts.enabled || facts.observedEnabled === false)
    return (
      `subscription ${facts.subscription} is disabled (after a switchover ${facts.node} is the primary), ` +
      `so rows only ${facts.node} holds may be the only copy`
    );
  const others = facts.otherPublishers ?? [];
  if (others.length > 0)
    return `${facts.node} also receives these tables from ${others.join(', ')} (origin = none), whose rows a repair from one publisher would delete`;
  return null;
}

/** The entry's text as the user runs it (a command) or makes it (a file edit). */
export function adviceText(entry: AdviceEntry, subscription: string, tables: readonly string[] = []): string {
  switch (entry) {
    case 'verify':
      return `steep verify ${subscription}${tables.length > 0 ? ` --tables ${tables.join(',')}` : ''}`;
    case 'verifyRepair':
      return `steep verify ${subscription}${tables.length > 0 ? ` --tables ${tables.join(',')}` : ''} --repair`;
    case 'reinitTables':
      return `steep reinit ${subscription} --tables ${tables.join(',')}`;
    case 'reinitFull':
      return `steep reinit ${subscription} --full`;
    case 'reinitFullPastFork':
      return `steep reinit ${subscription} --full ${DISCARD_PAST_FORK}`;
    case 'existingDataTruncate':
      return 'set init.existingData: truncate (apply empties them and copies again)';
    case 'initCancel':
      return `steep init cancel ${subscription}`;
  }
}

/**
 * The entry for `subject` (followed by `what`, the words saying what it does), or — when it would
 * delete or overwrite rows that may be the only copy — what is true instead: the reason, and the
 * read-only comparison that counts those rows.
 */
export function advise(
  entry: AdviceEntry,
  subject: AdviceSubject,
  tables: readonly string[] = [],
  what = '',
): string {
  if (entry === 'existingDataTruncate' && subject.link !== undefined) return linkInstead(subject, tables);
  if (!printable(entry, subject)) return withheld(subject, tables);
  return `${adviceText(entry, subject.subscription, tables)}${what === '' ? '' : ` ${what}`}`;
}

/** What is printed instead of a repair that would replace rows that may be the only copy. */
export function withheld(subject: AdviceSubject, tables: readonly string[] = []): string {
  return (
    `${subject.onlyCopy}: steep suggests no repair that replaces ${subject.node}'s rows with ${subject.from}'s; ` +
    `${adviceText('verify', subject.subscription, tables)} counts what differs (read-only), and what ${subject.node} must keep is copied by hand`
  );
}

/** Whether `entry` may be printed for `subject` as it is (false: `advise` says what is true instead). */
export function printable(entry: AdviceEntry, subject: AdviceSubject): boolean {
  if (entry === 'existingDataTruncate' && subject.link !== undefined) return false;
  return !ADVICE[entry].destroys || subject.onlyCopy === null;
}

/** A link's copy over rows: what its file can say (a link's init has no existingData). */
function linkInstead(subject: AdviceSubject, tables: readonly string[]): string {
  const which = tables.length > 0 ? tables.join(', ') : 'them';
  return (
    `link ${subject.link}'s init takes no existingData: empty ${which} on ${subject.node} by hand if ${subject.from}'s rows are to replace them, ` +
    `or set links.${subject.link}.init.method: merge to reconcile both sides`
  );
}

/**
 * What enables a subscription a failover left diverged and disabled: its full reinit (with
 * --discard-past-fork where it may hold rows past the fork); none where its tables come back to
 * the publisher (reinit reconciles those only while it streams).
 */
export function divergedWayOut(
  subscriptions: Readonly<Record<string, SubscriptionSpec>>,
  d: SubscriptionSpec,
  pastFork: boolean,
): string {
  const back = Object.values(subscriptions).find((s) => s.node === d.from && s.from === d.node);
  if (back) return noRepairWhileDisabled(d, back.name, pastFork);
  return pastFork
    ? `once what ${d.node} must keep is on ${d.from}, ${adviceText('reinitFullPastFork', d.name)} copies its tables again and enables it`
    : `${adviceText('reinitFull', d.name)} enables it once its tables are copied again`;
}
