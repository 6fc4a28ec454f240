import type { SubscriptionOptions } from './topology.js';

/** What `steep import` writes: the publications and subscriptions the nodes hold, as steep.yaml declares them. */

export interface ImportedTable {
  /** as steep.yaml writes it: `schema.table`, a part quoted where it holds `.` or `"` */
  name: string;
  columns?: string[];
  where?: string;
}

export interface ImportedPublication {
  name: string;
  node: string;
  allTables?: true;
  tables?: ImportedTable[];
  schemas?: string[];
  publish?: string[];
  viaPartitionRoot?: true;
  generatedColumns?: string;
}

export interface ImportedSubscription {
  name: string;
  node: string;
  from: string;
  publications: string[];
  slot?: string;
  enabled?: false;
  options?: Partial<SubscriptionOptions>;
  init?: { method: 'none' };
}

export interface ImportedTopology {
  publications: ImportedPublication[];
  subscriptions: ImportedSubscription[];
  /** one sentence each: what was left out and why */
  notes: string[];
}
