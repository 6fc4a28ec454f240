import type { CopySourceTable } from '../catalog/copySource.js';
import type { ApplyEvent } from '../executors/events.js';
import { type InitProgress, NO_WORKER_FIGURES } from '../model/initState.js';
import { qualifiedName, type SubscriptionSpec } from '../model/topology.js';
import type { ChunkRecord } from '../state/copyChunks.js';
import type { Chunk } from './engine.js';

/** The event of steep's copy once its files or chunks are planned, on `node` (where the copy writes or reads). */
export function copyPlannedEvent(node: string, subscription: string, message: string): ApplyEvent {
  return { event: 'init.copy_planned', level: 'info', node, subscription, phase: 'copying', message };
}

/** Progress figures of a copy, as the native init reports them. */
export class CopyProgress {
  private readonly startedAt = Date.now();
  private readonly rowsByTable = new Map<string, number>();
  private readonly chunksLeft = new Map<string, number>();
  private readonly totalBytes: number;
  private doneBytes = 0;
  private streamed = 0;
  private lastReport = 0;
  private building: string[] = [];

  constructor(
    private readonly d: SubscriptionSpec,
    plan: ChunkRecord[],
    private readonly tables: CopySourceTable[],
    private readonly onProgress?: (p: InitProgress) => void,
  ) {
    this.totalBytes = plan.reduce((n, r) => n + r.estimatedBytes, 0);
    for (const r of plan) {
      const qn = qualifiedName(r.table);
      if (r.rows === null) this.chunksLeft.set(qn, (this.chunksLeft.get(qn) ?? 0) + 1);
      else {
        this.rowsByTable.set(qn, (this.rowsByTable.get(qn) ?? 0) + r.rows);
        this.doneBytes += r.estimatedBytes;
      }
    }
  }

  /** Counts a chunk copied; returns the table's `init.table_complete` event when it was its last chunk. */
  chunkDone(c: Chunk, rows: number): ApplyEvent | undefined {
    const qn = qualifiedName(c.table);
    this.rowsByTable.set(qn, (this.rowsByTable.get(qn) ?? 0) + rows);
    this.chunksLeft.set(qn, (this.chunksLeft.get(qn) ?? 1) - 1);
    this.doneBytes += c.estimatedBytes;
    this.report(false);
    if (!this.tableDone(c.table)) return undefined;
    const { node, name: subscription } = this.d;
    return {
      event: 'init.table_complete',
      level: 'info',
      node,
      subscription,
      table: qn,
      rows_copied: this.rowsOf(c.table),
    };
  }

  private tableDone(t: { schema: string; name: string }): boolean {
    return (this.chunksLeft.get(qualifiedName(t)) ?? 0) === 0;
  }

  private rowsOf(t: { schema: string; name: string }): number {
    return this.rowsByTable.get(qualifiedName(t)) ?? 0;
  }

  bytes(n: number): void {
    this.streamed += n;
    this.report(false);
  }

  /** Every row is in; the deferred indexes of `tables` are being built (none: that is done). */
  buildingIndexes(tables: string[]): void {
    this.building = tables;
    this.report(true);
  }

  report(final: boolean): void {
    if (!this.onProgress) return;
    const now = Date.now();
    if (!final && now - this.lastReport < 500) return;
    this.lastReport = now;
    const rows = [...this.rowsByTable.values()].reduce((a, b) => a + b, 0);
    const percent = final
      ? 100
      : this.totalBytes > 0
        ? Math.min(99, (Math.max(this.doneBytes, this.streamed) / this.totalBytes) * 100)
        : 0;
    const seconds = (now - this.startedAt) / 1000;
    const rate = seconds > 0 ? rows / seconds : null;
    const tablesDone = this.tables.filter((t) => this.tableDone(t)).length;
    this.onProgress({
      subscription: this.d.name,
      node: this.d.node,
      from: this.d.from,
      method: this.d.init.method,
      state: 'copying',
      percent,
      tablesTotal: this.tables.length,
      tablesDone,
      currentTables: this.tables.filter((t) => !this.tableDone(t)).map(qualifiedName),
      rowsCopied: rows,
      bytesTotal: this.totalBytes,
      rowsPerSecond: rate,
      etaSeconds: percent > 0 && percent < 100 ? Math.round((seconds * (100 - percent)) / percent) : null,
      ...NO_WORKER_FIGURES,
      publisherError: null,
      subscriberError: null,
      exists: true,
      enabled: false,
      error: null,
      startedAt: new Date(this.startedAt).toISOString(),
      sampledAt: new Date(now).toISOString(),
      tables: this.tables.map((t) => ({
        schema: t.schema,
        name: t.name,
        state: this.tableDone(t) ? 'r' : 'd',
        sizeBytes: t.estimatedBytes,
        estimatedRows: t.estimatedRows,
        rowsCopied: this.rowsOf(t),
        percent: this.tableDone(t) ? 100 : 0,
      })),
      ...(this.building.length > 0 ? { buildingIndexes: this.building } : {}),
    });
  }
}
