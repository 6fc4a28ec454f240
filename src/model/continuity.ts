/**
 * Continuity (docs/status.md, `gap`): is each table of a subscription still receiving every
 * change its publisher makes, without a break since its stream started? The one rule of
 * `status`, `status --check`, `drift` and the metrics (through model/syncVerdict.ts), pure.
 *
 * What it rests on: pgoutput sends a change of a table only while the table is in one of the
 * subscription's publications. A table that leaves them and joins again is still in the
 * subscriber's pg_subscription_rel, so nothing copies what was written in between. The
 * publisher's catalog tells such a break after the fact: each membership is a catalog row
 * (pg_publication_rel for a table, pg_publication_namespace for a schema; FOR ALL TABLES has
 * none but the publication's own), and PostgreSQL makes a new row when a table leaves and
 * joins again (even between two readings), a new pg_publication row when a publication is
 * dropped and created again; a rename keeps the oid. It also makes a new pg_publication_rel row
 * when a table's row filter or column list changes (`SET TABLE`), and writes the pg_publication
 * row anew (a new xmin, the membership's `version`) when what it publishes (its actions,
 * publish_via_partition_root) changes, or its name or owner, and never when a table joins or
 * leaves it: changed by hand and back between two readings, the changes made meanwhile were
 * filtered, sent as the partition's, or not decoded. steep's own change of any of them is taken
 * into the baseline by `apply` (workflows/continuity.ts), a hand change is a gap.
 *
 * steep records a baseline per (subscription instance, table) on the subscriber (state table
 * `stream_continuity`): the memberships when steep first saw the table's stream running, and a
 * gap once found, which stays until a copy of the table or a verify that finds it equal. With
 * them, the publisher's column identity (model/columnIdentity.ts): a name given to another
 * column is a gap of kind `columns`; and, while the subscription is disabled, where its slot and
 * its origin stand (`PausedPositions`): nothing streams then, so either moving forward between
 * two readings is a hand's (the slot advanced, or dropped and created again; the origin
 * advanced), and PostgreSQL resumes past what was committed in between. And, whatever happened
 * between two readings, the count of transactions the slot decoded (`DecodedCount`): it only
 * grows while the server's statistics are kept, so a smaller one is a slot dropped and created
 * again, found even where no reading saw the pause.
 */

import { type Address, subscriptionNameOf } from './address.js';
import { adviceText } from './advice.js';
import type { ObservedPublication } from './cluster.js';
import {
  type ColumnIdentities,
  type ColumnIdentityFacts,
  identitiesDiffer,
  readColumnIdentity,
} from './columnIdentity.js';
import {
  type DecodedCount,
  type DecodedRecord,
  nextDecoded,
  type PausedPositions,
  pausedMoveReason,
  recreatedReason,
  samePaused,
} from './handMoves.js';
import type { Change, Hazard } from './plan.js';
import { contentsReason, type KeptContents, keptContents, type TableContents } from './treeContents.js';

/** One way the publisher publishes a table to a subscription. */
export interface Membership {
  publication: string;
  /** pg_publication.oid */
  publicationOid: number;
  /** `table`: a pg_publication_rel row; `schema`: a pg_publication_namespace row; `all`: FOR ALL TABLES */
  via: 'table' | 'schema' | 'all';
  /** the row's oid; null for `all` */
  rowOid: number | null;
  /**
   * the publication's row version (ObservedPublication.rowVersion): what it publishes and
   * publish_via_partition_root are in that row, so one changed by hand, even and back between two
   * readings, leaves a new version; absent: not read (a baseline from before it was kept)
   */
  version?: string;
  /** the publication's owner as that version was read: an ALTER … OWNER TO writes the row anew too */
  owner?: string;
}

export interface ContinuityGap {
  /** when steep found it (ISO 8601) */
  since: string;
  reason: string;
  /** absent: a membership broke */
  kind?: GapKind;
}

/**
 * What else broke a stream: `columns`, a column's identity changed (model/columnIdentity.ts);
 * `positions`, the subscription's positions moved by hand (model/handMoves.ts), or a transaction
 * set to be skipped; `contents`, what the publisher's table holds (model/treeContents.ts);
 * `origin`, the subscription set to origin = none by hand below a cascade (model/originFilter.ts).
 */
