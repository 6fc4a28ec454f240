import { adviceText } from '../model/advice.js';
import type { SlotStatus, StatusCheck, StatusReport, SubscriptionStatus } from '../model/statusReport.js';
import { STATUS_WORD } from '../model/statusWords.js';
import { conflictsText } from '../model/verifyRecord.js';
import { windowText } from '../model/verifyWindow.js';
import { bold, green, red, redBold, yellow, yellowBold } from './colour.js';
import { ORPHANED_TITLE, OTHER_SLOTS_TITLE } from './driftText.js';
import { lostSyncText, stateText } from './initProgress.js';
import { divergedLine } from './repairAdvice.js';
import { formatBytes } from './values.js';

/** `steep status` as text: nodes, subscriptions, slots (orphaned, other tools' and prepared ones called out). */

/** Each tone's colour (model/statusWords.ts). */
const TONE = { good: green, bad: red, waiting: yellow } as const;

function stateColour(s: SubscriptionStatus): string {
  return TONE[STATUS_WORD[s.state].tone](stateText(s.state));
}

function errorsText(s: SubscriptionStatus): string {
  const parts: string[] = [];
  if (s.applyErrors !== null) parts.push(`errors: apply ${s.applyErrors}, sync ${s.syncErrors ?? 0}`);
  if (s.conflicts) {
    const total = Object.values(s.conflicts).reduce((a, b) => a + Number(b), 0);
    const which = Object.entries(s.conflicts)
      .filter(([, v]) => Number(v) > 0)
      .map(([k, v]) => `${k} ${v}`);
    parts.push(`conflicts: ${total}${which.length > 0 ? ` (${which.join(', ')})` : ''}`);
  }
  return parts.join(' · ');
}

function verifyText(v: { at: string; verdict: string }): string {
  return `last verify: ${v.at} (${v.verdict === 'not_verifiable' ? 'some tables not verifiable' : v.verdict})`;
}

/** One subscription: its line, then what needs a DBA's eye (error, failover, lost sync, verify, conflicts, divergence). */
function subscriptionLines(s: SubscriptionStatus): string[] {
  const head = `  ${s.name.padEnd(20)} ${`${s.node} ← ${s.from || '?'}`.padEnd(18)} ${stateColour(s)}`;
  if (s.state === 'unknown' && s.exists === null) {
    return [`${head}  (${s.unknown})`];
  }
  if (!s.exists) {
    return [`${head}  (not created on ${s.node}${s.initMethod ? `; init ${s.initMethod}` : ''})`];
  }
  const parts = [
    s.enabled ? null : 'disabled',
    s.lagBytes !== null && s.lagBytes < 0
      ? `slot confirms ${formatBytes(-s.lagBytes)} beyond ${s.from}'s own WAL`
      : `lag ${formatBytes(s.lagBytes)}${s.lagSeconds !== null ? ` / ${s.lagSeconds.toFixed(1)} s` : ''}`,
    `tables ${s.tablesReady}/${s.tablesTotal} ready`,
    errorsText(s) || null,
    s.declared ? null : s.managedBy ? `managed by steep topology ${s.managedBy}` : 'not in steep.yaml',
    s.state === 'unknown' ? null : s.unknown,
  ].filter((x): x is string => x !== null);
  const out = [`${head}  ${parts.join(' · ')}`];
  // why it is not synchronized (the verdict's evidence), or why steep cannot tell
  if (s.state === 'unknown' && s.unknown) out.push(red(`      ${s.unknown}`));
  if (s.verdict && STATUS_WORD[s.state].shows === 'reasons')
    for (const reason of s.verdict.reasons) out.push(TONE[STATUS_WORD[s.state].tone](`      ${reason}`));
  if (s.error) out.push(red(`      ${s.error}`));
  if (s.unfinishedReinit) out.push(yellow(`      ${s.unfinishedReinit}`));
  if (s.leftFence) out.push(yellow(`      ${s.leftFence}`));
  for (const [label, f] of [
    ['last failover', s.lastFailover],
    ['failover', s.failover],
  ] as const) {
    if (!f || f.verdict === 'diverged') continue;
    const colour = f.verdict === 'ready' || f.verdict === 'resumed' ? green : yellow;
    out.push(colour(`      ${label}: ${f.verdict}`));
    for (const reason of f.reasons) out.push(colour(`        ${reason}`));
  }
  if (s.lostSyncSlots.length > 0)
    out.push(red(`      lost sync: ${lostSyncText(s.name, s.from, s.state, s.lostSyncSlots)}`));
  if (s.lastVerify) out.push(`      ${verifyText(s.lastVerify)}`);
  if (s.verifyWindow)
    out.push(
      (s.verifyWindow.waived || s.verifyWindow.unverified.length > 0 ? yellow : green)(
        `      ${windowText(s.verifyWindow)}`,
      ),
    );
  const rose = s.conflictsSinceVerify;
  if (rose && Object.keys(rose).length > 0)
    out.push(
      yellow(
        `      conflicts since ${!s.conflictsCountedFrom ? 'creation, never verified' : s.conflictsCountedFrom.rolling ? 'the rolling verify compared every table' : 'the last verify'}: ${conflictsText(rose)} (check with ${adviceText('verify', s.name)})`,
      ),
    );
  if (s.divergedTables.length > 0) out.push(red(`      ${divergedLine(s)}`));
  return out;
}

