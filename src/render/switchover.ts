import type { RollbackCommand, SwitchoverPlan, SwitchoverReport } from '../model/switchover.js';
import { cell } from './values.js';

/** `steep switchover`: the dry run's steps and the cutover report, as text and Markdown (JSON is the report). */

function seconds(ms: number | null): string {
  return ms === null ? '—' : `${(ms / 1000).toFixed(2)} s`;
}

function rollbackLine(r: RollbackCommand): string {
  if (r.command) return `  $ ${r.command}  # ${r.why}`;
  return r.sql === null ? `  -- ${r.why}` : `  ${r.node}: ${r.sql};  -- ${r.why}`;
}

export function renderSwitchoverPlanText(plan: SwitchoverPlan): string {
  const lines = [
    `Switchover of ${plan.subscription}: writes move from ${plan.oldNode} to ${plan.newNode} (dry run: nothing changed)`,
    `Expected write blackout: ${seconds(plan.expectedBlackoutMs)} — ${plan.blackoutBasis}`,
    '',
  ];
  plan.steps.forEach((s, i) => {
    lines.push(`${i + 1}. ${s.id}: ${s.title}`);
    for (const x of s.statements) lines.push(`     ${x.node}: ${x.sql};`);
    if (s.undo.length > 0)
      lines.push(`     undone on failure by: ${s.undo.map((x) => `${x.node}: ${x.sql}`).join('; ')}`);
  });
  lines.push('', 'Way back after the release:', ...plan.rollback.map(rollbackLine));
  return lines.join('\n');
}

function headline(r: SwitchoverReport): string {
  switch (r.outcome) {
    case 'released':
      // released with an error (changes left in the slot, or unread): the writes moved, the switchover is not done
      return r.error === null
        ? `Switchover of ${r.subscription} done: writes move from ${r.oldNode} to ${r.newNode}; ${r.oldNode} stays read-only for ${r.roles.join(', ')}.`
        : `Switchover of ${r.subscription} NOT done: ${r.subscription} is disabled and ${r.oldNode} fenced, but ${r.error.replace(/^released, but /, '')}.`;
    case 'dry-run':
      return `Switchover of ${r.subscription}: dry run, nothing changed.`;
    default:
      return `Switchover of ${r.subscription} ${r.outcome === 'interrupted' ? 'interrupted' : 'failed'}: ${r.error}. ${
        r.fenceUndone
          ? `The fence was undone: ${r.roles.join(', ')} can write on ${r.oldNode} again; replication ${r.oldNode} → ${r.newNode} goes on as before.`
          : r.steps.some((s) => s.id === 'fence')
            ? `The fence was NOT undone: ${r.roles.join(', ')} are still read-only on ${r.oldNode}.`
            : 'Nothing was changed.'
      }`;
  }
}

/** What the forward slot held past the new primary's confirmation once disabled: the release's proof. */
function unsentText(r: SwitchoverReport): string {
  const u = r.unsent;
  if (!u) return '—';
  if ('unknown' in u) return `unknown (${u.unknown})`;
  return u.changes === 0
    ? `none left in slot ${r.plan.slot}`
    : `${u.changes} in ${u.transactions} transaction(s) left in slot ${r.plan.slot}, not on ${r.newNode}`;
}

function facts(r: SwitchoverReport): Array<[string, string]> {
  const seq = r.sequences;
  return [
    ['fence LSN', r.fenceLsn ?? '—'],
    ['drained LSN (origin)', r.drainedLsn ?? '—'],
    ['slot confirmed', r.confirmedLsn ?? '—'],
    ['write blackout', `${seconds(r.blackoutMs)} (expected ${seconds(r.expectedBlackoutMs)})`],
    ['roles fenced', r.roles.join(', ')],
    [
      'sequences',
      seq
        ? `${seq.set} set, ${seq.unchanged} unchanged, ${seq.skipped} skipped (headroom ${seq.headroom})${seq.sequences
            .filter((s) => s.action === 'set')
            .map((s) => `; ${s.sequence} ${s.before ?? 'unused'} → ${s.after}`)
            .join('')}`
        : '—',
    ],
    [
      'tables verified',
      r.verify
        ? `${r.verify.tables.length} (${r.verify.tables.map((t) => `${t.table} ${t.status}`).join(', ')})`
        : '—',
    ],
    [
      'reverse subscription',
      r.reverse
        ? `${r.reverse.subscription} on ${r.reverse.node} from ${r.reverse.from} (origin = none)`
        : 'none',
    ],
    ['changes after the fence', unsentText(r)],
    [
      'forward slot',
      r.outcome === 'released' ? (r.slotKept ? `${r.plan.slot} kept` : `${r.plan.slot} dropped`) : '—',
    ],
  ];
}

export function renderSwitchoverText(r: SwitchoverReport): string {
  if (r.outcome === 'dry-run') return renderSwitchoverPlanText(r.plan);
  const lines = [headline(r), ''];
  for (const [k, v] of facts(r)) lines.push(`  ${k}: ${v}`);
  lines.push('', 'Steps:');
  for (const s of r.steps)
    lines.push(`  ${s.id}  ${s.status}  ${seconds(s.durationMs)}${s.detail ? `  ${s.detail}` : ''}`);
  if (r.outcome === 'released') {
    lines.push('', 'To roll back:', ...r.rollback.map(rollbackLine));
    lines.push(
      '',
      r.error === null
        ? `steep.yaml still declares ${r.subscription}: set \`enabled: false\` on it, or steep apply enables it again.`
        : `Not done: follow the advice above until ${r.newNode} has every change, then set \`enabled: false\` on ${r.subscription} in steep.yaml.`,
    );
  }
  return lines.join('\n');
}

export function renderSwitchoverMarkdown(r: SwitchoverReport): string {
  const lines = [
    `### steep switchover: ${r.subscription} (${r.oldNode} → ${r.newNode})`,
    '',
    headline(r),
    '',
  ];
  if (r.outcome === 'dry-run') {
    lines.push('```', renderSwitchoverPlanText(r.plan), '```');
    return lines.join('\n');
  }
  lines.push('| | |', '|---|---|', ...facts(r).map(([k, v]) => `| ${k} | ${cell(v)} |`), '');
  lines.push('| step | status | time | detail |', '|---|---|---:|---|');
  for (const s of r.steps)
    lines.push(`| ${s.id} | ${s.status} | ${seconds(s.durationMs)} | ${cell(s.detail ?? '')} |`);
  if (r.outcome === 'released') {
    lines.push('', '**Rollback**', '', '```sql');
    for (const c of r.rollback)
      lines.push(
        c.command
          ? `-- in a shell: ${c.command}  (${c.why})`
          : c.sql === null
            ? `-- ${c.why}`
            : `-- on ${c.node}: ${c.why}\n${c.sql};`,
      );
    lines.push('```');
  }
  return lines.join('\n');
}
