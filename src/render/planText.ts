import { diffArrays } from 'diff';
import { printAddress } from '../model/address.js';
import { roughDuration } from '../model/durations.js';
import { allowHazardFlags, gatedHazards, heldSteps, missingHazards } from '../model/hazardGate.js';
import type {
  Action,
  Change,
  CopyEstimate,
  Hazard,
  Plan,
  Step,
  StepTimeouts,
  UnmanagedObject,
} from '../model/plan.js';
import { ACTION_CLASS, stepClass } from '../model/stepClass.js';
import { captureLine } from './capture.js';
import { blue, bold, cyan, dim, green, magenta, red, yellow, yellowBold } from './colour.js';
import { count } from './count.js';
import { driftLine, orphanSlotSections, warningLine } from './driftText.js';
import { schemaComparisonLines } from './schemaText.js';
import { formatBytes, formatValue, listLines, section } from './values.js';

const COLOUR = { green, yellow, magenta, red, cyan, blue };

function renderChange(c: Change, action: Action): string[] {
  if (action === 'create' && (c.before === null || c.before === undefined)) {
    const items = listLines(c.after);
    if (!items || items.length === 0) return [`      ${c.path} = ${green(formatValue(c.after))}`];
    return [`      ${c.path} = [`, ...items.map((i) => green(`        ${i}`)), '      ]'];
  }
  const before = listLines(c.before);
  const after = listLines(c.after);
  if (before || after) {
    const lines = [`      ${c.path}:`];
    for (const part of diffArrays(before ?? [], after ?? [])) {
      for (const item of part.value) {
        if (part.added) lines.push(green(`        + ${item}`));
        else if (part.removed) lines.push(red(`        - ${item}`));
        else lines.push(`          ${item}`);
      }
    }
    return lines;
  }
  if (c.before === undefined) return [`      ${c.path}: ${green(formatValue(c.after))}`];
  return [`      ${c.path}: ${red(formatValue(c.before))} → ${green(formatValue(c.after))}`];
}

/**
 * A step's hazards, and for those that are gates whether the plan allows them by name:
 * `truncates-data, copies-data; apply needs --allow-hazard truncates-data`.
 */
export function hazardsText(step: Step, allowed: readonly Hazard[]): string {
  const gated = gatedHazards(step);
  const needs = gated.filter((h) => !allowed.includes(h));
  const given = gated.filter((h) => allowed.includes(h));
  return [
    step.hazards.join(', '),
    ...(needs.length > 0 ? [`apply needs ${allowHazardFlags(needs)}`] : []),
    ...(given.length > 0 ? [`allowed: ${given.join(', ')}`] : []),
  ].join('; ');
}

/** `lock_timeout 5s, statement_timeout none`: what the step's statements run with. */
export function timeoutsText(t: StepTimeouts): string {
  const ms = (n: number) => (n === 0 ? 'none' : n % 1000 === 0 ? `${n / 1000}s` : `${n}ms`);
  return `lock_timeout ${ms(t.lockMs)}, statement_timeout ${ms(t.statementMs)}`;
}

function renderStep(step: Step, allowed: readonly Hazard[]): string[] {
  const { colour, symbol } = ACTION_CLASS[step.action];
  const lines = [
    COLOUR[colour](`  ${symbol} ${printAddress(step.address)}`) +
      dim(` (${step.node}) ${step.action}: ${step.reasonText}`),
  ];
  for (const c of step.changes) lines.push(...renderChange(c, step.action));
  if (step.copy) lines.push(cyan(`      moves: ${copyText(step.copy)}`));
  if (step.hazards.length > 0) lines.push(red(`      hazards: ${hazardsText(step, allowed)}`));
  if (step.timeouts) lines.push(dim(`      ${timeoutsText(step.timeouts)}`));
  if (stepClass(step).bookkeeping) {
    // steep's own bookkeeping tables: named, not listed (JSON and Markdown plans carry every statement)
    lines.push(
      dim(`      | ${step.statements.length} statements creating or migrating steep's state schema`),
    );
  } else {
    for (const s of step.statements) {
      const on = s.node && s.node !== step.node ? `[on ${s.node}] ` : '';
      lines.push(dim(`      | ${on}${s.sql.replace(/\n/g, '\n      | ')}`));
    }
  }
  return lines;
}