export const GAP_KINDS = ['columns', 'positions', 'contents', 'origin'] as const;
export type GapKind = (typeof GAP_KINDS)[number];

/** What steep recorded of one table of one subscription instance. */
export interface ContinuityBaseline {
  table: string;
  /** pg_subscription.oid: a subscription dropped and created again is another instance */
  subscriptionOid: number;
  members: Membership[];
  /** the publisher's column identity (null or absent: not recorded yet) */
  columns?: ColumnIdentities | null;
  /** when the baseline was taken (ISO 8601) */
  since: string;
  gap: ContinuityGap | null;
  /** the subscription's positions at the last reading that found it paused (null or absent: none) */
  paused?: PausedPositions | null;
  /** its slot's count of decoded transactions at a recent reading (null or absent: none) */
  decoded?: DecodedRecord | null;
  /** what the publisher's table held (model/treeContents.ts; null or absent: not read) */
  contents?: KeptContents | null;
}

/** The facts of one table now. */
export interface ContinuityFacts {
  subscription: string;
  subscriptionOid: number;
  /** the publisher's node name */
  from: string;
  /** `schema.table` */
  table: string;
  /** its memberships among the publications the subscription lists, on the publisher now */
  members: Membership[];
  /** every publication of the publisher now: name → oid */
  publications: Record<string, number>;
  /** those of them that publish insert, update, delete and truncate (absent: none known to) */
  publishesAll?: readonly string[];
  /** the table's columns on both sides now (absent: not read, the baseline's are kept) */
  columns?: ColumnIdentityFacts;
  /**
   * 18: the publications the subscription's slot will skip, missing under their name where
   * changes it has still to send were committed (catalog/publicationHole.ts); absent: none seen
   */
  skipped?: readonly string[];
  /** the subscription's positions now, where it is disabled and nothing streams it; absent: it is not */
  paused?: PausedPositions;
  /** the finish position of a transaction ALTER SUBSCRIPTION … SKIP set it to skip; absent: none */
  skipping?: string;
  /** its slot's count of decoded transactions now; absent: not read */
  decoded?: DecodedCount;
  /** what the publisher's table holds now; absent: not read */
  contents?: TableContents;
  /** of each table new under it (by name): does it hold rows from before it joined (null: unread) */
  heldBefore?: Readonly<Record<string, boolean | null>>;
  /** why changes to it never arrive: set to origin = none by hand below a cascade (model/originFilter.ts) */
  originNone?: string;
  /** now (ISO 8601) */
  now: string;
}

export type Continuity =
  | { verdict: 'continuous'; baseline: ContinuityBaseline; changed: boolean }
  | { verdict: 'gap'; baseline: ContinuityBaseline; changed: boolean };

/**
 * The memberships of `table` among `subscribed` publications of the publisher: its own row, its
 * schema's, FOR ALL TABLES, or those of an ancestor (a partition is published through its
 * partitioned root; `ancestors` nearest first).
 */
export function membershipsOf(
  publications: Record<string, ObservedPublication>,
  subscribed: readonly string[],
  table: string,
  ancestors: readonly string[] = [],
): Membership[] {
  const out: Membership[] = [];
  for (const name of subscribed) {
    const p = publications[name];
    if (!p) continue;
    const base = {
      publication: name,
      publicationOid: p.oid,
      ...(p.rowVersion ? { version: p.rowVersion, owner: p.owner } : {}),
    };
    if (p.allTables) {
      out.push({ ...base, via: 'all', rowOid: null });
      continue;
    }
    for (const t of [table, ...ancestors]) {
      const rel = p.members?.tables[t];
      if (rel !== undefined) out.push({ ...base, via: 'table', rowOid: rel });
      const ns = p.members?.schemas[t.slice(0, t.indexOf('.'))];
      if (ns !== undefined) out.push({ ...base, via: 'schema', rowOid: ns });
    }
  }
  return out;
}

/** The same membership row: of the same publication, its row version where both were read. */
const sameRow = (a: Membership, b: Membership) =>
  a.publicationOid === b.publicationOid && a.via === b.via && a.rowOid === b.rowOid;
const same = (a: Membership, b: Membership) =>
  sameRow(a, b) && (a.version === undefined || b.version === undefined || a.version === b.version);
