import { grantOnSequences } from '../model/privileges.js';
import type { SequenceAccess, SequenceLag, SequenceOutcome, SequenceState } from '../model/sequences.js';
import { displayTable, quoteLiteral, quoteTable } from '../model/sql.js';

/**
 * What `steep sequences sync` does to each subscriber sequence (pure): bring it to the
 * publisher's last value plus `headroom` in the sequence's direction (up for a positive
 * increment, down for a negative one), never back past where it already is unless
 * `allowBackwards`. `setval(…, true)`: the subscriber's next nextval returns target + increment.
 */

export interface SequenceSyncOptions {
  /** added to the publisher's value, in the sequence's direction (switchover's margin); 0 = exact */
  headroom: bigint;
  allowBackwards: boolean;
  publisher: string;
  subscriber: string;
}

export interface SequenceDecision {
  outcome: SequenceOutcome;
  /** the statement to run on the subscriber, when the outcome is `set` */
  sql: string | null;
}

export function decideSequence(
  source: { schema: string; name: string; last: string | null },
  target: SequenceState | undefined,
  opts: SequenceSyncOptions,
): SequenceDecision {
  const base = {
    sequence: displayTable(source),
    schema: source.schema,
    name: source.name,
    source: source.last,
    target: null as string | null,
    before: target?.last ?? null,
    after: target?.last ?? null,
  };
  const skip = (skip: SequenceOutcome['skip'], reason: string, from = base): SequenceDecision => ({
    outcome: { ...from, action: 'skipped', skip, reason },
    sql: null,
  });
  if (target === undefined)
    return skip('absent', `${base.sequence} does not exist on ${opts.subscriber}; create it there`);
  if (source.last === null) return skip('no-source', `${opts.publisher} has handed out no value of it yet`);
  const up = BigInt(target.increment) > 0n;
  const want = BigInt(source.last) + (up ? opts.headroom : -opts.headroom);
  const withTarget = { ...base, target: want.toString() };
  if (want > BigInt(target.max) || want < BigInt(target.min))
    return skip(
      'out-of-range',
      `${want} is outside its range on ${opts.subscriber} (${target.min} to ${target.max}); widen it with ALTER SEQUENCE`,
      withTarget,
    );
  const now = target.last === null ? null : BigInt(target.last);
  if (now === want)
    return { outcome: { ...withTarget, action: 'unchanged', skip: null, reason: null }, sql: null };
  const ahead = now !== null && (up ? now > want : now < want);
  if (ahead && !opts.allowBackwards)
    return skip(
      'ahead',
      `${opts.subscriber} is already past ${want} (at ${now}); moving it back needs --allow-backwards`,
      withTarget,
    );
  return {
    outcome: { ...withTarget, after: want.toString(), action: 'set', skip: null, reason: null },
    sql: `SELECT pg_catalog.setval(${quoteLiteral(quoteTable(source))}::regclass, ${want.toString()}, true)`,
  };
}

/**
 * How far the subscriber's sequence is behind the publisher's, when more than `threshold`
 * values (null otherwise). A sequence the publisher never used is never behind; one absent on
 * the subscriber always is.
 */
export function sequenceLag(
  source: SequenceState,
  target: SequenceState | undefined,
  threshold: bigint,
  where: { subscription: string; node: string; from: string },
): SequenceLag | null {
  if (source.last === null) return null;
  const base = { ...where, sequence: displayTable(source), publisher: source.last };
  if (target === undefined) return { ...base, subscriber: null, behind: null, absent: true };
  const up = BigInt(source.increment) > 0n;
  const src = BigInt(source.last);
  // never used: one step before its first value
  const tgt =
    target.last !== null ? BigInt(target.last) : up ? BigInt(target.min) - 1n : BigInt(target.max) + 1n;
  const behind = up ? src - tgt : tgt - src;
  if (behind <= threshold) return null;
  return { ...base, subscriber: target.last, behind: behind.toString(), absent: false };
}

/**
 * Before any setval (which no transaction undoes): the sync reads every sequence's value on the
 * source (SELECT), and reads and sets it on the target (SELECT, UPDATE; the owner has both).
 * One sentence per node that lacks some, naming the GRANT that fixes it; empty when none.
 * `source` null: the values come from elsewhere (a snapshot's manifest). `what` names who reads
 * and sets them, `after` what the refusal left.
 */
export function sequencePrivilegeErrors(
  seqs: readonly { schema: string; name: string }[],
  source: SequenceAccess | null,
  target: SequenceAccess,
  what: string,
  after = 'nothing was changed',
): string[] {
  const out: string[] = [];
  const sides: Array<[SequenceAccess, ReadonlyArray<'SELECT' | 'UPDATE'>]> = [[target, ['SELECT', 'UPDATE']]];
  if (source) sides.unshift([source, ['SELECT']]);
  for (const [at, wants] of sides) {
    // grouped by what each lacks, in the order of `seqs`
    const lacking = new Map<
      string,
      { missing: Array<'SELECT' | 'UPDATE'>; list: Array<{ schema: string; name: string }> }
    >();
    for (const s of seqs) {
      const has = at.sequences.get(`${s.schema}.${s.name}`);
      if (!has) continue;
      const missing = wants.filter((w) => (w === 'SELECT' ? !has.select : !has.update));
      if (missing.length === 0) continue;
      const key = missing.join(', ');
      const group = lacking.get(key) ?? { missing, list: [] };
      group.list.push(s);
      lacking.set(key, group);
    }
    if (lacking.size === 0) continue;
    const names = [...lacking.values()].flatMap((g) => g.list).map(displayTable);
    const grants = [...lacking.values()].map((g) => grantOnSequences(g.missing, g.list, at.role));
    const doing = at === source ? 'read' : 'read and set (setval)';
    out.push(
      `${at.node}: role ${at.role} may not ${doing} sequence${names.length > 1 ? 's' : ''} ${names.join(', ')}, which ${what} ${at === source ? 'reads' : 'sets'} there; ` +
        `run ${grants.join(' ')} on ${at.node} (as the sequence's owner or a superuser); ${after}`,
    );
  }
  return out;
}