export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  if (plan.steps.length === 0)
    // the objects match, but a reinit's temporary publications say a copy is not proven done
    return plan.warnings.some((w) => w.code === 'reinit.unfinished')
      ? 'Nothing for apply to change, but a reinit has not finished (the warning says how to finish it).'
      : 'No changes. The nodes match steep.yaml.';
  const adopt = s.adopt > 0 ? `${s.adopt} to adopt, ` : '';
  return `Plan: ${adopt}${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete, ${s.init} to initialise, ${count(s.syncSchema, 'schema sync')}.`;
}

export function renderPlanText(plan: Plan): string {
  const out: string[] = [];
  const captured = captureLine(plan);
  if (captured) out.push(yellow(captured), '');
  section(out, yellowBold('Drift (managed objects that differ from steep.yaml):'), plan.drift.map(driftLine));
  // a plan with errors proposes nothing (docs/architecture.md, Inside the planner: preflight comes before any step); its errors are on stderr, not repeated here
  section(
    out,
    bold('steep will perform these steps, in this order:'),
    plan.errors.length === 0 ? plan.steps.flatMap((s) => renderStep(s, plan.inputs.allowHazards)) : [],
  );
  section(
    out,
    bold('Schema differences:'),
    plan.schema.filter((s) => s.status !== 'MATCH').flatMap(schemaComparisonLines),
  );
  section(
    out,
    bold('Unmanaged (not in steep.yaml, left alone):'),
    plan.unmanaged.map((u) => `  ${unmanagedText(u)}`),
  );
  const ignoredLine = ignoredText(plan);
  if (ignoredLine) out.push(dim(ignoredLine), '');
  orphanSlotSections(out, plan.orphanSlots);
  section(out, yellowBold('Warnings:'), plan.warnings.map(warningLine));
  out.push(plan.errors.length > 0 ? red(failedLine(plan.errors.length)) : summaryLine(plan));
  const held = plan.errors.length > 0 ? [] : missingHazards(heldSteps(plan.steps, plan.inputs.allowHazards));
  if (held.length > 0)
    out.push(
      red(
        `Hazards to allow by name: ${allowHazardFlags(held)} (on \`steep plan --out\` for a saved plan; else on apply, or typed at its prompt).`,
      ),
    );
  return out.join('\n');
}

export function failedLine(errors: number): string {
  return `Plan failed: ${errors} ${errors === 1 ? 'error' : 'errors'}; no step is proposed until ${errors === 1 ? 'it is' : 'they are'} fixed.`;
}

/** `subscription legacy_sub on west (managed by steep topology billing)` */
export function unmanagedText(u: UnmanagedObject): string {
  return `${u.kind} ${u.name} on ${u.node}${u.topology ? ` (managed by steep topology ${u.topology})` : ''}`;
}

/** `ignore: 2 slots, 1 publication matched (not reported, never touched)`; '' when the file ignores nothing. */
export function ignoredText(plan: Plan): string {
  const i = plan.ignored;
  if (!i) return '';
  const parts = (['slot', 'publication', 'subscription'] as const)
    .filter((word) => i[`${word}s`] > 0)
    .map((word) => count(i[`${word}s`], word));
  return `ignore: ${parts.length > 0 ? parts.join(', ') : 'nothing'} matched (not reported, never touched)`;
}

/** `3 tables, 1.2 GB, about 1 min 2 s at 20.0 MB/s (steep's default rate: no earlier init measured)` */
export function copyText(c: CopyEstimate): string {
  const size =
    c.bytes === null
      ? 'size unknown (never analysed)'
      : `${formatBytes(c.bytes)}${c.unknownTables > 0 ? ` plus ${c.unknownTables} never analysed` : ''}`;
  const rate = `${formatBytes(c.bytesPerSecond)}/s (${c.rateSource === 'measured' ? 'measured by earlier inits from this publisher' : "steep's default rate: no earlier init from this publisher was measured"})`;
  return `${count(c.tables.length, 'table')}, ${size}, ${c.seconds === null ? 'duration unknown' : `about ${roughDuration(c.seconds)}`} at ${rate}`;
}