/** The same, and nothing to record anew (a version read where the baseline had none). */
const unmoved = (a: Membership, b: Membership) => sameRow(a, b) && a.version === b.version;

const NEVER_SENT = 'changes made while it was out were never sent';

/** Why the stream of `f.table` broke, from the baseline's memberships none of which holds now. */
function breakReason(base: ContinuityBaseline, f: ContinuityFacts, m = base.members[0]!): string {
  const byOid = Object.entries(f.publications).find(([, oid]) => oid === m.publicationOid)?.[0];
  if (byOid === undefined)
    return f.publications[m.publication] !== undefined
      ? `publication ${m.publication} on ${f.from} was dropped and created again: changes to ${f.table} made in between were never sent`
      : `publication ${m.publication} on ${f.from}, which sent ${f.table}, was dropped: changes to it are not sent`;
  if (byOid !== m.publication && !f.members.some((n) => n.publicationOid === m.publicationOid))
    return `publication ${m.publication} on ${f.from} was renamed to ${byOid}, which ${f.subscription} does not list: changes to ${f.table} are not sent`;
  const altered = f.members.find((n) => sameRow(m, n));
  if (altered?.owner !== undefined && m.owner !== undefined && altered.owner !== m.owner)
    return `publication ${byOid} on ${f.from} changed owner (${m.owner} to ${altered.owner}) since steep's reading, which writes its row anew as a change of what it publishes or of publish_via_partition_root does: steep cannot show that every change to ${f.table} was sent meanwhile`;
  if (altered)
    return `publication ${byOid} on ${f.from} was altered by hand (ALTER PUBLICATION of what it publishes, publish_via_partition_root, its name or its owner, maybe changed and back): changes to ${f.table} made meanwhile may never have been sent`;
  if (f.members.some((n) => n.publicationOid === m.publicationOid))
    return `${f.table} left and rejoined publication ${byOid} on ${f.from} (its membership was re-created: out and in again, or its row filter or column list changed by hand): ${NEVER_SENT}`;
  return `${f.table} left publication ${byOid} on ${f.from}: ${NEVER_SENT}`;
}

/** Why the stream of `f.table` broke where its slot skips every publication it is published through. */
function skipReason(skipped: readonly Membership[], f: ContinuityFacts): string {
  const names = [...new Set(skipped.map((m) => m.publication))].join(', ');
  return `publication ${names} on ${f.from} did not exist under that name where changes ${f.subscription}'s slot has still to send were committed (renamed and back, or dropped and created again, by hand): PostgreSQL 18 skips it there, so changes to ${f.table} made meanwhile are never sent`;
}

/**
 * The continuity of one table: `baseline` is what steep recorded (null: nothing, or another
 * instance's), `f` the facts now. `changed`: the baseline to record differs from the one read.
 *
 * - a gap recorded stays a gap (a copy or a verify clears it, not this rule);
 * - a table in none of the subscription's publications now is a gap now;
 * - no baseline: this reading starts one;
 * - otherwise continuous while one membership of the baseline still holds unchanged (changes kept
 *   flowing through it), and the baseline follows the memberships now; a gap when none does, or
 *   when another's publication was altered and none unchanged publishes every action;
 * - and while no column name of the baseline is another column now (model/columnIdentity.ts);
 * - and while its slot does not skip every publication it is published through (18: one renamed
 *   away and back keeps its oid and memberships, and only the slot's decoding tells);
 * - and while its positions did not move forward between two readings that found it paused, and
 *   no transaction is set to be skipped (ALTER SUBSCRIPTION … SKIP);
 * - and while no table left its partition tree or joined it holding rows, and it did not leave
 *   the schema a publication covers it through (model/treeContents.ts);
 * - a subscription set to origin = none by hand below a cascade is a gap, baseline or not
 *   (model/originFilter.ts).
 */
