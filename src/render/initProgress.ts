import { adviceText } from '../model/advice.js';
import { disabledOnErrorText } from '../model/disableOnError.js';
import { workerWaitText } from '../model/initFailure.js';
import type { DeferredIndexProgress, InitProgress } from '../model/initState.js';
import type { StatusState } from '../model/statusWords.js';
import { divergedAdvice } from './repairAdvice.js';
import { formatBytes } from './values.js';

/** An init's live figures as text: one line for apply's listr2 task, a block for `init status`. */

/** An init (or status) state in words: underscores read as spaces (`catching_up` → `catching up`). */
export function stateText(s: StatusState): string {
  return s.replaceAll('_', ' ');
}

/** Tables copied whose table-sync slot is gone: what it means, and what ends it. */
export function lostSyncText(
  subscription: string,
  from: string,
  state: string,
  tables: readonly string[],
): string {
  const reinit = `${adviceText('reinitTables', subscription, tables)} copies it again`;
  return (
    `${tables.join(', ')}: copied, but the table-sync slot is gone from ${from}, so PostgreSQL cannot finish ` +
    (state === 'failed' ? `(${reinit})` : `(steep apply records the init failed; then ${reinit})`)
  );
}

/**
 * `public.big: building big_pkey, big_v_idx (building index: scanning table, 45.0%)`, or
 * `public.big: big_pkey deferred during the copy, built once all its rows are in`
 */
export function deferredIndexText(x: DeferredIndexProgress): string {
  const names = x.indexes.join(', ');
  if (!x.building) return `${x.table}: ${names} deferred during the copy, built once all its rows are in`;
  const pct = x.building.percent === null ? '' : `, ${x.building.percent.toFixed(1)}%`;
  return `${x.table}: building ${names} (${x.building.phase}${pct})`;
}

/** `1m 05s`, `2h 03m`, `45s` */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'unknown';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function currentText(tables: string[], max = 3): string {
  if (tables.length === 0) return '';
  const shown = tables.slice(0, max).join(', ');
  return tables.length > max ? `${shown} +${tables.length - max}` : shown;
}

/** `copying 42.0% · 3/20 tables · public.orders, public.items · 12,345 rows/s · ETA 1m 20s` */
export function progressLine(p: InitProgress): string {
  const parts: string[] = [stateText(p.state)];
  if (p.state === 'copying' || p.state === 'preparing' || p.state === 'failed') {
    if (p.tablesTotal > 0) {
      parts[0] = `${parts[0]} ${p.percent.toFixed(1)}%`;
      parts.push(`${p.tablesDone}/${p.tablesTotal} tables`);
    }
    const current = currentText(p.currentTables);
    if (current) parts.push(current);
    if (p.buildingIndexes?.length) parts.push(`building the indexes of ${p.buildingIndexes.join(', ')}`);
    else {
      if (p.rowsPerSecond !== null) parts.push(`${formatCount(p.rowsPerSecond)} rows/s`);
      if (p.state === 'copying') parts.push(`ETA ${formatDuration(p.etaSeconds)}`);
    }
  } else if (p.state === 'catching_up' || p.state === 'synchronized') {
    if (p.tablesTotal > 0) parts.push(`${p.tablesDone}/${p.tablesTotal} tables copied`);
    parts.push(`lag ${formatBytes(p.lagBytes)}`);
  }
  if (p.publisherError) parts.push(`publisher ${p.from} unreachable`);
  if ((p.syncErrorCount ?? 0) > 0 || (p.applyErrorCount ?? 0) > 0)
    parts.push(`errors: sync ${p.syncErrorCount ?? 0}, apply ${p.applyErrorCount ?? 0}`);
  if (p.waiting) parts.push(p.waiting);
  return parts.join(' · ');
}

/** `steep init status`: one block per subscription. */
export function renderInitStatus(list: InitProgress[]): string {
  if (list.length === 0) return 'No subscriptions in steep.yaml.';
  const out: string[] = [];
  for (const p of list) {
    out.push(
      `subscription ${p.subscription} (${p.node} ← ${p.from}, init ${p.method}): ${stateText(p.state)}`,
    );
    if (!p.exists) {
      out.push(`  not created on ${p.node}`);
    } else {
      out.push(`  phase      ${progressLine(p)}`);
      if (p.tablesTotal > 0) {
        out.push(
          `  copy       ${p.percent.toFixed(1)}% of ${formatBytes(p.bytesTotal)} · ${p.tablesDone}/${p.tablesTotal} tables · ${formatCount(p.rowsCopied)} rows`,
        );
      }
      for (const t of p.tables.filter((x) => x.state === 'd')) {
        out.push(
          `  copying    ${t.schema}.${t.name}: ${t.percent.toFixed(1)}% (${formatCount(t.rowsCopied)}${t.estimatedRows ? ` of ~${formatCount(t.estimatedRows)}` : ''} rows)`,
        );
      }
      if (p.state === 'copying') {
        out.push(
          `  rate       ${p.rowsPerSecond === null ? 'measuring…' : `${formatCount(p.rowsPerSecond)} rows/s`} · ETA ${formatDuration(p.etaSeconds)} · ${p.syncWorkers} sync worker${p.syncWorkers === 1 ? '' : 's'}`,
        );
      }
      out.push(
        `  lag        ${formatBytes(p.lagBytes)}${p.lagSeconds !== null ? ` (${p.lagSeconds.toFixed(1)} s)` : ''}`,
      );
      if (p.syncErrorCount !== null)
        out.push(`  errors     sync ${p.syncErrorCount}, apply ${p.applyErrorCount ?? 0}`);
    }
    if (p.divergedTables && p.divergedTables.length > 0)
      out.push(
        `  diverged   ${p.divergedTables.join(', ')} (${divergedAdvice(p.subscription, p.node, p.from, p.enabled, p.divergedTables)})`,
      );
    if (p.lostSyncSlots && p.lostSyncSlots.length > 0)
      out.push(`  lost sync  ${lostSyncText(p.subscription, p.from, p.state, p.lostSyncSlots)}`);
    if (p.workerUse && p.workerUse.running >= p.workerUse.max)
      out.push(
        `  workers    its copy waits for ${workerWaitText(p.node, p.workerUse)}; raise max_logical_replication_workers on ${p.node} (a restart), or disable a subscription that need not run now`,
      );
    if (p.disabledAtError) {
      const counted = `sync ${p.syncErrorCount ?? 0}, apply ${p.applyErrorCount ?? 0}`;
      out.push(`  stopped    ${disabledOnErrorText(p.subscription, p.node, counted)}`);
    }
    for (const x of p.deferredIndexes ?? []) out.push(`  indexes    ${deferredIndexText(x)}`);
    if (p.startedAt) out.push(`  started    ${p.startedAt}`);
    if (p.publisherError) out.push(`  publisher  ${p.publisherError}`);
    if (p.error) out.push(`  error      ${p.error}`);
    out.push('');
  }
  return out.join('\n').trimEnd();
}