/** What a slot is for, in the slot table's second column. */
function slotUse(s: SlotStatus): string {
  return s.kind === 'subscription'
    ? `subscription ${s.subscription}${s.otherDatabase ? ` of database ${s.otherDatabase.database} (${s.otherDatabase.node}'s server)` : ''}`
    : s.kind === 'pending'
      ? `for ${s.subscription} (not created yet)`
      : s.kind === 'unknown'
        ? `${s.subscription ? `for ${s.subscription}, ` : ''}${s.otherDatabase ? `in database ${s.otherDatabase.database} (${s.otherDatabase.node}'s server), ` : ''}user unknown`
        : s.kind;
}

export function renderStatus(r: StatusReport): string {
  const out: string[] = [bold(`Topology ${r.topology} at ${r.sampledAt}`), '', bold('Nodes:')];
  for (const n of r.nodes) {
    out.push(
      n.reachable
        ? `  ${n.name.padEnd(14)} ${green('reachable')}    PostgreSQL ${n.version}`
        : `  ${n.name.padEnd(14)} ${red('unreachable')}  ${n.error}`,
    );
  }
  out.push('', bold('Subscriptions:'));
  if (r.subscriptions.length === 0) out.push('  (none)');
  for (const s of r.subscriptions) out.push(...subscriptionLines(s));
  const slots = r.slots.filter((s) => s.kind !== 'orphan' && s.kind !== 'other' && s.kind !== 'prepared');
  out.push('', bold('Slots:'));
  if (slots.length === 0) out.push('  (none)');
  for (const s of slots) {
    out.push(
      `  ${`${s.node}/${s.name}`.padEnd(30)} ${slotUse(s).padEnd(28)} ${s.active ? 'active  ' : 'inactive'}  wal_status ${s.walStatus ?? 'unknown'}  retains ${formatBytes(s.retainedWalBytes)}${s.foreign ? ` · database ${s.database}` : ''}`,
    );
  }
  for (const n of r.nodes.filter((x) => !x.reachable))
    out.push(`  ${n.name}: unknown (${n.name} cannot be read)`);
  for (const [kind, title] of [
    ['prepared', 'Prepared slots (steep init prepare; waiting for the restore and steep apply):'],
    ['orphan', ORPHANED_TITLE],
    ['other', OTHER_SLOTS_TITLE],
  ] as const) {
    const these = r.slots.filter((s) => s.kind === kind);
    if (these.length > 0) out.push('', yellowBold(title));
    for (const s of these) {
      const what = kind === 'prepared' ? `for ${s.subscription}, LSN ${s.preparedLsn}; ` : '';
      out.push(
        `  ${s.node}/${s.name}: ${what}retains ${formatBytes(s.retainedWalBytes)}, wal_status ${s.walStatus ?? 'unknown'}`,
      );
    }
  }
  return out.join('\n');
}

/** `status --check`: healthy, or each problem on its own line. */
export function renderCheck(c: StatusCheck): string {
  if (c.problems.length === 0) return green('Check: healthy.');
  const head = c.unhealthy ? 'Check: unhealthy' : 'Check: unknown (not proven healthy)';
  return [redBold(`${head}:`), ...c.problems.map((p) => `  ✗ ${p}`)].join('\n');
}

/** `status --json`: the report, with `--check` its verdict as `check`. */
export function statusDocument(r: StatusReport, check?: StatusCheck): StatusReport & { check?: StatusCheck } {
  return check ? { ...r, check } : r;
}
