import type { TableVerdict } from '../model/verify.js';
import { formatCount, formatDuration } from '../render/initProgress.js';
import { LineProgress } from './lineProgress.js';

/**
 * `verify`'s progress on a TTY: one listr2 line, `% · tables done/total · rows/s · ETA`, the
 * percentage weighted by the tables' estimated rows. Without a TTY the command logs one line per
 * table instead (its `verify.table_complete` events).
 */
export class VerifyProgress {
  private readonly estimated = new Map<string, number>();
  private readonly done = new Map<string, number>();
  private readonly t0 = Date.now();
  private readonly line: LineProgress;

  constructor(title: string) {
    this.line = new LineProgress(title);
  }

  start = (table: string, estimatedRows: number): void => {
    this.estimated.set(table, Math.max(1, estimatedRows));
    this.show();
  };

  rows = (table: string, rows: number): void => {
    this.done.set(table, rows);
    this.show();
  };

  table = (v: TableVerdict): void => {
    this.done.set(v.table, v.rows);
    this.estimated.set(v.table, Math.max(1, v.rows, this.estimated.get(v.table) ?? 0));
    this.show();
  };

  /** A wait (the subscriber to replay) on the line, until the next figures replace it. */
  waiting = (message: string): void => {
    this.line.set(message);
  };

  private show(): void {
    let total = 0;
    let done = 0;
    for (const [t, n] of this.estimated) {
      total += n;
      done += Math.min(n, this.done.get(t) ?? 0);
    }
    const seconds = (Date.now() - this.t0) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 ? (total - done) / rate : null;
    this.line.set(
      `${total > 0 ? ((100 * done) / total).toFixed(1) : '0.0'}% · ${this.done.size}/${this.estimated.size} tables · ${formatCount(rate)} rows/s · ETA ${formatDuration(eta)}`,
    );
  }

  end(): Promise<void> {
    return this.line.end();
  }
}
