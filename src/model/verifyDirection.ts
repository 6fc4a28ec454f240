/**
 * Comparing a table in the direction PostgreSQL replicates it (docs/repair.md): the kinds of
 * difference PostgreSQL rightly leaves between a publisher and its subscriber, and a verdict that
 * counts them apart. Shared by the planner (which kinds a table allows) and the executor (the
 * verdict of what it found).
 */
import type { DifferenceKind } from './verify.js';

/** Per kind PostgreSQL rightly leaves, why (`publish has no delete`); a kind absent is a divergence. */
export type AllowedKinds = Partial<Record<DifferenceKind, string>>;

/** The differences found of the kinds a comparison allows, counted apart from the divergences. */
export interface AllowedDifferences {
  missing: number;
  extra: number;
  different: number;
  /** each allowed kind, and why PostgreSQL rightly leaves it */
  why: AllowedKinds;
}

export const DIFFERENCE_KINDS: readonly DifferenceKind[] = ['missing', 'extra', 'different'];

/**
 * The kinds PostgreSQL rightly leaves for a table, from what its publications do not publish
 * (`unsent`, of insert, update, delete, truncate: pgoutput never sends those changes) and, with
 * `origin = none`, the publisher's own subscriptions that apply into it (`upstream`: 030_origin.pl,
 * the publisher sends only the changes made on it):
 *
 * - no `insert`: a row inserted on the publisher never arrives (its later updates find no row,
 *   update_missing, and are skipped): `missing`;
 * - no `update`: the subscriber keeps a row as it was inserted: `different`;
 * - no `delete` or no `truncate`: a row the publisher deleted or truncated stays: `extra`;
 * - upstream under origin = none: a row the publisher received from upstream is never sent
 *   (`missing`), nor an upstream's update of a row both hold (`different`); every row the
 *   subscriber holds did come from the publisher, so `extra` stays a divergence.
 *
 * An insert-only publication allows no `missing`: every row inserted on the publisher arrives.
 * (An UPDATE of a key column is not sent either: the row under its new key is then missing and
 * reported as a divergence.)
 */
export function allowedKinds(
  unsent: readonly string[],
  upstream: { from: string; subscriptions: readonly string[] } | null = null,
): AllowedKinds {
  const out: AllowedKinds = {};
  const no = (actions: string[]) => `publish has no ${actions.join(', ')}`;
  if (unsent.includes('insert')) out.missing = no(['insert']);
  if (unsent.includes('update')) out.different = no(['update']);
  const removals = ['delete', 'truncate'].filter((a) => unsent.includes(a));
  if (removals.length > 0) out.extra = no(removals);
  if (upstream) {
    const subs = `subscription${upstream.subscriptions.length === 1 ? '' : 's'} ${upstream.subscriptions.join(', ')}`;
    const origin = `origin = none: ${upstream.from} sends none of the changes ${subs} on ${upstream.from} ${upstream.subscriptions.length === 1 ? 'applies' : 'apply'}`;
    out.missing = out.missing ? `${out.missing}; ${origin}` : origin;
    out.different = out.different ? `${out.different}; ${origin}` : origin;
  }
  return out;
}

/** Every kind allowed: no difference could make the comparison answer diverged, so it is no comparison. */
export function allowsEverything(allowed: AllowedKinds): boolean {
  return DIFFERENCE_KINDS.every((k) => allowed[k] !== undefined);
}

/**
 * The verdict of the differences a comparison confirmed: `diverged` when a kind it does not allow
 * differs, else `equal`; the counts of allowed kinds apart (`allowed`, present only when the
 * comparison allows a kind), the divergences in `counts`.
 */
export function directionVerdict(
  found: Record<DifferenceKind, number>,
  allowed: AllowedKinds | undefined,
): { status: 'equal' | 'diverged'; counts: Record<DifferenceKind, number>; allowed?: AllowedDifferences } {
  const counts = { missing: 0, extra: 0, different: 0 };
  const apart = { missing: 0, extra: 0, different: 0 };
  for (const k of DIFFERENCE_KINDS) {
    if (allowed?.[k] !== undefined) apart[k] = found[k];
    else counts[k] = found[k];
  }
  const status = counts.missing + counts.extra + counts.different > 0 ? 'diverged' : 'equal';
  const some = allowed !== undefined && DIFFERENCE_KINDS.some((k) => allowed[k] !== undefined);
  return { status, counts, ...(some ? { allowed: { ...apart, why: allowed } } : {}) };
}

const RIGHTLY: Record<DifferenceKind, string> = {
  missing: 'rows the publisher never sent are rightly absent',
  extra: 'extra rows the publisher deleted are rightly kept',
  different: 'different rows rightly keep values the publisher changed since',
};

/** `equal in PostgreSQL's direction: 5 extra rows the publisher deleted are rightly kept (publish has no delete)`; null when none. */
export function allowedText(
  a: AllowedDifferences | undefined,
  count: (n: number) => string = String,
): string | null {
  if (!a) return null;
  const parts = DIFFERENCE_KINDS.filter((k) => a[k] > 0).map(
    (k) => `${count(a[k])} ${k === 'missing' ? 'missing ' : ''}${RIGHTLY[k]} (${a.why[k]})`,
  );
  return parts.length > 0 ? `in PostgreSQL's direction: ${parts.join(', ')}` : null;
}