export function continuity(baseline: ContinuityBaseline | null, f: ContinuityFacts): Continuity {
  const base = baseline && baseline.subscriptionOid === f.subscriptionOid ? baseline : null;
  if (base?.gap) return { verdict: 'gap', baseline: base, changed: base !== baseline };
  const paused = f.paused ?? null;
  const decoded = nextDecoded(base?.decoded, f.decoded, f.now);
  const ids = f.columns ? readColumnIdentity(base?.columns ?? null, f.columns, f.table, f.from) : null;
  const columns = ids?.next ?? base?.columns ?? null;
  const contents = f.contents ? keptContents(f.contents) : (base?.contents ?? null);
  const start = (gap: ContinuityGap | null): ContinuityBaseline => ({
    table: f.table,
    subscriptionOid: f.subscriptionOid,
    members: f.members,
    columns,
    since: base?.since ?? f.now,
    gap,
    paused,
    decoded,
    contents,
  });
  if (f.members.length === 0) {
    const reason =
      base && base.members.length > 0
        ? breakReason(base, f)
        : `${f.table} is in none of the publications ${f.subscription} lists on ${f.from}: changes to it are not sent`;
    return {
      verdict: 'gap',
      baseline: { ...start({ since: f.now, reason }), members: base?.members ?? [] },
      changed: true,
    };
  }
  if (f.originNone)
    return {
      verdict: 'gap',
      baseline: start({ since: f.now, reason: f.originNone, kind: 'origin' }),
      changed: true,
    };
  if (!base || base.members.length === 0)
    return { verdict: 'continuous', baseline: start(null), changed: true };
  // 18's skip first: a rename away and back also writes the publication's row anew, and the
  // skip says what PostgreSQL did
  const skipped = f.members.filter((m) => f.skipped?.includes(m.publication));
  if (skipped.length === f.members.length)
    return {
      verdict: 'gap',
      baseline: { ...base, gap: { since: f.now, reason: skipReason(skipped, f) } },
      changed: true,
    };
  if (base.members.some((m) => f.members.some((n) => same(m, n)))) {
    // a publication altered while another, unchanged, carried the table on: PostgreSQL sends
    // the union of their actions, so only one that publishes every action carried all meanwhile
    const altered = base.members.find((m) => f.members.some((n) => sameRow(m, n) && !same(m, n)));
    const carried = base.members.some(
      (m) => f.members.some((n) => same(m, n)) && f.publishesAll?.includes(m.publication),
    );
    if (altered && !carried)
      return {
        verdict: 'gap',
        baseline: { ...base, gap: { since: f.now, reason: breakReason(base, f, altered) } },
        changed: true,
      };
    const byHand =
      pausedMoveReason(base.paused, f) ??
      recreatedReason(base.decoded, f) ??
      (f.skipping
        ? `ALTER SUBSCRIPTION ${f.subscription} SKIP (lsn = ${f.skipping}) was set by hand: PostgreSQL skips the transaction finishing there, so its changes to ${f.table} are never applied`
        : undefined);
    if (byHand)
      return {
        verdict: 'gap',
        baseline: { ...base, paused, decoded, gap: { since: f.now, reason: byHand, kind: 'positions' } },
        changed: true,
      };
    if (ids?.reason)
      return {
        verdict: 'gap',
        baseline: { ...base, gap: { since: f.now, reason: ids.reason, kind: 'columns' } },
        changed: true,
      };
    const held = contentsReason(base.contents, {
      ...f,
      bySchema: f.members.filter((m) => m.via === 'schema').map((m) => m.publication),
    });
    if (held)
      return {
        verdict: 'gap',
        baseline: { ...base, contents, gap: { since: f.now, reason: held, kind: 'contents' } },
        changed: true,
      };
    const moved =
      base.members.length !== f.members.length ||
      base.members.some((m) => !f.members.some((n) => unmoved(m, n))) ||
      identitiesDiffer(base.columns ?? null, columns);
    if (moved) return { verdict: 'continuous', baseline: start(null), changed: true };
    const kept =
      samePaused(base.paused, paused) &&
      (base.decoded ?? null) === decoded &&
      sameContents(base.contents ?? null, contents);
    return {
      verdict: 'continuous',
      baseline: kept ? base : { ...base, paused, decoded, contents },
      changed: !kept,
    };
  }
  return {
    verdict: 'gap',
    baseline: { ...base, gap: { since: f.now, reason: breakReason(base, f) } },
    changed: true,
  };
}

