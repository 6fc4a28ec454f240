import type { StatusReport } from './statusReport.js';

/** One sample of what `steep status --format prometheus` and `steep metrics` export. */
export interface MetricsSample {
  status: StatusReport;
  /** `steep metrics` only: what `steep drift` finds (null: not read) */
  drift: { plannedChanges: number; drifted: boolean; errors: number } | null;
  /** how long reading the nodes took */
  readSeconds: number;
}
