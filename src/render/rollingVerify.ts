import { compareText } from '../model/order.js';
import { type RollingReport, rangeText, type SegmentCoverage } from '../model/rollingVerify.js';
import { seconds, thousands } from './values.js';
import { renderVerifyText } from './verify.js';

/**
 * `steep verify --rolling` as text (JSON is the report itself): each segment compared, how much
 * of each table was found equal and since when, then every subscription with a table found
 * diverged (or not comparable) as `steep verify` prints it, with its way out.
 */
export function renderRollingText(r: RollingReport): string {
  const lines = [
    `Rolling verify (budget ${seconds(r.budgetMs)}, ${r.parallel} at a time): ${r.compared.length} segment${r.compared.length === 1 ? '' : 's'} compared, ` +
      `${thousands(r.rows)} rows, ${r.notReached} not reached (${seconds(r.durationMs)})`,
  ];
  for (const c of r.compared) {
    const v = c.verdict;
    const diff =
      v.status === 'diverged'
        ? `  missing ${thousands(v.missing)}, extra ${thousands(v.extra)}, different ${thousands(v.different)}`
        : v.status === 'not_verifiable'
          ? `  (${v.reason})`
          : '';
    lines.push(
      `  ${c.subscription}  ${c.table}  ${rangeText(c)}  ${thousands(v.rows)} rows  ${v.status}${diff}  ${seconds(v.durationMs)}`,
    );
  }
  if (r.coverage.length > 0) lines.push('Segments found equal at their last comparison:');
  for (const t of r.coverage) lines.push(`  ${t.subscription}  ${t.table}  ${coverageText(t)}`);
  lines.push(`Oldest comparison: ${oldest(r.coverage)}`);
  for (const s of r.subscriptions) if (s.tables.length > 0) lines.push('', renderVerifyText(s));
  return lines.join('\n');
}

function coverageText(t: SegmentCoverage): string {
  const since =
    t.oldestEqualAt === null ? `${t.neverEqual} never found equal` : `all equal since ${t.oldestEqualAt}`;
  return `${t.equal} of ${t.segments} (${t.comparedNow} compared now); ${since}`;
}

/** The table whose least recently equal segment is oldest, or those with one never found equal. */
function oldest(coverage: readonly SegmentCoverage[]): string {
  const never = coverage.filter((t) => t.oldestEqualAt === null);
  if (never.length > 0)
    return `never, for ${never.length} table${never.length === 1 ? '' : 's'} (${never.map((t) => t.table).join(', ')})`;
  const first = [...coverage].sort(
    (a, b) => Date.parse(a.oldestEqualAt!) - Date.parse(b.oldestEqualAt!) || compareText(a.table, b.table),
  )[0];
  return first ? `${first.oldestEqualAt} (${first.subscription} ${first.table})` : 'no table to compare';
}
