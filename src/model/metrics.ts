import type { StatusReport } from './statusReport.js';

/** One sample of what `steep status --format prometheus` and `steep metrics` export. */
export interface MetricsSample {
  status: StatusReport;
  /** `steep metrics` only: what `steep drift` finds (null: not read) */
  drift: { plannedChanges: number; drifted: boolean; errors: number } | null;
  /** by subscription: when steep verify last compared it (ISO 8601), where recorded */
  lastVerify: Record<string, string>;
  /** how long reading the nodes took */
  readSeconds: number;
}
