import type { DriftReport, FailingSubscription, FingerprintChange } from '../model/driftReport.js';
import type { DriftItem, FailoverVerdict, OrphanSlot, PlanMessage } from '../model/plan.js';
import type { SequenceLag } from '../model/sequences.js';
import { conflictsSinceText } from '../model/verifyRecord.js';
import { bold, dim, red, redBold, yellow, yellowBold } from './colour.js';
import { schemaComparisonLines } from './schemaText.js';
import { formatBytes, formatValue, section } from './values.js';

/** `steep drift` as text (a terminal, a pipeline log) and JSON. */

export function driftSummary(r: DriftReport): string {
  if (r.errors.length > 0) return `Drift check failed: ${r.errors.length} error(s).`;
  if (!r.drifted) return 'No drift. The nodes match steep.yaml.';
  const parts: [number, string][] = [
    [r.objects.length, 'managed objects differ from steep.yaml'],
    [r.changes.length, 'change(s) to apply'],
    [r.schema.length, 'table(s) differing between publisher and subscriber'],
    [r.fingerprints.length, 'table(s) changed since their fingerprint was saved'],
    [r.orphanSlots.filter((o) => o.madeBySteep).length, 'orphaned slot(s)'],
    [r.orphanSlots.filter((o) => !o.madeBySteep).length, 'slot(s) steep did not make that nothing uses'],
    [r.dataGaps.length, 'data gap(s)'],
    [r.conflicts.length, 'subscription(s) with conflicts since their last verify'],
    [r.failing?.length ?? 0, 'subscription(s) whose replication is failing'],
    [r.gaps?.length ?? 0, "subscription(s) with a gap in a table's stream"],
    [r.reinits?.length ?? 0, 'reinit(s) not finished'],
    [r.unverified?.length ?? 0, 'subscription(s) unverified: a table not compared within the verify window'],
    [r.diverged?.length ?? 0, 'subscription(s) diverged: rows differ on the subscriber'],
    [r.sequences?.length ?? 0, 'sequence(s) behind their publisher'],
    [failoverCount(r, 'diverged'), 'subscription(s) with a possible failover gap'],
    [failoverCount(r, 'unknown'), 'subscription(s) a failover may have left apart'],
    [failoverCount(r, 'not-ready'), 'subscription(s) not ready for a failover'],
  ];
  return `Drift: ${parts.flatMap(([n, what]) => (n > 0 ? [`${n} ${what}`] : [])).join(', ')}.`;
}

/** Each subscription on a line with its reasons. */
function oneLine(subs: FailingSubscription[] = []): string[] {
  return subs.map(
    (f) => `  subscription ${f.subscription} on ${f.node} ← ${f.from}: ${f.reasons.join('; ')}`,
  );
}

/** Each subscription on a line, its reasons one a line under it. */
function withReasons(subs: FailingSubscription[] = []): string[] {
  return subs.flatMap((g) => [
    `  subscription ${g.subscription} on ${g.node} ← ${g.from}:`,
    ...g.reasons.map((x) => `    ${x}`),
  ]);
}

function failoverCount(r: DriftReport, verdict: string): number {
  return (r.failover ?? []).filter((v) => v.verdict === verdict).length;
}