const sameContents = (a: KeptContents | null, b: KeptContents | null) =>
  a === b ||
  (!!a &&
    !!b &&
    a.ns === b.ns &&
    Object.keys(a.leaves ?? {}).length === Object.keys(b.leaves ?? {}).length &&
    Object.entries(a.leaves ?? {}).every(([oid, row]) => b.leaves?.[oid] === row) &&
    !a.leaves === !b.leaves);

/** A table's gap as the way out needs it. */
export interface GapOfTable {
  table: string;
  /** in none of the subscription's publications now */
  out: boolean;
  /** columns its copy needs that the subscriber lacks: the statement adding them there, and where */
  addFirst?: { sql: string; node: string };
  /** a setting steep apply puts back as steep.yaml says before the copy, which would miss the same changes again */
  applyFirst?: string;
}

/** The way out of gaps in `tables` of `subscription`, safe to follow as printed. */
export function gapWayOut(subscription: string, tables: readonly GapOfTable[]): string {
  const copy = `\`${adviceText('reinitTables', subscription, tables.map((t) => t.table).sort())}\``;
  const adds = tables.flatMap((t) => (t.addFirst ? [`run \`${t.addFirst.sql}\` on ${t.addFirst.node}`] : []));
  const settings = [...new Set(tables.flatMap((t) => (t.applyFirst ? [t.applyFirst] : [])))];
  const first =
    (settings.length === 0
      ? ''
      : `first run steep apply (it sets ${settings.join(', ')} as steep.yaml says), then `) +
    (adds.length === 0
      ? ''
      : `first ${adds.join(', ')} (columns the copy needs: NULL until it fills them; steep apply then gives them the publisher's default and NOT NULL), then `);
  return tables.some((t) => t.out)
    ? `put the table back in its publication with steep apply (its step carries hazard data-gap: --allow-hazard data-gap), then ${first}copy it again: ${copy}`
    : `${first}copy it again: ${copy} (or a steep verify that finds it equal clears the gap)`;
}

/**
 * How the gap a step gated `data-gap` opens in `tables` of `subscription` is closed, as its
 * warning says: allowed by name, then apply's comparison when it waits, a verify, or the copy.
 */
export function stepGapClosing(subscription: string, tables: readonly string[]): string {
  return (
    'apply with --allow-hazard data-gap, and apply compares the table once the step ran (equal closes the gap; ' +
    `with --no-wait a steep verify does); rows that differ are copied again with \`${adviceText('reinitTables', subscription, [...tables])}\``
  );
}

/**
 * A gap a step gated `data-gap` opens, once allowed by name and run: the subscriber's table and
 * why (workflows/allowedGaps.ts records it, as a gap of the rule above, until a copy or a verify).
 */
export interface StepGap {
  /** `schema.table` (qualifiedName) on the step's subscriber */
  table: string;
  /** the subscription whose baseline records it; absent: the step's (a step of a table names it) */
  subscription?: string;
  reason: string;
  /** the hole stays open after the step (`origin: none`): a comparison then proves nothing of later changes */
  lasting?: true;
}

/** The change a step gated `data-gap` carries its gaps in (the plan names them under `gaps`). */
const GAPS_PATH = 'gaps';

/** A planner's gate of a step: its hazards and what its step records of them. */
export interface GatedGaps {
  hazards: Hazard[];
  changes: Change[];
}

/** The hazard `data-gap` with the gaps it opens (none: no hazard). */
export function gatedGaps(gaps: readonly StepGap[]): GatedGaps {
  if (gaps.length === 0) return { hazards: [], changes: [] };
  return { hazards: ['data-gap'], changes: [{ path: GAPS_PATH, before: null, after: gaps }] };
}

/** The gaps a step opens once run (empty: none). */
export function gapsOfStep(step: { changes: readonly Change[] }): StepGap[] {
  const change = step.changes.find((c) => c.path === GAPS_PATH);
  return change ? (change.after as StepGap[]) : [];
}

/** The gaps a step opens, by the subscription whose baseline records each (its own, or the one a gap names). */
export function gapsBySubscription(step: {
  changes: readonly Change[];
  address: Address;
}): Map<string, StepGap[]> {
  const out = new Map<string, StepGap[]>();
  for (const g of gapsOfStep(step)) {
    const name = g.subscription ?? subscriptionNameOf(step.address);
    if (name) out.set(name, [...(out.get(name) ?? []), g]);
  }
  return out;
}
