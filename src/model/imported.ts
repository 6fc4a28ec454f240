import type { PublicationDef, SubscriptionDef, SubscriptionOptions } from './topology.js';

/** What `steep import` writes: the publications and subscriptions the nodes hold, as steep.yaml declares them. */

export interface ImportedPublication extends Pick<PublicationDef, 'name' | 'node'> {
  allTables?: true;
  /** `name` as steep.yaml writes it: `schema.table`, a part quoted where it holds `.` or `"` */
  tables?: Array<{ name: string; columns?: string[]; where?: string }>;
  schemas?: string[];
  publish?: string[];
  viaPartitionRoot?: true;
  generatedColumns?: string;
}

export interface ImportedSubscription
  extends Pick<SubscriptionDef, 'name' | 'node' | 'from' | 'publications'> {
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