export function renderDriftText(r: DriftReport): string {
  const out: string[] = [];
  section(out, redBold('Replication failing:'), oneLine(r.failing));
  section(out, redBold('Gap (changes never sent to a table):'), withReasons(r.gaps));
  section(out, yellowBold('Reinit not finished:'), oneLine(r.reinits));
  section(
    out,
    yellowBold('Unverified (a table not found equal within the verify window):'),
    withReasons(r.unverified),
  );
  section(out, yellowBold('Diverged (rows differ on the subscriber):'), withReasons(r.diverged));
  section(out, yellowBold('Changed outside steep:'), r.objects.map(driftLine));
  section(
    out,
    bold('steep apply would:'),
    r.changes.map((c) => `  ${c.action} ${c.address} (${c.node}): ${c.reasonText}`),
  );
  // the problems found comparing schemas are told under the differences, never alone
  section(
    out,
    bold('Schema differences between publisher and subscriber:'),
    r.schema.length > 0
      ? [...r.schema.flatMap(schemaComparisonLines), ...r.schemaProblems.map(errorLine)]
      : [],
  );
  section(
    out,
    bold('Tables changed since their fingerprint was saved:'),
    r.fingerprints.map((f) => `  ${f.node}/${f.table}: ${fingerprintText(f)} (saved ${f.capturedAt})`),
  );
  orphanSlotSections(out, r.orphanSlots);
  section(
    out,
    redBold('Data gaps (empty on the subscriber, not on its publisher):'),
    r.dataGaps.map((g) => `  ${g.node}/${g.table}: subscription ${g.subscription} from ${g.from}`),
  );
  section(
    out,
    yellowBold('Conflicts since the last verify (rows that may differ):'),
    r.conflicts.map((c) => `  subscription ${c.subscription} on ${c.node}: ${conflictsSinceText(c)}`),
  );
  section(
    out,
    yellowBold('Sequences behind their publisher (steep sequences sync SUB brings them up):'),
    (r.sequences ?? []).map((s) => `  ${s.node}/${s.sequence}: ${sequenceLagText(s)}`),
  );
  section(
    out,
    bold('Failover (subscriptions from a node with standbys):'),
    (r.failover ?? []).flatMap(failoverLines),
  );
  section(out, yellowBold('Warnings:'), r.warnings.map(warningLine));
  out.push(driftSummary(r));
  return out.join('\n');
}

export const errorLine = (e: PlanMessage): string => red(`  ✗ ${e.message}`);
export const warningLine = (w: PlanMessage): string => yellow(`  ! ${w.message}`);

/** `  ~ publication.p publish: expected [insert, update], found [insert]` */
export function driftLine(d: DriftItem): string {
  return `  ~ ${d.address} ${d.path}: expected ${formatValue(d.expected)}, found ${formatValue(d.actual)}`;
}

function fingerprintText(f: FingerprintChange): string {
  return f.change === 'dropped'
    ? 'dropped'
    : `fingerprint ${f.saved.slice(0, 12)}… → ${f.current!.slice(0, 12)}…, ${f.savedColumns} → ${f.currentColumns} columns`;
}

function failoverLines(v: FailoverVerdict): string[] {
  const colour =
    v.verdict === 'diverged'
      ? red
      : v.verdict === 'not-ready' || v.verdict === 'unknown'
        ? yellow
        : (t: string) => t;
  return [
    colour(`  ${v.node}/${v.subscription} ← ${v.from}: ${v.verdict}`),
    ...v.reasons.map((reason) => colour(`      ${reason}`)),
  ];
}

/** `300 behind (east at 1300, west at 1000)`, or absent. */
export function sequenceLagText(s: SequenceLag): string {
  if (s.absent) return `absent on ${s.node} (${s.from} at ${s.publisher}), subscription ${s.subscription}`;
  return `${s.behind} behind (${s.from} at ${s.publisher}, ${s.node} at ${s.subscriber ?? 'none'}), subscription ${s.subscription}`;
}

export const ORPHANED_TITLE = 'Orphaned replication slots (no subscription uses them; they retain WAL):';
export const OTHER_SLOTS_TITLE =
  "Replication slots steep did not make (nothing steep reads uses them; they retain WAL; not steep's to drop):";

/**
 * Slots nothing uses, as plan and drift print them: steep's own with the statement that drops
 * each, then those steep cannot show it made (planner/subscriptions/slotOrigin.ts), with none.
 */
export function orphanSlotSections(out: string[], slots: readonly OrphanSlot[]): void {
  const retains = (o: OrphanSlot) =>
    `retains ${formatBytes(o.retainedWalBytes)}${o.walStatus ? `, wal_status ${o.walStatus}` : ''}`;
  section(
    out,
    yellowBold(ORPHANED_TITLE),
    slots
      .filter((o) => o.madeBySteep)
      .flatMap((o) => [
        `  ${o.node}/${o.slot}: ${retains(o)}`,
        dim(`      drop it on ${o.node}: ${o.dropSql};`),
      ]),
  );
  section(
    out,
    yellowBold(OTHER_SLOTS_TITLE),
    slots
      .filter((o) => !o.madeBySteep)
      .flatMap((o) => [
        `  ${o.node}/${o.slot}: ${o.plugin ?? 'plugin unknown'}, ${retains(o)}`,
        dim(
          "      another tool's, as far as steep can show: its tool drops it when done, or ignore.slots silences it",
        ),
      ]),
  );
}
